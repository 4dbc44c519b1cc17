"""The finance system the reconciler books into: a protocol you implement, and a reference one.

The reconciler needs two things from your finance (ERP, accounting) system: lookups, so the
validators can tell whether a Qondor payment can be booked, and ``book``, which creates the
invoice and returns its reference. Each method may be a plain function or a coroutine
function; the reconciler awaits whatever it gets back. Blocking I/O belongs in a coroutine
(or in ``anyio.to_thread.run_sync``), never in a plain method, which runs on the event loop.

Any exception a method raises is treated as **transient** (the finance system is down, a
timeout, a bug): the payment stays in Qondor's queue for the next run and is never set as
failed because of it. Only what the validators find wrong in the payment's data fails it.
"""

from __future__ import annotations

import inspect
import itertools
import warnings
from collections import Counter
from collections.abc import Awaitable, Collection, Iterable, Mapping
from decimal import Decimal
from typing import Protocol, TypeVar, runtime_checkable

import attrs

from .._convert import parse_decimal
from ..errors import InvoicingError
from ..qondor.models import Customer, Invoice, InvoiceLine

__all__ = [
    "Booking",
    "FinanceSystem",
    "FinanceSystemUnavailableError",
    "InMemoryFinanceSystem",
    "call_book",
    "idempotency_key",
    "resolve",
]

T = TypeVar("T")
VatRates = Collection[Decimal] | None


async def resolve(value: T | Awaitable[T]) -> T:
    """Return ``value``, awaiting it first if it is awaitable (a sync or async method's result)."""
    if inspect.isawaitable(value):
        return await value
    return value


@runtime_checkable
class FinanceSystem(Protocol):
    """What the reconciler needs from your finance system.

    Every method may be sync or async. The four lookups serve the built-in validators (you
    may replace those validators, and then only implement what yours use; the reconciler
    itself only calls ``book``).
    """

    def has_article(self, code: str) -> bool | Awaitable[bool]:
        """Whether the article (product) code exists.

        Args:
            code: The article code of a payment line, e.g. ``"ROOM-DLX"``.
        """
        ...

    def vat_rates(
        self, category: str | None
    ) -> Collection[Decimal] | Awaitable[Collection[Decimal] | None] | None:
        """The VAT rates (percentages, e.g. ``Decimal("25")``) configured for a product category.

        Args:
            category: The line's article category, e.g. ``"Accommodation"``, or ``None``
                when the payment does not say.

        Returns:
            The rates allowed for the category; an empty collection or ``None`` when the
            category has none configured.
        """
        ...

    def find_customer(self, customer: Customer) -> str | Awaitable[str | None] | None:
        """Find the payment's customer.

        Args:
            customer: The customer as Qondor sends it (name, number, external reference...).

        Returns:
            The finance system's id for the customer, or ``None`` when not found.
        """
        ...

    def account_for(self, line: InvoiceLine) -> str | Awaitable[str | None] | None:
        """The ledger account a payment line books to.

        Args:
            line: The line. When it carries an ``account_code``, return it if that account
                exists; otherwise map its article code or category to an account.

        Returns:
            The account, or ``None`` when the account does not exist or no mapping does.
        """
        ...

    def book(self, invoice: Invoice, *, idempotency_key: str) -> str | Awaitable[str]:
        """Create the invoice in the finance system and return its reference.

        **Must be atomic by idempotency key**: however many calls with one
        ``idempotency_key`` run, at once or one after the other, in one process or several,
        exactly one booking exists afterwards and every call returns its reference. Store
        the key on the booking under a unique constraint, and on a conflict return the
        existing booking (a lookup followed by a create is not enough: two workers can both
        find nothing). The reconciler relies on this when a worker is taken over while its
        ``book`` runs, and after a crash between ``book`` returning and the journal
        recording the reference. `check_finance_system` (in ``qondor_invoicing.testing``)
        checks it.

        Args:
            invoice: The validated Qondor payment.
            idempotency_key: The payment's stable key (`idempotency_key`): the same for
                every call about this payment, from any worker, in any run.

        Returns:
            The reference of the booking (sent to Qondor as ``externalReference``).
        """
        ...


def idempotency_key(invoice: Invoice) -> str:
    """The key the reconciler passes to ``book`` for a payment: ``"qondor-invoice:<id>"``.

    Stable across runs, workers and restarts. Use one finance system (or one key space) per
    Qondor office: Qondor invoice ids are unique within an office.
    """
    return f"qondor-invoice:{invoice.id}"


_key_of = idempotency_key  # for methods whose parameter shadows the name


def _takes_key(method: object) -> bool:
    try:
        parameters = inspect.signature(method).parameters.values()  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return True  # not introspectable: assume the current protocol
    return any(
        p.kind is inspect.Parameter.VAR_KEYWORD
        or (
            p.name == "idempotency_key"
            and p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        )
        for p in parameters
    )


async def call_book(finance: FinanceSystem, invoice: Invoice, *, idempotency_key: str) -> object:
    """Call ``finance.book`` with the payment's key, as its signature allows.

    A ``book(invoice)`` written for earlier versions (no ``idempotency_key`` parameter) is
    still called, without the key, with a `DeprecationWarning`: it must then be atomic by
    Qondor invoice id.

    Returns:
        What ``book`` returned (awaited), unchecked.
    """
    method = finance.book
    if _takes_key(method):
        return await resolve(method(invoice, idempotency_key=idempotency_key))
    warnings.warn(
        f"{type(finance).__name__}.book(invoice) takes no idempotency_key: accept the "
        "keyword (book(invoice, *, idempotency_key)) and book atomically by it; the "
        "old signature will stop working in a future version",
        DeprecationWarning,
        stacklevel=2,
    )
    return await resolve(method(invoice))  # type: ignore[call-arg]


class FinanceSystemUnavailableError(InvoicingError):
    """The reference finance system was told to be down (a transient error)."""


@attrs.frozen(kw_only=True)
class Booking:
    """One invoice booked in `InMemoryFinanceSystem`.

    Attributes:
        reference: The reference returned to the reconciler.
        invoice: The Qondor payment as it was booked.
        idempotency_key: The key it was booked under.
    """

    reference: str
    invoice: Invoice
    idempotency_key: str = ""


def _decimal_set(values: Iterable[Decimal | int | str]) -> frozenset[Decimal]:
    return frozenset(parse_decimal(v).normalize() for v in values)


class InMemoryFinanceSystem:
    """A finance system in memory: the reference implementation, for tests and the demo.

    ``book`` is atomic by idempotency key (one booking per key, whatever the calls) and
    counts every call, so tests can assert that nothing was booked twice. Set ``down`` (or
    call `fail_next`) to make it raise `FinanceSystemUnavailableError`, a transient error.

    Args:
        articles: The article codes that exist.
        vat_rates: VAT rates per product category (key ``None``: rates for lines without
            a category). Values are percentages as ``Decimal``, ``int`` or ``str``.
        customers: Customer keys that exist: matched against the payment customer's
            external reference, then its number, then its name.
        accounts: Account mappings: article code or category -> ledger account.
        known_accounts: Ledger accounts that exist (a line's own ``account_code`` must be
            one of them); every mapped account counts as known.
        reference_prefix: Prefix of the references ``book`` returns (``"FIN-00001"``...).
    """

    def __init__(
        self,
        *,
        articles: Iterable[str] = (),
        vat_rates: Mapping[str | None, Iterable[Decimal | int | str]] | None = None,
        customers: Iterable[str] = (),
        accounts: Mapping[str, str] | None = None,
        known_accounts: Iterable[str] = (),
        reference_prefix: str = "FIN",
    ) -> None:
        self.articles: set[str] = set(articles)
        self.vat: dict[str | None, frozenset[Decimal]] = {
            k: _decimal_set(v) for k, v in (vat_rates or {}).items()
        }
        self.customers: set[str] = set(customers)
        self.accounts: dict[str, str] = dict(accounts or {})
        self.known_accounts: set[str] = set(known_accounts) | set(self.accounts.values())
        self.reference_prefix = reference_prefix
        self.bookings: dict[int, Booking] = {}
        self.by_key: dict[str, Booking] = {}
        self.book_calls: Counter[int] = Counter()
        self.down = False
        self._fail_next = 0
        self._sequence = itertools.count(1)

    def __repr__(self) -> str:
        return (
            f"InMemoryFinanceSystem({len(self.articles)} articles, {len(self.customers)} "
            f"customers, {len(self.bookings)} bookings)"
        )

    @classmethod
    def accepting(cls, invoices: Iterable[Invoice], **kwargs: object) -> InMemoryFinanceSystem:
        """Return a finance system that knows everything the given payments refer to.

        Every article code, category VAT rate, customer and account found in ``invoices``
        is registered (articles without an account are mapped to account ``"3000"``), so
        each payment validates. Remove entries afterwards to make some of them invalid.

        Args:
            invoices: Payments to accept.
            **kwargs: Passed to the constructor.
        """
        system = cls(**kwargs)  # type: ignore[arg-type]
        for invoice in invoices:
            if invoice.customer is not None:
                key = _customer_keys(invoice.customer)
                if key:
                    system.customers.add(key[0])
            for line in invoice.lines:
                if line.article_code:
                    system.articles.add(line.article_code)
                if line.vat_rate is not None:
                    rates = set(system.vat.get(line.article_category, frozenset()))
                    rates.add(line.vat_rate.normalize())
                    system.vat[line.article_category] = frozenset(rates)
                if line.account_code:
                    system.known_accounts.add(line.account_code)
                else:
                    key_ = line.article_code or line.article_category
                    if key_ and key_ not in system.accounts:
                        system.accounts[key_] = "3000"
                        system.known_accounts.add("3000")
        return system

    def fail_next(self, times: int = 1) -> None:
        """Make the next ``times`` calls (of any method) raise `FinanceSystemUnavailableError`."""
        self._fail_next += times

    def _check_up(self) -> None:
        if self.down:
            raise FinanceSystemUnavailableError("finance system is down")
        if self._fail_next > 0:
            self._fail_next -= 1
            raise FinanceSystemUnavailableError("finance system did not answer")

    async def has_article(self, code: str) -> bool:
        """See `FinanceSystem.has_article`."""
        self._check_up()
        return code in self.articles

    async def vat_rates(self, category: str | None) -> Collection[Decimal] | None:
        """See `FinanceSystem.vat_rates`."""
        self._check_up()
        return self.vat.get(category)

    async def find_customer(self, customer: Customer) -> str | None:
        """See `FinanceSystem.find_customer`."""
        self._check_up()
        for key in _customer_keys(customer):
            if key in self.customers:
                return key
        return None

    async def account_for(self, line: InvoiceLine) -> str | None:
        """See `FinanceSystem.account_for`."""
        self._check_up()
        if line.account_code:
            return line.account_code if line.account_code in self.known_accounts else None
        for key in (line.article_code, line.article_category):
            if key and key in self.accounts:
                return self.accounts[key]
        return None

    async def book(self, invoice: Invoice, *, idempotency_key: str | None = None) -> str:
        """Book ``invoice`` once per key; return the existing reference for a known key.

        Without a key (a direct call), the reconciler's key for the payment is used.
        """
        self.book_calls[invoice.id] += 1
        self._check_up()
        key = idempotency_key if idempotency_key is not None else _key_of(invoice)
        existing = self.by_key.get(key)
        if existing is not None:
            return existing.reference
        reference = f"{self.reference_prefix}-{next(self._sequence):05d}"
        booking = Booking(reference=reference, invoice=invoice, idempotency_key=key)
        self.bookings[invoice.id] = self.by_key[key] = booking
        return reference


def _customer_keys(customer: Customer) -> list[str]:
    return [k for k in (customer.external_reference, customer.number, customer.name) if k]
