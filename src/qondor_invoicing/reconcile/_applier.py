"""Applying: carry out a plan, journal first, every state change confirmed by Qondor."""

from __future__ import annotations

import enum
from collections.abc import Awaitable

import anyio
import attrs

from .._render import lone_surrogate
from ..errors import (
    APIStatusError,
    IllegalTransitionError,
    InvalidInputError,
)
from ..qondor.models import Invoice
from ._fence import StepFence
from ._policy import ReconcileAbortedError
from ._worker import _now, _why, _Worker, logger
from .finance import call_book, idempotency_key
from .journal import (
    JournalAction,
    JournalConflictError,
    JournalOutcome,
    LeaseLostError,
)
from .plan import (
    Book,
    Close,
    Discrepancy,
    Fail,
    Plan,
    Report,
    Settle,
    Skip,
    Step,
    StepResult,
    StepStatus,
)


class _ChangeStatus(enum.Enum):
    """How one state change ended."""

    DONE = "done"
    """Qondor confirms the change."""
    MOVED = "moved"
    """The payment's state no longer allows it (someone else changed it), or Qondor refused."""
    FAILED = "failed"
    """Not confirmed (transient errors, or an outcome left unknown): a later run decides."""
    INVALID = "invalid"
    """The request was invalid input (the client refused to send it)."""


@attrs.frozen
class _Change:
    """How one state change ended: done, moved (someone else changed it), or not done."""

    status: _ChangeStatus
    invoice: Invoice | None = None
    reason: str = ""
    error: BaseException | None = None


def _request_id_detail(change: _Change) -> str | None:
    """The outcome event's detail: the request id of the answer that showed the change."""
    request_id = change.invoice._request_id if change.invoice is not None else None
    return f"request id {request_id}" if request_id else None


class _Applier(_Worker):
    """Carries out a plan. See `Reconciler.apply`."""

    async def apply(self, plan: Plan) -> Report:
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

        # Failures first, in a wave of their own: a run interrupted after them leaves the
        # valid payments queued, so the next plan's breaker judges the same wave (see
        # `_Planner._apply_breaker`); failures deferred meanwhile keep their open intent.
        failures = [i for i, step in enumerate(plan.steps) if isinstance(step, Fail)]
        others = [i for i, step in enumerate(plan.steps) if not isinstance(step, Fail)]
        for wave in (failures, others):
            async with anyio.create_task_group() as tg:
                for i in wave:
                    tg.start_soon(apply_one, i, plan.steps[i])

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
        policy = self.policy
        lease = await journal.claim(key, self.owner, policy.lease_seconds)
        if lease is None:
            return StepResult(
                step=step,
                status=StepStatus.SKIPPED,
                detail="another worker is working on this payment",
            )
        fence = StepFence(
            journal,
            lease,
            lease_seconds=policy.lease_seconds,
            margin=policy.lease_seconds * policy.lease_margin,
            interval=policy.lease_seconds * policy.heartbeat,
            sleep=self.sleep,
        )
        try:
            return await fence.run(lambda: self._claimed_step(step, fence))
        except JournalConflictError as exc:
            detail = self._scrub(_why(exc))
            logger.warning("reconcile: payment %s: %s", key, detail)
            return StepResult(step=step, status=StepStatus.NEEDS_PERSON, detail=detail, error=exc)
        except LeaseLostError as exc:
            logger.warning("reconcile: payment %s handed over: %s", key, exc)
            return StepResult(
                step=step,
                status=StepStatus.HANDED_OVER,
                detail=f"taken over by another worker: {exc}",
                error=exc,
            )
        finally:
            with anyio.CancelScope(shield=True):
                await journal.release(key, self.owner, token=lease.token)

    async def _claimed_step(self, step: Step, fence: StepFence) -> StepResult:
        key = fence.key
        journal = self.journal
        if await journal.get(key) != step.journal_entry:
            return StepResult(
                step=step,
                status=StepStatus.SKIPPED,
                detail="the journal changed since the plan was made (another worker?); "
                "the next plan decides afresh",
            )
        if isinstance(step, Book):
            return await self._book(step, fence)
        if isinstance(step, Fail):
            return await self._fail(step, fence)
        if isinstance(step, Settle):
            return await self._settle(step, fence)
        if isinstance(step, Close):
            await journal.record_outcome(
                key,
                step.outcome,
                owner=self.owner,
                token=fence.token,
                invoice_id=step.invoice_id,
                external_reference=step.external_reference,
                paid_date=step.paid_date,
                detail=self._scrub(step.reason),
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
            token=fence.token,
            invoice_id=step.invoice_id,
            detail=self._scrub(step.describe()),
        )
        return StepResult(step=step, status=StepStatus.NEEDS_PERSON, detail=step.describe())

    async def _deferred(
        self, step: Step, fence: StepFence, what: str, exc: BaseException | None
    ) -> StepResult:
        detail = self._scrub(f"{what}: {_why(exc)}" if exc is not None else what)
        await self.journal.record_error(fence.key, detail, owner=self.owner, token=fence.token)
        logger.info("reconcile: payment %s deferred: %s", fence.key, detail)
        return StepResult(
            step=step,
            status=StepStatus.DEFERRED,
            detail=f"{detail}; stays queued for the next run",
            error=exc,
        )

    async def _needs_person(
        self, step: Step, fence: StepFence, detail: str, exc: BaseException | None = None
    ) -> StepResult:
        detail = self._scrub(detail)
        await self.journal.record_error(fence.key, detail, owner=self.owner, token=fence.token)
        logger.warning("reconcile: payment %s needs a person: %s", fence.key, detail)
        return StepResult(step=step, status=StepStatus.NEEDS_PERSON, detail=detail, error=exc)

    async def _book(self, step: Book, fence: StepFence) -> StepResult:
        invoice = step.invoice
        journal = self.journal
        key = fence.key
        # The journal, not the plan, says whether a reference exists: it is authoritative.
        entry = await journal.record_intent(
            key,
            JournalAction.BOOK,
            owner=self.owner,
            token=fence.token,
            invoice_id=invoice.id,
            kind=invoice.kind.value,
        )
        reference = entry.external_reference
        if reference is None:
            await fence.check()
            try:
                booked = await call_book(
                    self.finance, invoice, idempotency_key=idempotency_key(invoice)
                )
            except Exception as exc:
                return await self._deferred(step, fence, "the finance system did not book it", exc)
            if not isinstance(booked, str) or not booked.strip():
                return await self._needs_person(
                    step, fence, f"finance system's book() returned {booked!r}, not a reference"
                )
            reference = booked.strip()
            if not reference.isascii() and lone_surrogate(reference) is not None:
                # A lone surrogate: no journal can store it and Qondor cannot take it. The
                # next run's book() (same idempotency key) answers the same: a person's job.
                return await self._needs_person(
                    step,
                    fence,
                    f"finance system's book() returned {reference!a}, which holds a lone "
                    "surrogate: it can be neither stored nor sent",
                )
            try:
                await journal.record_reference(key, reference, owner=self.owner, token=fence.token)
            except LeaseLostError as exc:
                await self._orphan(fence, reference, exc)
                raise LeaseLostError(
                    key,
                    self.owner,
                    exc.holder,
                    detail=f"lost its claim after book() returned {reference} ({exc}); the "
                    "successor's book() with the same idempotency key returns it again",
                ) from exc
        ref = reference

        await fence.check()
        change = await self._change(
            self._changes.invoices.set_as_processed(invoice, external_reference=ref)
        )
        if change.status is _ChangeStatus.DONE:
            await journal.record_outcome(
                key,
                JournalOutcome.PROCESSED,
                owner=self.owner,
                token=fence.token,
                invoice_id=invoice.id,
                external_reference=ref,
                detail=_request_id_detail(change),
            )
            return StepResult(
                step=step,
                status=StepStatus.DONE,
                detail=f"booked as {ref}, set as processed",
                external_reference=ref,
            )
        if change.status is _ChangeStatus.FAILED:
            return await self._deferred(
                step, fence, f"booked as {ref}, SetAsProcessed not confirmed", change.error
            )
        return await self._needs_person(
            step,
            fence,
            f"booked as {ref} in the finance system, but SetAsProcessed was refused: "
            f"{change.reason}",
            change.error,
        )

    async def _fail(self, step: Fail, fence: StepFence) -> StepResult:
        invoice = step.invoice
        key = fence.key
        await self.journal.record_intent(
            key,
            JournalAction.FAIL,
            owner=self.owner,
            token=fence.token,
            invoice_id=invoice.id,
            kind=invoice.kind.value,
            failure_message=step.failure_message,
        )

        await fence.check()
        change = await self._change(
            self._changes.invoices.set_as_failed(invoice, failure_message=step.failure_message)
        )
        if change.status is _ChangeStatus.DONE:
            await self.journal.record_outcome(
                key,
                JournalOutcome.FAILED,
                owner=self.owner,
                token=fence.token,
                invoice_id=invoice.id,
                detail=_request_id_detail(change),
            )
            return StepResult(
                step=step, status=StepStatus.DONE, detail=f"set as failed: {step.failure_message}"
            )
        if change.status is _ChangeStatus.FAILED:
            return await self._deferred(step, fence, "SetAsFailed not confirmed", change.error)
        return await self._needs_person(
            step, fence, f"not set as failed: {change.reason}", change.error
        )

    async def _settle(self, step: Settle, fence: StepFence) -> StepResult:
        invoice = step.invoice
        key = fence.key
        await self.journal.record_intent(
            key,
            JournalAction.SETTLE,
            owner=self.owner,
            token=fence.token,
            invoice_id=invoice.id,
            kind=invoice.kind.value,
            paid_date=step.paid_date,
            evidence=step.supplier_invoice.id,
        )

        await fence.check()
        change = await self._change(
            self._changes.invoices.set_as_paid(invoice, paid_date=step.paid_date)
        )
        if change.status is _ChangeStatus.DONE:
            await self.journal.record_outcome(
                key,
                JournalOutcome.PAID,
                owner=self.owner,
                token=fence.token,
                invoice_id=invoice.id,
                paid_date=step.paid_date,
                detail=_request_id_detail(change),
            )
            return StepResult(
                step=step,
                status=StepStatus.DONE,
                detail=f"set as paid {step.paid_date.isoformat()}",
                external_reference=step.external_reference,
            )
        if change.status is _ChangeStatus.FAILED:
            return await self._deferred(step, fence, "SetAsPaid not confirmed", change.error)
        return await self._needs_person(
            step, fence, f"not set as paid: {change.reason}", change.error
        )

    async def _orphan(self, fence: StepFence, reference: str, exc: LeaseLostError) -> None:
        """A booking made under a claim that was lost before its reference was recorded."""
        logger.warning(
            "reconcile: payment %s: booked as %s, but the claim was lost before the reference "
            "was recorded (%s); the successor's book() with the same idempotency key must "
            "return %s again",
            fence.key,
            reference,
            exc,
            reference,
        )
        await self.journal.record_orphan(
            fence.key,
            reference,
            owner=self.owner,
            detail=f"booked by {self.owner!r} (token {fence.token}), claim lost before the "
            "reference was recorded",
        )

    async def _change(self, send: Awaitable[Invoice]) -> _Change:
        """One state change through the client's confirmed change (`send_confirmed`).

        The client is the one loop that resends, reads back or gives up; here its outcome
        is only sorted: an invoice is evidence of the change (DONE); a refusal by the rules
        or by Qondor is MOVED; a doubt that stayed unresolved, or a transient failure, is
        FAILED (the payment stays for a later run, nothing recorded as final).
        """
        try:
            updated = await send
        except InvalidInputError as exc:
            return _Change(_ChangeStatus.INVALID, reason=_why(exc), error=exc)
        except IllegalTransitionError as exc:
            return _Change(_ChangeStatus.MOVED, reason=exc.reason, error=exc)
        except Exception as exc:
            if self._fatal(exc):
                raise
            if (
                isinstance(exc, APIStatusError)
                and 400 <= exc.status_code < 500
                and exc.status_code not in (408, 409, 429)
            ):
                # Qondor refused the request itself: sending it again changes nothing.
                return _Change(_ChangeStatus.MOVED, reason=_why(exc), error=exc)
            return _Change(_ChangeStatus.FAILED, reason=_why(exc), error=exc)
        return _Change(_ChangeStatus.DONE, updated)
