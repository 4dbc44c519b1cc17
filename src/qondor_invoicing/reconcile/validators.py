"""Validators: small functions that find what is wrong with a payment's data.

A validator takes the payment and the finance system and returns the problems it found (an
empty sequence when the payment is fine). It may be a plain or a coroutine function. The
four built-ins are the checks the Qondor guide lists::

    DEFAULT_VALIDATORS = (check_article_codes, check_vat_rates, check_customer,
                          check_account_mappings)

Add your own by passing ``validators=(*DEFAULT_VALIDATORS, my_check)`` to the reconciler.
Problems become one failure message in the guide's style, every problem listed::

    Article code 'ROOM-DLX' not found in finance system; Customer 'Acme Corp'
    (ref: CUST-999) not found     (one line in Qondor)

A validator that **raises** does not fail the payment: an exception is a transient problem
(the finance system is down, a bug) and the payment stays in the queue.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import attrs

from ..qondor.models import Invoice
from .finance import FinanceSystem, resolve

__all__ = [
    "DEFAULT_VALIDATORS",
    "Problem",
    "Validator",
    "check_account_mappings",
    "check_article_codes",
    "check_customer",
    "check_vat_rates",
    "failure_message",
    "validate",
]


@attrs.frozen(kw_only=True)
class Problem:
    """One thing wrong with a payment, as a project manager should read it.

    Attributes:
        message: What is wrong and what it concerns, e.g. ``"Article code 'ROOM-DLX' not
            found in finance system"``. One line; the value concerned in single quotes.
        check: Which check found it (``"article_code"``, ``"vat_rate"``, ``"customer"``,
            ``"account_mapping"`` or your validator's own name).
        line: The 1-based number of the payment line concerned, if any.
    """

    message: str
    check: str
    line: int | None = None

    def __str__(self) -> str:
        return self.message


F = TypeVar("F", bound=FinanceSystem)

Validator = Callable[[Invoice, F], Iterable[Problem] | Awaitable[Iterable[Problem]]]
"""A check: ``(invoice, finance) -> problems`` (sync or async).

Generic over the finance system: ``Validator[MyFinance]`` is a check that uses your own
finance system's methods (``def check(invoice: Invoice, finance: MyFinance) -> ...``); the
built-in ones are ``Validator[FinanceSystem]`` and work with any.
"""


def _fmt_rate(rate: Decimal) -> str:
    return format(rate.normalize(), "f")


async def check_article_codes(invoice: Invoice, finance: FinanceSystem) -> list[Problem]:
    """Every line's article code exists in the finance system.

    Lines without an article code (text lines) are not checked.
    """
    problems: list[Problem] = []
    seen: set[str] = set()
    for number, line in enumerate(invoice.lines, start=1):
        code = line.article_code
        if not code or code in seen:
            continue
        seen.add(code)
        if not await resolve(finance.has_article(code)):
            problems.append(
                Problem(
                    message=f"Article code '{code}' not found in finance system",
                    check="article_code",
                    line=number,
                )
            )
    return problems


async def check_vat_rates(invoice: Invoice, finance: FinanceSystem) -> list[Problem]:
    """Every line's VAT rate is configured for the line's product category.

    Lines without a VAT rate are not checked.
    """
    problems: list[Problem] = []
    seen: set[tuple[Decimal, str | None]] = set()
    for number, line in enumerate(invoice.lines, start=1):
        if line.vat_rate is None:
            continue
        rate = line.vat_rate.normalize()
        key = (rate, line.article_category)
        if key in seen:
            continue
        seen.add(key)
        allowed = await resolve(finance.vat_rates(line.article_category))
        if allowed and rate in {Decimal(r).normalize() for r in allowed}:
            continue
        where = (
            f"product category '{line.article_category}'"
            if line.article_category
            else "lines without a product category"
        )
        problems.append(
            Problem(
                message=f"VAT rate {_fmt_rate(rate)}% not configured for {where}",
                check="vat_rate",
                line=number,
            )
        )
    return problems


async def check_customer(invoice: Invoice, finance: FinanceSystem) -> list[Problem]:
    """The payment names a customer, and the finance system knows it."""
    customer = invoice.customer
    if customer is None:
        return [Problem(message="Payment has no customer", check="customer")]
    if await resolve(finance.find_customer(customer)) is not None:
        return []
    ref = customer.external_reference or customer.number
    name = f"'{customer.name}'" if customer.name else ""
    parts = ["Customer", name, f"(ref: {ref})" if ref else ""]
    if not name and not ref and customer.id is not None:
        parts.append(f"(Qondor id: {customer.id})")
    return [Problem(message=" ".join(p for p in parts if p) + " not found", check="customer")]


async def check_account_mappings(invoice: Invoice, finance: FinanceSystem) -> list[Problem]:
    """Every line maps to a ledger account in the finance system.

    A line's own account code must exist; a line without one needs a mapping for its
    article code or category. Lines with neither (text lines) are not checked.
    """
    problems: list[Problem] = []
    seen: set[tuple[str | None, str | None, str | None]] = set()
    for number, line in enumerate(invoice.lines, start=1):
        if not (line.account_code or line.article_code or line.article_category):
            continue
        key = (line.account_code, line.article_code, line.article_category)
        if key in seen:
            continue
        seen.add(key)
        if await resolve(finance.account_for(line)) is not None:
            continue
        if line.account_code:
            message = f"Account '{line.account_code}' not found in finance system"
        elif line.article_code:
            message = f"No account mapping for article code '{line.article_code}'"
        else:
            message = f"No account mapping for product category '{line.article_category}'"
        problems.append(Problem(message=message, check="account_mapping", line=number))
    return problems


DEFAULT_VALIDATORS: tuple[Validator[FinanceSystem], ...] = (
    check_article_codes,
    check_vat_rates,
    check_customer,
    check_account_mappings,
)
"""The four checks the Qondor guide lists, in the order their problems are reported."""


async def validate(
    invoice: Invoice,
    finance: FinanceSystem,
    validators: Sequence[Validator[Any]] = DEFAULT_VALIDATORS,
) -> tuple[Problem, ...]:
    """Run every validator on a payment and return every problem found, in order.

    Problems with the same message are reported once.

    Args:
        invoice: The payment.
        finance: The finance system the validators look things up in.
        validators: The checks to run, in the order their problems are listed.

    Returns:
        The problems; empty when the payment can be booked.

    Raises:
        Exception: Whatever a validator (or the finance system under it) raised; the
            reconciler treats it as transient.
    """
    problems: list[Problem] = []
    messages: set[str] = set()
    for validator in validators:
        found = await resolve(validator(invoice, finance))
        for problem in found:
            if not isinstance(problem, Problem):
                raise TypeError(
                    f"validator {getattr(validator, '__name__', validator)!r} returned "
                    f"{type(problem).__name__}, not Problem"
                )
            if problem.message not in messages:
                messages.add(problem.message)
                problems.append(problem)
    return tuple(problems)


def failure_message(problems: Iterable[Problem | str], *, max_length: int) -> str:
    """Join problems into one failure message that fits ``max_length`` characters.

    Problems are separated by ``"; "``. When they do not all fit, as many whole problems as
    fit are kept and the rest are counted (``"... (and 3 more problems)"``); a single
    problem too long on its own is cut with an ellipsis. Line breaks and control characters
    are replaced by spaces (the message is shown in Qondor and sent by e-mail).

    Args:
        problems: The problems, in order.
        max_length: The longest message allowed (the Qondor client's limit).

    Returns:
        The message, never longer than ``max_length``.

    Raises:
        ValueError: No problems, or ``max_length`` too small to say anything.
    """
    texts = [_one_line(str(p)) for p in problems]
    texts = [t for t in texts if t]
    if not texts:
        raise ValueError("a failure message needs at least one problem")
    if max_length < 20:
        raise ValueError(f"max_length must be at least 20, not {max_length}")
    for keep in range(len(texts), 0, -1):
        rest = len(texts) - keep
        suffix = "" if rest == 0 else f" (and {rest} more problem{'s' if rest > 1 else ''})"
        message = "; ".join(texts[:keep]) + suffix
        if len(message) <= max_length:
            return message
    rest = len(texts) - 1
    suffix = "" if rest == 0 else f" (and {rest} more problem{'s' if rest > 1 else ''})"
    room = max_length - len(suffix) - 1
    if room < 10:
        suffix, room = "", max_length - 1
    return texts[0][:room].rstrip() + "…" + suffix


def _one_line(text: str) -> str:
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())
