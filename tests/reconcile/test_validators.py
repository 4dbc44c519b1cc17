"""Validators, failure messages and the reference finance system."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qondor_invoicing.qondor import (
    MAX_FAILURE_MESSAGE_LENGTH,
    Customer,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceState,
)
from qondor_invoicing.reconcile.finance import (
    FinanceSystem,
    FinanceSystemUnavailableError,
    InMemoryFinanceSystem,
)
from qondor_invoicing.reconcile.validators import (
    DEFAULT_VALIDATORS,
    Problem,
    failure_message,
    validate,
)

pytestmark = pytest.mark.anyio


def make_invoice(**fields: object) -> Invoice:
    base: dict[str, object] = {
        "id": 12345,
        "kind": InvoiceKind.INVOICE_SPECIFICATION,
        "state": InvoiceState.UNPROCESSED,
        "customer": Customer(name="Acme Corp", external_reference="CUST-999"),
        "lines": (
            InvoiceLine(
                description="Deluxe room",
                article_code="ROOM-DLX",
                article_category="Accommodation",
                vat_rate=Decimal("12"),
                amount_excl_vat=Decimal("1000"),
            ),
            InvoiceLine(
                description="Dinner",
                article_code="FOOD",
                article_category="Food",
                vat_rate=Decimal("15"),
            ),
            InvoiceLine(description="Thanks for your visit"),
        ),
    }
    base.update(fields)
    return Invoice(**base)  # type: ignore[arg-type]


def finance_for(invoice: Invoice) -> InMemoryFinanceSystem:
    return InMemoryFinanceSystem.accepting([invoice])


async def test_valid_invoice_has_no_problems() -> None:
    invoice = make_invoice()
    finance = finance_for(invoice)
    assert isinstance(finance, FinanceSystem)
    assert await validate(invoice, finance) == ()


async def test_the_guides_message() -> None:
    invoice = make_invoice()
    finance = finance_for(invoice)
    finance.articles.discard("ROOM-DLX")
    finance.customers.clear()
    problems = await validate(invoice, finance)
    assert failure_message(problems, max_length=2000) == (
        "Article code 'ROOM-DLX' not found in finance system; "
        "Customer 'Acme Corp' (ref: CUST-999) not found"
    )
    assert [p.line for p in problems] == [1, None]


async def test_every_check_reports() -> None:
    invoice = make_invoice(
        lines=(
            InvoiceLine(
                article_code="ROOM-DLX", article_category="Accommodation", vat_rate=Decimal(12)
            ),
            InvoiceLine(article_code="ROOM-DLX", article_category="Accommodation", vat_rate=12),
            InvoiceLine(article_code="X", account_code="9999", vat_rate=Decimal("25.0")),
            InvoiceLine(article_category="Misc"),
        ),
        customer=None,
    )
    finance = InMemoryFinanceSystem(
        articles=["X"], vat_rates={"Accommodation": ["25"]}, accounts={"ROOM-DLX": "3000"}
    )
    problems = await validate(invoice, finance)
    assert [p.message for p in problems] == [
        "Article code 'ROOM-DLX' not found in finance system",
        "VAT rate 12% not configured for product category 'Accommodation'",
        "VAT rate 25% not configured for lines without a product category",
        "Payment has no customer",
        "Account '9999' not found in finance system",
        "No account mapping for product category 'Misc'",
    ]
    assert {p.check for p in problems} == {
        "article_code",
        "vat_rate",
        "customer",
        "account_mapping",
    }


async def test_customer_messages() -> None:
    finance = InMemoryFinanceSystem()
    for customer, text in [
        (Customer(name="Acme"), "Customer 'Acme' not found"),
        (Customer(number="10045"), "Customer (ref: 10045) not found"),
        (Customer(id=7), "Customer (Qondor id: 7) not found"),
    ]:
        (problem,) = await validate(make_invoice(customer=customer, lines=()), finance)
        assert problem.message == text
    finance.customers.add("10045")
    assert await validate(make_invoice(customer=Customer(number="10045"), lines=()), finance) == ()


async def test_custom_sync_validator_and_dedup() -> None:
    def no_zero_totals(invoice: Invoice, finance: FinanceSystem) -> list[Problem]:
        if invoice.total_incl_vat == 0:
            return [Problem(message="Payment total is 0", check="total")] * 2
        return []

    invoice = make_invoice(total_incl_vat=Decimal(0))
    problems = await validate(invoice, finance_for(invoice), (*DEFAULT_VALIDATORS, no_zero_totals))
    assert [p.message for p in problems] == ["Payment total is 0"]


async def test_validator_returning_garbage_raises() -> None:
    def bad(invoice: Invoice, finance: FinanceSystem) -> list[str]:
        return ["oops"]

    with pytest.raises(TypeError, match="not Problem"):
        await validate(make_invoice(), InMemoryFinanceSystem(), [bad])  # type: ignore[list-item]


async def test_finance_system_down_raises() -> None:
    invoice = make_invoice()
    finance = finance_for(invoice)
    finance.down = True
    with pytest.raises(FinanceSystemUnavailableError):
        await validate(invoice, finance)
    finance.down = False
    finance.fail_next(1)
    with pytest.raises(FinanceSystemUnavailableError):
        await finance.book(invoice)
    assert await validate(invoice, finance) == ()


async def test_book_is_idempotent_and_counted() -> None:
    finance = InMemoryFinanceSystem(reference_prefix="ERP")
    a = make_invoice(id=1)
    b = make_invoice(id=2)
    ref_a = await finance.book(a)
    assert ref_a == "ERP-00001"
    assert await finance.book(a) == ref_a
    assert await finance.book(b) == "ERP-00002"
    assert finance.book_calls == {1: 2, 2: 1}
    assert set(finance.bookings) == {1, 2}


def test_failure_message_truncation() -> None:
    problems = [f"Article code 'A{i:03d}' not found in finance system" for i in range(100)]
    message = failure_message(problems, max_length=200)
    assert len(message) <= 200
    assert message.startswith("Article code 'A000' not found in finance system; ")
    assert message.endswith(" more problems)")
    assert "A004" not in message
    one = failure_message(["x" * 5000], max_length=100)
    assert len(one) == 100
    assert one.endswith("…")
    two = failure_message(["x" * 5000, "y"], max_length=100)
    assert len(two) <= 100
    assert two.endswith("… (and 1 more problem)")
    assert failure_message(["line\nbreak\tand\x00nul"], max_length=100) == "line break and nul"
    with pytest.raises(ValueError, match="at least one"):
        failure_message([" \n"], max_length=100)
    with pytest.raises(ValueError, match="at least 20"):
        failure_message(["x"], max_length=5)


@settings(deadline=None)  # a loaded CI machine must not turn this into a flake
@given(
    st.lists(st.text(min_size=1, max_size=300), min_size=1, max_size=40),
    st.integers(min_value=20, max_value=MAX_FAILURE_MESSAGE_LENGTH),
)
def test_failure_message_always_fits(texts: list[str], max_length: int) -> None:
    if not any(" ".join("".join(c if c.isprintable() else " " for c in t).split()) for t in texts):
        return
    message = failure_message(texts, max_length=max_length)
    assert 0 < len(message) <= max_length
    assert message == message.strip()
    assert all(c.isprintable() for c in message)
