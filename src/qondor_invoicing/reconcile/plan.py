"""What the reconciler intends to do (`Plan`, made of steps) and what it did (`Report`).

A plan is computed by reading only: Qondor's queue, the journal, Qonto's supplier invoices
and the finance system's lookups. Each step concerns one Qondor payment:

| step | what `apply` does |
|---|---|
| `Book` | ``finance.book(invoice)``, then SetAsProcessed with the returned reference |
| `Fail` | SetAsFailed with one message listing every problem (final in Qondor) |
| `Settle` | SetAsPaid with the payment date of the matching, paid Qonto supplier invoice |
| `Close` | records in the journal how an intent left open by a crash ended (no request) |
| `Discrepancy` | nothing automatic: reported for a person |
| `Skip` | nothing: the payment waits for a later run, for the reason given |

Every step that changes Qondor was checked against the rule table while planning.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any, ClassVar

import attrs

from ..qondor.models import Invoice, InvoiceAction
from ..qonto.models import SupplierInvoice
from . import _plan_render as _render
from .journal import JournalEntry, JournalOutcome
from .validators import Problem

__all__ = [
    "Book",
    "Close",
    "Discrepancy",
    "DiscrepancyReason",
    "Fail",
    "Plan",
    "Report",
    "Settle",
    "Skip",
    "Step",
    "StepKind",
    "StepResult",
    "StepStatus",
]


class StepKind(str, enum.Enum):
    """The kinds of step in a `Plan`."""

    BOOK = "book"
    FAIL = "fail"
    SETTLE = "settle"
    CLOSE = "close"
    DISCREPANCY = "discrepancy"
    SKIP = "skip"

    def __str__(self) -> str:
        return self.value


class DiscrepancyReason(str, enum.Enum):
    """Why a payment needs a person.

    Attributes:
        UNMARKED_IN_QONTO: The Qonto supplier invoice that justified SetAsPaid is no longer
            paid (or no longer there); Qondor has no way back from Paid.
        CREDIT_NOTE_MISMATCH: A credit note matched to a supplier invoice that is not one,
            or the other way round.
        AMOUNT_MISMATCH: The matched supplier invoice's amount or currency differs.
        AMBIGUOUS_MATCH: Several supplier invoices match the payment.
        NO_PAYMENT_DATE: The matched supplier invoice is paid but has no payment date.
        CREDIT_CARD_INVALID: A credit card payment failed validation; by default it is not
            set as failed, because a failed card payment cannot be deleted or edited.
        CHANGED_ELSEWHERE: Qondor shows a change the reconciler did not make while one of
            its own was in flight (e.g. processed with another reference, or deleted).
        JOURNAL_CONFLICT: The journal refused a write that would break an invariant (e.g.
            the finance system returned a second reference for one payment).
        REFUSED: The rule table refuses the action the payment would need.
    """

    UNMARKED_IN_QONTO = "unmarked_in_qonto"
    CREDIT_NOTE_MISMATCH = "credit_note_mismatch"
    AMOUNT_MISMATCH = "amount_mismatch"
    AMBIGUOUS_MATCH = "ambiguous_match"
    NO_PAYMENT_DATE = "no_payment_date"
    CREDIT_CARD_INVALID = "credit_card_invalid"
    CHANGED_ELSEWHERE = "changed_elsewhere"
    JOURNAL_CONFLICT = "journal_conflict"
    REFUSED = "refused"

    def __str__(self) -> str:
        return self.value


@attrs.frozen(kw_only=True)
class _Step:
    """Attributes shared by every step.

    Attributes:
        journal_entry: The payment's journal entry as the plan saw it. When applying, a
            different entry means another worker (or a later apply) acted on the payment
            since: the step is skipped and the next plan decides afresh.
    """

    kind: ClassVar[StepKind]
    action: ClassVar[InvoiceAction | None] = None
    journal_entry: JournalEntry | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def invoice_id(self) -> int:
        """The Qondor payment id."""
        raise NotImplementedError

    @property
    def changes_qondor(self) -> bool:
        """Whether applying the step sends a state change to Qondor."""
        return self.action is not None

    def describe(self) -> str:
        """One line saying what the step does and why."""
        raise NotImplementedError


@attrs.frozen(kw_only=True)
class Book(_Step):
    """Book a valid payment, then SetAsProcessed with the finance system's reference.

    Attributes:
        invoice: The payment (UNPROCESSED, in the queue).
        resume_reference: The reference the journal already holds for this payment (a
            previous run booked it and stopped before SetAsProcessed): ``book`` is not
            called again, the reference is sent as is.
        resumed: An open BOOK intent from a previous run is being finished. Such a
            payment is not validated again: its booking may already exist.
    """

    kind: ClassVar[StepKind] = StepKind.BOOK
    action: ClassVar[InvoiceAction | None] = InvoiceAction.SET_AS_PROCESSED
    invoice: Invoice
    resume_reference: str | None = None
    resumed: bool = False

    @property
    def invoice_id(self) -> int:
        return self.invoice.id

    def describe(self) -> str:
        if self.resume_reference:
            return f"resume: SetAsProcessed with recorded reference {self.resume_reference}"
        if self.resumed:
            return "resume: book again (idempotent) and SetAsProcessed"
        return "book in finance system, then SetAsProcessed"


@attrs.frozen(kw_only=True)
class Fail(_Step):
    """SetAsFailed: the payment's data is wrong (final in Qondor).

    Attributes:
        invoice: The payment.
        failure_message: The message sent (every problem, within Qondor's length limit).
        problems: The problems found.
    """

    kind: ClassVar[StepKind] = StepKind.FAIL
    action: ClassVar[InvoiceAction | None] = InvoiceAction.SET_AS_FAILED
    invoice: Invoice
    failure_message: str
    problems: tuple[Problem, ...] = ()

    @property
    def invoice_id(self) -> int:
        return self.invoice.id

    def describe(self) -> str:
        return f"SetAsFailed: {self.failure_message}"


@attrs.frozen(kw_only=True)
class Settle(_Step):
    """SetAsPaid with the payment date of a paid Qonto supplier invoice.

    Attributes:
        invoice: The payment (PROCESSED).
        supplier_invoice: The paid Qonto supplier invoice (the evidence).
        paid_date: Its payment date.
        external_reference: The reference the payment was processed with.
    """

    kind: ClassVar[StepKind] = StepKind.SETTLE
    action: ClassVar[InvoiceAction | None] = InvoiceAction.SET_AS_PAID
    invoice: Invoice
    supplier_invoice: SupplierInvoice
    paid_date: date
    external_reference: str | None = None

    @property
    def invoice_id(self) -> int:
        return self.invoice.id

    def describe(self) -> str:
        number = self.supplier_invoice.invoice_number or self.supplier_invoice.id
        return f"SetAsPaid {self.paid_date.isoformat()} (Qonto {number} is paid)"


@attrs.frozen(kw_only=True)
class Close(_Step):
    """Record in the journal how an intent left open by an interrupted run ended.

    No request is sent: Qondor already shows the outcome.

    Attributes:
        id: The Qondor payment id.
        outcome: The outcome recorded.
        reason: What Qondor shows.
        external_reference: The reference Qondor or the journal holds.
        paid_date: The paid date Qondor shows, for a PAID outcome.
        invoice: The payment as read from Qondor, if it still exists.
    """

    kind: ClassVar[StepKind] = StepKind.CLOSE
    id: int
    outcome: JournalOutcome
    reason: str
    external_reference: str | None = None
    paid_date: date | None = None
    invoice: Invoice | None = None

    @property
    def invoice_id(self) -> int:
        return self.id

    def describe(self) -> str:
        return f"journal: close as {self.outcome.value} ({self.reason})"


@attrs.frozen(kw_only=True)
class Discrepancy(_Step):
    """Something a person must look at; nothing is changed automatically.

    Attributes:
        id: The Qondor payment id.
        reason: The kind of discrepancy.
        detail: What was found and what to do, in words.
        invoice: The payment, when read.
        supplier_invoice: The Qonto supplier invoice concerned, if any.
        problems: Validation problems (for an invalid credit card payment).
        close_intent: Applying the step closes the payment's open journal intent (as
            abandoned): the reconciler will not retry it; the report is the notice.
    """

    kind: ClassVar[StepKind] = StepKind.DISCREPANCY
    id: int
    reason: DiscrepancyReason
    detail: str
    invoice: Invoice | None = None
    supplier_invoice: SupplierInvoice | None = None
    problems: tuple[Problem, ...] = ()
    close_intent: bool = False

    @property
    def invoice_id(self) -> int:
        return self.id

    def describe(self) -> str:
        return f"{self.reason.value}: {self.detail}"


@attrs.frozen(kw_only=True)
class Skip(_Step):
    """Nothing is done now; the payment waits for a later run.

    Attributes:
        id: The Qondor payment id.
        reason: Why (e.g. the finance system could not be reached while validating).
        transient: Whether a later run is expected to succeed without anyone acting.
        invoice: The payment, when read.
    """

    kind: ClassVar[StepKind] = StepKind.SKIP
    id: int
    reason: str
    transient: bool = True
    invoice: Invoice | None = None

    @property
    def invoice_id(self) -> int:
        return self.id

    def describe(self) -> str:
        return self.reason


Step = Book | Fail | Settle | Close | Discrepancy | Skip
"""Any step of a `Plan`."""

_STEP_ORDER = {kind: i for i, kind in enumerate(StepKind)}


@attrs.frozen(kw_only=True, repr=False)
class Plan:
    """The steps one reconciliation would take, computed by reading only.

    Attributes:
        steps: The steps, one per payment concerned, ordered by kind then payment id.
        created_at: When the plan was made (UTC).
        queue_size: How many payments Qondor's queue held.
        supplier_invoices: How many Qonto supplier invoices were read (``None`` without
            a Qonto client, or when Qonto could not be read).
        warnings: Problems that concern the whole plan (e.g. Qonto could not be read, so
            nothing is settled this time).
    """

    steps: tuple[Step, ...]
    created_at: datetime
    queue_size: int = 0
    supplier_invoices: int | None = None
    warnings: tuple[str, ...] = ()

    @classmethod
    def of(cls, steps: Sequence[Step], **kwargs: Any) -> Plan:
        """Build a plan, ordering the steps by kind then payment id."""
        ordered = sorted(steps, key=lambda s: (_STEP_ORDER[s.kind], s.invoice_id))
        return cls(steps=tuple(ordered), **kwargs)

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def books(self) -> tuple[Book, ...]:
        """The `Book` steps."""
        return tuple(s for s in self.steps if isinstance(s, Book))

    @property
    def fails(self) -> tuple[Fail, ...]:
        """The `Fail` steps."""
        return tuple(s for s in self.steps if isinstance(s, Fail))

    @property
    def settles(self) -> tuple[Settle, ...]:
        """The `Settle` steps."""
        return tuple(s for s in self.steps if isinstance(s, Settle))

    @property
    def closes(self) -> tuple[Close, ...]:
        """The `Close` steps."""
        return tuple(s for s in self.steps if isinstance(s, Close))

    @property
    def discrepancies(self) -> tuple[Discrepancy, ...]:
        """The `Discrepancy` steps."""
        return tuple(s for s in self.steps if isinstance(s, Discrepancy))

    @property
    def skips(self) -> tuple[Skip, ...]:
        """The `Skip` steps."""
        return tuple(s for s in self.steps if isinstance(s, Skip))

    @property
    def changes(self) -> int:
        """How many steps would change Qondor (book, fail, settle)."""
        return sum(1 for s in self.steps if s.changes_qondor)

    @property
    def is_empty(self) -> bool:
        """Whether applying the plan would change nothing, in Qondor or in the journal.

        Only skips and discrepancies that are merely reported remain.
        """
        return all(
            isinstance(s, Skip) or (isinstance(s, Discrepancy) and not s.close_intent)
            for s in self.steps
        )

    def counts(self) -> dict[str, int]:
        """Steps per kind (``{"book": 3, "fail": 1, ...}``), every kind present."""
        counts = {k.value: 0 for k in StepKind}
        for s in self.steps:
            counts[s.kind.value] += 1
        return counts

    def summary(self) -> str:
        """One line: ``"Plan: 3 book, 1 fail (queue 4, 12 Qonto supplier invoices)"``."""
        return _render.plan_summary(self)

    def rows(self) -> list[list[Any]]:
        """The table rows: payment, kind, step, detail."""
        return _render.plan_rows(self)

    def __repr__(self) -> str:
        return f"<{self.summary()}>"

    def render(self, *, width: int | None = None) -> str:
        """The plan as text: a summary, then one table per kind of step.

        Args:
            width: Fit the tables in this many columns (a terminal's width).
        """
        return _render.plan_text(self, width)

    def __str__(self) -> str:
        return self.render()

    def _repr_html_(self) -> str:
        return _render.plan_html(self)

    def to_dict(self) -> dict[str, Any]:
        """The plan as plain JSON data."""
        return _render.plan_dict(self)


class StepStatus(str, enum.Enum):
    """How applying one step ended.

    Attributes:
        DONE: The change is confirmed in Qondor (or recorded in the journal for `Close`).
        DEFERRED: A transient error (timeout, 5xx, connection, the finance system or user
            code raised): nothing final happened, the payment waits for the next run.
        NEEDS_PERSON: A discrepancy, or something found while applying, that a person
            must resolve.
        SKIPPED: The step was a `Skip`, another worker holds the payment, or the run
            stopped before reaching it.
        HANDED_OVER: This worker lost its claim in the middle of the step (its lease
            expired and another worker took the payment over, or a renewal was refused):
            it stopped before its next side effect and recorded nothing more; the other
            worker finishes the payment.
        PLANNED: Dry run: nothing was done.
    """

    DONE = "done"
    DEFERRED = "deferred"
    NEEDS_PERSON = "needs_person"
    SKIPPED = "skipped"
    HANDED_OVER = "handed_over"
    PLANNED = "planned"

    def __str__(self) -> str:
        return self.value


@attrs.frozen(kw_only=True)
class StepResult:
    """The result of one step.

    Attributes:
        step: The step.
        status: How it ended.
        detail: What happened, in words (for DEFERRED: why, and that it stays queued).
        external_reference: The reference the payment was processed with (`Book`).
        error: The exception behind a DEFERRED or NEEDS_PERSON status, if any.
    """

    step: Step
    status: StepStatus
    detail: str = ""
    external_reference: str | None = None
    error: BaseException | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen(kw_only=True, repr=False)
class Report:
    """What `Reconciler.apply` (or a dry run) did.

    Attributes:
        plan: The plan applied.
        results: One result per step, in the plan's order.
        dry_run: Whether nothing was done on purpose.
        started_at: When applying started (UTC).
        finished_at: When it ended (UTC).
    """

    plan: Plan
    results: tuple[StepResult, ...]
    dry_run: bool
    started_at: datetime
    finished_at: datetime

    def __iter__(self) -> Iterator[StepResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def with_status(self, status: StepStatus) -> tuple[StepResult, ...]:
        """The results with ``status``."""
        return tuple(r for r in self.results if r.status is status)

    @property
    def done(self) -> tuple[StepResult, ...]:
        """Results whose change is confirmed."""
        return self.with_status(StepStatus.DONE)

    @property
    def deferred(self) -> tuple[StepResult, ...]:
        """Results left for the next run because of a transient error."""
        return self.with_status(StepStatus.DEFERRED)

    @property
    def needs_person(self) -> tuple[StepResult, ...]:
        """Results a person must look at."""
        return self.with_status(StepStatus.NEEDS_PERSON)

    @property
    def handed_over(self) -> tuple[StepResult, ...]:
        """Results of steps another worker took over while this one worked on them."""
        return self.with_status(StepStatus.HANDED_OVER)

    @property
    def ok(self) -> bool:
        """No step was deferred and none needs a person."""
        return not any(
            r.status in (StepStatus.DEFERRED, StepStatus.NEEDS_PERSON) for r in self.results
        )

    def counts(self) -> dict[str, int]:
        """Results per status, every status present."""
        counts = {s.value: 0 for s in StepStatus}
        for r in self.results:
            counts[r.status.value] += 1
        return counts

    def summary(self) -> str:
        """One line: ``"Report: 3 done, 1 deferred (0.4 s)"``."""
        return _render.report_summary(self)

    def rows(self) -> list[list[Any]]:
        """The table rows: payment, step, status, detail."""
        return _render.report_rows(self)

    def __repr__(self) -> str:
        return f"<{self.summary()}>"

    def render(self, *, width: int | None = None) -> str:
        """The report as text: a summary, then one table per outcome (done, deferred, ...).

        Args:
            width: Fit the tables in this many columns (a terminal's width).
        """
        return _render.report_text(self, width)

    def __str__(self) -> str:
        return self.render()

    def _repr_html_(self) -> str:
        return _render.report_html(self)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON data."""
        return _render.report_dict(self)
