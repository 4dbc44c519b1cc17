"""The journal's errors."""

from __future__ import annotations

from ...errors import InvoicingError


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
    """A worker no longer holds the payment's claim, or no longer safely: it must stop.

    Raised by a fenced write (``record_*``), by `Journal.renew` and by `Journal.check`
    when the claim is held by someone else (another worker, or another process with the same
    owner name), was released, was taken over under a newer fencing token, or (for
    ``check``) has less than the safety margin of its lease left. The worker must stop
    working on the payment before its next side effect: its successor finishes it.

    Attributes:
        payment_key: The payment concerned.
        owner: The worker whose claim was lost.
        holder: The worker holding the claim now, if any.
        detail: Why, when it is not simply another holder.
    """

    def __init__(
        self, payment_key: str, owner: str, holder: str | None, *, detail: str | None = None
    ) -> None:
        held = f"held by {holder!r}" if holder else "not claimed"
        why = detail or f"does not hold the claim ({held})"
        super().__init__(f"payment {payment_key}: {owner!r} {why}")
        self.payment_key = payment_key
        self.owner = owner
        self.holder = holder
        self.detail = detail


class JournalLockedError(JournalError):
    """An exclusive `SqliteJournal` is already open in another process."""
