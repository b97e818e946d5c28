"""`Client` and `AsyncClient`: one method per route a shop's code calls.

Both build their requests with the same `_Call` descriptions and read answers the same way;
only the sending differs (httpx's sync or async client). 429 and 503 answers are retried with
exponential backoff (full jitter) that honours ``Retry-After``; network failures are retried
for requests that are safe to repeat, which here is every request: events get an ``eventId``
before the first attempt, so a retry never stores one twice.

The top-level methods are written once per client on purpose: one returns values, the other
coroutines, and each signature says which to a type checker. Everything behind them (what a
call sends, how its answer reads, the retry rules, the grouped calls) is written once.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Union
from urllib.parse import quote

import httpx

from .errors import ToptenError
from .models import (
    EventsAccepted,
    Health,
    Item,
    Ranked,
    Recommendations,
    Similar,
    Stats,
    Trending,
    UserData,
    UserDeleted,
    UserMerged,
    from_json,
)

RETRY_STATUSES = frozenset({429, 503})
MAX_BACKOFF = 5.0
MAX_RETRY_AFTER = 30.0

Categories = Union[str, Sequence[str]]


@dataclass
class _Call:
    method: str
    path: str
    params: Dict[str, str] = field(default_factory=dict)
    json: Any = None
    headers: Dict[str, str] = field(default_factory=dict)
    # Statuses besides 2xx that are answers, not errors (health's 503).
    accept: frozenset = frozenset()
    retry: bool = True


def _seg(value: str) -> str:
    """One path segment (ids may hold any character but control characters)."""
    return quote(value, safe="")


def _list_params(
    category: Optional[Categories],
    exclude_category: Optional[Categories],
    filter: Optional[str],
    params: Optional[Mapping[str, Any]],
) -> Dict[str, str]:
    out: Dict[str, str] = {}

    def joined(v: Categories) -> str:
        return v if isinstance(v, str) else ",".join(v)

    if category is not None:
        out["category"] = joined(category)
    if exclude_category is not None:
        out["excludeCategory"] = joined(exclude_category)
    if filter is not None:
        out["filter"] = filter
    for name, value in (params or {}).items():
        out[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """``Retry-After`` in seconds (a number or an HTTP date), at most 30."""
    if value is None or not value.strip():
        return None
    try:
        secs = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        secs = when.timestamp() - time.time()
    return min(max(0.0, secs), MAX_RETRY_AFTER)


def _backoff(attempt: int) -> float:
    return random.uniform(0, min(MAX_BACKOFF, 0.1 * 2**attempt))


def _error_of(res: httpx.Response, retry_after: Optional[float]) -> ToptenError:
    request_id = res.headers.get("x-request-id")
    try:
        error = res.json()["error"]
        code, message = error["code"], error["message"]
        if isinstance(code, str):
            return ToptenError(code, message, res.status_code, request_id, retry_after)
    except (ValueError, KeyError, TypeError):
        pass
    return ToptenError(
        "invalid_response", f"HTTP {res.status_code}: {res.text[:200]}", res.status_code, request_id, retry_after
    )


def _json(res: httpx.Response) -> Any:
    try:
        return res.json()
    except ValueError:
        raise ToptenError(
            "invalid_response",
            f"HTTP {res.status_code}: not JSON: {res.text[:200]}",
            res.status_code,
            res.headers.get("x-request-id"),
        ) from None


def _item(res: httpx.Response) -> Item:
    data = dict(_json(res))
    data["__etag"] = res.headers.get("etag")
    return from_json(Item, data)


def _with_ids(events: Iterable[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    return [dict(e) if e.get("eventId") else {**e, "eventId": str(uuid.uuid4())} for e in events]


def _answer_id(answer: Any) -> Dict[str, str]:
    rid = getattr(answer, "recommendation_id", None) if answer is not None else None
    if isinstance(answer, Mapping):
        rid = answer.get("recommendationId")
    return {"recommendationId": rid} if rid else {}


class _Calls:
    """What each method sends and how its answer reads; shared by both clients."""

    @staticmethod
    def recommendations(user_id, k, category, exclude_category, filter, params, exclude, explain):
        p = _list_params(category, exclude_category, filter, params)
        if k is not None:
            p["k"] = str(k)
        if exclude:
            p["exclude"] = ",".join(exclude)
        if explain:
            p["explain"] = "true"
        return _Call("GET", f"api/recommendations/{_seg(user_id)}", p), lambda r: from_json(Recommendations, _json(r))

    @staticmethod
    def rank(user_id, item_ids):
        body = {"itemIds": list(item_ids)}
        return _Call("POST", f"api/recommendations/{_seg(user_id)}/rank", json=body), lambda r: from_json(Ranked, _json(r))

    @staticmethod
    def similar(item_id, k, category, exclude_category, filter, params):
        p = _list_params(category, exclude_category, filter, params)
        if k is not None:
            p["k"] = str(k)
        return _Call("GET", f"api/items/{_seg(item_id)}/similar", p), lambda r: from_json(Similar, _json(r))

    @staticmethod
    def trending(k, window):
        p = {}
        if k is not None:
            p["k"] = str(k)
        if window is not None:
            p["window"] = window
        return _Call("GET", "api/items/trending", p), lambda r: from_json(Trending, _json(r))

    @staticmethod
    def send_events(events):
        body = {"events": _with_ids(events)}
        return _Call("POST", "api/events", json=body), lambda r: from_json(EventsAccepted, _json(r))

    @staticmethod
    def item_get(item_id):
        return _Call("GET", f"api/items/{_seg(item_id)}"), _item

    @staticmethod
    def item_put(item_id, change, if_match):
        headers = {"if-match": if_match} if if_match else {}
        return _Call("PUT", f"api/items/{_seg(item_id)}", json=dict(change), headers=headers), _item

    @staticmethod
    def items_post(items):
        body = {"items": [dict(i) for i in items]}
        return _Call("POST", "api/items", json=body), lambda r: [from_json(Item, i) for i in _json(r)["items"]]

    @staticmethod
    def item_delete(item_id, if_match):
        headers = {"if-match": if_match} if if_match else {}
        return _Call("DELETE", f"api/items/{_seg(item_id)}", headers=headers), _item

    @staticmethod
    def user_delete(user_id):
        return _Call("DELETE", f"api/users/{_seg(user_id)}"), lambda r: from_json(UserDeleted, _json(r))

    @staticmethod
    def user_data(user_id):
        return _Call("GET", f"api/users/{_seg(user_id)}/data"), lambda r: from_json(UserData, _json(r))

    @staticmethod
    def user_merge(user_id, from_):
        body = {"from": from_}
        return _Call("POST", f"api/users/{_seg(user_id)}/merge", json=body), lambda r: from_json(UserMerged, _json(r))

    @staticmethod
    def stats(hours):
        p = {"hours": str(hours)} if hours is not None else {}
        return _Call("GET", "api/admin/stats", p), lambda r: from_json(Stats, _json(r))

    @staticmethod
    def metrics():
        return _Call("GET", "api/metrics"), lambda r: r.text

    @staticmethod
    def health():
        return _Call("GET", "api/health", accept=frozenset({503}), retry=False), lambda r: from_json(Health, _json(r))

    @staticmethod
    def openapi():
        return _Call("GET", "api/openapi.json"), _json


class _Base:
    def __init__(self, base_url: str, api_key: Optional[str], timeout: float, retries: int):
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.retries = max(0, retries)
        self._headers = {"accept": "application/json"}
        if api_key:
            self._headers["x-functions-key"] = api_key
        self._timeout = timeout
        # The grouped calls (`events`, `items`, `users`, `admin`): each sends through `_run`,
        # which answers the value (Client) or a coroutine to await (AsyncClient).
        run = self._run
        self.events = _Events(lambda evs: run(*_Calls.send_events(evs)))
        self.items = _Namespace(
            get=lambda item_id: run(*_Calls.item_get(item_id)),
            put=lambda item_id, change, if_match=None: run(*_Calls.item_put(item_id, change, if_match)),
            post=lambda items: run(*_Calls.items_post(items)),
            delete=lambda item_id, if_match=None: run(*_Calls.item_delete(item_id, if_match)),
        )
        self.users = _Namespace(
            delete=lambda user_id: run(*_Calls.user_delete(user_id)),
            data=lambda user_id: run(*_Calls.user_data(user_id)),
            merge=lambda user_id, from_: run(*_Calls.user_merge(user_id, from_)),
        )
        self.admin = _Namespace(
            stats=lambda hours=None: run(*_Calls.stats(hours)),
            metrics=lambda: run(*_Calls.metrics()),
        )

    def _run(self, call: _Call, read: Callable[[httpx.Response], Any]) -> Any:
        raise NotImplementedError

    def _request(self, call: _Call) -> Dict[str, Any]:
        return {
            "method": call.method,
            "url": self.base_url + call.path,
            "params": call.params or None,
            "json": call.json,
            "headers": {**self._headers, **call.headers},
        }

    def _decide(self, call: _Call, res: httpx.Response, attempt: int) -> Optional[float]:
        """None: ``res`` is the answer; else the seconds to wait before the next attempt.
        Raises the API's error when no attempt is left."""
        if res.is_success or res.status_code in call.accept:
            return None
        retry_after = parse_retry_after(res.headers.get("retry-after"))
        if call.retry and res.status_code in RETRY_STATUSES and attempt < self.retries:
            return retry_after if retry_after is not None else _backoff(attempt)
        raise _error_of(res, retry_after)

    def _failed(self, call: _Call, exc: httpx.HTTPError, attempt: int) -> float:
        if call.retry and attempt < self.retries:
            return _backoff(attempt)
        if isinstance(exc, httpx.TimeoutException):
            raise ToptenError("timeout", f"no answer within {self._timeout} s", 0) from exc
        raise ToptenError("network_error", f"request failed: {exc}", 0) from exc


class _Events:
    def __init__(self, send: Callable[[Sequence[Mapping[str, Any]]], Any]):
        self._send = send

    def send(self, events: Sequence[Mapping[str, Any]]):
        """Records events (``POST /api/events``); each without an ``eventId`` gets one first."""
        return self._send(events)

    def shown(self, user_id: str, answer: Any, item_ids: Optional[Sequence[str]] = None):
        """Records that ``user_id`` was shown an answer's items (all, or ``item_ids``)."""
        if item_ids is None:
            items = answer.items if hasattr(answer, "items") and not isinstance(answer, Mapping) else answer["items"]
            item_ids = [i.item_id if hasattr(i, "item_id") else i["itemId"] for i in items]
        event = {"type": "impression", "userId": user_id, "itemIds": list(item_ids), **_answer_id(answer)}
        return self._send([event])

    def clicked(self, user_id: str, item_id: str, answer: Any = None):
        """Records a click on ``item_id``, credited to ``answer`` when given."""
        return self._send([{"type": "click", "userId": user_id, "itemId": item_id, **_answer_id(answer)}])


class _Namespace:
    def __init__(self, **methods: Callable[..., Any]):
        self.__dict__.update(methods)


class Client(_Base):
    """The topten API, synchronously.

    >>> with Client("http://127.0.0.1:8080") as topten:           # doctest: +SKIP
    ...     topten.recommendations("196", k=5).items[0].item_id
    """

    def __init__(
        self,
        base_url: str,
        api_key: Optional[str] = None,
        timeout: float = 10.0,
        retries: int = 2,
        transport: Optional[httpx.BaseTransport] = None,
    ):
        super().__init__(base_url, api_key, timeout, retries)
        self._http = httpx.Client(timeout=timeout, transport=transport)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def recommendations(
        self,
        user_id: str,
        k: Optional[int] = None,
        *,
        category: Optional[Categories] = None,
        exclude_category: Optional[Categories] = None,
        filter: Optional[str] = None,
        params: Optional[Mapping[str, Any]] = None,
        exclude: Optional[Sequence[str]] = None,
        explain: bool = False,
    ) -> Recommendations:
        """A user's top items (``GET /api/recommendations/{userId}``)."""
        return self._run(
            *_Calls.recommendations(user_id, k, category, exclude_category, filter, params, exclude, explain)
        )

    def rank(self, user_id: str, item_ids: Sequence[str]) -> Ranked:
        """The caller's candidates in the user's order."""
        return self._run(*_Calls.rank(user_id, item_ids))

    def similar(
        self,
        item_id: str,
        k: Optional[int] = None,
        *,
        category: Optional[Categories] = None,
        exclude_category: Optional[Categories] = None,
        filter: Optional[str] = None,
        params: Optional[Mapping[str, Any]] = None,
    ) -> Similar:
        """Items most like one item."""
        return self._run(*_Calls.similar(item_id, k, category, exclude_category, filter, params))

    def trending(self, k: Optional[int] = None, window: Optional[str] = None) -> Trending:
        """Items with the most recent interactions; ``window`` like ``30m``, ``24h``, ``7d``."""
        return self._run(*_Calls.trending(k, window))

    def health(self) -> Health:
        """The service's health (a 503 is an answer here, not an error)."""
        return self._run(*_Calls.health())

    def openapi(self) -> Dict[str, Any]:
        """The API's OpenAPI document."""
        return self._run(*_Calls.openapi())

    def _run(self, call: _Call, read: Callable[[httpx.Response], Any]) -> Any:
        request = self._request(call)
        for attempt in range(self.retries + 1):
            try:
                res = self._http.request(**request)
            except httpx.HTTPError as exc:
                time.sleep(self._failed(call, exc, attempt))
                continue
            wait = self._decide(call, res, attempt)
            if wait is None:
                return read(res)
            time.sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")


class AsyncClient(_Base):
    """The topten API, for asyncio (the same methods as :class:`Client`, awaited)."""

    def __init__(
        self,
        base_url: str,
        api_key: Optional[str] = None,
        timeout: float = 10.0,
        retries: int = 2,
        transport: Optional[httpx.AsyncBaseTransport] = None,
    ):
        super().__init__(base_url, api_key, timeout, retries)
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def recommendations(
        self,
        user_id: str,
        k: Optional[int] = None,
        *,
        category: Optional[Categories] = None,
        exclude_category: Optional[Categories] = None,
        filter: Optional[str] = None,
        params: Optional[Mapping[str, Any]] = None,
        exclude: Optional[Sequence[str]] = None,
        explain: bool = False,
    ) -> Recommendations:
        return await self._run(
            *_Calls.recommendations(user_id, k, category, exclude_category, filter, params, exclude, explain)
        )

    async def rank(self, user_id: str, item_ids: Sequence[str]) -> Ranked:
        return await self._run(*_Calls.rank(user_id, item_ids))

    async def similar(
        self,
        item_id: str,
        k: Optional[int] = None,
        *,
        category: Optional[Categories] = None,
        exclude_category: Optional[Categories] = None,
        filter: Optional[str] = None,
        params: Optional[Mapping[str, Any]] = None,
    ) -> Similar:
        return await self._run(*_Calls.similar(item_id, k, category, exclude_category, filter, params))

    async def trending(self, k: Optional[int] = None, window: Optional[str] = None) -> Trending:
        return await self._run(*_Calls.trending(k, window))

    async def health(self) -> Health:
        return await self._run(*_Calls.health())

    async def openapi(self) -> Dict[str, Any]:
        return await self._run(*_Calls.openapi())

    async def _run(self, call: _Call, read: Callable[[httpx.Response], Any]) -> Any:
        request = self._request(call)
        for attempt in range(self.retries + 1):
            try:
                res = await self._http.request(**request)
            except httpx.HTTPError as exc:
                await asyncio.sleep(self._failed(call, exc, attempt))
                continue
            wait = self._decide(call, res, attempt)
            if wait is None:
                return read(res)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")
