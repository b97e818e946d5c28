"""The one error type of the client."""

from __future__ import annotations

from typing import Optional


class ToptenError(Exception):
    """What went wrong. ``code`` is the API's stable error code (``invalid_k``,
    ``item_not_found``, ``store_unavailable``, ...; the API docs list them all), or one of the
    client's own: ``network_error``, ``timeout``, ``invalid_response``. ``status`` is the HTTP
    status (0 when no answer came), ``request_id`` the answer's ``x-request-id`` (to find it in
    the server's log), ``retry_after`` the wait the server asked for, in seconds."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int,
        request_id: Optional[str] = None,
        retry_after: Optional[float] = None,
    ):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after
