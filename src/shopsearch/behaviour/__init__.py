"""The behaviour loop's storage: every search the front end makes is logged, shoppers' events (click,
add_to_cart, purchase) refer to a logged search by its query_id, and analytics are computed over any
time window.

- events.py: the records (SearchRecord, Event), `parse_event`, which validates events from the web,
  and EventStore, the interface;
- store.py: SqliteEventStore (its own SQLite file, WAL; threads, buffering and durability are
  described there);
- schema.py: the tables, indexes and analytics SQL, and why they are laid out so;
- figures.py: the pure parts (rates, top lists, index choice, event batches);
- clicks.py: a position-based click model fitted to the sessions, and graded judgments from it.
"""

from .clicks import ClickModel, fit_pbm, graded_judgments
from .events import EVENT_TYPES, Event, EventStore, InvalidEvent, SearchRecord, Session, parse_event
from .store import SqliteEventStore

__all__ = ["EVENT_TYPES", "ClickModel", "Event", "EventStore", "InvalidEvent", "SearchRecord", "Session", "SqliteEventStore",
           "fit_pbm", "graded_judgments", "parse_event"]
