"""topten-client: a typed client for the topten recommendation API.

``Client`` (sync) and ``AsyncClient`` (asyncio) on ``httpx``, one method per route a shop's
code calls, answers as dataclasses (``models``), errors as :class:`ToptenError` with the
API's stable codes. 429 and 503 answers are retried with backoff honouring ``Retry-After``.
"""

from ._client import AsyncClient, Client, parse_retry_after
from .errors import ToptenError
from .models import (
    Because,
    EventsAccepted,
    Health,
    Item,
    Ranked,
    RankedItem,
    Recommendations,
    ScoredItem,
    Similar,
    Stats,
    Trending,
    UserData,
    UserDeleted,
    UserMerged,
)

__all__ = [
    "AsyncClient",
    "Because",
    "Client",
    "EventsAccepted",
    "Health",
    "Item",
    "Ranked",
    "RankedItem",
    "Recommendations",
    "ScoredItem",
    "Similar",
    "Stats",
    "ToptenError",
    "Trending",
    "UserData",
    "UserDeleted",
    "UserMerged",
    "parse_retry_after",
]
__version__ = "0.1.0"
