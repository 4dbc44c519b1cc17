"""Auto-pagination against FakeQonto: 10,000 invoices, every one once, in order."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from _qonto_kit import make_client, make_fake

from qondor_invoicing import SupplierInvoiceStatus
from qondor_invoicing.testing import FakeQonto

pytestmark = pytest.mark.anyio

S = SupplierInvoiceStatus


@pytest.fixture(scope="module")
def big_fake() -> FakeQonto:
    fake = make_fake()
    fake.seed(10_000, random_seed=42)
    return fake


async def test_ten_thousand_invoices_every_one_once_in_order(big_fake: FakeQonto) -> None:
    client = make_client(big_fake)
    start = len(big_fake.requests)
    ids = [si.id async for si in client.supplier_invoices.list()]
    # Default order: created_at descending; the fake's creation order is the seed order.
    expected = sorted(
        big_fake.invoices, key=lambda i: big_fake.invoices[i]["created_at"], reverse=True
    )
    assert len(ids) == 10_000
    assert len(set(ids)) == 10_000
    assert ids == expected
    requests = big_fake.requests[start:]
    assert len(requests) == 100
    assert [dict(r.params)["page"] for r in requests] == [str(n) for n in range(1, 101)]
    assert {dict(r.params)["per_page"] for r in requests} == {"100"}


async def test_filtered_and_sorted_iteration_matches_the_fake(big_fake: FakeQonto) -> None:
    client = make_client(big_fake)
    seen = [
        si
        async for si in client.supplier_invoices.list(
            status=[S.TO_PAY, S.AWAITING_PAYMENT],
            exclude_credit_notes=True,
            sort_by="total_amount:asc",
            per_page=37,
        )
    ]
    expected = [
        inv
        for inv in big_fake.invoices.values()
        if inv["status"] in ("to_pay", "awaiting_payment") and not inv["is_credit_note"]
    ]
    assert len(seen) == len(expected) > 1000
    assert {si.id for si in seen} == {inv["id"] for inv in expected}
    amounts = [si.total_amount.amount for si in seen if si.total_amount]
    assert amounts == sorted(amounts)
    assert all(si.status in (S.TO_PAY, S.AWAITING_PAYMENT) for si in seen)


async def test_first_page_meta_of_the_big_list(big_fake: FakeQonto) -> None:
    page = await make_client(big_fake).supplier_invoices.list(per_page=100)
    assert page.meta.total_count == 10_000
    assert page.meta.total_pages == 100
    assert page.meta.next_page == 2
    assert page.meta.per_page == 100


async def test_sync_pattern_updated_since_ascending() -> None:
    fake = make_fake(now=lambda: datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc))
    ids = fake.seed(60)
    client = make_client(fake)
    since = datetime(2026, 5, 1, tzinfo=timezone.utc)
    to_pay = next(i for i in ids if fake.invoices[i]["status"] == "to_pay")
    await client.supplier_invoices.mark_as_paid(to_pay, payment_date=since.date())
    changed = [
        si.id
        async for si in client.supplier_invoices.list(
            updated_at_from=since, sort_by="updated_at:asc"
        )
    ]
    assert changed == [to_pay]
