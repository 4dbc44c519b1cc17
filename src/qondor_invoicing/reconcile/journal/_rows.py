"""One row mapping of the journal's tables, shared by the SQLite and PostgreSQL journals.

Both store the same columns. PostgreSQL has date and timestamp types; SQLite has neither, so
its rows hold dates as ISO text and instants as epoch seconds (``native=False``). Reading
accepts either form.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timezone
from typing import Any

from ._entry import JournalAction, JournalEntry, JournalEvent, JournalEventKind, JournalOutcome

_COLUMNS = (
    "payment_key, invoice_id, kind, intent, outcome, external_reference, failure_message, "
    "paid_date, evidence, last_error, attempts, updated_at"
)
"""The columns of the payments table, in the order of `_entry_row` and `_entry_from_row`."""

_EVENT_COLUMNS = "payment_key, at, kind, owner, action, outcome, detail"
"""The columns of the events table written and read, in the order of `_event_row`."""


def _day(value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def _instant(value: datetime | float | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc)
    return datetime.fromtimestamp(value, tz=timezone.utc)


def _encode_day(value: date | None, native: bool) -> date | str | None:
    return value if native or value is None else value.isoformat()


def _encode_instant(value: datetime | None, native: bool) -> datetime | float | None:
    return value if native or value is None else value.timestamp()


def _entry_row(entry: JournalEntry, *, native: bool) -> tuple[Any, ...]:
    """The entry's values for `_COLUMNS` (``native``: dates and instants as such)."""
    return (
        entry.payment_key,
        entry.invoice_id,
        entry.kind,
        entry.intent.value if entry.intent else None,
        entry.outcome.value if entry.outcome else None,
        entry.external_reference,
        entry.failure_message,
        _encode_day(entry.paid_date, native),
        entry.evidence,
        entry.last_error,
        entry.attempts,
        _encode_instant(entry.updated_at, native),
    )


def _entry_from_row(row: Sequence[Any]) -> JournalEntry:
    """The entry of a row of `_COLUMNS`."""
    return JournalEntry(
        payment_key=row[0],
        invoice_id=int(row[1]),
        kind=row[2],
        intent=JournalAction(row[3]) if row[3] else None,
        outcome=JournalOutcome(row[4]) if row[4] else None,
        external_reference=row[5],
        failure_message=row[6],
        paid_date=_day(row[7]),
        evidence=row[8],
        last_error=row[9],
        attempts=int(row[10]),
        updated_at=_instant(row[11]),
    )


def _event_row(event: JournalEvent, *, native: bool) -> tuple[Any, ...]:
    """The event's values for `_EVENT_COLUMNS`."""
    return (
        event.payment_key,
        _encode_instant(event.at, native),
        event.kind.value,
        event.owner,
        event.action.value if event.action else None,
        event.outcome.value if event.outcome else None,
        event.detail,
    )


def _event_from_row(row: Sequence[Any]) -> JournalEvent:
    """The event of a row of `_EVENT_COLUMNS`."""
    at = _instant(row[1])
    assert at is not None
    return JournalEvent(
        payment_key=row[0],
        at=at,
        kind=JournalEventKind(row[2]),
        owner=row[3],
        action=JournalAction(row[4]) if row[4] else None,
        outcome=JournalOutcome(row[5]) if row[5] else None,
        detail=row[6],
    )
