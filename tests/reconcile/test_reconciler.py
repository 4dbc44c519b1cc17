"""The reconciler on FakeQondor and the reference finance system."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from qondor_invoicing.errors import AuthenticationError
from qondor_invoicing.qondor import (
    MAX_FAILURE_MESSAGE_LENGTH,
    Invoice,
    InvoiceAction,
    InvoiceKind,
    InvoiceState,
    QondorClient,
)
from qondor_invoicing.reconcile.finance import FinanceSystem, InMemoryFinanceSystem
from qondor_invoicing.reconcile.journal import (
    JournalAction,
    JournalOutcome,
    MemoryJournal,
    SqliteJournal,
)
from qondor_invoicing.reconcile.plan import (
    Book,
    Close,
    Discrepancy,
    DiscrepancyReason,
    Fail,
    Skip,
    Step,
    StepStatus,
)
from qondor_invoicing.reconcile.reconciler import (
    ReconcileAbortedError,
    ReconcilePolicy,
    Reconciler,
)
from qondor_invoicing.reconcile.validators import DEFAULT_VALIDATORS, Problem
from qondor_invoicing.testing import FakeQondor

pytestmark = pytest.mark.anyio

FinanceFactory = Callable[[], Awaitable[InMemoryFinanceSystem]]

ARTICLE_LINE = {
    "description": "Deluxe double room",
    "articleCode": "ROOM-DLX",
    "articleCategory": "Accommodation",
    "quantity": 2,
    "unitPrice": 1890.0,
    "amountExclVat": 3780.0,
    "vatRate": 12,
    "vatAmount": 453.6,
    "amountInclVat": 4233.6,
    "accountCode": "3020",
}


def puts(fake: FakeQondor) -> list[str]:
    return [r.path.rsplit("/", 1)[-1] for r in fake.requests if r.method == "PUT"]


def transitions(fake: FakeQondor, invoice_id: int) -> list[InvoiceAction]:
    return [t.action for t in fake.invoices[invoice_id].history]


async def test_valid_payments_are_booked_and_processed(
    fake: FakeQondor, qondor: QondorClient, accepting: FinanceFactory
) -> None:
    ids = [fake.add_invoice(kind=k) for k in InvoiceKind if k is not InvoiceKind.UNKNOWN]
    finance = await accepting()
    journal = MemoryJournal()
    reconciler = Reconciler(qondor, finance=finance, journal=journal)
    plan = await reconciler.plan()
    assert [type(s) for s in plan] == [Book, Book, Book]
    assert puts(fake) == []  # planning reads only
    report = await reconciler.apply(plan)
    assert report.ok
    assert [r.status for r in report] == [StepStatus.DONE] * 3
    for invoice_id in ids:
        stored = fake.invoices[invoice_id]
        assert stored.state is InvoiceState.PROCESSED
        assert stored.external_reference == finance.bookings[invoice_id].reference
        assert transitions(fake, invoice_id) == [InvoiceAction.SET_AS_PROCESSED]
        entry = await journal.get(str(invoice_id))
        assert entry is not None
        assert entry.outcome is JournalOutcome.PROCESSED
        assert entry.external_reference == stored.external_reference
    assert finance.book_calls == dict.fromkeys(ids, 1)
    assert {r.external_reference for r in report} == {
        b.reference for b in finance.bookings.values()
    }
    assert fake.refused_requests == []


async def test_invalid_payment_fails_with_every_problem(
    fake: FakeQondor, qondor: QondorClient, accepting: FinanceFactory
) -> None:
    bad = fake.add_invoice(
        lines=[ARTICLE_LINE],
        customer={"id": 1, "name": "Acme Corp", "externalReference": "CUST-999"},
    )
    good = fake.add_invoice()
    finance = await accepting()
    finance.articles.discard("ROOM-DLX")
    finance.customers.discard("CUST-999")
    reconciler = Reconciler(qondor, finance=finance)
    plan = await reconciler.plan()
    (fail,) = plan.fails
    expected = (
        "Article code 'ROOM-DLX' not found in finance system; "
        "Customer 'Acme Corp' (ref: CUST-999) not found"
    )
    assert fail.failure_message == expected
    assert [p.check for p in fail.problems] == ["article_code", "customer"]
    report = await reconciler.apply(plan)
    assert report.ok
    assert fake.invoices[bad].state is InvoiceState.FAILED
    assert fake.invoices[bad].failure_message == expected
    assert fake.invoices[good].state is InvoiceState.PROCESSED
    assert bad not in finance.book_calls
    assert transitions(fake, bad) == [InvoiceAction.SET_AS_FAILED]


async def test_long_failure_message_is_cut_to_the_limit(
    fake: FakeQondor, qondor: QondorClient
) -> None:
    lines = [{**ARTICLE_LINE, "articleCode": f"ART-{i:04d}-{'X' * 40}"} for i in range(100)]
    bad = fake.add_invoice(lines=lines)
    reconciler = Reconciler(qondor, finance=InMemoryFinanceSystem(customers=["CUST-999"]))
    await reconciler.run()
    message = fake.invoices[bad].failure_message
    assert message is not None
    assert len(message) <= MAX_FAILURE_MESSAGE_LENGTH
    assert message.startswith("Article code 'ART-0000-")
    assert message.endswith(" more problems)")


async def test_finance_system_down_while_validating_never_fails(
    fake: FakeQondor, qondor: QondorClient, accepting: FinanceFactory
) -> None:
    invoice_id = fake.add_invoice()
    finance = await accepting()
    finance.down = True
    reconciler = Reconciler(qondor, finance=finance)
    report = await reconciler.run()
    (result,) = report
    assert isinstance(result.step, Skip)
    assert result.step.transient
    assert "FinanceSystemUnavailableError" in result.detail
    assert result.status is StepStatus.SKIPPED
    assert puts(fake) == []
    assert fake.invoices[invoice_id].state is InvoiceState.UNPROCESSED
    finance.down = False
    assert (await reconciler.run()).ok
    assert fake.invoices[invoice_id].state is InvoiceState.PROCESSED


async def test_validator_bug_never_fails(fake: FakeQondor, qondor: QondorClient) -> None:
    fake.add_invoice()

    def broken(invoice: Invoice, finance: FinanceSystem) -> list[Problem]:
        raise KeyError("oops")

    reconciler = Reconciler(
        qondor, finance=InMemoryFinanceSystem(), validators=[*DEFAULT_VALIDATORS, broken]
    )
    (step,) = await reconciler.plan()
    assert isinstance(step, Skip)
    assert "KeyError" in step.reason


async def test_booking_error_defers_and_resumes_without_double_booking(
    fake: FakeQondor, qondor: QondorClient, accepting: FinanceFactory
) -> None:
    invoice_id = fake.add_invoice()
    finance = await accepting()
    journal = MemoryJournal()
    reconciler = Reconciler(qondor, finance=finance, journal=journal)
    plan = await reconciler.plan()
    finance.fail_next(1)  # book() raises
    (result,) = await reconciler.apply(plan)
    assert result.status is StepStatus.DEFERRED
    assert "did not book it" in result.detail
    assert "stays queued" in result.detail
    entry = await journal.get(str(invoice_id))
    assert entry is not None
    assert entry.intent is JournalAction.BOOK
    assert entry.last_error is not None
    assert puts(fake) == []

    plan = await reconciler.plan()
    (step,) = plan
    assert isinstance(step, Book)
    assert step.resumed
    assert step.resume_reference is None
    assert (await reconciler.apply(plan)).ok
    assert len(finance.bookings) == 1
    assert fake.invoices[invoice_id].external_reference == finance.bookings[invoice_id].reference


async def test_qondor_errors_defer_and_resume_with_the_recorded_reference(
    fake: FakeQondor, qondor: QondorClient, accepting: FinanceFactory
) -> None:
    invoice_id = fake.add_invoice()
    finance = await accepting()
    journal = MemoryJournal()
    reconciler = Reconciler(qondor, finance=finance, journal=journal)
    plan = await reconciler.plan()
    fake.faults.inject("server_error", times=100, method="PUT")
    (result,) = await reconciler.apply(plan)
    assert result.status is StepStatus.DEFERRED
    assert "InternalServerError" in result.detail
    assert fake.invoices[invoice_id].state is InvoiceState.UNPROCESSED
    assert "SetAsFailed" not in puts(fake)
    entry = await journal.get(str(invoice_id))
    assert entry is not None
    reference = finance.bookings[invoice_id].reference
    assert entry.external_reference == reference

    fake.faults.clear()
    plan = await reconciler.plan()
    (step,) = plan
    assert isinstance(step, Book)
    assert step.resume_reference == reference
    (result,) = await reconciler.apply(plan)
    assert result.status is StepStatus.DONE
    assert finance.book_calls[invoice_id] == 1
    assert fake.invoices[invoice_id].external_reference == reference
    assert transitions(fake, invoice_id) == [InvoiceAction.SET_AS_PROCESSED]


async def test_lost_response_is_confirmed_not_resent(
    fake: FakeQondor, qondor: QondorClient, accepting: FinanceFactory
) -> None:
    invoice_id = fake.add_invoice()
    finance = await accepting()
    fake.faults.inject("lost_response", method="PUT")
    report = await Reconciler(qondor, finance=finance).run()
    assert report.ok
    assert transitions(fake, invoice_id) == [InvoiceAction.SET_AS_PROCESSED]
    assert puts(fake) == ["SetAsProcessed"]


async def test_credit_card_payment_is_not_failed_by_default(
    fake: FakeQondor, qondor: QondorClient, accepting: FinanceFactory
) -> None:
    card = fake.add_invoice(kind=InvoiceKind.CREDIT_CARD_PAYMENT, lines=[ARTICLE_LINE])
    finance = await accepting()
    finance.articles.discard("ROOM-DLX")
    reconciler = Reconciler(qondor, finance=finance)
    plan = await reconciler.plan()
    (step,) = plan
    assert isinstance(step, Discrepancy)
    assert step.reason is DiscrepancyReason.CREDIT_CARD_INVALID
    assert step.detail.startswith("Article code 'ROOM-DLX' not found in finance system. ")
    assert "cannot be deleted or edited" in step.detail
    (result,) = await reconciler.apply(plan)
    assert result.status is StepStatus.NEEDS_PERSON
    assert puts(fake) == []
    assert fake.invoices[card].state is InvoiceState.UNPROCESSED

    # Fixing the finance system books it on a later run.
    finance.articles.add("ROOM-DLX")
    assert (await reconciler.run()).ok
    assert fake.invoices[card].state is InvoiceState.PROCESSED


async def test_credit_card_payment_failed_when_the_policy_says_so(
    fake: FakeQondor, qondor: QondorClient, accepting: FinanceFactory
) -> None:
    card = fake.add_invoice(kind=InvoiceKind.CREDIT_CARD_PAYMENT, lines=[ARTICLE_LINE])
    finance = await accepting()
    finance.articles.discard("ROOM-DLX")
    policy = ReconcilePolicy(fail_credit_card_payments=True)
    report = await Reconciler(qondor, finance=finance, policy=policy).run()
    assert isinstance(report.results[0].step, Fail)
    assert fake.invoices[card].state is InvoiceState.FAILED


async def test_unknown_kind_is_treated_like_a_card_payment(
    fake: FakeQondor, qondor: QondorClient, accepting: FinanceFactory
) -> None:
    fake.add_invoice(kind=InvoiceKind.UNKNOWN, lines=[ARTICLE_LINE])
    finance = await accepting()
    finance.articles.discard("ROOM-DLX")
    (step,) = await Reconciler(qondor, finance=finance).plan()
    assert isinstance(step, Discrepancy)
    assert "unrecognised kind" in step.detail


async def test_dry_run_changes_nothing(
    fake: FakeQondor, qondor: QondorClient, accepting: FinanceFactory
) -> None:
    fake.seed(30)
    finance = await accepting()
    some = next(iter(finance.articles))
    finance.articles.discard(some)
    journal = MemoryJournal()
    report = await Reconciler(qondor, finance=finance, journal=journal).run(dry_run=True)
    assert report.dry_run
    assert len(report) > 0
    assert all(r.status is StepStatus.PLANNED for r in report)
    assert {r.method for r in fake.requests} == {"GET"}
    assert finance.book_calls == {}
    assert await journal.unfinished() == []
    assert await journal.entries() == []
    assert str(report).startswith("Dry run: ")


async def test_rerun_is_a_no_op(
    fake: FakeQondor, qondor: QondorClient, accepting: FinanceFactory
) -> None:
    fake.seed(40)
    finance = await accepting()
    finance.customers.discard(next(iter(finance.customers)))
    journal = MemoryJournal()
    reconciler = Reconciler(qondor, finance=finance, journal=journal)
    first = await reconciler.run()
    assert first.done
    before = {i: (s.state, s.external_reference, len(s.history)) for i, s in fake.invoices.items()}
    entries = await journal.entries()
    calls = dict(finance.book_calls)
    requests = len(fake.requests)

    again = await reconciler.plan()
    assert again.is_empty
    assert all(isinstance(s, Discrepancy) for s in again)  # card payments waiting for a person
    report = await reconciler.apply(again)
    assert not report.done
    assert all(r.method == "GET" for r in fake.requests[requests:])
    after = {i: (s.state, s.external_reference, len(s.history)) for i, s in fake.invoices.items()}
    assert after == before
    assert await journal.entries() == entries
    assert dict(finance.book_calls) == calls


async def test_breaker_stops_mass_failures(fake: FakeQondor, qondor: QondorClient) -> None:
    for _ in range(25):
        fake.add_invoice()
    finance = InMemoryFinanceSystem()  # knows nothing: every payment "fails"
    reconciler = Reconciler(qondor, finance=finance)
    plan = await reconciler.plan()
    assert plan.fails == ()
    assert len(plan.skips) == 25
    assert "configuration is incomplete" in plan.skips[0].reason
    assert not plan.skips[0].transient
    await reconciler.apply(plan)
    assert puts(fake) == []
    # The breaker is a policy.
    policy = ReconcilePolicy(breaker_max_share=1.0)
    plan = await Reconciler(qondor, finance=finance, policy=policy).plan()
    assert len(plan.fails) == 25


async def test_resume_after_crash_before_set_as_processed(
    fake: FakeQondor, qondor: QondorClient, accepting: FinanceFactory
) -> None:
    invoice_id = fake.add_invoice()
    finance = await accepting()
    now = [1_000.0]
    journal = MemoryJournal(clock=lambda: now[0])
    key = str(invoice_id)
    # A previous run booked it and died before SetAsProcessed.
    await journal.claim(key, "dead", 60)
    await journal.record_intent(key, JournalAction.BOOK, owner="dead", invoice_id=invoice_id)
    reference = await finance.book(
        Invoice(
            id=invoice_id, kind=InvoiceKind.INVOICE_SPECIFICATION, state=InvoiceState.UNPROCESSED
        )
    )
    await journal.record_reference(key, reference, owner="dead")
    now[0] += 61  # the dead owner's lease expires
    report = await Reconciler(qondor, finance=finance, journal=journal).run()
    assert report.ok
    assert finance.book_calls[invoice_id] == 1
    assert fake.invoices[invoice_id].external_reference == reference


async def test_crash_after_set_as_processed_is_closed_from_qondor(
    fake: FakeQondor, qondor: QondorClient, accepting: FinanceFactory
) -> None:
    invoice_id = fake.add_invoice(state=InvoiceState.PROCESSED, external_reference="FIN-1")
    journal = MemoryJournal()
    key = str(invoice_id)
    await journal.claim(key, "me", 60)
    await journal.record_intent(key, JournalAction.BOOK, owner="me", invoice_id=invoice_id)
    await journal.record_reference(key, "FIN-1", owner="me")
    await journal.release(key, "me")
    reconciler = Reconciler(qondor, finance=await accepting(), journal=journal, owner="me")
    plan = await reconciler.plan()
    (step,) = plan
    assert isinstance(step, Close)
    assert step.outcome is JournalOutcome.PROCESSED
    assert (await reconciler.apply(plan)).ok
    entry = await journal.get(key)
    assert entry is not None
    assert (entry.intent, entry.outcome, entry.external_reference) == (
        None,
        JournalOutcome.PROCESSED,
        "FIN-1",
    )
    assert puts(fake) == []
    assert (await reconciler.plan()).steps == ()


async def test_processed_elsewhere_during_booking_is_a_discrepancy(
    fake: FakeQondor, qondor: QondorClient
) -> None:
    invoice_id = fake.add_invoice(state=InvoiceState.PROCESSED, external_reference="OTHER-7")
    journal = MemoryJournal()
    key = str(invoice_id)
    await journal.claim(key, "me", 60)
    await journal.record_intent(key, JournalAction.BOOK, owner="me", invoice_id=invoice_id)
    await journal.record_reference(key, "FIN-1", owner="me")
    reconciler = Reconciler(qondor, finance=InMemoryFinanceSystem(), journal=journal, owner="me")
    (step,) = await reconciler.plan()
    assert isinstance(step, Discrepancy)
    assert step.reason is DiscrepancyReason.CHANGED_ELSEWHERE
    assert "OTHER-7" in step.detail
    assert "FIN-1" in step.detail
    (result,) = await reconciler.run()
    assert result.status is StepStatus.NEEDS_PERSON
    entry = await journal.get(key)
    assert entry is not None
    assert entry.outcome is JournalOutcome.ABANDONED
    assert entry.external_reference == "FIN-1"  # never lost
    assert (await reconciler.plan()).steps == ()


async def test_unfinished_failure_is_closed(fake: FakeQondor, qondor: QondorClient) -> None:
    invoice_id = fake.add_invoice(state=InvoiceState.FAILED, failure_message="bad")
    journal = MemoryJournal()
    key = str(invoice_id)
    await journal.claim(key, "me", 60)
    await journal.record_intent(
        key, JournalAction.FAIL, owner="me", invoice_id=invoice_id, failure_message="bad"
    )
    reconciler = Reconciler(qondor, finance=InMemoryFinanceSystem(), journal=journal, owner="me")
    (result,) = await reconciler.run()
    assert isinstance(result.step, Close)
    entry = await journal.get(key)
    assert entry is not None
    assert entry.outcome is JournalOutcome.FAILED


async def test_stale_plan_is_not_applied_twice(
    fake: FakeQondor, qondor: QondorClient, accepting: FinanceFactory
) -> None:
    ids = [fake.add_invoice() for _ in range(5)]
    finance = await accepting()
    journal = MemoryJournal()
    a = Reconciler(qondor, finance=finance, journal=journal, owner="a")
    b = Reconciler(qondor, finance=finance, journal=journal, owner="b", concurrency=3)
    plan_a, plan_b = await a.plan(), await b.plan()
    async with anyio.create_task_group() as tg:
        tg.start_soon(a.apply, plan_a)
        tg.start_soon(b.apply, plan_b)
    assert finance.book_calls == dict.fromkeys(ids, 1)
    for invoice_id in ids:
        assert transitions(fake, invoice_id) == [InvoiceAction.SET_AS_PROCESSED]
    assert fake.refused_requests == []


async def test_authentication_error_aborts_and_resumes(
    fake: FakeQondor, qondor: QondorClient, accepting: FinanceFactory
) -> None:
    ids = [fake.add_invoice() for _ in range(6)]
    finance = await accepting()
    journal = MemoryJournal()
    reconciler = Reconciler(qondor, finance=finance, journal=journal, concurrency=2)
    plan = await reconciler.plan()
    fake.api_key = "rotated"
    with pytest.raises(ReconcileAbortedError, match="AuthenticationError") as info:
        await reconciler.apply(plan)
    report = info.value.report
    assert isinstance(info.value.__cause__, AuthenticationError)
    assert not report.done
    assert any("not started" in r.detail for r in report)
    fake.api_key = "test-key"
    assert (await reconciler.run()).ok
    assert all(finance.book_calls[i] == 1 for i in ids)
    assert all(fake.invoices[i].state is InvoiceState.PROCESSED for i in ids)


async def test_concurrency_and_progress(
    fake: FakeQondor, qondor: QondorClient, accepting: FinanceFactory
) -> None:
    for _ in range(12):
        fake.add_invoice()
    inner = await accepting()
    in_flight = 0
    most = 0
    full = anyio.Event()  # set once three bookings are in flight together

    class Slow:
        def __getattr__(self, name: str) -> object:
            return getattr(inner, name)

        async def book(self, invoice: Invoice, *, idempotency_key: str) -> str:
            nonlocal in_flight, most
            in_flight += 1
            most = max(most, in_flight)
            if in_flight == 3:
                full.set()
            with anyio.fail_after(10):  # only if the slots never fill: fail, do not hang
                await full.wait()
            in_flight -= 1
            return await inner.book(invoice, idempotency_key=idempotency_key)

    seen: list[tuple[int, int, Step]] = []
    reconciler = Reconciler(
        qondor,
        finance=Slow(),  # type: ignore[arg-type]
        concurrency=3,
        progress=lambda done, total, step: seen.append((done, total, step)),
    )
    report = await reconciler.run()
    assert report.ok
    assert most == 3
    assert [d for d, _, _ in seen] == list(range(1, 13))
    assert {t for _, t, _ in seen} == {12}


async def test_progress_callback_errors_are_ignored(
    fake: FakeQondor,
    qondor: QondorClient,
    accepting: FinanceFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.add_invoice()

    def boom(done: int, total: int, step: Step) -> None:
        raise RuntimeError("progress bar broke")

    with caplog.at_level(logging.ERROR, logger="qondor_invoicing.reconcile"):
        report = await Reconciler(qondor, finance=await accepting(), progress=boom).run()
    assert report.ok
    assert "progress callback raised" in caplog.text


async def test_plan_and_report_render(
    fake: FakeQondor, qondor: QondorClient, accepting: FinanceFactory
) -> None:
    fake.add_invoice(lines=[ARTICLE_LINE])
    fake.add_invoice()
    finance = await accepting()
    finance.vat["Accommodation"] = frozenset({Decimal(25)})
    reconciler = Reconciler(qondor, finance=finance)
    plan = await reconciler.plan()
    text = str(plan)
    assert text.startswith("Plan: 1 book, 1 fail (queue 2)")
    assert "VAT rate 12% not configured for product category 'Accommodation'" in text
    assert text.splitlines()[2] == "To book, then SetAsProcessed (1)"
    assert "payment" in text.splitlines()[3]
    assert "To fail (SetAsFailed is final) (1)" in text
    html = plan._repr_html_()
    assert html.count("<tr>") == 4  # a table per kind of step: header and one row each
    assert "&#x27;Accommodation&#x27;" in html
    assert plan.to_dict()["counts"]["book"] == 1
    report = await reconciler.apply(plan)
    text = str(report)
    assert text.startswith("Report: 2 done")
    assert "set as failed: VAT rate 12%" in text
    assert "<table>" in report._repr_html_()
    assert report.to_dict()["ok"] is True


async def test_changed_by_someone_else_after_planning(
    fake: FakeQondor, qondor: QondorClient, accepting: FinanceFactory
) -> None:
    invoice_id = fake.add_invoice()
    finance = await accepting()
    journal = MemoryJournal()
    reconciler = Reconciler(qondor, finance=finance, journal=journal)
    plan = await reconciler.plan()
    await qondor.invoices.set_as_failed(invoice_id, failure_message="Duplicate, deleted by PM")
    (result,) = await reconciler.apply(plan)
    assert result.status is StepStatus.NEEDS_PERSON
    reference = finance.bookings[invoice_id].reference
    assert f"booked as {reference}" in result.detail
    assert "this payment is failed" in result.detail
    # The next run reports it for a person (the booking must be reversed) and closes it.
    (result,) = await reconciler.run()
    assert isinstance(result.step, Discrepancy)
    assert result.step.reason is DiscrepancyReason.CHANGED_ELSEWHERE
    assert f"it was booked as {reference}" in result.detail
    assert (await reconciler.plan()).steps == ()
    entry = await journal.get(str(invoice_id))
    assert entry is not None
    assert entry.outcome is JournalOutcome.ABANDONED
    assert entry.external_reference == reference


@pytest.mark.parametrize("returned", [None, "", "   ", 42])
async def test_book_returning_no_reference_needs_a_person(
    fake: FakeQondor, qondor: QondorClient, accepting: FinanceFactory, returned: object
) -> None:
    invoice_id = fake.add_invoice()
    inner = await accepting()

    class Broken(InMemoryFinanceSystem):
        async def book(self, invoice: Invoice, *, idempotency_key: str | None = None) -> str:
            return returned  # type: ignore[return-value]

    finance = Broken(
        articles=inner.articles,
        vat_rates=dict(inner.vat),
        customers=inner.customers,
        accounts=inner.accounts,
        known_accounts=inner.known_accounts,
    )
    (result,) = await Reconciler(qondor, finance=finance).run()
    assert result.status is StepStatus.NEEDS_PERSON
    assert "not a reference" in result.detail
    assert fake.invoices[invoice_id].state is InvoiceState.UNPROCESSED
    assert puts(fake) == []


async def test_reference_too_long_for_qondor_needs_a_person(
    fake: FakeQondor, qondor: QondorClient, accepting: FinanceFactory
) -> None:
    invoice_id = fake.add_invoice()
    finance = await accepting()
    finance.reference_prefix = "X" * 300
    journal = MemoryJournal()
    (result,) = await Reconciler(qondor, finance=finance, journal=journal).run()
    assert result.status is StepStatus.NEEDS_PERSON
    assert "external_reference" in result.detail
    assert puts(fake) == []
    entry = await journal.get(str(invoice_id))
    assert entry is not None
    assert entry.unfinished
    assert entry.external_reference == finance.bookings[invoice_id].reference


async def test_configuration_is_validated(qondor: QondorClient) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        Reconciler(qondor, finance=InMemoryFinanceSystem(), concurrency=0)
    with pytest.raises(ValueError, match="attempts"):
        ReconcilePolicy(attempts=0)
    with pytest.raises(ValueError, match="breaker_max_share"):
        ReconcilePolicy(breaker_max_share=0)
    with pytest.raises(ValueError, match="max_failure_message_length"):
        ReconcilePolicy(max_failure_message_length=5000)
    assert ReconcilePolicy(amount_tolerance="0.01").amount_tolerance == Decimal("0.01")  # type: ignore[arg-type]
    assert "owner=" in repr(Reconciler(qondor, finance=InMemoryFinanceSystem(), owner="w-1"))


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": 2.5}, "concurrency"),
        ({"concurrency": True}, "concurrency"),
        ({"concurrency": "4"}, "concurrency"),
        # A string would be a tuple of characters, one function not a sequence at all.
        ({"validators": "abc"}, "validators"),
        ({"validators": DEFAULT_VALIDATORS[0]}, "validators"),
        ({"journal": object()}, "journal must be a Journal"),
        ({"policy": {"max_attempts": 3}}, "policy must be a ReconcilePolicy"),
        ({"owner": 7}, "owner must be a str"),
        ({"finance": None}, "finance .NoneType. lacks has_article"),
        ({"qonto": "token"}, "qonto must be a QontoClient"),
    ],
)
async def test_arguments_that_would_fail_mid_run_are_refused_at_once(
    qondor: QondorClient, options: dict[str, object], match: str
) -> None:
    from qondor_invoicing import ConfigurationError

    arguments: dict[str, object] = {"finance": InMemoryFinanceSystem(), **options}
    with pytest.raises(ConfigurationError, match=match):
        Reconciler(qondor, **arguments)  # type: ignore[arg-type]


def test_a_sync_client_is_pointed_to_the_sync_reconciler(fake: FakeQondor) -> None:
    from qondor_invoicing import ConfigurationError, QondorSyncClient

    with (
        QondorSyncClient(api_key="test-key", transport=fake.transport) as sync,
        pytest.raises(ConfigurationError, match="SyncReconciler"),
    ):
        Reconciler(sync, finance=InMemoryFinanceSystem())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "options",
    [
        {"amount_tolerance": -1},
        {"amount_tolerance": "nan"},  # every comparison with it would raise mid-run
        {"amount_tolerance": 0.1},  # a float's binary approximation, not 0.1
        {"amount_tolerance": "abc"},
        {"lease_seconds": float("inf")},  # a stalled worker's payments would never move
        {"lease_seconds": "600"},
        {"attempts": 2.5},
        {"settle": "no"},  # a non-empty string is true
        {"fatal_errors": "KeyboardInterrupt"},
        {"heartbeat": float("nan")},
        {"settlement_max_pages": 0},
    ],
    ids=repr,
)
def test_policy_values_that_cannot_work_are_refused(options: dict[str, object]) -> None:
    from qondor_invoicing import ConfigurationError

    with pytest.raises(ConfigurationError, match=f"ReconcilePolicy: {next(iter(options))}"):
        ReconcilePolicy(**options)  # type: ignore[arg-type]


def test_policy_tolerance_is_exact() -> None:
    assert ReconcilePolicy(amount_tolerance=" 0.01 ").amount_tolerance == Decimal("0.01")  # type: ignore[arg-type]
    assert ReconcilePolicy(amount_tolerance=1).amount_tolerance == Decimal(1)  # type: ignore[arg-type]


async def test_a_reference_no_journal_can_store_needs_a_person(
    fake: FakeQondor, qondor: QondorClient, accepting: FinanceFactory, tmp_path: Path
) -> None:
    # JSON's "\ud800" decodes to a lone surrogate; SQLite and PostgreSQL cannot store it.
    fake.add_invoice()
    finance = await accepting()
    finance.reference_prefix = "FIN-\ud800"
    async with SqliteJournal(tmp_path / "j.db") as journal:
        (result,) = await Reconciler(qondor, finance=finance, journal=journal).run()
        assert result.status is StepStatus.NEEDS_PERSON
        assert "lone surrogate" in result.detail
        assert "\ud800" not in result.detail  # shown as an escape: printable, storable
        assert puts(fake) == []


async def test_error_texts_from_anywhere_are_journaled_printable(
    fake: FakeQondor, qondor: QondorClient, accepting: FinanceFactory, tmp_path: Path
) -> None:
    fake.add_invoice()
    finance = await accepting()

    async def refuse(invoice: object, *, idempotency_key: str | None = None) -> str:
        raise RuntimeError("ledger says \x1b[2J\ud800 no")

    finance.book = refuse  # type: ignore[method-assign]
    async with SqliteJournal(tmp_path / "j.db") as journal:
        (result,) = await Reconciler(qondor, finance=finance, journal=journal).run()
        assert result.status is StepStatus.DEFERRED
        (entry,) = await journal.unfinished()
        assert entry.last_error is not None
        assert "\\x1b[2J\\ud800" in entry.last_error
        entry.last_error.encode("utf-8")
