"""What the behaviour log records (a search as the front end showed it, and the shoppers' events on
it) and the EventStore interface that stores them.

Search records are made by the server (trusted, not validated again: logging one sits on the search
path). Events come from shoppers' browsers through the front end, so `parse_event` checks each field
of the JSON object and says which one is wrong; nothing it returns can surprise the store.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Protocol, Sequence

if TYPE_CHECKING:
    from .experiments import Experiment, Outcome

EVENT_TYPES = ("click", "add_to_cart", "purchase")

# Ids arrive from the public internet; a cap keeps one request from storing megabytes of "id".
MAX_ID_LENGTH = 512
# No list shown is this long; the cap also keeps a huge JSON integer from overflowing SQLite's 64 bits.
MAX_POSITION = 1_000_000

_FIELDS = frozenset({"type", "query_id", "item_id", "position", "user_id", "timestamp"})


@dataclass(frozen=True)
class SearchRecord:
    query_id: str  # opaque, unique (the server makes it: uuid4 hex)
    query: str  # the normalised query text (the caller normalises)
    user_id: str | None
    variant: str | None  # an experiment's variant name, when the search was in one
    shown: tuple[str, ...]  # item ids in the order shown; position = index + 1
    results: int  # how many results the search had (0 = a no-result search)
    time: float  # unix seconds
    teams: str | None = None  # interleaving: the team ('0' or '1') that contributed each item shown
    rules: tuple[str, ...] = ()  # ids of the merchandising rules the search fired


@dataclass(frozen=True)
class Event:
    type: str  # one of EVENT_TYPES
    query_id: str
    item_id: str
    position: int  # 1-based position in the list shown
    user_id: str | None
    timestamp: float  # unix seconds


@dataclass(frozen=True)
class Session:
    """One search with results as a click model sees it (EventStore.sessions)."""

    query: str
    shown: tuple[str, ...]  # item ids in the order shown; position = index + 1
    clicked: frozenset[int]  # 1-based positions with a click event
    purchased: frozenset[int]  # 1-based positions with a purchase event


class InvalidEvent(ValueError):
    """An event that cannot be stored; the message starts with the field, then why."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _invalid(field: str, why: str) -> InvalidEvent:
    return InvalidEvent(f"{field}: {why}", field=field)


def _required_id(raw: Mapping[str, Any], field: str) -> str:
    value = raw.get(field)
    if value is None:
        raise _invalid(field, "is required")
    if not isinstance(value, str) or not value:
        raise _invalid(field, f"must be a non-empty string, not {value!r}")
    if len(value) > MAX_ID_LENGTH:
        raise _invalid(field, f"is longer than {MAX_ID_LENGTH} characters")
    if not _is_unicode(value):
        raise _invalid(field, "is not valid Unicode (a lone surrogate)")
    return value


def _is_unicode(text: str) -> bool:
    """False for a string holding a lone surrogate, which JSON allows ("\ud800") and UTF-8 cannot store."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_int(value: Any) -> bool:
    # bool is a subclass of int, but `"position": true` is a client bug, not position 1.
    return isinstance(value, int) and not isinstance(value, bool)


def parse_event(raw: Any, now: float) -> Event:
    """Validate one JSON event: {"type", "query_id", "item_id", "position", "user_id"?, "timestamp"?}.

    Unknown type, missing/empty query_id or item_id, position not an int >= 1 (bools are not ints), user_id not a
    string, timestamp not a finite number, unknown keys -> InvalidEvent naming the field. timestamp defaults to now
    (so does a JSON null); user_id may be null or absent.
    """
    if not isinstance(raw, Mapping):
        raise _invalid("event", f"must be a JSON object, not {type(raw).__name__}")
    unknown = sorted(str(key) for key in raw if key not in _FIELDS)
    if unknown:
        # ascii(): a key with a lone surrogate (JSON "\ud800") must not make the message itself unencodable.
        name = unknown[0] if _is_unicode(unknown[0]) and unknown[0] else ascii(unknown[0])
        raise _invalid(name, f"is not an event field (fields: {', '.join(sorted(_FIELDS))})")

    kind = raw.get("type")
    if kind is None:
        raise _invalid("type", "is required")
    if kind not in EVENT_TYPES:
        raise _invalid("type", f"must be one of {', '.join(EVENT_TYPES)}, not {kind!r}")
    query_id = _required_id(raw, "query_id")
    item_id = _required_id(raw, "item_id")

    position = raw.get("position")
    if position is None:
        raise _invalid("position", "is required")
    if not _is_int(position) or position < 1:
        raise _invalid("position", f"must be an integer >= 1, not {position!r}")
    if position > MAX_POSITION:
        raise _invalid("position", f"must be at most {MAX_POSITION}, not {position}")

    user_id = raw.get("user_id")
    if user_id is not None:
        if not isinstance(user_id, str):
            raise _invalid("user_id", f"must be a string, not {user_id!r}")
        if len(user_id) > MAX_ID_LENGTH:
            raise _invalid("user_id", f"is longer than {MAX_ID_LENGTH} characters")
        if not _is_unicode(user_id):
            raise _invalid("user_id", "is not valid Unicode (a lone surrogate)")

    return Event(type=kind, query_id=query_id, item_id=item_id, position=position, user_id=user_id,
                 timestamp=_timestamp(raw.get("timestamp"), now))


def _timestamp(value: Any, now: float) -> float:
    if value is None:
        return float(now)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # an integer beyond a float's range
            seconds = math.inf
        if math.isfinite(seconds):
            return seconds
    raise _invalid("timestamp", f"must be a finite number of unix seconds, not {value!r}")


class EventStore(Protocol):
    """The behaviour log's storage; SqliteEventStore (store.py) is the implementation."""

    def log_search(self, record: SearchRecord) -> None: ...

    def add_events(self, events: Sequence[Event]) -> list[int]: ...

    def analytics(self, since: float | None = None, until: float | None = None, top: int = 20) -> dict[str, Any]: ...

    def series(self, since: float | None = None, until: float | None = None,
               interval: float | None = None) -> dict[str, Any]: ...

    def popular_queries(self, since: float | None = None, until: float | None = None, min_searches: int = 2,
                        min_clicked: int = 1, limit: int = 5000) -> list[tuple[str, int, int]]: ...

    def sessions(self, since: float | None = None, until: float | None = None) -> Iterator[Session]: ...

    def add_experiment(self, experiment: Experiment) -> None: ...

    def stop_experiment(self, name: str, when: float) -> Experiment | None: ...

    def experiments(self) -> list[Experiment]: ...

    def experiment_outcome(self, experiment: Experiment) -> Outcome: ...

    def prune(self, before: float) -> int: ...

    def close(self) -> None: ...
