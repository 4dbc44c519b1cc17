"""Planning: read the queue, the journal, Qonto and the finance system, and decide."""

from __future__ import annotations

from datetime import datetime
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal, Inexact, InvalidOperation, localcontext

import anyio
import attrs

from .._states import describe
from ..errors import (
    NotFoundError,
)
from ..qondor.models import Invoice, InvoiceAction, InvoiceKind, InvoiceState
from ..qonto.models import SupplierInvoice, SupplierInvoiceAction, SupplierInvoiceStatus
from ..qonto.rules import QONTO_RULES
from ._worker import _now, _one_error, _why, _Worker, logger
from .journal import (
    JournalAction,
    JournalEntry,
    JournalOutcome,
)
from .matching import SupplierInvoiceIndex, match_by_reference
from .plan import (
    Book,
    Close,
    Discrepancy,
    DiscrepancyReason,
    Fail,
    Plan,
    Settle,
    Skip,
    Step,
)
from .validators import failure_message, validate


class _Planner(_Worker):
    """Decides what to do; reads only. See `Reconciler.plan`."""

    async def plan(self) -> Plan:
        with _one_error():
            return await self._plan()

    async def _plan(self) -> Plan:
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
        # What the journal knows of the queue, read at once right after the listing, and
        # the payments another live worker holds: those are its to plan, read and change,
        # skipped here without a read (a journal without `lookup` is read payment by
        # payment, and tells nothing of claims).
        known: dict[str, JournalEntry] | None = None
        held: set[str] = set()
        lookup = getattr(self.journal, "lookup", None)
        if lookup is not None:
            known, held = await lookup([str(i) for i in {*queued, *unfinished}], self.owner)
        for invoice_id in sorted(int(k) for k in held):
            steps[invoice_id] = Skip(
                id=invoice_id,
                reason="another worker is working on this payment",
                invoice=queued.get(invoice_id),
            )

        async def plan_queued(invoice: Invoice) -> None:
            async with limiter:
                key = str(invoice.id)
                entry = known.get(key) if known is not None else await self.journal.get(key)
                seen[invoice.id] = entry
                step = await self._plan_queued(invoice, entry, created)
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
                if invoice.id not in steps:
                    tg.start_soon(plan_queued, invoice)
            for entry in unfinished.values():
                if entry.invoice_id not in queued and entry.invoice_id not in steps:
                    tg.start_soon(plan_unfinished, entry)

        supplier_count: int | None = None
        warnings: list[str] = []
        if self.qonto is not None and self.policy.settle:
            supplier_count = await self._plan_settlement(
                steps, settle_candidates, limiter, warnings, seen
            )

        self._apply_breaker(steps, seen, validated=len(queued))
        return Plan.of(
            [attrs.evolve(s, journal_entry=seen.get(s.invoice_id)) for s in steps.values()],
            created_at=created,
            queue_size=len(queue),
            supplier_invoices=supplier_count,
            warnings=tuple(warnings),
        )

    async def _plan_queued(
        self, invoice: Invoice, entry: JournalEntry | None, listed_at: datetime | None = None
    ) -> Step | None:
        if (
            entry is not None
            and entry.intent is None
            and entry.outcome is not None
            and listed_at is not None
            and entry.updated_at is not None
            and entry.updated_at > listed_at
        ):
            # Finished after the queue was read: the listing is stale for this payment (a
            # later return to the queue cannot show in it), so nothing to read or do. Safe
            # whatever the clocks: a wrong "after" only leaves it for the next run's listing.
            return None
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
            window = self.policy.settlement_window
            listing = self.qonto.supplier_invoices.list(
                updated_at_from=None if window is None else _now() - window,
                max_pages=self.policy.settlement_max_pages,
            )
            supplier_invoices = [si async for si in listing]
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
        if not _amounts_agree(ours.amount, theirs.amount, self.policy.amount_tolerance):
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

    def _apply_breaker(
        self,
        steps: dict[int, Step],
        seen: dict[int, JournalEntry | None],
        *,
        validated: int,
    ) -> None:
        """Skip every new failure when too many of the validated payments fail.

        The breaker judges a wave once, by what was validated in it: a failure whose FAIL
        intent is open (an earlier run decided it and was interrupted or deferred before
        Qondor confirmed it) is not judged again, and `Reconciler.apply` sends a plan's
        failures before its bookings. So an interrupted run never changes what the next
        run decides: with ``F`` failures allowed among ``V`` validated payments, a run
        stopped after ``c`` of them leaves at most ``F - c`` new failures among ``V - c``
        queued payments, never a larger share.
        """
        fails = [
            s
            for s in steps.values()
            if isinstance(s, Fail)
            and not ((entry := seen.get(s.invoice_id)) and entry.intent is JournalAction.FAIL)
        ]
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


def _amounts_agree(ours: Decimal, theirs: Decimal, tolerance: Decimal) -> bool:
    """Whether two amounts differ (in absolute value) by at most ``tolerance``.

    Parsed amounts are bounded, but amounts built in code are not: the comparison runs in
    a context that signals nothing (no `decimal` error can escape the plan), and a result
    it cannot compute exactly counts as a disagreement, reported for a person.
    """
    with localcontext(Context(prec=40, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[])) as context:
        agree = abs(abs(ours) - abs(theirs)) <= tolerance
        return agree and not context.flags[Inexact] and not context.flags[InvalidOperation]
