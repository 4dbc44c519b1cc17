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
