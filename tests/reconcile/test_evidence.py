"""Evidence before record: interrupted runs, garbled 2xx answers, the breaker's waves.

Every run here is interrupted deterministically: by cancelling the run right after its Nth
side effect (a booking in the finance system or a state change Qondor applied), never after a
wall-clock sleep.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from qondor_invoicing import ResponseValidationError, RetryPolicy
from qondor_invoicing.qondor import Invoice, InvoiceAction, InvoiceKind, InvoiceState, QondorClient
from qondor_invoicing.reconcile.finance import InMemoryFinanceSystem
from qondor_invoicing.reconcile.journal import (
    JournalAction,
    JournalError,
    JournalOutcome,
    MemoryJournal,
)
from qondor_invoicing.reconcile.plan import Book, Close, Fail, Skip, StepStatus
from qondor_invoicing.reconcile.reconciler import ReconcilePolicy, Reconciler
from qondor_invoicing.testing import FakeQondor

pytestmark = pytest.mark.anyio

K, S, A = InvoiceKind, InvoiceState, InvoiceAction


async def _no_sleep(seconds: float) -> None:
    return None


def _line(code: str) -> dict[str, object]:
    return {
        "description": f"Article {code}",
        "articleCode": code,
        "articleCategory": "Conference",
        "quantity": 1,
        "unitPrice": 795.0,
        "amountExclVat": 795.0,
        "vatRate": 25,
        "vatAmount": 198.75,
        "amountInclVat": 993.75,
        "accountCode": "3000",
    }


class Interrupt:
    """Cancels the run it guards right after the ``after``-th side effect (0: never)."""

    def __init__(self, after: int = 0) -> None:
        self.after = after
        self.count = 0
        self.scope: anyio.CancelScope | None = None

    async def side_effect(self) -> None:
        self.count += 1
        if self.count == self.after and self.scope is not None:
            self.scope.cancel()
            await anyio.lowlevel.checkpoint()  # the cancellation lands here, at once

    async def run(self, reconciler: Reconciler) -> None:
        with anyio.CancelScope() as scope:
            self.scope = scope
            await reconciler.run()
        self.scope = None


class Finance(InMemoryFinanceSystem):
    """The reference finance system; each booking counts as a side effect."""

    def __init__(self, interrupt: Interrupt, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.interrupt = interrupt

    async def book(self, invoice: Invoice, *, idempotency_key: str | None = None) -> str:
        reference = await super().book(invoice, idempotency_key=idempotency_key)
        await self.interrupt.side_effect()
        return reference


Answer = Callable[[httpx.Request], Awaitable[httpx.Response | None]]


def transport(fake: FakeQondor, interrupt: Interrupt, answer: Answer | None = None) -> Any:
    """The fake's transport; each applied state change counts as a side effect.

    ``answer`` may answer a request instead of the fake (``None``: the fake answers).
    """

    async def handle(request: httpx.Request) -> httpx.Response:
        if answer is not None:
            own = await answer(request)
            if own is not None:
                return own
        applied = len(fake.requests)
        response = await fake.handle_async(request)
        if request.method == "PUT" and any(r.applied for r in fake.requests[applied:]):
            await interrupt.side_effect()
        return response

    return httpx.MockTransport(handle)


class Queue:
    """A mixed queue: valid and invalid payments of every kind, and its expected end."""

    def __init__(self, fake: FakeQondor, *, valid: int, invalid: int, cards: int = 0) -> None:
        kinds = [K.INVOICE_SPECIFICATION, K.CREDIT_CARD_PAYMENT, K.CREDIT_NOTE]
        self.valid = [
            fake.add_invoice(kind=kinds[n % 3], lines=[_line("OK")]) for n in range(valid)
        ]
        # Invalid non-card payments are failed; invalid card payments are never failed.
        self.invalid = [
            fake.add_invoice(kind=kinds[(n % 2) * 2], lines=[_line(f"GONE-{n}")])
            for n in range(invalid)
        ]
        self.invalid_cards = [
            fake.add_invoice(kind=K.CREDIT_CARD_PAYMENT, lines=[_line(f"GONE-C{n}")])
            for n in range(cards)
        ]
        self.fake = fake

    def finance(self, interrupt: Interrupt) -> Finance:
        customers = {
            str(c.get("externalReference") or c.get("customerNumber") or c.get("name"))
            for i in self.fake.invoices
            if isinstance(c := self.fake.invoices[i].payload.get("customer"), dict)
        }
        return Finance(
            interrupt,
            articles=["OK"],
            vat_rates={"Conference": [25]},
            accounts={"OK": "3000"},
            customers=customers,
        )

    def check(self, finance: InMemoryFinanceSystem) -> None:
        """Every valid payment booked and processed once, every invalid one failed once."""
        fake = self.fake
        assert fake.refused_requests == []
        for invoice_id in self.valid:
            stored = fake.invoices[invoice_id]
            assert [t.action for t in stored.history] == [A.SET_AS_PROCESSED], invoice_id
            assert stored.external_reference == finance.bookings[invoice_id].reference
            # book() is idempotent by invoice id: a run killed between the booking and its
            # journal record asks again and gets the same reference (at most one repeat).
            assert 1 <= finance.book_calls[invoice_id] <= 2
        assert set(finance.bookings) == set(self.valid)
        assert len({b.reference for b in finance.bookings.values()}) == len(self.valid)
        for invoice_id in self.invalid:
            stored = fake.invoices[invoice_id]
            assert [t.action for t in stored.history] == [A.SET_AS_FAILED], invoice_id
            assert stored.failure_message is not None
            assert "GONE" in stored.failure_message
        for invoice_id in self.invalid_cards:
            assert fake.invoices[invoice_id].state is S.UNPROCESSED
            assert fake.invoices[invoice_id].history == []


async def drain(make: Callable[[], Reconciler], runs: int = 6) -> int:
    """Run until a plan has nothing left to do but report; return how many runs it took."""
    for n in range(1, runs + 1):
        plan = await make().plan()
        if not any(isinstance(s, Book | Fail | Close) for s in plan):
            return n
        await make().apply(plan)
    pytest.fail(f"the queue did not drain in {runs} runs")


def client(fake: FakeQondor, interrupt: Interrupt, **options: Any) -> QondorClient:
    return QondorClient(
        api_key="test-key",
        transport=transport(fake, interrupt, options.pop("answer", None)),
        rate_limit=None,
        sleep=_no_sleep,
        **options,
    )


# -- the reconciler interrupted at every step boundary ----------------------------------


def _side_effects(queue: Queue) -> int:
    # A booking and a SetAsProcessed per valid payment, a SetAsFailed per invalid one.
    return 2 * len(queue.valid) + len(queue.invalid)


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_interrupted_at_every_step_boundary_each_payment_is_changed_once(
    concurrency: int,
) -> None:
    # The breaker is active (min 3 failures): an interruption must never make it trip.
    policy = ReconcilePolicy(breaker_min_failures=3)
    probe = Queue(FakeQondor(rate_limit=None), valid=9, invalid=5, cards=2)
    boundaries = _side_effects(probe)
    for after in range(1, boundaries + 1):
        fake = FakeQondor(rate_limit=None)
        queue = Queue(fake, valid=9, invalid=5, cards=2)
        interrupt = Interrupt(after)
        finance = queue.finance(interrupt)
        journal = MemoryJournal()
        async with client(fake, interrupt) as qondor:
            make = functools.partial(
                Reconciler,
                qondor,
                finance=finance,
                journal=journal,
                policy=policy,
                concurrency=concurrency,
                owner="worker",
            )
            await interrupt.run(make())
            # Alone, the run stops right there; concurrent steps may finish side effects
            # under way before they reach a checkpoint and stop.
            assert interrupt.count == after if concurrency == 1 else interrupt.count >= after
            await drain(make)
        queue.check(finance)
        assert await journal.unfinished() == []


# -- the failure breaker judges a wave once (issue: 120 payments, 24 invalid) --------------


async def test_a_run_stopped_once_the_valid_payments_are_processed_fails_the_rest_later() -> None:
    fake = FakeQondor(rate_limit=None)
    queue = Queue(fake, valid=96, invalid=24)
    processed = Interrupt()
    finance = queue.finance(Interrupt())
    journal = MemoryJournal()

    async def count_processed(request: httpx.Request) -> None:
        if request.url.path.endswith("SetAsProcessed"):
            await processed.side_effect()

    async with client(fake, Interrupt(), answer=count_processed) as qondor:

        def make() -> Reconciler:
            return Reconciler(qondor, finance=finance, journal=journal, owner="worker")

        processed.after = 96  # stop the process once the 96 valid ones are processed
        await processed.run(make())
        assert processed.count == 96
        for _ in range(3):  # every later run
            await make().run()
    queue.check(finance)


async def test_failures_deferred_by_5xx_are_not_judged_again_by_the_breaker() -> None:
    fake = FakeQondor(rate_limit=None)
    queue = Queue(fake, valid=96, invalid=24)
    finance = queue.finance(Interrupt())
    journal = MemoryJournal()
    down = True

    async def failures_down(request: httpx.Request) -> httpx.Response | None:
        if down and request.url.path.endswith("SetAsFailed"):
            return httpx.Response(503, json={"statusCode": 503, "message": "unavailable"})
        return None

    async with client(fake, Interrupt(), answer=failures_down) as qondor:

        def make() -> Reconciler:
            return Reconciler(qondor, finance=finance, journal=journal, owner="worker")

        report = await make().run()
        assert len(report.deferred) == 24  # every failure deferred, every booking done
        down = False
        # The queue is now only the 24 invalid payments: all of them fail validation, but
        # they were judged in the wave they were validated in.
        plan = await make().plan()
        assert [type(s) for s in plan] == [Fail] * 24
        await make().apply(plan)
        assert await drain(make) == 1
    queue.check(finance)


async def test_the_breaker_still_trips_on_a_wave_that_mostly_fails() -> None:
    fake = FakeQondor(rate_limit=None)
    finance = Queue(fake, valid=5, invalid=24).finance(Interrupt())
    async with client(fake, Interrupt()) as qondor:
        plan = await Reconciler(qondor, finance=finance).plan()
    skips = [s for s in plan if isinstance(s, Skip)]
    assert len(skips) == 24
    assert all("24 of 29 queued payments fail validation" in s.reason for s in skips)


# -- evidence before record -----------------------------------------------------------------


async def test_a_blocked_2xx_answer_to_a_state_change_is_never_recorded_as_done() -> None:
    fake = FakeQondor(rate_limit=None)
    queue = Queue(fake, valid=3, invalid=2)
    finance = queue.finance(Interrupt())
    journal = MemoryJournal()
    # Every state change is answered 200 text/plain "Request blocked by policy"; nothing
    # is applied, and the client sends each change only once (no resend).
    fake.faults.inject("blocked_answer", times=5, method="PUT")
    async with client(fake, Interrupt(), retry_policy=RetryPolicy.disabled()) as qondor:
        report = await Reconciler(qondor, finance=finance, journal=journal).run()
        assert [r.status for r in report] == [StepStatus.DEFERRED] * 5
        assert all("answered 200 with text/plain" in r.detail for r in report)
        for entry in await journal.entries():
            assert entry.outcome is None  # nothing recorded as final
            assert entry.intent in (JournalAction.BOOK, JournalAction.FAIL)
        assert all(not s.history for s in fake.invoices.values())
        assert len(fake.requests_to("GET", "Invoice/")) == 5 + 1  # read back once each
        await drain(lambda: Reconciler(qondor, finance=finance, journal=journal))
    queue.check(finance)


async def test_a_truncated_2xx_answer_is_confirmed_by_reading_back() -> None:
    fake = FakeQondor(rate_limit=None, put_response="invoice")
    queue = Queue(fake, valid=3, invalid=2)
    finance = queue.finance(Interrupt())
    journal = MemoryJournal()
    # Applied, then answered with the invoice's JSON cut in half.
    fake.faults.inject("truncated_answer", times=5, method="PUT")
    async with client(fake, Interrupt(), retry_policy=RetryPolicy.disabled()) as qondor:
        report = await Reconciler(qondor, finance=finance, journal=journal).run()
        assert [r.status for r in report] == [StepStatus.DONE] * 5
    assert [r.fault for r in fake.requests if r.method == "PUT"] == ["truncated_answer"] * 5
    outcomes = {e.invoice_id: e.outcome for e in await journal.entries()}
    assert outcomes == {
        **dict.fromkeys(queue.valid, JournalOutcome.PROCESSED),
        **dict.fromkeys(queue.invalid, JournalOutcome.FAILED),
    }
    queue.check(finance)


async def test_a_doubt_the_read_back_cannot_settle_stays_open_for_the_next_run() -> None:
    fake = FakeQondor(rate_limit=None)
    queue = Queue(fake, valid=1, invalid=0)
    finance = queue.finance(Interrupt())
    journal = MemoryJournal()
    fake.faults.inject("truncated_answer", method="PUT")  # applied, answer cut
    fake.faults.inject("blocked_answer", times=4, method="GET")  # the read-backs fail
    async with client(fake, Interrupt(), retry_policy=RetryPolicy.disabled()) as qondor:
        make = lambda: Reconciler(qondor, finance=finance, journal=journal)  # noqa: E731
        report = await make().run()
        assert [r.status for r in report] == [StepStatus.DEFERRED]
        entry = await journal.get(str(queue.valid[0]))
        assert entry is not None
        assert (entry.intent, entry.outcome) == (JournalAction.BOOK, None)
        fake.faults.clear()
        plan = await make().plan()  # Qondor shows it processed: closed, not sent again
        assert [type(s) for s in plan] == [Close]
        await make().apply(plan)
    queue.check(finance)


# -- planning: typed errors, one payment's failed read skips only that payment -------------


async def test_a_failed_read_of_one_payment_skips_it_not_the_run() -> None:
    fake = FakeQondor(rate_limit=None)
    queue = Queue(fake, valid=3, invalid=0)
    finance = queue.finance(Interrupt())
    journal = MemoryJournal()
    stuck = queue.valid[0]
    # An earlier run left an intent open: planning reads the payment again.
    await journal.claim(str(stuck), "worker", 60)
    await journal.record_intent(
        str(stuck), JournalAction.BOOK, owner="worker", invoice_id=stuck, kind="x"
    )
    await journal.release(str(stuck), "worker")

    async def maintenance(request: httpx.Request) -> httpx.Response | None:
        if request.method == "GET" and request.url.path.endswith(f"/Invoice/{stuck}"):
            return httpx.Response(200, text="<html>maintenance</html>")
        return None

    async with client(fake, Interrupt(), answer=maintenance) as qondor:
        plan = await Reconciler(qondor, finance=finance, journal=journal).plan()
    assert {s.invoice_id: type(s) for s in plan} == {
        stuck: Skip,
        queue.valid[1]: Book,
        queue.valid[2]: Book,
    }
    skip = next(s for s in plan if isinstance(s, Skip))
    assert "ResponseValidationError" in skip.reason


def _maintenance_on_the_queue(times: int) -> Callable[[httpx.Request], Awaitable[Any]]:
    left = [times]

    async def answer(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.endswith("/GetAllUnprocessedInvoices") and left[0] > 0:
            left[0] -= 1
            return httpx.Response(200, text="<html>down for maintenance</html>")
        return None

    return answer


async def test_a_maintenance_page_on_the_queue_is_retried_and_the_run_goes_on() -> None:
    fake = FakeQondor(rate_limit=None)
    queue = Queue(fake, valid=3, invalid=1)
    finance = queue.finance(Interrupt())
    async with client(fake, Interrupt(), answer=_maintenance_on_the_queue(2)) as qondor:
        report = await Reconciler(qondor, finance=finance, journal=MemoryJournal()).run()
    assert report.ok
    assert sorted(finance.bookings) == sorted(queue.valid)


async def test_a_queue_that_stays_a_maintenance_page_is_a_typed_error() -> None:
    fake = FakeQondor(rate_limit=None)
    queue = Queue(fake, valid=2, invalid=0)
    finance = queue.finance(Interrupt())
    answer = _maintenance_on_the_queue(100)
    async with client(fake, Interrupt(), answer=answer, max_retries=2) as qondor:
        with pytest.raises(ResponseValidationError):
            await Reconciler(qondor, finance=finance, journal=MemoryJournal()).plan()
    assert finance.bookings == {}


class BrokenJournal(MemoryJournal):
    # No bulk lookup: the plan reads payment by payment, in a task group.
    lookup = None

    async def get(self, payment_key: str) -> Any:
        raise JournalError(f"cannot read payment {payment_key}")


async def test_plan_raises_a_journal_error_not_an_exception_group() -> None:
    fake = FakeQondor(rate_limit=None)
    queue = Queue(fake, valid=3, invalid=1)
    async with client(fake, Interrupt()) as qondor:
        reconciler = Reconciler(qondor, finance=queue.finance(Interrupt()), journal=BrokenJournal())
        with pytest.raises(JournalError, match="cannot read payment") as info:
            await reconciler.plan()
    # Four tasks failed at once: the group is kept as the cause, for the record.
    assert type(info.value.__cause__).__name__ == "ExceptionGroup"
