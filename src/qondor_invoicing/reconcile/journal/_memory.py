"""`MemoryJournal`: the journal in process memory."""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs

from ._entry import JournalEntry, JournalEvent, JournalOutcome
from ._lease import _Claim
from ._stored import _StoredJournal, _updated_key


class MemoryJournal(_StoredJournal):
    """A journal kept in memory, for tests and runs that need no crash safety.

    Everything is lost with the process, so after a crash between booking and
    SetAsProcessed the next run calls ``book`` again (the finance system's ``book`` must be
    idempotent by Qondor invoice id, which makes that safe). Use `SqliteJournal` to resume
    without relying on that. Its methods never await, so each is atomic on the event loop.

    Args:
        clock: Wall clock in seconds, for leases and timestamps.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        self._entries: dict[str, JournalEntry] = {}
        self._claims: dict[str, _Claim] = {}
        self._tokens = itertools.count(1)
        self._log: dict[str, list[JournalEvent]] = {}

    def __repr__(self) -> str:
        open_ = sum(1 for e in self._entries.values() if e.unfinished)
        return f"MemoryJournal({len(self._entries)} payments, {open_} unfinished)"

    async def _run(self, fn: Callable[[], Any]) -> Any:
        return fn()

    def _atomic(self) -> contextlib.AbstractContextManager[None]:
        # Validation happens before any mutation in every _do_* function, and nothing
        # awaits in between, so each call is all-or-nothing already.
        return contextlib.nullcontext()

    def _get_claim(self, payment_key: str) -> _Claim | None:
        return self._claims.get(payment_key)

    def _set_claim(self, payment_key: str, claim: _Claim) -> None:
        self._claims[payment_key] = claim

    def _delete_claim(self, payment_key: str, claim: _Claim) -> None:
        if self._claims.get(payment_key) == claim:
            del self._claims[payment_key]

    def _next_token(self) -> int:
        return next(self._tokens)

    def _load(self, payment_key: str) -> JournalEntry | None:
        return self._entries.get(payment_key)

    def _store(self, entry: JournalEntry) -> None:
        self._entries[entry.payment_key] = entry

    def _append(self, event: JournalEvent) -> None:
        self._log.setdefault(event.payment_key, []).append(event)

    def _select(self, *, unfinished: bool, outcome: JournalOutcome | None) -> list[JournalEntry]:
        return sorted(
            (
                e
                for e in self._entries.values()
                if e.unfinished == unfinished and (outcome is None or e.outcome is outcome)
            ),
            key=_updated_key,
        )

    def _events(self, payment_key: str) -> list[JournalEvent]:
        return list(self._log.get(payment_key, ()))

    def _prune(self, cutoff: datetime) -> int:
        changed = 0
        for key, events in list(self._log.items()):
            kept = [e for e in events if e.at >= cutoff]
            changed += len(events) - len(kept)
            self._log[key] = kept
        for key, entry in self._entries.items():
            if _stale(entry, cutoff):
                self._entries[key] = attrs.evolve(entry, failure_message=None, last_error=None)
                changed += 1
        return changed


def _stale(entry: JournalEntry, cutoff: datetime) -> bool:
    """Whether a closed entry, last changed before ``cutoff``, still holds a message."""
    return (
        entry.intent is None
        and entry.updated_at is not None
        and entry.updated_at < cutoff
        and (entry.failure_message is not None or entry.last_error is not None)
    )
