"""A conformance kit for your `FinanceSystem`: run it in your own test suite.

The reconciler can keep several workers from ever *recording* a payment twice, but one
window only your finance system can close: a worker taken over while its ``book()`` runs
(or killed between ``book()`` returning and the journal recording the reference) means a
second ``book()`` call with the same idempotency key. `check_finance_system` checks that
your ``book()`` makes that harmless::

    async def test_my_finance_system_conforms() -> None:
        finance = MyFinance(dsn)
        await check_finance_system(
            finance, sample_invoice, bookings=finance.count_bookings, restart=lambda: MyFinance(dsn)
        )
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio

from ..qondor.models import Invoice
from ..reconcile.finance import FinanceSystem, call_book, idempotency_key, resolve
from ..reconcile.validators import DEFAULT_VALIDATORS, Validator, validate

__all__ = ["FinanceProperty", "FinanceSystemConformanceError", "check_finance_system"]


class FinanceProperty(enum.Enum):
    """A property `check_finance_system` checks.

    Attributes:
        CONCURRENT_BOOK: Concurrent ``book()`` calls with one key make one booking and all
            return its reference.
        REPEAT_AFTER_CRASH: A ``book()`` call with the same key after the first ones
            finished (on a restarted instance, if ``restart`` is given) returns the same
            reference and books nothing.
        VALIDATION_HAS_NO_SIDE_EFFECTS: The validators' lookups book nothing.
    """

    CONCURRENT_BOOK = "concurrent book() calls with one key return one reference"
    REPEAT_AFTER_CRASH = "a repeated book() with the same key returns the same reference"
    VALIDATION_HAS_NO_SIDE_EFFECTS = "validation lookups book nothing"


class FinanceSystemConformanceError(AssertionError):
    """A finance system does not have a property the reconciler relies on.

    An `AssertionError`, so test runners report it as a failed test.

    Attributes:
        property: The property that does not hold.
        detail: What was observed.
    """

    def __init__(self, failed: FinanceProperty, detail: str) -> None:
        super().__init__(f"{failed.name}: {failed.value}; {detail}")
        self.property = failed
        self.detail = detail


Count = Callable[[], "int | Awaitable[int]"]


async def check_finance_system(
    finance: FinanceSystem,
    invoice: Invoice,
    *,
    bookings: Count,
    restart: Callable[[], FinanceSystem | Awaitable[FinanceSystem]] | None = None,
    key: str | None = None,
    calls: int = 8,
    validators: Sequence[Validator[Any]] = DEFAULT_VALIDATORS,
) -> str:
    """Check that ``finance`` is safe for the reconciler; return the reference it booked.

    In order: the validators' lookups on ``invoice`` book nothing; ``calls`` concurrent
    ``book()`` calls with one idempotency key make at most one booking and return one
    reference; one more call with the same key (on a new instance from ``restart``, as after
    a crash) returns that reference and books nothing. It books ``invoice`` for real: run it
    against a test database.

    Args:
        finance: The finance system under test.
        invoice: A payment ``finance`` can book.
        bookings: Returns how many bookings the finance system holds (e.g. ``SELECT count(*)``
            on its bookings table); sync or async.
        restart: Returns a new instance of the finance system on the same storage (a
            restarted process); by default the repeat goes to ``finance`` itself.
        key: The idempotency key; by default the reconciler's key for ``invoice``.
        calls: How many ``book()`` calls run at once.
        validators: The validators whose lookups are checked.

    Returns:
        The reference of the booking.

    Raises:
        FinanceSystemConformanceError: A property does not hold (its ``property`` says which).
        ValueError: ``calls`` is below 2.
    """
    if calls < 2:
        raise ValueError(f"calls must be >= 2, not {calls!r}")
    key = key if key is not None else idempotency_key(invoice)

    async def count() -> int:
        return int(await resolve(bookings()))

    before = await count()
    await validate(invoice, finance, validators)
    after = await count()
    if after != before:
        raise FinanceSystemConformanceError(
            FinanceProperty.VALIDATION_HAS_NO_SIDE_EFFECTS,
            f"the bookings went from {before} to {after} while validating",
        )

    references: list[object] = []

    async def one() -> None:
        references.append(await call_book(finance, invoice, idempotency_key=key))

    async with anyio.create_task_group() as tg:  # all start before any of them resumes
        for _ in range(calls):
            tg.start_soon(one)
    made = await count() - after
    if len(set(map(repr, references))) != 1 or made > 1:
        raise FinanceSystemConformanceError(
            FinanceProperty.CONCURRENT_BOOK,
            f"{calls} concurrent calls with key {key!r} returned "
            f"{sorted(set(map(str, references)))} and made {made} bookings",
        )
    reference = references[0]
    if not isinstance(reference, str) or not reference.strip():
        raise FinanceSystemConformanceError(
            FinanceProperty.CONCURRENT_BOOK, f"book() returned {reference!r}, not a reference"
        )

    again_on = finance if restart is None else await resolve(restart())
    again = await call_book(again_on, invoice, idempotency_key=key)
    made_again = await count() - after - made
    if again != reference or made_again:
        raise FinanceSystemConformanceError(
            FinanceProperty.REPEAT_AFTER_CRASH,
            f"the first calls returned {reference!r}; the repeat with key {key!r} returned "
            f"{again!r} and made {made_again} more bookings",
        )
    return reference
