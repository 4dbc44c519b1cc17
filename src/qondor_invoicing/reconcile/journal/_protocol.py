"""The `Journal` protocol: what every journal backend must guarantee."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol, runtime_checkable

from ._entry import JournalAction, JournalEntry, JournalEvent, JournalOutcome


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
