"""The reconciler: the safe, resumable integration loop over both clients."""

from .journal import Journal as Journal
from .journal import JournalAction as JournalAction
from .journal import JournalConflictError as JournalConflictError
from .journal import JournalEntry as JournalEntry
from .journal import JournalError as JournalError
from .journal import JournalEvent as JournalEvent
from .journal import JournalEventKind as JournalEventKind
from .journal import JournalLockedError as JournalLockedError
from .journal import JournalOutcome as JournalOutcome
from .journal import LeaseLostError as LeaseLostError
from .journal import MemoryJournal as MemoryJournal
from .journal import SqliteJournal as SqliteJournal

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
    "LeaseLostError",
    "MemoryJournal",
    "SqliteJournal",
]
