"""The API's answers as typed, frozen dataclasses.

Field names are the API's camelCase names in snake_case (``itemId`` is ``item_id``). Every
model is read with :func:`from_json`, which follows the dataclass's type hints, so adding a
field is one line. The test suite checks each model against the live server's OpenAPI
document, field for field, so a model cannot drift from the API. Fields the server adds in a
later release are ignored rather than refused.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Type, TypeVar

T = TypeVar("T")

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake(name: str) -> str:
    """``itemId`` -> ``item_id``."""
    return _CAMEL.sub("_", name).lower()


def camel(name: str) -> str:
    """``item_id`` -> ``itemId``."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def from_json(cls: Type[T], data: Any) -> T:
    """Reads ``data`` (parsed JSON) as ``cls``, a dataclass of this module."""
    hints = typing.get_type_hints(cls, vars(sys.modules[cls.__module__]))
    values = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        key = f.metadata.get("json", camel(f.name))
        if key in data:
            values[f.name] = _convert(hints[f.name], data[key])
    return cls(**values)


def _convert(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union:
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value) if len(inner) == 1 else value
    if origin in (list, List):
        return [_convert(args[0], v) for v in value]
    if origin in (dict, Dict):
        return {k: _convert(args[1], v) for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        return from_json(hint, value)
    if hint is float and isinstance(value, int):
        return float(value)
    return value


@dataclass(frozen=True)
class Because:
    """An item of the user's history that weighs in a recommendation."""

    item_id: str
    weight: Optional[float] = None


@dataclass(frozen=True)
class ScoredItem:
    """An item of a list, best first."""

    item_id: str
    score: float
    title: Optional[str] = None
    because: Optional[List[Because]] = None
    #: ``"new"`` for an item in a place kept for new items (``TOPTEN_NEW_ITEM_SLOTS``).
    reason: Optional[str] = None


@dataclass(frozen=True)
class Recommendations:
    """``GET /api/recommendations/{userId}``."""

    user_id: str
    model_version: str
    items: List[ScoredItem]
    source: str
    recommendation_id: Optional[str] = None


@dataclass(frozen=True)
class Similar:
    """``GET /api/items/{itemId}/similar``."""

    item_id: str
    model_version: str
    items: List[ScoredItem]
    recommendation_id: Optional[str] = None


@dataclass(frozen=True)
class Trending:
    """``GET /api/items/trending``."""

    model_version: str
    window: str
    items: List[ScoredItem]


@dataclass(frozen=True)
class RankedItem:
    """A candidate in the user's order: ``score`` is None for one the version cannot score,
    ``seen`` True for one the user has."""

    item_id: str
    score: Optional[float]
    seen: bool
    title: Optional[str] = None


@dataclass(frozen=True)
class Ranked:
    """``POST /api/recommendations/{userId}/rank``."""

    user_id: str
    model_version: str
    items: List[RankedItem]
    recommendation_id: Optional[str] = None


@dataclass(frozen=True)
class EventsAccepted:
    """``POST /api/events``."""

    accepted: int = 0
    stored: int = 0
    duplicates: int = 0
    attributed: int = 0
    unattributed_ids: Dict[str, int] = field(default_factory=dict)
    refreshed: List[str] = field(default_factory=list)
    items_folded_in: List[str] = field(default_factory=list)
    model_version: Optional[str] = None


@dataclass(frozen=True)
class Item:
    """A catalogue item as it stands (``/api/items/{itemId}``); ``etag`` is its entity tag,
    for a conditional change (``if_match``)."""

    item_id: str
    available: bool
    withdrawn: bool
    servable: bool
    title: Optional[str] = None
    categories: Optional[List[str]] = None
    expires_at: Optional[str] = None
    attributes: Optional[Dict[str, Any]] = None
    etag: Optional[str] = field(default=None, metadata={"json": "__etag"})


@dataclass(frozen=True)
class StoreHealth:
    backend: str
    reachable: bool
    error: Optional[str] = None


@dataclass(frozen=True)
class Health:
    """``GET /api/health``: ``status`` ``ok``, or ``unavailable`` with a ``reason``."""

    status: str
    reason: Optional[str] = None
    detail: Optional[str] = None
    store: Optional[StoreHealth] = None
    active_version: Optional[str] = None
    activated_at: Optional[str] = None
    version: Optional[str] = None


@dataclass(frozen=True)
class UserDeleted:
    """``DELETE /api/users/{userId}``: what was deleted."""

    user_id: str
    events: int
    lists: int
    histories: int
    versions: int
    forgotten_ms: int


@dataclass(frozen=True)
class UserData:
    """``GET /api/users/{userId}/data``: everything topten holds about the user."""

    user_id: str
    events: List[Dict[str, Any]]
    attributed_events: int
    lists: List[Dict[str, Any]]
    histories: List[Dict[str, Any]]
    experiment: Optional[Dict[str, Any]]
    tombstone: Optional[Dict[str, Any]]


@dataclass(frozen=True)
class UserMerged:
    """``POST /api/users/{userId}/merge``."""

    user_id: str
    from_: str = field(metadata={"json": "from"})
    moved: int
    refreshed: bool
    forgotten: Optional[UserDeleted]


@dataclass(frozen=True)
class Stats:
    """``GET /api/admin/stats``: the online figures (see the API docs for each list's rows)."""

    generated_at: str
    hours: int
    from_ms: int
    to_ms: int
    versions: List[Dict[str, Any]]
    totals: List[Dict[str, Any]]
    hourly: List[Dict[str, Any]]
    events_per_minute: List[Dict[str, Any]]
    active_version: Optional[str] = None
    experiment: Optional[Dict[str, Any]] = None
    holdout_note: Optional[str] = None
    past_experiments: List[Dict[str, Any]] = field(default_factory=list)
    top_items: List[Dict[str, Any]] = field(default_factory=list)
    coverage: Optional[Dict[str, Any]] = None
