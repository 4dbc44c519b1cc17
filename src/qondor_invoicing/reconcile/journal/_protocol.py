"""The `Journal` protocol: what every journal backend must guarantee."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol, runtime_checkable

from ._entry import JournalAction, JournalEntry, JournalEvent, JournalOutcome
from ._lease import Lease


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
    4. **Claims are exclusive, leased and fenced.** ``claim`` succeeds for one holder at a
       time; it succeeds again for the same holder (renewing the lease, same token), and for
       another only once the lease has expired (a takeover, written to the history). A
       holder is an owner name *and* the journal object's incarnation: another process with
       the same owner name is another holder. Every newly granted claim takes a **fencing
       token** strictly greater than every token granted before.
    5. **Writes are fenced by the claim.** Every ``record_*`` call from an owner that does
       not hold the payment's claim (or, given ``token``, no longer under that token)
       raises `LeaseLostError` and changes nothing, so a worker that stalled past its lease
       cannot overwrite its successor's work. A lapsed lease that nobody took over still
       counts as held: the check and the write are one transaction, so nobody can have
       acted on the payment in between. ``check`` gives the same answer before a side
       effect, which cannot be part of that transaction, and also refuses a lease with less
       than a safety margin left.
    6. **Unfinished intents are listed.** ``unfinished`` returns every entry with an open
       intent, so a restarted reconciler learns which side effects may have happened.

    Lease times use the journal's own clock (the database server's, for a server-backed
    journal), so workers' clocks never need to agree.
    """

    async def claim(self, payment_key: str, owner: str, lease_seconds: float) -> Lease | None:
        """Claim a payment for ``owner`` for ``lease_seconds``.

        Args:
            payment_key: The payment.
            owner: The worker's name.
            lease_seconds: How long the claim lasts unless renewed or released.

        Returns:
            The `Lease` (with its fencing token) if ``owner`` now holds the claim in this
            journal object (new, renewed or taken over from an expired lease), ``None`` if
            another holder has an unexpired one.
        """
        ...

    async def renew(self, lease: Lease, lease_seconds: float) -> Lease:
        """Extend a held lease to ``lease_seconds`` from now (a heartbeat); same token.

        A lapsed lease that nobody took over is renewed too.

        Raises:
            LeaseLostError: The claim is no longer held under the lease's token.
        """
        ...

    async def check(self, lease: Lease, *, margin: float = 0.0) -> Lease:
        """The fence check before a side effect: the token is current and time is left.

        Args:
            lease: The lease to check.
            margin: Seconds of lease that must be left.

        Returns:
            The lease with its current expiry.

        Raises:
            LeaseLostError: The claim is no longer held under the lease's token, or less
                than ``margin`` seconds of it are left.
        """
        ...

    async def release(self, payment_key: str, owner: str, *, token: int | None = None) -> None:
        """Release ``owner``'s claim on a payment (nothing happens if it does not hold it).

        Args:
            payment_key: The payment.
            owner: The worker's name.
            token: Release only the claim granted under this token.
        """
        ...

    async def record_orphan(
        self, payment_key: str, external_reference: str, *, owner: str, detail: str
    ) -> None:
        """Append an ORPHAN event: a booking made by a worker that lost its claim.

        Not fenced, and the entry does not change: the event is the audit trail's record of
        a reference that the successor's ``book()`` (same idempotency key) will return
        again, or that a person must reconcile.
        """
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
        token: int | None = None,
    ) -> JournalEntry:
        """Record that ``action`` is about to be taken (before any side effect).

        ``token``, here and in every ``record_*`` call, is the fencing token of the caller's
        `Lease`: given, the write is refused unless the claim is still held under it.

        Raises:
            LeaseLostError: ``owner`` does not hold the claim (under ``token``).
            JournalConflictError: See `JournalEntry.with_intent`.
        """
        ...

    async def record_reference(
        self, payment_key: str, external_reference: str, *, owner: str, token: int | None = None
    ) -> JournalEntry:
        """Record the finance system's reference (before SetAsProcessed is sent).

        Raises:
            LeaseLostError: ``owner`` does not hold the claim (under ``token``).
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
        token: int | None = None,
    ) -> JournalEntry:
        """Record how the open intent ended (after its side effect is confirmed).

        Raises:
            LeaseLostError: ``owner`` does not hold the claim (under ``token``).
            JournalConflictError: See `JournalEntry.with_outcome`.
        """
        ...

    async def record_error(
        self, payment_key: str, message: str, *, owner: str, token: int | None = None
    ) -> JournalEntry:
        """Record a transient error; the open intent stays open.

        Raises:
            LeaseLostError: ``owner`` does not hold the claim (under ``token``).
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
