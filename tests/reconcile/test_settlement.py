"""Settlement: processed payments matched to paid Qonto supplier invoices."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import attrs
import pytest

from qondor_invoicing.qondor import (
    Invoice,
    InvoiceAction,
    InvoiceKind,
    InvoiceState,
    QondorClient,
)
from qondor_invoicing.qonto import QontoClient, SupplierInvoice
from qondor_invoicing.reconcile import (
    Close,
    Discrepancy,
    DiscrepancyReason,
    InMemoryFinanceSystem,
    JournalOutcome,
    MemoryJournal,
    ReconcilePolicy,
    Reconciler,
    Settle,
    StepStatus,
    SupplierInvoiceIndex,
)
from qondor_invoicing.testing import FakeQondor, FakeQonto

pytestmark = pytest.mark.anyio


async def _no_sleep(seconds: float) -> None:
    return None


@pytest.fixture
def fake_qonto() -> FakeQonto:
    return FakeQonto(rate_limit=None)


@pytest.fixture
async def qonto(fake_qonto: FakeQonto) -> AsyncIterator[QontoClient]:
    async with QontoClient(
        access_token="test-token", transport=fake_qonto.transport, rate_limit=None, sleep=_no_sleep
    ) as client:
        yield client


@attrs.define
class World:
    fake: FakeQondor
    fake_qonto: FakeQonto
    finance: InMemoryFinanceSystem
    journal: MemoryJournal
    reconciler: Reconciler

    def pay(
        self,
        invoice_id: int,
        *,
        number: str | None = None,
        status: str = "paid",
        amount: Decimal | None = None,
        currency: str = "NOK",
        credit_note: bool = False,
        payment_date: str | None = "2024-02-10",
    ) -> str:
        """Add the Qonto supplier invoice recording a processed payment's money."""
        stored = self.fake.invoices[invoice_id]
        total = amount if amount is not None else Decimal(str(stored.payload["totalInclVat"]))
        fields: dict[str, object] = {
            "invoice_number": number or stored.external_reference,
            "status": status,
            "total_amount": {"value": str(abs(total)), "currency": currency},
            "is_credit_note": credit_note,
        }
        if status == "paid":
            fields["payment_date"] = payment_date
        return self.fake_qonto.add_supplier_invoice(**fields)


@pytest.fixture
async def world(
    fake: FakeQondor, qondor: QondorClient, fake_qonto: FakeQonto, qonto: QontoClient
) -> World:
    for kind in (
        InvoiceKind.INVOICE_SPECIFICATION,
        InvoiceKind.INVOICE_SPECIFICATION,
        InvoiceKind.CREDIT_CARD_PAYMENT,
        InvoiceKind.CREDIT_NOTE,
    ):
        fake.add_invoice(kind=kind)
    finance = InMemoryFinanceSystem.accepting(await qondor.invoices.list_unprocessed())
    journal = MemoryJournal()
    reconciler = Reconciler(qondor, finance=finance, qonto=qonto, journal=journal)
    report = await reconciler.run()
    assert report.ok
    assert len(report.done) == 4
    return World(fake, fake_qonto, finance, journal, reconciler)


def ids_of(world: World, kind: InvoiceKind) -> list[int]:
    return sorted(i for i, s in world.fake.invoices.items() if s.kind is kind)


async def test_paid_supplier_invoice_settles_the_payment(world: World) -> None:
    first, second = ids_of(world, InvoiceKind.INVOICE_SPECIFICATION)
    si_id = world.pay(first)
    world.pay(second, status="to_pay")  # not paid yet: nothing to do
    plan = await world.reconciler.plan()
    (step,) = plan
    assert isinstance(step, Settle)
    assert step.invoice_id == first
    assert step.paid_date == date(2024, 2, 10)
    assert step.supplier_invoice.id == si_id
    assert plan.supplier_invoices == 2
    report = await world.reconciler.apply(plan)
    assert report.ok
    stored = world.fake.invoices[first]
    assert stored.state is InvoiceState.PAID
    assert stored.paid_date == date(2024, 2, 10)
    entry = await world.journal.get(str(first))
    assert entry is not None
    assert (entry.outcome, entry.evidence, entry.paid_date) == (
        JournalOutcome.PAID,
        si_id,
        date(2024, 2, 10),
    )
    assert entry.external_reference == stored.external_reference
    # Nothing left to do; the settled payment is not read again.
    assert (await world.reconciler.plan()).steps == ()
    assert [t.action for t in stored.history] == [
        InvoiceAction.SET_AS_PROCESSED,
        InvoiceAction.SET_AS_PAID,
    ]
    assert world.fake.refused_requests == []
    assert world.fake_qonto.refused_requests == []


async def test_credit_note_settles_against_a_qonto_credit_note(world: World) -> None:
    (note,) = ids_of(world, InvoiceKind.CREDIT_NOTE)
    world.pay(note, credit_note=True)
    (step,) = await world.reconciler.plan()
    assert isinstance(step, Settle)


async def test_card_payments_are_never_settled(world: World) -> None:
    (card,) = ids_of(world, InvoiceKind.CREDIT_CARD_PAYMENT)
    world.pay(card)
    gets_before = len(world.fake.requests_to("GET", f"/Invoice/{card}"))
    assert (await world.reconciler.plan()).steps == ()
    # Known from the journal: not even read.
    assert len(world.fake.requests_to("GET", f"/Invoice/{card}")) == gets_before


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"amount": Decimal("1.00")}, DiscrepancyReason.AMOUNT_MISMATCH),
        ({"currency": "EUR"}, DiscrepancyReason.AMOUNT_MISMATCH),
        ({"credit_note": True}, DiscrepancyReason.CREDIT_NOTE_MISMATCH),
        ({"payment_date": None}, DiscrepancyReason.NO_PAYMENT_DATE),
    ],
)
async def test_mismatches_are_reported_not_settled(
    world: World, change: dict[str, object], reason: DiscrepancyReason
) -> None:
    first, _ = ids_of(world, InvoiceKind.INVOICE_SPECIFICATION)
    world.pay(first, **change)  # type: ignore[arg-type]
    (step,) = await world.reconciler.plan()
    assert isinstance(step, Discrepancy)
    assert step.reason is reason
    (result,) = await world.reconciler.run()
    assert result.status is StepStatus.NEEDS_PERSON
    assert world.fake.invoices[first].state is InvoiceState.PROCESSED


async def test_amount_tolerance(world: World, qondor: QondorClient, qonto: QontoClient) -> None:
    first, _ = ids_of(world, InvoiceKind.INVOICE_SPECIFICATION)
    total = Decimal(str(world.fake.invoices[first].payload["totalInclVat"]))
    world.pay(first, amount=total + Decimal("0.01"))
    reconciler = Reconciler(
        qondor,
        finance=world.finance,
        qonto=qonto,
        journal=world.journal,
        policy=ReconcilePolicy(amount_tolerance=Decimal("0.01")),
    )
    (step,) = await reconciler.plan()
    assert isinstance(step, Settle)


async def test_ambiguous_match(world: World) -> None:
    first, _ = ids_of(world, InvoiceKind.INVOICE_SPECIFICATION)
    world.pay(first)
    world.pay(first)
    (step,) = await world.reconciler.plan()
    assert isinstance(step, Discrepancy)
    assert step.reason is DiscrepancyReason.AMBIGUOUS_MATCH


async def test_unmarked_in_qonto_after_settling(world: World, qonto: QontoClient) -> None:
    first, _ = ids_of(world, InvoiceKind.INVOICE_SPECIFICATION)
    si_id = world.pay(first)
    assert (await world.reconciler.run()).ok
    await qonto.supplier_invoices.unmark_as_paid(si_id)
    (step,) = await world.reconciler.plan()
    assert isinstance(step, Discrepancy)
    assert step.reason is DiscrepancyReason.UNMARKED_IN_QONTO
    assert "no way back from paid" in step.detail
    assert "mark it as paid again in Qonto" in step.detail
    (result,) = await world.reconciler.run()
    assert result.status is StepStatus.NEEDS_PERSON
    # Still reported on every run until a person acts; nothing is changed.
    assert isinstance((await world.reconciler.plan()).steps[0], Discrepancy)
    await qonto.supplier_invoices.mark_as_paid(si_id, payment_date=date(2024, 2, 10))
    assert (await world.reconciler.plan()).steps == ()


async def test_paid_elsewhere_is_closed(world: World, qondor: QondorClient) -> None:
    first, _ = ids_of(world, InvoiceKind.INVOICE_SPECIFICATION)
    await qondor.invoices.set_as_paid(first, paid_date=date(2024, 3, 1))
    world.pay(first)
    (step,) = await world.reconciler.plan()
    assert isinstance(step, Close)
    assert step.outcome is JournalOutcome.PAID
    await world.reconciler.run()
    entry = await world.journal.get(str(first))
    assert entry is not None
    assert entry.outcome is JournalOutcome.PAID
    assert entry.paid_date == date(2024, 3, 1)
    assert (await world.reconciler.plan()).steps == ()


async def test_custom_matcher(world: World, qondor: QondorClient, qonto: QontoClient) -> None:
    first, _ = ids_of(world, InvoiceKind.INVOICE_SPECIFICATION)
    world.pay(first, number="SUPPLIER-77")  # the reference does not match

    def by_amount(invoice: Invoice, index: SupplierInvoiceIndex) -> Sequence[SupplierInvoice]:
        total = invoice.total()
        return [si for si in index.invoices if total is not None and si.total_amount == total]

    default = await world.reconciler.plan()
    assert default.steps == ()
    reconciler = Reconciler(
        qondor, finance=world.finance, qonto=qonto, journal=world.journal, matcher=by_amount
    )
    (step,) = await reconciler.plan()
    assert isinstance(step, Settle)
    assert step.supplier_invoice.invoice_number == "SUPPLIER-77"


async def test_match_by_qonto_id(
    fake: FakeQondor, qondor: QondorClient, fake_qonto: FakeQonto, qonto: QontoClient
) -> None:
    invoice_id = fake.add_invoice()
    total = str(fake.invoices[invoice_id].payload["totalInclVat"])
    si_id = fake_qonto.add_supplier_invoice(
        invoice_number="UNRELATED",
        status="paid",
        payment_date="2024-02-10",
        total_amount={"value": total, "currency": "NOK"},
    )

    class FilesBillsInQonto(InMemoryFinanceSystem):
        """A finance system whose references are the Qonto ids of the bills it files."""

        async def book(self, invoice: Invoice, *, idempotency_key: str | None = None) -> str:
            await super().book(invoice, idempotency_key=idempotency_key)
            return si_id

    finance = FilesBillsInQonto.accepting(await qondor.invoices.list_unprocessed())
    reconciler = Reconciler(qondor, finance=finance, qonto=qonto)
    assert (await reconciler.run()).ok
    assert fake.invoices[invoice_id].external_reference == si_id
    (step,) = await reconciler.plan()
    assert isinstance(step, Settle)
    assert step.supplier_invoice.id == si_id


async def test_qonto_down_skips_settlement_only(world: World, fake: FakeQondor) -> None:
    first, _ = ids_of(world, InvoiceKind.INVOICE_SPECIFICATION)
    world.pay(first)
    new = fake.add_invoice()
    world.fake_qonto.faults.inject("server_error", times=50)
    plan = await world.reconciler.plan()
    assert plan.supplier_invoices is None
    assert "Qonto could not be read" in plan.warnings[0]
    assert "warning: Qonto could not be read" in str(plan)
    assert [s.invoice_id for s in plan] == [new]


async def test_unmatched_payments_are_not_read(world: World) -> None:
    first, _ = ids_of(world, InvoiceKind.INVOICE_SPECIFICATION)
    world.pay(first, status="to_pay")

    def reads(invoice_id: int) -> int:
        return len(world.fake.requests_to("GET", f"/Invoice/{invoice_id}"))

    before = {i: reads(i) for i in world.fake.invoices}
    assert (await world.reconciler.plan()).steps == ()
    # The default matcher works from the journal's reference: only a payment Qonto has
    # a supplier invoice for is read (to check its state before settling).
    assert {i: reads(i) - before[i] for i in world.fake.invoices} == {
        i: int(i == first) for i in world.fake.invoices
    }


async def test_settlement_window_lists_only_recently_updated_supplier_invoices(
    world: World, qondor: QondorClient, qonto: QontoClient
) -> None:
    recent, old = ids_of(world, InvoiceKind.INVOICE_SPECIFICATION)
    recent_si, old_si = world.pay(recent), world.pay(old)
    now = datetime.now(timezone.utc)
    world.fake_qonto.invoices[recent_si]["updated_at"] = (now - timedelta(days=2)).isoformat()
    world.fake_qonto.invoices[old_si]["updated_at"] = (now - timedelta(days=200)).isoformat()
    reconciler = Reconciler(
        qondor,
        finance=world.finance,
        qonto=qonto,
        journal=world.journal,
        policy=ReconcilePolicy(settlement_window=timedelta(days=30)),
    )
    start = len(world.fake_qonto.requests)
    plan = await reconciler.plan()
    assert [(type(s), s.invoice_id) for s in plan] == [(Settle, recent)]
    assert plan.supplier_invoices == 1
    (listing,) = world.fake_qonto.requests[start:]
    since = datetime.fromisoformat(dict(listing.params)["filter[updated_at_from]"])
    assert timedelta(days=29) < now - since <= timedelta(days=30, minutes=1)
    # Without a window (the default) both are seen.
    assert len((await world.reconciler.plan()).steps) == 2


async def test_settlement_max_pages_bounds_the_qonto_listing(
    world: World, qondor: QondorClient, qonto: QontoClient
) -> None:
    first, _ = ids_of(world, InvoiceKind.INVOICE_SPECIFICATION)
    world.pay(first)
    world.fake_qonto.seed(150)
    reconciler = Reconciler(
        qondor,
        finance=world.finance,
        qonto=qonto,
        journal=world.journal,
        policy=ReconcilePolicy(settlement_max_pages=1),
    )
    plan = await reconciler.plan()
    assert plan.supplier_invoices is None
    assert plan.steps == ()
    assert "Qonto could not be read" in plan.warnings[0]
    assert "max_pages=1" in plan.warnings[0]


@pytest.mark.parametrize(
    "change",
    [
        {"settlement_window": timedelta(0)},
        {"settlement_window": 30},
        {"settlement_max_pages": 0},
    ],
)
def test_settlement_bounds_are_checked(change: dict[str, object]) -> None:
    with pytest.raises((ValueError, TypeError)):
        ReconcilePolicy(**change)  # type: ignore[arg-type]
