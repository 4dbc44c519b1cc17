"""The reconciler's journal: every intent before its side effect, every outcome after it.

A journal is what makes the reconciler safe to kill at any point and run again. For each
Qondor payment it keeps one `JournalEntry` (the current intent, the last outcome, the external
reference the finance system returned) and an append-only list of `JournalEvent` (the audit
trail). The reconciler drives it in this order for one payment::

    claim -> record_intent(BOOK) -> finance.book() -> record_reference(ref)
          -> SetAsProcessed(ref) -> record_outcome(PROCESSED) -> release

so after a crash the journal always tells the next run which side effects may have happened.

Three implementations share the same rules (the transition logic lives on `JournalEntry`, so
every backend applies it identically):

- `MemoryJournal`: in process, for tests and one-off runs (a crash loses it, by design).
- `SqliteJournal`: a file, stdlib ``sqlite3`` in WAL mode, every call run in a worker thread
  so the event loop never blocks. Durable across crashes.
- A server-backed journal (e.g. PostgreSQL) for several reconciler processes at once: the
  `Journal` protocol spells out what it must guarantee.
"""

from ._entry import JournalAction as JournalAction
from ._entry import JournalEntry as JournalEntry
from ._entry import JournalEvent as JournalEvent
from ._entry import JournalEventKind as JournalEventKind
from ._entry import JournalOutcome as JournalOutcome
from ._errors import JournalConflictError as JournalConflictError
from ._errors import JournalError as JournalError
from ._errors import JournalLockedError as JournalLockedError
from ._errors import LeaseLostError as LeaseLostError
from ._lease import Lease as Lease
from ._memory import MemoryJournal as MemoryJournal
from ._protocol import Journal as Journal
from ._sqlite import SqliteJournal as SqliteJournal

__all__ = [
    "Journal",
    "JournalAction",
    "JournalConflictError",
    "JournalEntry",
    "JournalError",
    "JournalEvent",
    "JournalEventKind",
    "JournalLockedError",
    "JournalOutcome",
    "Lease",
    "LeaseLostError",
    "MemoryJournal",
    "SqliteJournal",
]
