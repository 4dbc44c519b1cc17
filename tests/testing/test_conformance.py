"""The finance-system conformance kit: a correct system passes, each broken one fails its check."""

from __future__ import annotations

import itertools
from collections.abc import Collection
from decimal import Decimal

import anyio.lowlevel
import pytest

from qondor_invoicing.qondor import Customer, Invoice, InvoiceKind, InvoiceLine, InvoiceState
from qondor_invoicing.reconcile import InMemoryFinanceSystem
from qondor_invoicing.reconcile.finance import idempotency_key
from qondor_invoicing.testing.conformance import (
    FinanceProperty,
    FinanceSystemConformanceError,
    check_finance_system,
)

pytestmark = pytest.mark.anyio

INVOICE = Invoice(
    id=77,
    kind=InvoiceKind.INVOICE_SPECIFICATION,
    state=InvoiceState.UNPROCESSED,
    customer=Customer(name="Acme", external_reference="CUST-1"),
    lines=(
        InvoiceLine(
            description="Room",
            article_code="ROOM",
            article_category="Accommodation",
            vat_rate=Decimal("12"),
        ),
    ),
)


class Store:
    """Bookings by key, shared by the instances of a finance system (its database)."""

    def __init__(self) -> None:
        self.rows: dict[str, str] = {}
        self.numbers = itertools.count(1)


class Accepting:
    """Lookups that accept `INVOICE`; the booking strategy is the subclass's."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def has_article(self, code: str) -> bool:
        return True

    async def vat_rates(self, category: str | None) -> Collection[Decimal] | None:
        return {Decimal("12")}

    async def find_customer(self, customer: Customer) -> str | None:
        return "CUST-1"

    async def account_for(self, line: InvoiceLine) -> str | None:
        return "3000"


class LookupThenCreate(Accepting):
    """The classic race: look the key up, then create; the await in between lets others in."""

    async def book(self, invoice: Invoice, *, idempotency_key: str) -> str:
        existing = self.store.rows.get(idempotency_key)
        if existing is not None:
            return existing
        await anyio.lowlevel.checkpoint()  # e.g. the INSERT's round trip
        reference = f"FIN-{next(self.store.numbers)}"
        self.store.rows[idempotency_key] = reference  # last writer wins, others orphaned
        return reference


class Atomic(LookupThenCreate):
    """The same round trip, but an INSERT ... ON CONFLICT: the first create wins."""

    async def book(self, invoice: Invoice, *, idempotency_key: str) -> str:
        await anyio.lowlevel.checkpoint()
        return self.store.rows.setdefault(idempotency_key, f"FIN-{next(self.store.numbers)}")


class Forgetful(Atomic):
    """Atomic within one process, but keeps its keys in process memory."""

    def __init__(self, store: Store) -> None:
        super().__init__(Store())
        self.store.numbers = store.numbers  # the references still come from the database


class BooksWhileValidating(Atomic):
    async def find_customer(self, customer: Customer) -> str | None:
        await self.book(INVOICE, idempotency_key="side-effect")
        return "CUST-1"


async def test_an_atomic_finance_system_passes() -> None:
    store = Store()
    reference = await check_finance_system(
        Atomic(store), INVOICE, bookings=lambda: len(store.rows), restart=lambda: Atomic(store)
    )
    assert store.rows == {idempotency_key(INVOICE): reference}


async def test_the_reference_finance_system_passes() -> None:
    finance = InMemoryFinanceSystem.accepting([INVOICE])
    reference = await check_finance_system(finance, INVOICE, bookings=lambda: len(finance.by_key))
    assert finance.book_calls[INVOICE.id] == 9
    assert [b.reference for b in finance.bookings.values()] == [reference]


async def test_lookup_then_create_fails_the_concurrency_check() -> None:
    store = Store()
    with pytest.raises(FinanceSystemConformanceError) as info:
        await check_finance_system(
            LookupThenCreate(store), INVOICE, bookings=lambda: len(store.rows), calls=4
        )
    assert info.value.property is FinanceProperty.CONCURRENT_BOOK
    assert "['FIN-1', 'FIN-2', 'FIN-3', 'FIN-4']" in str(info.value)
    assert str(info.value).startswith("CONCURRENT_BOOK: concurrent book() calls")
    assert isinstance(info.value, AssertionError)


async def test_a_system_that_forgets_keys_on_restart_fails_the_repeat_check() -> None:
    store = Store()
    with pytest.raises(FinanceSystemConformanceError) as info:
        await check_finance_system(
            Forgetful(store),
            INVOICE,
            bookings=lambda: 0,
            restart=lambda: Forgetful(store),
        )
    assert info.value.property is FinanceProperty.REPEAT_AFTER_CRASH


async def test_a_system_that_books_while_validating_fails() -> None:
    store = Store()
    with pytest.raises(FinanceSystemConformanceError) as info:
        await check_finance_system(
            BooksWhileValidating(store), INVOICE, bookings=lambda: len(store.rows)
        )
    assert info.value.property is FinanceProperty.VALIDATION_HAS_NO_SIDE_EFFECTS


async def test_an_old_style_book_is_called_with_a_deprecation_warning() -> None:
    class Old(Accepting):
        async def book(self, invoice: Invoice) -> str:
            return self.store.rows.setdefault(str(invoice.id), "FIN-OLD")

    store = Store()
    with pytest.warns(DeprecationWarning, match="idempotency_key"):
        reference = await check_finance_system(
            Old(store),  # type: ignore[arg-type]
            INVOICE,
            bookings=lambda: len(store.rows),
        )
    assert reference == "FIN-OLD"


async def test_arguments_checked() -> None:
    with pytest.raises(ValueError, match="calls"):
        await check_finance_system(InMemoryFinanceSystem(), INVOICE, bookings=lambda: 0, calls=1)
