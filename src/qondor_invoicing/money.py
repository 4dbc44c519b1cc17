"""Money as an exact decimal amount with its currency."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

__all__ = ["Money"]


def _to_decimal(value: Decimal | int | str) -> Decimal:
    if type(value) is Decimal and value.is_finite():
        return value  # the common case (parsed amounts): Decimals are immutable, no copy
    if isinstance(value, (bool, float)):
        # Floats carry binary rounding errors and bools are ints by accident: refuse both.
        raise TypeError(f"Money amount must be Decimal, int or str, not {type(value).__name__}")
    try:
        result = Decimal(value)
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"invalid money amount: {value!r}") from exc
    if not result.is_finite():
        raise ValueError(f"money amount must be finite, not {value!r}")
    return result


def _check_currency(instance: Money, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("currency must be a non-empty string such as 'EUR'")


@attrs.frozen
class Money:
    """An amount of money: an exact `Decimal` and an ISO 4217 currency code.

    Floats are refused on purpose; build amounts from strings (``Money("22.10", "EUR")``)
    or Decimals.

    Attributes:
        amount: The amount, never a float.
        currency: The currency code, e.g. ``"EUR"`` or ``"NOK"``.
        extra: Keys of the wire money object this library does not know (e.g. Qonto's
            ``value_cents``), as received; empty for amounts built in code. Not part of
            equality: ``Money("1.00", "EUR")`` equals a parsed amount with extra keys.
    """

    amount: Decimal = attrs.field(converter=_to_decimal)
    currency: str = attrs.field(validator=_check_currency)
    extra: Mapping[str, Any] = attrs.field(
        factory=dict, kw_only=True, eq=False, hash=False, repr=False
    )

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"

    def _repr_html_(self) -> str:
        from ._render import money_html  # _render imports this module

        return money_html(self)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __add__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} and {other.currency}")


_new = object.__new__
# The slots' own setters (what the generated __init__ ends up calling, without the
# frozen-class detour through object.__setattr__).
_set_amount = Money.__dict__["amount"].__set__
_set_currency = Money.__dict__["currency"].__set__
_set_extra = Money.__dict__["extra"].__set__


def _from_parsed(amount: Decimal, currency: str, extra: Mapping[str, Any]) -> Money:
    """Build a `Money` from an amount and currency a parser has already checked.

    Converters read thousands of amounts per page; ``Money(...)`` would check each again
    (the converter and validator above). The caller guarantees a finite `Decimal` and a
    non-blank currency string; nothing else may call this.
    """
    money: Money = _new(Money)
    _set_amount(money, amount)
    _set_currency(money, currency)
    _set_extra(money, extra)
    return money
