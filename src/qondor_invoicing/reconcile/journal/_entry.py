"""The journal's records and their transition rules.

`JournalEntry` holds what the journal knows about one payment; its ``with_*`` methods are the
transitions every backend applies, so all backends enforce the same invariants.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

import attrs

from ._errors import JournalConflictError


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
    ORPHAN = "orphan"


_OUTCOME_FOR: dict[JournalAction, JournalOutcome] = {
    JournalAction.BOOK: JournalOutcome.PROCESSED,
    JournalAction.FAIL: JournalOutcome.FAILED,
    JournalAction.SETTLE: JournalOutcome.PAID,
}


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
