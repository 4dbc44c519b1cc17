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

from __future__ import annotations

import contextlib
import enum
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, TypeVar, runtime_checkable

import anyio
import anyio.to_thread
import attrs

from ..errors import InvoicingError

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


class JournalError(InvoicingError):
    """Base class of the journal's errors."""


class JournalConflictError(JournalError):
    """A write that would break one of the journal's invariants was refused.

    Raised, for example, when the finance system returns a second, different external
    reference for a payment that already has one (its ``book`` is not idempotent), or when a
    payment that was booked is about to be set as failed. A person must look at it.

    Attributes:
        payment_key: The payment concerned.
    """

    def __init__(self, payment_key: str, message: str) -> None:
        super().__init__(f"payment {payment_key}: {message}")
        self.payment_key = payment_key


class LeaseLostError(JournalError):
    """A write by a worker that no longer holds the payment's claim was refused.

    Another worker took the payment over after this worker's lease expired (or the claim was
    released). The worker must stop working on the payment: the new owner finishes it.

    Attributes:
        payment_key: The payment concerned.
        owner: The worker whose write was refused.
        holder: The worker holding the claim now, if any.
    """

    def __init__(self, payment_key: str, owner: str, holder: str | None) -> None:
        held = f"held by {holder!r}" if holder else "not claimed"
        super().__init__(f"payment {payment_key}: {owner!r} does not hold the claim ({held})")
        self.payment_key = payment_key
        self.owner = owner
        self.holder = holder


class JournalLockedError(JournalError):
    """An exclusive `SqliteJournal` is already open in another process."""


class JournalAction(enum.Enum):
    """What the reconciler intends to do to a payment.

    Attributes:
        BOOK: Book it in the finance system, then SetAsProcessed with the reference.
        FAIL: SetAsFailed with a failure message (final in Qondor).
        SETTLE: SetAsPaid with the payment date seen in Qonto.
    """

    BOOK = "book"
    FAIL = "fail"
    SETTLE = "settle"


class JournalOutcome(enum.Enum):
    """How the last intent on a payment ended.

    Attributes:
        PROCESSED: Booked, and Qondor has it as Processed with the recorded reference.
        FAILED: Qondor has it as Failed with the recorded message.
        PAID: Qondor has it as Paid.
        ABANDONED: The payment left the reconciler's hands some other way (deleted in
            Qondor, changed by someone else); there is nothing more to do for it.
    """

    PROCESSED = "processed"
    FAILED = "failed"
    PAID = "paid"
    ABANDONED = "abandoned"


class JournalEventKind(enum.Enum):
    """The kind of one line of a payment's audit trail."""

    INTENT = "intent"
    REFERENCE = "reference"
    OUTCOME = "outcome"
    ERROR = "error"
    TAKEOVER = "takeover"


_OUTCOME_FOR: dict[JournalAction, JournalOutcome] = {
    JournalAction.BOOK: JournalOutcome.PROCESSED,
    JournalAction.FAIL: JournalOutcome.FAILED,
    JournalAction.SETTLE: JournalOutcome.PAID,
}


def _now(clock: Callable[[], float]) -> datetime:
    return datetime.fromtimestamp(clock(), tz=timezone.utc)


@attrs.frozen(kw_only=True)
class JournalEvent:
    """One line of a payment's append-only audit trail.

    Attributes:
        payment_key: The payment.
        at: When it was written (UTC).
        kind: Intent, reference, outcome, error or takeover.
        owner: The worker that wrote it.
        action: The intent's action (for intents, and for errors during one).
        outcome: The outcome (for outcomes).
        detail: The reference, failure message, error text or other detail.
    """

    payment_key: str
    at: datetime
    kind: JournalEventKind
    owner: str
    action: JournalAction | None = None
    outcome: JournalOutcome | None = None
    detail: str | None = None


@attrs.frozen(kw_only=True)
class JournalEntry:
    """What the journal knows about one payment.

    The methods ``with_intent``, ``with_reference``, ``with_outcome`` and ``with_error`` are
    the journal's transition rules. Every backend applies them (read the entry, compute the
    next one, write it in one transaction), so all backends enforce the same invariants.

    Attributes:
        payment_key: The journal's key for the payment (the reconciler uses the Qondor
            invoice id as a string).
        invoice_id: The Qondor invoice id.
        kind: The payment kind (``InvoiceKind`` value) seen at the last intent.
        intent: The open intent: recorded, with no outcome yet. ``None`` when nothing is
            in flight. An open intent means its side effect may or may not have happened.
        outcome: How the last closed intent ended.
        external_reference: The finance system's reference for the booking (kept from
            ``record_reference`` on; never silently replaced).
        failure_message: The message of a FAIL intent.
        paid_date: The payment date of a SETTLE intent.
        evidence: What justified a SETTLE (the Qonto supplier invoice id).
        last_error: The last transient error met while working on the open intent.
        attempts: How many times an intent was recorded for this payment.
        updated_at: When the entry last changed (UTC).
    """

    payment_key: str
    invoice_id: int
    kind: str | None = None
    intent: JournalAction | None = None
    outcome: JournalOutcome | None = None
    external_reference: str | None = None
    failure_message: str | None = None
    paid_date: date | None = None
    evidence: str | None = None
    last_error: str | None = None
    attempts: int = 0
    updated_at: datetime | None = None

    @property
    def unfinished(self) -> bool:
        """Whether an intent is open (its side effect may or may not have happened)."""
        return self.intent is not None

    @classmethod
    def new(cls, payment_key: str, invoice_id: int) -> JournalEntry:
        """Return the entry of a payment the journal has never seen."""
        return cls(payment_key=payment_key, invoice_id=invoice_id)

    def with_intent(
        self,
        action: JournalAction,
        *,
        at: datetime,
        kind: str | None = None,
        failure_message: str | None = None,
        paid_date: date | None = None,
        evidence: str | None = None,
    ) -> JournalEntry:
        """Return the entry after an intent is recorded.

        A BOOK intent recorded while a BOOK intent is already open keeps the recorded
        reference (the reconciler resumes). A BOOK intent opening a new cycle (after an
        outcome) starts without a reference; the old one stays in the history.

        Raises:
            JournalConflictError: A FAIL intent on a payment with an open BOOK intent that
                already has a reference (it was booked: failing it would orphan the
                booking), a FAIL intent without a message, or a SETTLE intent while a BOOK
                or FAIL intent is open.
        """
        reference = self.external_reference
        if action is JournalAction.BOOK:
            if self.intent is not JournalAction.BOOK:
                reference = None
        elif action is JournalAction.FAIL:
            if self.intent is JournalAction.BOOK and self.external_reference:
                raise JournalConflictError(
                    self.payment_key,
                    f"it was booked as {self.external_reference!r} in the finance system and "
                    "cannot be set as failed; finish the booking or reverse it by hand",
                )
            if not failure_message:
                raise JournalConflictError(self.payment_key, "a FAIL intent needs a message")
        elif self.intent is not None and self.intent is not JournalAction.SETTLE:
            raise JournalConflictError(
                self.payment_key,
                f"cannot settle while a {self.intent.value!r} intent is open; close it first",
            )
        return attrs.evolve(
            self,
            kind=kind if kind is not None else self.kind,
            intent=action,
            external_reference=reference,
            failure_message=failure_message if action is JournalAction.FAIL else None,
            paid_date=paid_date if action is JournalAction.SETTLE else self.paid_date,
            evidence=evidence if action is JournalAction.SETTLE else self.evidence,
            last_error=None,
            attempts=self.attempts + 1,
            updated_at=at,
        )

    def with_reference(self, external_reference: str, *, at: datetime) -> JournalEntry:
        """Return the entry after the finance system's reference is recorded.

        Recording the same reference again changes nothing.

        Raises:
            JournalConflictError: No BOOK intent is open, the reference is empty, or a
                different reference is already recorded (the finance system's ``book`` is
                not idempotent by invoice id).
        """
        if not external_reference:
            raise JournalConflictError(self.payment_key, "the external reference is empty")
        if self.intent is not JournalAction.BOOK:
            raise JournalConflictError(
                self.payment_key, "a reference can only be recorded during a BOOK intent"
            )
        if self.external_reference and self.external_reference != external_reference:
            raise JournalConflictError(
                self.payment_key,
                f"the finance system returned reference {external_reference!r} but "
                f"{self.external_reference!r} is already recorded; its book() must be "
                "idempotent by Qondor invoice id",
            )
        return attrs.evolve(self, external_reference=external_reference, updated_at=at)

    def with_outcome(
        self,
        outcome: JournalOutcome,
        *,
        at: datetime,
        external_reference: str | None = None,
        paid_date: date | None = None,
    ) -> JournalEntry:
        """Return the entry after an outcome closes the open intent (if any).

        An outcome may also be recorded with no intent open, for a change observed in
        Qondor (e.g. a processed payment found Paid).

        Raises:
            JournalConflictError: PROCESSED without any reference, PROCESSED with a
                reference different from the recorded one, or an outcome that does not
                belong to the open intent (e.g. PAID while a FAIL intent is open).
        """
        reference = self.external_reference
        if outcome is JournalOutcome.PROCESSED:
            if external_reference and reference and external_reference != reference:
                raise JournalConflictError(
                    self.payment_key,
                    f"processed with reference {external_reference!r} but "
                    f"{reference!r} is recorded",
                )
            reference = reference or external_reference
            if not reference:
                raise JournalConflictError(
                    self.payment_key, "a PROCESSED outcome needs an external reference"
                )
        if (
            self.intent is not None
            and outcome is not JournalOutcome.ABANDONED
            and outcome is not _OUTCOME_FOR[self.intent]
            # A booking overtaken by a payment: Qondor went on to Paid.
            and not (self.intent is JournalAction.BOOK and outcome is JournalOutcome.PAID)
        ):
            raise JournalConflictError(
                self.payment_key,
                f"outcome {outcome.value!r} does not close intent {self.intent.value!r}",
            )
        return attrs.evolve(
            self,
            intent=None,
            outcome=outcome,
            external_reference=reference,
            paid_date=paid_date if paid_date is not None else self.paid_date,
            last_error=None,
            updated_at=at,
        )

    def with_error(self, message: str, *, at: datetime) -> JournalEntry:
        """Return the entry after a transient error (the intent, if any, stays open)."""
        return attrs.evolve(self, last_error=message, updated_at=at)


@runtime_checkable
class Journal(Protocol):
    """Where the reconciler records what it is about to do and what it did.

    Guarantees every implementation must give (the reconciler's crash safety rests on them):

    1. **Durable before return.** When a ``record_*`` call returns, the write survives a
       crash of the calling process (and, for a server-backed journal, is visible to every
       other worker).
    2. **Atomic per call.** Each call reads the payment's entry, applies the matching
       `JournalEntry` transition (``with_intent``, ``with_reference``, ``with_outcome``,
       ``with_error``) and writes the result and one `JournalEvent`, all in one
       transaction; concurrent calls on one payment are serialised.
    3. **The reference is write-once per booking.** ``record_reference`` never replaces a
       different recorded reference (it raises `JournalConflictError`), and a BOOK intent
       re-recorded while one is open keeps it. Old references stay in the history.
    4. **Claims are exclusive and leased.** ``claim`` succeeds for one owner at a time; it
       succeeds again for the same owner (renewing the lease), and for another owner only
       once the lease has expired (a takeover, written to the history).
    5. **Writes are fenced by the claim.** Every ``record_*`` call from an owner that does
       not hold the payment's claim raises `LeaseLostError` and changes nothing, so a
       worker that stalled past its lease cannot overwrite its successor's work. A lapsed
       lease that nobody took over still counts as held.
    6. **Unfinished intents are listed.** ``unfinished`` returns every entry with an open
       intent, so a restarted reconciler learns which side effects may have happened.

    Lease times use the journal's own clock (the database server's, for a server-backed
    journal), so workers' clocks never need to agree.
    """

    async def claim(self, payment_key: str, owner: str, lease_seconds: float) -> bool:
        """Claim a payment for ``owner`` for ``lease_seconds``.

        Args:
            payment_key: The payment.
            owner: The worker's id (stable for the worker's lifetime).
            lease_seconds: How long the claim lasts unless renewed or released.

        Returns:
            ``True`` if ``owner`` now holds the claim (new, renewed or taken over from an
            expired lease), ``False`` if another owner holds an unexpired one.
        """
        ...

    async def release(self, payment_key: str, owner: str) -> None:
        """Release ``owner``'s claim on a payment (nothing happens if it does not hold it)."""
        ...

    async def get(self, payment_key: str) -> JournalEntry | None:
        """Return the payment's entry, or ``None`` if the journal has never seen it."""
        ...

    async def record_intent(
        self,
        payment_key: str,
        action: JournalAction,
        *,
        owner: str,
        invoice_id: int,
        kind: str | None = None,
        failure_message: str | None = None,
        paid_date: date | None = None,
        evidence: str | None = None,
    ) -> JournalEntry:
        """Record that ``action`` is about to be taken (before any side effect).

        Raises:
            LeaseLostError: ``owner`` does not hold the claim.
            JournalConflictError: See `JournalEntry.with_intent`.
        """
        ...

    async def record_reference(
        self, payment_key: str, external_reference: str, *, owner: str
    ) -> JournalEntry:
        """Record the finance system's reference (before SetAsProcessed is sent).

        Raises:
            LeaseLostError: ``owner`` does not hold the claim.
            JournalConflictError: See `JournalEntry.with_reference`.
        """
        ...

    async def record_outcome(
        self,
        payment_key: str,
        outcome: JournalOutcome,
        *,
        owner: str,
        invoice_id: int,
        external_reference: str | None = None,
        paid_date: date | None = None,
        detail: str | None = None,
    ) -> JournalEntry:
        """Record how the open intent ended (after its side effect is confirmed).

        Raises:
            LeaseLostError: ``owner`` does not hold the claim.
            JournalConflictError: See `JournalEntry.with_outcome`.
        """
        ...

    async def record_error(self, payment_key: str, message: str, *, owner: str) -> JournalEntry:
        """Record a transient error; the open intent stays open.

        Raises:
            LeaseLostError: ``owner`` does not hold the claim.
            JournalConflictError: The journal has never seen the payment.
        """
        ...

    async def unfinished(self) -> Sequence[JournalEntry]:
        """Every entry with an open intent, least recently updated first."""
        ...

    async def entries(self, *, outcome: JournalOutcome | None = None) -> Sequence[JournalEntry]:
        """Every entry with no open intent whose last outcome is ``outcome`` (all if ``None``)."""
        ...

    async def history(self, payment_key: str) -> Sequence[JournalEvent]:
        """The payment's audit trail, oldest first."""
        ...

    async def aclose(self) -> None:
        """Release the journal's resources (connections, locks)."""
        ...


_J = TypeVar("_J", bound="_StoredJournal")


class _StoredJournal:
    """The journal's rules over a storage layer; subclasses provide storage and a runner.

    Every public method runs one synchronous ``_do_*`` function through ``_run`` inside
    ``_atomic()``: the storage layer makes that one transaction.
    """

    def __init__(self, *, clock: Callable[[], float]) -> None:
        self._clock = clock

    # -- storage layer (subclasses) --------------------------------------------------------

    async def _run(self, fn: Callable[[], Any]) -> Any:
        raise NotImplementedError

    def _atomic(self) -> contextlib.AbstractContextManager[None]:
        raise NotImplementedError

    def _get_claim(self, payment_key: str) -> tuple[str, float] | None:
        raise NotImplementedError

    def _set_claim(self, payment_key: str, owner: str, expires_at: float) -> None:
        raise NotImplementedError

    def _delete_claim(self, payment_key: str, owner: str) -> None:
        raise NotImplementedError

    def _load(self, payment_key: str) -> JournalEntry | None:
        raise NotImplementedError

    def _store(self, entry: JournalEntry) -> None:
        raise NotImplementedError

    def _append(self, event: JournalEvent) -> None:
        raise NotImplementedError

    def _select(self, *, unfinished: bool, outcome: JournalOutcome | None) -> list[JournalEntry]:
        raise NotImplementedError

    def _events(self, payment_key: str) -> list[JournalEvent]:
        raise NotImplementedError

    # -- the rules -------------------------------------------------------------------------

    def _fence(self, payment_key: str, owner: str) -> None:
        claim = self._get_claim(payment_key)
        holder = claim[0] if claim is not None else None
        if holder != owner:
            raise LeaseLostError(payment_key, owner, holder)

    def _require(self, payment_key: str) -> JournalEntry:
        entry = self._load(payment_key)
        if entry is None:
            raise JournalConflictError(payment_key, "the journal has never seen this payment")
        return entry

    def _do_claim(self, payment_key: str, owner: str, lease_seconds: float) -> bool:
        with self._atomic():
            now = self._clock()
            held = self._get_claim(payment_key)
            if held is not None and held[0] != owner:
                if held[1] > now:
                    return False
                self._append(
                    JournalEvent(
                        payment_key=payment_key,
                        at=_now(self._clock),
                        kind=JournalEventKind.TAKEOVER,
                        owner=owner,
                        detail=f"lease of {held[0]!r} expired",
                    )
                )
            self._set_claim(payment_key, owner, now + lease_seconds)
            return True

    def _do_release(self, payment_key: str, owner: str) -> None:
        with self._atomic():
            self._delete_claim(payment_key, owner)

    def _write(
        self,
        payment_key: str,
        owner: str,
        change: Callable[[datetime], JournalEntry],
        event: Callable[[JournalEntry, datetime], JournalEvent],
    ) -> JournalEntry:
        """One fenced write: the entry as ``change`` makes it, and its event, atomically."""
        with self._atomic():
            self._fence(payment_key, owner)
            at = _now(self._clock)
            entry = change(at)
            self._store(entry)
            self._append(event(entry, at))
            return entry

    def _load_or_new(self, payment_key: str, invoice_id: int) -> JournalEntry:
        return self._load(payment_key) or JournalEntry.new(payment_key, invoice_id)

    def _do_intent(
        self,
        payment_key: str,
        action: JournalAction,
        owner: str,
        invoice_id: int,
        kwargs: dict[str, Any],
    ) -> JournalEntry:
        return self._write(
            payment_key,
            owner,
            lambda at: self._load_or_new(payment_key, invoice_id).with_intent(
                action, at=at, **kwargs
            ),
            lambda entry, at: _intent_event(entry, owner, at),
        )

    def _do_reference(self, payment_key: str, reference: str, owner: str) -> JournalEntry:
        return self._write(
            payment_key,
            owner,
            lambda at: self._require(payment_key).with_reference(reference, at=at),
            lambda entry, at: JournalEvent(
                payment_key=payment_key,
                at=at,
                kind=JournalEventKind.REFERENCE,
                owner=owner,
                action=JournalAction.BOOK,
                detail=reference,
            ),
        )

    def _do_outcome(
        self,
        payment_key: str,
        outcome: JournalOutcome,
        owner: str,
        invoice_id: int,
        external_reference: str | None,
        paid_date: date | None,
        detail: str | None,
    ) -> JournalEntry:
        return self._write(
            payment_key,
            owner,
            lambda at: self._load_or_new(payment_key, invoice_id).with_outcome(
                outcome, at=at, external_reference=external_reference, paid_date=paid_date
            ),
            lambda entry, at: JournalEvent(
                payment_key=payment_key,
                at=at,
                kind=JournalEventKind.OUTCOME,
                owner=owner,
                outcome=outcome,
                detail=detail,
            ),
        )

    def _do_error(self, payment_key: str, message: str, owner: str) -> JournalEntry:
        return self._write(
            payment_key,
            owner,
            lambda at: self._require(payment_key).with_error(message, at=at),
            lambda entry, at: JournalEvent(
                payment_key=payment_key,
                at=at,
                kind=JournalEventKind.ERROR,
                owner=owner,
                action=entry.intent,
                detail=message,
            ),
        )

    # -- the protocol ----------------------------------------------------------------------

    async def claim(self, payment_key: str, owner: str, lease_seconds: float) -> bool:
        """See `Journal.claim`."""
        if not lease_seconds > 0:
            raise ValueError(f"lease_seconds must be > 0, not {lease_seconds!r}")
        return bool(await self._run(lambda: self._do_claim(payment_key, owner, lease_seconds)))

    async def release(self, payment_key: str, owner: str) -> None:
        """See `Journal.release`."""
        await self._run(lambda: self._do_release(payment_key, owner))

    async def get(self, payment_key: str) -> JournalEntry | None:
        """See `Journal.get`."""
        result: JournalEntry | None = await self._run(lambda: self._load(payment_key))
        return result

    async def record_intent(
        self,
        payment_key: str,
        action: JournalAction,
        *,
        owner: str,
        invoice_id: int,
        kind: str | None = None,
        failure_message: str | None = None,
        paid_date: date | None = None,
        evidence: str | None = None,
    ) -> JournalEntry:
        """See `Journal.record_intent`."""
        kwargs = {
            "kind": kind,
            "failure_message": failure_message,
            "paid_date": paid_date,
            "evidence": evidence,
        }
        result: JournalEntry = await self._run(
            lambda: self._do_intent(payment_key, action, owner, invoice_id, kwargs)
        )
        return result

    async def record_reference(
        self, payment_key: str, external_reference: str, *, owner: str
    ) -> JournalEntry:
        """See `Journal.record_reference`."""
        result: JournalEntry = await self._run(
            lambda: self._do_reference(payment_key, external_reference, owner)
        )
        return result

    async def record_outcome(
        self,
        payment_key: str,
        outcome: JournalOutcome,
        *,
        owner: str,
        invoice_id: int,
        external_reference: str | None = None,
        paid_date: date | None = None,
        detail: str | None = None,
    ) -> JournalEntry:
        """See `Journal.record_outcome`."""
        result: JournalEntry = await self._run(
            lambda: self._do_outcome(
                payment_key, outcome, owner, invoice_id, external_reference, paid_date, detail
            )
        )
        return result

    async def record_error(self, payment_key: str, message: str, *, owner: str) -> JournalEntry:
        """See `Journal.record_error`."""
        result: JournalEntry = await self._run(lambda: self._do_error(payment_key, message, owner))
        return result

    async def unfinished(self) -> Sequence[JournalEntry]:
        """See `Journal.unfinished`."""
        result: list[JournalEntry] = await self._run(
            lambda: self._select(unfinished=True, outcome=None)
        )
        return result

    async def entries(self, *, outcome: JournalOutcome | None = None) -> Sequence[JournalEntry]:
        """See `Journal.entries`."""
        result: list[JournalEntry] = await self._run(
            lambda: self._select(unfinished=False, outcome=outcome)
        )
        return result

    async def history(self, payment_key: str) -> Sequence[JournalEvent]:
        """See `Journal.history`."""
        result: list[JournalEvent] = await self._run(lambda: self._events(payment_key))
        return result

    async def __aenter__(self: _J) -> _J:
        await self._run(lambda: None)  # opens the storage now, so errors surface here
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Release the journal's resources. Idempotent."""
        await anyio.to_thread.run_sync(self.close)

    def close(self) -> None:
        """Release the journal's resources (blocking). Idempotent."""


def _intent_event(entry: JournalEntry, owner: str, at: datetime) -> JournalEvent:
    assert entry.intent is not None
    detail: str | None = None
    if entry.intent is JournalAction.FAIL:
        detail = entry.failure_message
    elif entry.intent is JournalAction.SETTLE:
        paid = entry.paid_date.isoformat() if entry.paid_date else "?"
        detail = f"paid {paid}, evidence {entry.evidence}"
    elif entry.external_reference:
        detail = f"resuming with reference {entry.external_reference}"
    return JournalEvent(
        payment_key=entry.payment_key,
        at=at,
        kind=JournalEventKind.INTENT,
        owner=owner,
        action=entry.intent,
        detail=detail,
    )


def _updated_key(entry: JournalEntry) -> tuple[datetime, str]:
    return (entry.updated_at or datetime.min.replace(tzinfo=timezone.utc), entry.payment_key)


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
        self._claims: dict[str, tuple[str, float]] = {}
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

    def _get_claim(self, payment_key: str) -> tuple[str, float] | None:
        return self._claims.get(payment_key)

    def _set_claim(self, payment_key: str, owner: str, expires_at: float) -> None:
        self._claims[payment_key] = (owner, expires_at)

    def _delete_claim(self, payment_key: str, owner: str) -> None:
        held = self._claims.get(payment_key)
        if held is not None and held[0] == owner:
            del self._claims[payment_key]

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


# -- SQLite -------------------------------------------------------------------------------

_SCHEMA_VERSION = 1
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS payments (
        payment_key        TEXT PRIMARY KEY,
        invoice_id         INTEGER NOT NULL,
        kind               TEXT,
        intent             TEXT,
        outcome            TEXT,
        external_reference TEXT,
        failure_message    TEXT,
        paid_date          TEXT,
        evidence           TEXT,
        last_error         TEXT,
        attempts           INTEGER NOT NULL DEFAULT 0,
        updated_at         REAL
    )""",
    "CREATE INDEX IF NOT EXISTS payments_open ON payments (intent) WHERE intent IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS payments_outcome ON payments (outcome)",
    """CREATE TABLE IF NOT EXISTS claims (
        payment_key TEXT PRIMARY KEY,
        owner       TEXT NOT NULL,
        expires_at  REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS events (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        payment_key TEXT NOT NULL,
        at          REAL NOT NULL,
        kind        TEXT NOT NULL,
        owner       TEXT NOT NULL,
        action      TEXT,
        outcome     TEXT,
        detail      TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS events_payment ON events (payment_key, seq)",
)

_COLUMNS = (
    "payment_key, invoice_id, kind, intent, outcome, external_reference, failure_message, "
    "paid_date, evidence, last_error, attempts, updated_at"
)


class SqliteJournal(_StoredJournal):
    """A journal in an SQLite file (stdlib ``sqlite3``, WAL mode), durable across crashes.

    Every call runs in a worker thread (``anyio.to_thread.run_sync``), so the event loop is
    never blocked by disk I/O. Calls are serialised on one connection; each write is one
    ``BEGIN IMMEDIATE`` transaction, committed (``synchronous=FULL`` by default) before the
    call returns. A call that has started is never abandoned on cancellation, so the file
    never holds half a step.

    By default the journal is **exclusive**: it holds an OS lock on ``<path>.lock`` while
    open, so only one process uses the file at a time. A process holding that lock knows
    every claim left in the file belongs to a process that is gone (killed, crashed), so it
    drops them on open and a restarted reconciler resumes at once instead of waiting for
    leases to expire. Pass ``exclusive=False`` to let several processes share the file; then
    claims are only taken over once their lease expires.

    The file is opened lazily, on first use, in a worker thread (or on ``async with``).

    Args:
        path: The database file (created if missing), or ``":memory:"``.
        exclusive: Hold an OS lock so that only one process uses the journal at a time.
        synchronous: SQLite's ``synchronous`` setting: ``"FULL"`` (survives power loss)
            or ``"NORMAL"`` (survives a process crash; faster).
        busy_timeout: Seconds to wait for another process's write lock.
        clock: Wall clock in seconds, for leases and timestamps.

    Raises:
        JournalLockedError: On first use, when ``exclusive`` and another process has the
            journal open.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        exclusive: bool = True,
        synchronous: str = "FULL",
        busy_timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(clock=clock)
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError(f"synchronous must be FULL, NORMAL or EXTRA, not {synchronous!r}")
        self.path = os.fspath(path)
        self.exclusive = exclusive
        self._synchronous = synchronous.upper()
        self._busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._lock_file: Any = None
        self._mutex = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"SqliteJournal({self.path!r}, exclusive={self.exclusive})"

    def close(self) -> None:
        """Close the connection and release the file lock (blocking). Idempotent."""
        with self._mutex:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._release_file_lock()

    # -- plumbing ------------------------------------------------------------------------

    async def _run(self, fn: Callable[[], Any]) -> Any:
        return await anyio.to_thread.run_sync(self._locked, fn)

    def _locked(self, fn: Callable[[], Any]) -> Any:
        with self._mutex:
            if self._closed:
                raise JournalError(f"{self!r} is closed")
            if self._conn is None:
                self._conn = self._open()
            return fn()

    @property
    def _db(self) -> sqlite3.Connection:
        assert self._conn is not None
        return self._conn

    def _open(self) -> sqlite3.Connection:
        if self.exclusive and self.path != ":memory:":
            self._lock_file = _acquire_file_lock(self.path + ".lock", self.path)
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={self._synchronous}")
                with _transaction(conn):
                    _migrate(conn, self.path)
                    if self.exclusive:
                        # We hold the lock: every claim in the file is a dead process's.
                        conn.execute("DELETE FROM claims")
            except BaseException:
                conn.close()
                raise
        except BaseException:
            self._release_file_lock()
            raise
        return conn

    def _release_file_lock(self) -> None:
        if self._lock_file is not None:
            with contextlib.suppress(OSError):
                _release_file_lock(self._lock_file)
            self._lock_file = None

    def _atomic(self) -> contextlib.AbstractContextManager[None]:
        return _transaction(self._db)

    def _get_claim(self, payment_key: str) -> tuple[str, float] | None:
        row = self._db.execute(
            "SELECT owner, expires_at FROM claims WHERE payment_key = ?", (payment_key,)
        ).fetchone()
        return (str(row[0]), float(row[1])) if row else None

    def _set_claim(self, payment_key: str, owner: str, expires_at: float) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO claims (payment_key, owner, expires_at) VALUES (?, ?, ?)",
            (payment_key, owner, expires_at),
        )

    def _delete_claim(self, payment_key: str, owner: str) -> None:
        self._db.execute(
            "DELETE FROM claims WHERE payment_key = ? AND owner = ?", (payment_key, owner)
        )

    def _load(self, payment_key: str) -> JournalEntry | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM payments WHERE payment_key = ?", (payment_key,)
        ).fetchone()
        return _entry_from_row(row) if row else None

    def _store(self, entry: JournalEntry) -> None:
        self._db.execute(
            f"INSERT OR REPLACE INTO payments ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                entry.payment_key,
                entry.invoice_id,
                entry.kind,
                entry.intent.value if entry.intent else None,
                entry.outcome.value if entry.outcome else None,
                entry.external_reference,
                entry.failure_message,
                entry.paid_date.isoformat() if entry.paid_date else None,
                entry.evidence,
                entry.last_error,
                entry.attempts,
                entry.updated_at.timestamp() if entry.updated_at else None,
            ),
        )

    def _append(self, event: JournalEvent) -> None:
        self._db.execute(
            "INSERT INTO events (payment_key, at, kind, owner, action, outcome, detail) "
            "VALUES (?,?,?,?,?,?,?)",
            (
                event.payment_key,
                event.at.timestamp(),
                event.kind.value,
                event.owner,
                event.action.value if event.action else None,
                event.outcome.value if event.outcome else None,
                event.detail,
            ),
        )

    def _select(self, *, unfinished: bool, outcome: JournalOutcome | None) -> list[JournalEntry]:
        sql = f"SELECT {_COLUMNS} FROM payments WHERE intent IS {'NOT ' if unfinished else ''}NULL"
        params: tuple[str, ...] = ()
        if outcome is not None:
            sql += " AND outcome = ?"
            params = (outcome.value,)
        rows = self._db.execute(sql + " ORDER BY updated_at, payment_key", params).fetchall()
        return [_entry_from_row(r) for r in rows]

    def _events(self, payment_key: str) -> list[JournalEvent]:
        rows = self._db.execute(
            "SELECT payment_key, at, kind, owner, action, outcome, detail FROM events "
            "WHERE payment_key = ? ORDER BY seq",
            (payment_key,),
        ).fetchall()
        return [
            JournalEvent(
                payment_key=r[0],
                at=datetime.fromtimestamp(r[1], tz=timezone.utc),
                kind=JournalEventKind(r[2]),
                owner=r[3],
                action=JournalAction(r[4]) if r[4] else None,
                outcome=JournalOutcome(r[5]) if r[5] else None,
                detail=r[6],
            )
            for r in rows
        ]


def _migrate(conn: sqlite3.Connection, path: str) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > _SCHEMA_VERSION:
        raise JournalError(
            f"{path} was written by a newer version of qondor-invoicing "
            f"(schema {version}, this version knows {_SCHEMA_VERSION})"
        )
    for statement in _SCHEMA:
        conn.execute(statement)
    conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _entry_from_row(row: Sequence[Any]) -> JournalEntry:
    return JournalEntry(
        payment_key=row[0],
        invoice_id=int(row[1]),
        kind=row[2],
        intent=JournalAction(row[3]) if row[3] else None,
        outcome=JournalOutcome(row[4]) if row[4] else None,
        external_reference=row[5],
        failure_message=row[6],
        paid_date=date.fromisoformat(row[7]) if row[7] else None,
        evidence=row[8],
        last_error=row[9],
        attempts=int(row[10]),
        updated_at=datetime.fromtimestamp(row[11], tz=timezone.utc) if row[11] else None,
    )


def _acquire_file_lock(lock_path: str, db_path: str) -> Any:
    handle = open(lock_path, "a+b")  # noqa: SIM115 - held open for the journal's lifetime
    try:
        if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise JournalLockedError(
            f"another process has the journal {Path(db_path).name!r} open (lock {lock_path}); "
            "run one reconciler per journal file, or open it with exclusive=False to share "
            "it through leases"
        ) from None
    return handle


def _release_file_lock(handle: Any) -> None:
    try:
        if sys.platform == "win32":  # pragma: no cover
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()
