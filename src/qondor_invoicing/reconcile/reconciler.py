"""The reconciler: Qondor's processing queue, your finance system and Qonto, safely and resumably.

``plan()`` reads (the queue, the journal, Qonto, the finance system's lookups) and decides;
``apply(plan)`` acts, one payment at a time per worker slot, recording every intent in the
journal before its side effect and every outcome after it. See the reconciler guide for
the crash-safety argument.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from .._states import describe
from ..errors import (
    APIStatusError,
    AuthenticationError,
    ConfigurationError,
    IllegalTransitionError,
    InvalidInputError,
    InvoicingError,
    NotFoundError,
    PermissionDeniedError,
)
from ..qondor.client import MAX_FAILURE_MESSAGE_LENGTH
from ..qondor.models import Invoice, InvoiceAction, InvoiceKind, InvoiceState
from ..qondor.rules import QONDOR_RULES
from ..qonto.models import SupplierInvoice, SupplierInvoiceAction, SupplierInvoiceStatus
from ..qonto.rules import QONTO_RULES
from .finance import FinanceSystem, resolve
from .journal import (
    Journal,
    JournalAction,
    JournalConflictError,
    JournalEntry,
    JournalOutcome,
    LeaseLostError,
    MemoryJournal,
)
from .matching import Matcher, SupplierInvoiceIndex, match_by_reference
from .plan import (
    Book,
    Close,
    Discrepancy,
    DiscrepancyReason,
    Fail,
    Plan,
    Report,
    Settle,
    Skip,
    Step,
    StepResult,
    StepStatus,
)
from .validators import DEFAULT_VALIDATORS, Validator, failure_message, validate

if TYPE_CHECKING:
    from ..qondor.client import QondorClient
    from ..qonto.client import QontoClient

__all__ = ["Progress", "ReconcileAbortedError", "ReconcilePolicy", "Reconciler"]

logger = logging.getLogger("qondor_invoicing.reconcile")

Progress = Callable[[int, int, Step], object]
"""``(done, total, step)``, called after each step of `Reconciler.apply` finishes."""

_FATAL: tuple[type[BaseException], ...] = (
    AuthenticationError,
    PermissionDeniedError,
    ConfigurationError,
)


@attrs.frozen(kw_only=True)
class ReconcilePolicy:
    """How the reconciler decides and how hard it tries.

    Transient errors (timeouts, 5xx, connection errors, a finance system that is down,
    exceptions raised by your code) **never** lead to SetAsFailed, whatever the policy: the
    payment stays in the queue and the report says why. SetAsFailed is only sent for
    problems the validators find in the payment's data.

    Attributes:
        fail_credit_card_payments: Send SetAsFailed for a credit card payment that fails
            validation. Off by default: the guide's FAQ says a failed card payment cannot be
            deleted or edited (its money was collected), and recovery needs SetAsUnprocessed
            or Qondor support. Such payments are reported as a `Discrepancy` for a person
            and stay in the queue. Payments of an unrecognised kind are treated the same way,
            since they may be card payments.
        settle: Match processed payments with Qonto and SetAsPaid them (when a Qonto client
            is given).
        check_amounts: Report a discrepancy instead of settling when the matched supplier
            invoice's amount or currency differs from the payment's total.
        amount_tolerance: Largest absolute amount difference still treated as equal.
        attempts: How many times one state change is sent (the client's own retries come on
            top), with a fresh read of the payment before each new attempt.
        lease_seconds: How long a claim on a payment lasts; longer than one step can take.
        breaker_min_failures: With at least this many payments to fail in one plan...
        breaker_max_share: ...and more than this share of the validated payments failing,
            no SetAsFailed is sent at all (they become `Skip` steps): so many failures at
            once usually mean the finance system's configuration is incomplete, not that
            the data is wrong. ``1.0`` disables the breaker.
        max_failure_message_length: Longest failure message sent (the Qondor client's
            limit by default); longer lists of problems are cut safely.
        fatal_errors: Errors that stop the whole run (every later call would fail too).
    """

    fail_credit_card_payments: bool = False
    settle: bool = True
    check_amounts: bool = True
    amount_tolerance: Decimal = attrs.field(default=Decimal("0"), converter=Decimal)
    attempts: int = attrs.field(default=3, validator=attrs.validators.ge(1))
    lease_seconds: float = attrs.field(default=600.0, validator=attrs.validators.gt(0))
    breaker_min_failures: int = attrs.field(default=20, validator=attrs.validators.ge(1))
    breaker_max_share: float = attrs.field(
        default=0.5, validator=[attrs.validators.gt(0.0), attrs.validators.le(1.0)]
    )
    max_failure_message_length: int = attrs.field(
        default=MAX_FAILURE_MESSAGE_LENGTH,
        validator=[attrs.validators.ge(20), attrs.validators.le(MAX_FAILURE_MESSAGE_LENGTH)],
    )
    fatal_errors: tuple[type[BaseException], ...] = _FATAL


class ReconcileAbortedError(InvoicingError):
    """The run stopped early on an error that would make every later step fail too.

    Examples: the API key was refused (401/403), or the journal cannot be written (then no
    side effect may happen, since no intent can be recorded first). Steps already in flight
    finished; later ones were not started (they are SKIPPED in the report).

    Attributes:
        report: What was done before the run stopped.
    """

    def __init__(self, message: str, *, report: Report) -> None:
        super().__init__(message)
        self.report = report


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    text = " ".join(text.split())
    name = type(exc).__name__
    if len(text) > 300:
        text = text[:299] + "…"
    return text if text.startswith(name) else f"{name}: {text}"


def _default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


@attrs.frozen
class _Change:
    """How one state change ended: done, moved (someone else changed it), or not done."""

    status: str  # "done" | "moved" | "failed" | "invalid"
    invoice: Invoice | None = None
    reason: str = ""
    error: BaseException | None = None


class Reconciler:
    """The integration loop the Qondor guide describes, safe to interrupt and run again.

    Example::

        async with QondorClient() as qondor, QontoClient() as qonto:
            reconciler = Reconciler(
                qondor, finance=my_finance, qonto=qonto, journal=SqliteJournal("recon.db")
            )
            plan = await reconciler.plan()     # reads only
            print(plan)
            report = await reconciler.apply(plan)

    Args:
        qondor: The Qondor client.
        finance: Your finance system (see `FinanceSystem`).
        qonto: The Qonto client, for settlement; without it nothing is set as paid.
        journal: Where intents and outcomes are recorded; a `MemoryJournal` by default.
            Use a `SqliteJournal` (or a server-backed journal) to survive crashes without
            relying on ``book`` being idempotent.
        matcher: Matches processed payments to Qonto supplier invoices; by default the
            external reference is the supplier invoice's number or id.
        validators: The checks run on each queued payment (`DEFAULT_VALIDATORS`).
        concurrency: Most payments worked on at once (each client's rate limit and
            concurrency limit also apply).
        policy: Decisions and retries (`ReconcilePolicy`).
        progress: Called as ``progress(done, total, step)`` after each step is applied.
        owner: This worker's id in the journal's claims; unique per process by default.
            A worker restarted with the same owner resumes its claims at once.

    Raises:
        ValueError: ``concurrency`` below 1.
    """

    def __init__(
        self,
        qondor: QondorClient,
        *,
        finance: FinanceSystem,
        qonto: QontoClient | None = None,
        journal: Journal | None = None,
        matcher: Matcher | None = None,
        validators: Sequence[Validator] | None = None,
        concurrency: int = 4,
        policy: ReconcilePolicy | None = None,
        progress: Progress | None = None,
        owner: str | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, not {concurrency!r}")
        self.qondor = qondor
        self.finance = finance
        self.qonto = qonto
        self.journal: Journal = journal if journal is not None else MemoryJournal()
        self.matcher: Matcher = matcher if matcher is not None else match_by_reference
        self.validators: tuple[Validator, ...] = tuple(
            validators if validators is not None else DEFAULT_VALIDATORS
        )
        self.concurrency = concurrency
        self.policy = policy if policy is not None else ReconcilePolicy()
        self.progress = progress
        self.owner = owner or _default_owner()

    def __repr__(self) -> str:
        return (
            f"Reconciler(journal={self.journal!r}, qonto={'yes' if self.qonto else 'no'}, "
            f"concurrency={self.concurrency}, owner={self.owner!r})"
        )

    # -- rules -----------------------------------------------------------------------------

    @property
    def _rules(self) -> Any:
        return getattr(self.qondor, "rules", QONDOR_RULES)

    @property
    def _strict(self) -> bool:
        return bool(getattr(self.qondor, "strict", True))

    def _refusal(self, invoice: Invoice, action: InvoiceAction) -> str | None:
        reason: str | None = invoice.refusal(action, self._rules, strict=self._strict)
        return reason

    def _fatal(self, exc: BaseException) -> bool:
        return isinstance(exc, self.policy.fatal_errors)

    # -- planning --------------------------------------------------------------------------

    async def plan(self) -> Plan:
        """Decide what to do. Reads only: nothing changes anywhere, the journal included.

        Returns:
            The plan.

        Raises:
            APIError: Qondor's queue could not be read (after the client's retries).
            JournalError: The journal could not be read.
        """
        created = _now()
        queue = await self.qondor.invoices.list_unprocessed()
        unfinished = {e.invoice_id: e for e in await self.journal.unfinished()}
        steps: dict[int, Step] = {}
        limiter = anyio.CapacityLimiter(self.concurrency)
        settle_candidates: list[JournalEntry] = []
        queued: dict[int, Invoice] = {}
        for invoice in queue:
            queued.setdefault(invoice.id, invoice)

        seen: dict[int, JournalEntry | None] = dict(unfinished)

        async def plan_queued(invoice: Invoice) -> None:
            async with limiter:
                entry = await self.journal.get(str(invoice.id))
                seen[invoice.id] = entry
                step = await self._plan_queued(invoice, entry)
            if step is not None:
                steps[invoice.id] = step

        async def plan_unfinished(entry: JournalEntry) -> None:
            async with limiter:
                step = await self._plan_unfinished(entry)
            if step is not None:
                steps[entry.invoice_id] = step
            elif entry.intent is JournalAction.SETTLE:
                settle_candidates.append(entry)

        async with anyio.create_task_group() as tg:
            for invoice in queued.values():
                tg.start_soon(plan_queued, invoice)
            for entry in unfinished.values():
                if entry.invoice_id not in queued:
                    tg.start_soon(plan_unfinished, entry)

        supplier_count: int | None = None
        warnings: list[str] = []
        if self.qonto is not None and self.policy.settle:
            supplier_count = await self._plan_settlement(
                steps, settle_candidates, limiter, warnings, seen
            )

        self._apply_breaker(steps, validated=len(queued))
        return Plan.of(
            [attrs.evolve(s, journal_entry=seen.get(s.invoice_id)) for s in steps.values()],
            created_at=created,
            queue_size=len(queue),
            supplier_invoices=supplier_count,
            warnings=tuple(warnings),
        )

    async def _plan_queued(self, invoice: Invoice, entry: JournalEntry | None) -> Step | None:
        if entry is not None and (entry.intent is not None or entry.outcome is not None):
            # The journal knows this payment, yet the queue listed it: the listing may be
            # stale (another worker, or a crashed run, changed it after the queue was read)
            # or a person returned it to the queue. Only Qondor can tell which.
            now = await self._read(invoice.id)
            if isinstance(now, BaseException):
                return Skip(
                    id=invoice.id,
                    reason=f"known to the journal, and could not be re-read: {_why(now)}",
                    invoice=invoice,
                )
            if now.state is not InvoiceState.UNPROCESSED:
                # Stale listing: finish an open intent from what Qondor shows now.
                return None if entry.intent is None else await self._plan_unfinished(entry, now)
            invoice = now
        refusal = self._refusal(invoice, InvoiceAction.SET_AS_PROCESSED)
        if entry is not None and entry.intent is JournalAction.BOOK:
            # A booking was decided and possibly made by an earlier run: finish it, do not
            # validate again (a changed verdict cannot undo a booking that may exist).
            if refusal is not None:
                return Discrepancy(
                    id=invoice.id,
                    reason=DiscrepancyReason.REFUSED,
                    detail=f"an interrupted booking cannot be finished: {refusal}",
                    invoice=invoice,
                )
            return Book(invoice=invoice, resume_reference=entry.external_reference, resumed=True)
        try:
            problems = await validate(invoice, self.finance, self.validators)
        except Exception as exc:
            if self._fatal(exc):
                raise
            return Skip(
                id=invoice.id,
                reason=f"not validated, stays in the queue: {_why(exc)}",
                invoice=invoice,
            )
        if not problems:
            if refusal is not None:
                return Discrepancy(
                    id=invoice.id,
                    reason=DiscrepancyReason.REFUSED,
                    detail=f"valid, but cannot be set as processed: {refusal}",
                    invoice=invoice,
                )
            return Book(invoice=invoice)
        message = failure_message(problems, max_length=self.policy.max_failure_message_length)
        if (
            invoice.kind in (InvoiceKind.CREDIT_CARD_PAYMENT, InvoiceKind.UNKNOWN)
            and not self.policy.fail_credit_card_payments
        ):
            what = (
                "credit card payment"
                if invoice.kind is InvoiceKind.CREDIT_CARD_PAYMENT
                else "payment of an unrecognised kind (possibly a credit card payment)"
            )
            return Discrepancy(
                id=invoice.id,
                reason=DiscrepancyReason.CREDIT_CARD_INVALID,
                detail=(
                    f"{message}. Not set as failed: a failed {what} cannot be deleted or "
                    "edited in Qondor. Fix the data in the finance system (it is booked on "
                    "a later run) or pass ReconcilePolicy(fail_credit_card_payments=True)"
                ),
                invoice=invoice,
                problems=problems,
            )
        fail_refusal = self._refusal(invoice, InvoiceAction.SET_AS_FAILED)
        if fail_refusal is not None:
            return Discrepancy(
                id=invoice.id,
                reason=DiscrepancyReason.REFUSED,
                detail=f"{message}. Cannot be set as failed: {fail_refusal}",
                invoice=invoice,
                problems=problems,
            )
        return Fail(invoice=invoice, failure_message=message, problems=problems)

    async def _read(self, invoice_id: int) -> Invoice | BaseException:
        try:
            return await self.qondor.invoices.get(invoice_id)
        except Exception as exc:
            if self._fatal(exc):
                raise
            return exc

    async def _plan_unfinished(
        self, entry: JournalEntry, read: Invoice | BaseException | None = None
    ) -> Step | None:
        """An intent left open by an interrupted run, for a payment no longer queued.

        ``read`` is the payment as just read from Qondor, if the caller has read it.
        """
        intent = entry.intent
        assert intent is not None
        ref = entry.external_reference
        if read is None:
            read = await self._read(entry.invoice_id)
        if isinstance(read, NotFoundError):
            if intent is JournalAction.BOOK:
                booked = (
                    f"it was booked as {ref} in the finance system: reverse that booking"
                    if ref
                    else "check the finance system for a booking of it"
                )
                return Discrepancy(
                    id=entry.invoice_id,
                    reason=DiscrepancyReason.CHANGED_ELSEWHERE,
                    detail=f"deleted in Qondor while being booked; {booked}",
                    close_intent=True,
                )
            return Close(
                id=entry.invoice_id, outcome=JournalOutcome.ABANDONED, reason="deleted in Qondor"
            )
        if isinstance(read, BaseException):
            return Skip(
                id=entry.invoice_id,
                reason=f"unfinished {intent.value} not resolved, payment not read: {_why(read)}",
            )
        invoice = read
        state = invoice.state
        if intent is JournalAction.BOOK:
            seen = invoice.external_reference
            if state in (InvoiceState.PROCESSED, InvoiceState.PAID) and ref and seen in (None, ref):
                return Close(
                    id=invoice.id,
                    outcome=(
                        JournalOutcome.PROCESSED
                        if state is InvoiceState.PROCESSED
                        else JournalOutcome.PAID
                    ),
                    reason=f"Qondor shows it {describe(state)} with reference {ref}",
                    external_reference=ref,
                    paid_date=invoice.paid_date,
                    invoice=invoice,
                )
            if state is InvoiceState.UNPROCESSED:
                return Skip(id=invoice.id, reason="back in the queue; next run", invoice=invoice)
            if not state.is_known:
                return Skip(
                    id=invoice.id,
                    reason=f"unfinished booking: Qondor state {state.value!r} not recognised",
                    transient=False,
                    invoice=invoice,
                )
            ours = f"it was booked as {ref}" if ref else "it may have been booked"
            theirs = f" with reference {seen}" if seen else ""
            return Discrepancy(
                id=invoice.id,
                reason=DiscrepancyReason.CHANGED_ELSEWHERE,
                detail=(
                    f"{describe(state)} in Qondor{theirs} by someone else while the reconciler "
                    f"was booking it; {ours} in the finance system: check for a duplicate"
                ),
                invoice=invoice,
                close_intent=True,
            )
        if intent is JournalAction.FAIL:
            if state is InvoiceState.FAILED:
                return Close(
                    id=invoice.id,
                    outcome=JournalOutcome.FAILED,
                    reason="Qondor shows it failed",
                    invoice=invoice,
                )
            if state is InvoiceState.UNPROCESSED:
                return Skip(id=invoice.id, reason="back in the queue; next run", invoice=invoice)
            return Close(
                id=invoice.id,
                outcome=JournalOutcome.ABANDONED,
                reason=f"{describe(state)} in Qondor by someone else; the failure was not sent",
                invoice=invoice,
            )
        # SETTLE
        if state is InvoiceState.PAID:
            return Close(
                id=invoice.id,
                outcome=JournalOutcome.PAID,
                reason="Qondor shows it paid",
                paid_date=invoice.paid_date or entry.paid_date,
                invoice=invoice,
            )
        if state is InvoiceState.PROCESSED:
            return None  # still to settle: the settlement pass takes it
        return Close(
            id=invoice.id,
            outcome=JournalOutcome.ABANDONED,
            reason=f"{describe(state)} in Qondor; no longer to be settled",
            invoice=invoice,
        )

    async def _plan_settlement(
        self,
        steps: dict[int, Step],
        open_settles: list[JournalEntry],
        limiter: anyio.CapacityLimiter,
        warnings: list[str],
        seen: dict[int, JournalEntry | None],
    ) -> int | None:
        assert self.qonto is not None
        try:
            supplier_invoices = [si async for si in self.qonto.supplier_invoices.list()]
        except Exception as exc:
            if self._fatal(exc):
                raise
            warnings.append(f"Qonto could not be read, nothing settled: {_why(exc)}")
            for entry in open_settles:
                steps[entry.invoice_id] = Skip(
                    id=entry.invoice_id,
                    reason=f"unfinished settlement waits: Qonto could not be read: {_why(exc)}",
                )
            return None
        index = SupplierInvoiceIndex.build(supplier_invoices)
        processed = [
            e
            for e in await self.journal.entries(outcome=JournalOutcome.PROCESSED)
            if e.invoice_id not in steps and self._may_settle(e)
        ]
        if self.matcher is match_by_reference:
            # The default matcher needs only the reference, which the journal holds: read
            # from Qondor only the payments Qonto has something for (Qondor allows 10
            # requests per second, and there may be thousands of unpaid payments).
            processed = [e for e in processed if match_by_reference(self._probe(e), index)]
        candidates = [
            *processed,
            *(e for e in open_settles if e.invoice_id not in steps),
        ]

        async def plan_one(entry: JournalEntry) -> None:
            seen[entry.invoice_id] = entry
            async with limiter:
                step = await self._plan_settle(entry, index)
            if step is not None:
                steps[entry.invoice_id] = step

        async with anyio.create_task_group() as tg:
            for entry in candidates:
                tg.start_soon(plan_one, entry)

        for entry in await self.journal.entries(outcome=JournalOutcome.PAID):
            if entry.evidence and entry.invoice_id not in steps:
                step = self._check_still_paid(entry, index)
                if step is not None:
                    seen[entry.invoice_id] = entry
                    steps[entry.invoice_id] = step
        return len(index)

    @staticmethod
    def _probe(entry: JournalEntry) -> Invoice:
        """The processed payment as the journal knows it (kind and reference), unread."""
        try:
            kind = InvoiceKind(entry.kind) if entry.kind else InvoiceKind.UNKNOWN
        except ValueError:
            kind = InvoiceKind.UNKNOWN
        return Invoice(
            id=entry.invoice_id,
            kind=kind,
            state=InvoiceState.PROCESSED,
            external_reference=entry.external_reference,
        )

    def _may_settle(self, entry: JournalEntry) -> bool:
        # Known from the journal, without a read: card payments are never set as paid.
        probe = self._probe(entry)
        return (
            probe.kind is InvoiceKind.UNKNOWN
            or self._refusal(probe, InvoiceAction.SET_AS_PAID) is None
        )

    async def _plan_settle(self, entry: JournalEntry, index: SupplierInvoiceIndex) -> Step | None:
        read = await self._read(entry.invoice_id)
        if isinstance(read, BaseException):
            if isinstance(read, NotFoundError):
                return Close(
                    id=entry.invoice_id,
                    outcome=JournalOutcome.ABANDONED,
                    reason="deleted in Qondor",
                )
            return Skip(id=entry.invoice_id, reason=f"not settled, payment not read: {_why(read)}")
        invoice = read
        if invoice.state is InvoiceState.PAID:
            return Close(
                id=invoice.id,
                outcome=JournalOutcome.PAID,
                reason="set as paid in Qondor by someone else",
                paid_date=invoice.paid_date,
                invoice=invoice,
            )
        if invoice.state is not InvoiceState.PROCESSED:
            return None  # back in the queue, or failed: not ours to settle now
        ref = invoice.external_reference or entry.external_reference
        probe = attrs.evolve(invoice, external_reference=ref)
        try:
            matches = list(self.matcher(probe, index))
        except Exception as exc:
            return Skip(id=invoice.id, reason=f"matcher raised: {_why(exc)}", invoice=invoice)
        if not matches:
            return None
        if len(matches) > 1:
            ids = ", ".join(si.id for si in matches)
            return Discrepancy(
                id=invoice.id,
                reason=DiscrepancyReason.AMBIGUOUS_MATCH,
                detail=f"{len(matches)} Qonto supplier invoices match reference {ref}: {ids}",
                invoice=invoice,
            )
        si = matches[0]
        if si.status != SupplierInvoiceStatus.PAID:
            return None  # not paid yet
        label = f"Qonto supplier invoice {si.invoice_number or si.id}"
        is_note = invoice.kind is InvoiceKind.CREDIT_NOTE
        if (
            invoice.kind is not InvoiceKind.UNKNOWN
            and si.is_credit_note is not None
            and is_note != si.is_credit_note
        ):
            detail = (
                f"credit note matched to {label}, which is an invoice"
                if is_note
                else f"{describe(invoice.kind)} matched to {label}, which is a credit note"
            )
            return Discrepancy(
                id=invoice.id,
                reason=DiscrepancyReason.CREDIT_NOTE_MISMATCH,
                detail=detail,
                invoice=invoice,
                supplier_invoice=si,
            )
        mismatch = self._amount_mismatch(invoice, si)
        if mismatch is not None:
            return Discrepancy(
                id=invoice.id,
                reason=DiscrepancyReason.AMOUNT_MISMATCH,
                detail=f"{mismatch} ({label})",
                invoice=invoice,
                supplier_invoice=si,
            )
        if si.payment_date is None:
            return Discrepancy(
                id=invoice.id,
                reason=DiscrepancyReason.NO_PAYMENT_DATE,
                detail=f"{label} is paid but has no payment date",
                invoice=invoice,
                supplier_invoice=si,
            )
        refusal = self._refusal(invoice, InvoiceAction.SET_AS_PAID)
        if refusal is not None:
            return Discrepancy(
                id=invoice.id,
                reason=DiscrepancyReason.REFUSED,
                detail=f"paid in Qonto ({label}) but cannot be set as paid: {refusal}",
                invoice=invoice,
                supplier_invoice=si,
            )
        return Settle(
            invoice=invoice, supplier_invoice=si, paid_date=si.payment_date, external_reference=ref
        )

    def _amount_mismatch(self, invoice: Invoice, si: SupplierInvoice) -> str | None:
        if not self.policy.check_amounts:
            return None
        ours = invoice.total()
        theirs = si.total_amount
        if ours is None or theirs is None:
            return None
        if ours.currency.upper() != theirs.currency.upper():
            return f"currency {ours.currency} in Qondor, {theirs.currency} in Qonto"
        # Credit notes may be negative on one side and positive on the other.
        if abs(abs(ours.amount) - abs(theirs.amount)) > self.policy.amount_tolerance:
            return (
                f"amount {abs(ours.amount)} {ours.currency} in Qondor, "
                f"{abs(theirs.amount)} {theirs.currency} in Qonto"
            )
        return None

    def _check_still_paid(self, entry: JournalEntry, index: SupplierInvoiceIndex) -> Step | None:
        """A payment set as paid on Qonto's evidence: is the evidence still paid?"""
        si = index.by_id.get(entry.evidence or "")
        if si is not None and si.status == SupplierInvoiceStatus.PAID:
            return None
        if si is None:
            detail = (
                f"set as paid in Qondor on the evidence of Qonto supplier invoice "
                f"{entry.evidence}, which is no longer in Qonto; Qondor has no way back from "
                "paid: check the payment"
            )
        else:
            remedy = QONTO_RULES.refusal(SupplierInvoiceAction.MARK_AS_PAID, si.status)
            fix = (
                "mark it as paid again in Qonto if the money did arrive"
                if remedy is None
                else f"Qonto cannot mark it as paid again ({remedy})"
            )
            detail = (
                f"set as paid in Qondor on the evidence of Qonto supplier invoice "
                f"{si.invoice_number or si.id}, which is now {describe(si.status)} in Qonto; "
                f"Qondor has no way back from paid: {fix}"
            )
        return Discrepancy(
            id=entry.invoice_id,
            reason=DiscrepancyReason.UNMARKED_IN_QONTO,
            detail=detail,
            supplier_invoice=si,
        )

    def _apply_breaker(self, steps: dict[int, Step], *, validated: int) -> None:
        fails = [s for s in steps.values() if isinstance(s, Fail)]
        policy = self.policy
        if len(fails) < policy.breaker_min_failures:
            return
        if len(fails) <= policy.breaker_max_share * validated:
            return
        reason = (
            f"not set as failed: {len(fails)} of {validated} queued payments fail validation, "
            f"more than the policy allows ({policy.breaker_max_share:.0%}); this usually means "
            "the finance system's configuration is incomplete. Check it and run again, or "
            "raise ReconcilePolicy.breaker_max_share"
        )
        logger.warning("reconcile: %s", reason)
        for step in fails:
            steps[step.invoice_id] = Skip(
                id=step.invoice_id,
                reason=f"{reason}. Problems: {step.failure_message}",
                transient=False,
                invoice=step.invoice,
            )

    # -- applying --------------------------------------------------------------------------

    async def run(self, *, dry_run: bool = False) -> Report:
        """Plan, then apply (or, with ``dry_run``, only plan and report).

        Args:
            dry_run: Change nothing: no state change, no booking, no journal write.

        Returns:
            The report.

        Raises:
            ReconcileAbortedError: See `apply`.
        """
        plan = await self.plan()
        if dry_run:
            now = _now()
            results = tuple(
                StepResult(step=s, status=StepStatus.PLANNED, detail=f"would {s.describe()}")
                for s in plan.steps
            )
            return Report(plan=plan, results=results, dry_run=True, started_at=now, finished_at=now)
        return await self.apply(plan)

    async def apply(self, plan: Plan) -> Report:
        """Carry out a plan, at most ``concurrency`` payments at a time.

        Each step is applied as described in the reconciler guide: claim the payment,
        record the intent, act, confirm against Qondor, record the outcome, release. A
        transient error leaves the payment for the next run (DEFERRED in the report).

        Args:
            plan: A plan from `plan`. It may be stale: every change is re-checked against
                Qondor's current state when sent, and nothing is ever sent twice for one
                confirmed step.

        Returns:
            The report, one result per step.

        Raises:
            ReconcileAbortedError: An error that would make every later step fail (401,
                403, the journal cannot be written); its ``report`` tells what was done.
        """
        started = _now()
        total = len(plan.steps)
        results: list[StepResult | None] = [None] * total
        limiter = anyio.CapacityLimiter(self.concurrency)
        aborted: list[BaseException] = []
        done = 0

        async def apply_one(i: int, step: Step) -> None:
            nonlocal done
            async with limiter:
                if aborted:
                    result = StepResult(
                        step=step,
                        status=StepStatus.SKIPPED,
                        detail=f"not started: the run stopped ({_why(aborted[0])})",
                    )
                else:
                    try:
                        result = await self._apply_step(step)
                    except Exception as exc:
                        aborted.append(exc)
                        logger.exception("reconcile: stopping the run")
                        result = StepResult(
                            step=step,
                            status=StepStatus.SKIPPED,
                            detail=f"run stopped: {_why(exc)}",
                            error=exc,
                        )
            results[i] = result
            done += 1
            self._report_progress(done, total, step)

        async with anyio.create_task_group() as tg:
            for i, step in enumerate(plan.steps):
                tg.start_soon(apply_one, i, step)

        report = Report(
            plan=plan,
            results=tuple(r for r in results if r is not None),
            dry_run=False,
            started_at=started,
            finished_at=_now(),
        )
        logger.info("reconcile: %s", report.summary())
        if aborted:
            raise ReconcileAbortedError(
                f"reconciliation stopped: {_why(aborted[0])}", report=report
            ) from aborted[0]
        return report

    def _report_progress(self, done: int, total: int, step: Step) -> None:
        if self.progress is None:
            return
        try:
            self.progress(done, total, step)
        except Exception:
            logger.exception("reconcile: the progress callback raised; ignored")

    async def _apply_step(self, step: Step) -> StepResult:
        if isinstance(step, Skip):
            return StepResult(step=step, status=StepStatus.SKIPPED, detail=step.reason)
        if isinstance(step, Discrepancy) and not step.close_intent:
            return StepResult(step=step, status=StepStatus.NEEDS_PERSON, detail=step.describe())
        key = str(step.invoice_id)
        journal = self.journal
        if not await journal.claim(key, self.owner, self.policy.lease_seconds):
            return StepResult(
                step=step,
                status=StepStatus.SKIPPED,
                detail="another worker is working on this payment",
            )
        try:
            if await journal.get(key) != step.journal_entry:
                return StepResult(
                    step=step,
                    status=StepStatus.SKIPPED,
                    detail="the journal changed since the plan was made (another worker?); "
                    "the next plan decides afresh",
                )
            if isinstance(step, Book):
                return await self._book(step, key)
            if isinstance(step, Fail):
                return await self._fail(step, key)
            if isinstance(step, Settle):
                return await self._settle(step, key)
            if isinstance(step, Close):
                await journal.record_outcome(
                    key,
                    step.outcome,
                    owner=self.owner,
                    invoice_id=step.invoice_id,
                    external_reference=step.external_reference,
                    paid_date=step.paid_date,
                    detail=step.reason,
                )
                return StepResult(
                    step=step,
                    status=StepStatus.DONE,
                    detail=step.describe(),
                    external_reference=step.external_reference,
                )
            # A discrepancy closing an open intent: the report is the notice.
            await journal.record_outcome(
                key,
                JournalOutcome.ABANDONED,
                owner=self.owner,
                invoice_id=step.invoice_id,
                detail=step.describe(),
            )
            return StepResult(step=step, status=StepStatus.NEEDS_PERSON, detail=step.describe())
        except JournalConflictError as exc:
            logger.warning("reconcile: payment %s: %s", key, exc)
            return StepResult(
                step=step, status=StepStatus.NEEDS_PERSON, detail=_why(exc), error=exc
            )
        except LeaseLostError as exc:
            return StepResult(
                step=step,
                status=StepStatus.SKIPPED,
                detail=f"taken over by another worker: {exc}",
                error=exc,
            )
        finally:
            with anyio.CancelScope(shield=True):
                await journal.release(key, self.owner)

    async def _deferred(
        self, step: Step, key: str, what: str, exc: BaseException | None
    ) -> StepResult:
        detail = f"{what}: {_why(exc)}" if exc is not None else what
        await self.journal.record_error(key, detail, owner=self.owner)
        logger.info("reconcile: payment %s deferred: %s", key, detail)
        return StepResult(
            step=step,
            status=StepStatus.DEFERRED,
            detail=f"{detail}; stays queued for the next run",
            error=exc,
        )

    async def _needs_person(
        self, step: Step, key: str, detail: str, exc: BaseException | None = None
    ) -> StepResult:
        await self.journal.record_error(key, detail, owner=self.owner)
        logger.warning("reconcile: payment %s needs a person: %s", key, detail)
        return StepResult(step=step, status=StepStatus.NEEDS_PERSON, detail=detail, error=exc)

    async def _book(self, step: Book, key: str) -> StepResult:
        invoice = step.invoice
        journal = self.journal
        # The journal, not the plan, says whether a reference exists: it is authoritative.
        entry = await journal.record_intent(
            key,
            JournalAction.BOOK,
            owner=self.owner,
            invoice_id=invoice.id,
            kind=invoice.kind.value,
        )
        reference = entry.external_reference
        if reference is None:
            try:
                booked: object = await resolve(self.finance.book(invoice))
            except Exception as exc:
                return await self._deferred(step, key, "the finance system did not book it", exc)
            if not isinstance(booked, str) or not booked.strip():
                return await self._needs_person(
                    step, key, f"finance system's book() returned {booked!r}, not a reference"
                )
            reference = booked.strip()
            await journal.record_reference(key, reference, owner=self.owner)
        ref = reference

        def send(current: Invoice) -> Awaitable[Invoice]:
            return self.qondor.invoices.set_as_processed(current, external_reference=ref)

        def confirmed(now: Invoice) -> bool:
            return now.state is InvoiceState.PROCESSED and now.external_reference in (None, ref)

        change = await self._change(invoice, InvoiceAction.SET_AS_PROCESSED, send, confirmed)
        if change.status == "done":
            await journal.record_outcome(
                key,
                JournalOutcome.PROCESSED,
                owner=self.owner,
                invoice_id=invoice.id,
                external_reference=ref,
            )
            return StepResult(
                step=step,
                status=StepStatus.DONE,
                detail=f"booked as {ref}, set as processed",
                external_reference=ref,
            )
        if change.status == "failed":
            return await self._deferred(
                step, key, f"booked as {ref}, SetAsProcessed not confirmed", change.error
            )
        return await self._needs_person(
            step,
            key,
            f"booked as {ref} in the finance system, but SetAsProcessed was refused: "
            f"{change.reason}",
            change.error,
        )

    async def _fail(self, step: Fail, key: str) -> StepResult:
        invoice = step.invoice
        await self.journal.record_intent(
            key,
            JournalAction.FAIL,
            owner=self.owner,
            invoice_id=invoice.id,
            kind=invoice.kind.value,
            failure_message=step.failure_message,
        )

        def send(current: Invoice) -> Awaitable[Invoice]:
            return self.qondor.invoices.set_as_failed(current, failure_message=step.failure_message)

        def confirmed(now: Invoice) -> bool:
            return now.state is InvoiceState.FAILED

        change = await self._change(invoice, InvoiceAction.SET_AS_FAILED, send, confirmed)
        if change.status == "done":
            await self.journal.record_outcome(
                key, JournalOutcome.FAILED, owner=self.owner, invoice_id=invoice.id
            )
            return StepResult(
                step=step, status=StepStatus.DONE, detail=f"set as failed: {step.failure_message}"
            )
        if change.status == "failed":
            return await self._deferred(step, key, "SetAsFailed not confirmed", change.error)
        return await self._needs_person(
            step, key, f"not set as failed: {change.reason}", change.error
        )

    async def _settle(self, step: Settle, key: str) -> StepResult:
        invoice = step.invoice
        await self.journal.record_intent(
            key,
            JournalAction.SETTLE,
            owner=self.owner,
            invoice_id=invoice.id,
            kind=invoice.kind.value,
            paid_date=step.paid_date,
            evidence=step.supplier_invoice.id,
        )

        def send(current: Invoice) -> Awaitable[Invoice]:
            return self.qondor.invoices.set_as_paid(current, paid_date=step.paid_date)

        def confirmed(now: Invoice) -> bool:
            return now.state is InvoiceState.PAID

        change = await self._change(invoice, InvoiceAction.SET_AS_PAID, send, confirmed)
        if change.status == "done":
            await self.journal.record_outcome(
                key,
                JournalOutcome.PAID,
                owner=self.owner,
                invoice_id=invoice.id,
                paid_date=step.paid_date,
            )
            return StepResult(
                step=step,
                status=StepStatus.DONE,
                detail=f"set as paid {step.paid_date.isoformat()}",
                external_reference=step.external_reference,
            )
        if change.status == "failed":
            return await self._deferred(step, key, "SetAsPaid not confirmed", change.error)
        return await self._needs_person(
            step, key, f"not set as paid: {change.reason}", change.error
        )

    async def _change(
        self,
        invoice: Invoice,
        action: InvoiceAction,
        send: Callable[[Invoice], Awaitable[Invoice]],
        confirmed: Callable[[Invoice], bool],
    ) -> _Change:
        """Send one state change until Qondor confirms it, re-reading before each resend.

        Nothing is resent while the outcome of the previous attempt is unknown: the payment
        is read first, and a change already visible counts as done. A state that no longer
        allows the change ("moved") is reported, never forced.
        """
        current = invoice
        last: BaseException | None = None
        need_read = False
        for _ in range(self.policy.attempts):
            if need_read:
                read = await self._read(invoice.id)
                if isinstance(read, BaseException):
                    last = read
                    continue
                current = read
                need_read = False
                if confirmed(current):
                    return _Change("done", current)
                refusal = self._refusal(current, action)
                if refusal is not None:
                    return _Change("moved", current, refusal, last)
            try:
                updated = await send(current)
            except InvalidInputError as exc:
                return _Change("invalid", current, _why(exc), exc)
            except Exception as exc:
                if self._fatal(exc):
                    raise
                if (
                    isinstance(exc, APIStatusError)
                    and 400 <= exc.status_code < 500
                    and exc.status_code not in (408, 409, 429)
                ):
                    # Qondor refused the request itself: sending it again changes nothing.
                    return _Change("moved", current, _why(exc), exc)
                last = exc
                need_read = True
                continue
            if confirmed(updated):
                return _Change("done", updated)
            return _Change(
                "moved",
                updated,
                f"Qondor answered with state {describe(updated.state)}, reference "
                f"{updated.external_reference!r}",
            )
        if need_read:
            # The last attempt may have been applied with its answer lost.
            read = await self._read(invoice.id)
            if not isinstance(read, BaseException) and confirmed(read):
                return _Change("done", read)
        if isinstance(last, IllegalTransitionError):
            return _Change("moved", current, last.reason, last)
        return _Change("failed", current, _why(last) if last else "", last)
