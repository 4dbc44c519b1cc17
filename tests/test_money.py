"""Money: exact amounts, no floats, no mixing of currencies."""

from __future__ import annotations

import pickle
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from qondor_invoicing import Money


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("22.10", Decimal("22.10")),
        (Decimal("-5.5"), Decimal("-5.5")),
        (12, Decimal(12)),
        ("0", Decimal(0)),
        (" 7.25 ", Decimal("7.25")),
    ],
)
def test_accepts_exact_amounts(amount: object, expected: Decimal) -> None:
    money = Money(amount, "EUR")  # type: ignore[arg-type]
    assert money.amount == expected
    assert isinstance(money.amount, Decimal)
    assert money.currency == "EUR"


@pytest.mark.parametrize("amount", [22.1, 0.0, True, False])
def test_refuses_floats_and_booleans(amount: object) -> None:
    with pytest.raises(TypeError, match="must be Decimal, int or str"):
        Money(amount, "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", ["abc", "", "NaN", "Infinity", "-inf", Decimal("NaN"), None])
def test_refuses_non_numbers(amount: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        Money(amount, "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize("currency", ["", "   ", None, 978])
def test_requires_a_currency(currency: object) -> None:
    with pytest.raises(ValueError, match="currency"):
        Money("1", currency)  # type: ignore[arg-type]


def test_arithmetic() -> None:
    a = Money("22.10", "NOK")
    b = Money("0.90", "NOK")
    assert a + b == Money("23.00", "NOK")
    assert a - b == Money("21.20", "NOK")
    assert -a == Money("-22.10", "NOK")
    assert (a + b).amount == Decimal("23.00")
    assert str(a + b) == "23.00 NOK"


def test_currency_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot combine EUR and NOK"):
        Money("1", "EUR") + Money("1", "NOK")
    with pytest.raises(ValueError, match="cannot combine"):
        Money("1", "EUR") - Money("1", "NOK")


def test_arithmetic_with_other_types_is_refused() -> None:
    with pytest.raises(TypeError):
        Money("1", "EUR") + 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        Money("1", "EUR") - Decimal(1)  # type: ignore[operator]
    with pytest.raises(TypeError):
        1.5 + Money("1", "EUR")  # type: ignore[operator]


def test_value_semantics() -> None:
    assert Money("1.0", "EUR") == Money("1.00", "EUR")
    assert hash(Money("1.0", "EUR")) == hash(Money("1.00", "EUR"))
    assert Money("1", "EUR") != Money("1", "NOK")
    assert repr(Money("1.50", "EUR")) == "Money(amount=Decimal('1.50'), currency='EUR')"
    assert pickle.loads(pickle.dumps(Money("3.30", "EUR"))) == Money("3.30", "EUR")
    with pytest.raises(AttributeError):
        Money("1", "EUR").amount = Decimal(2)  # type: ignore[misc]


AMOUNTS = st.decimals(
    allow_nan=False, allow_infinity=False, places=2, min_value=-(10**12), max_value=10**12
)


@given(AMOUNTS, AMOUNTS, AMOUNTS)
def test_addition_is_exact_and_associative(a: Decimal, b: Decimal, c: Decimal) -> None:
    x, y, z = Money(a, "EUR"), Money(b, "EUR"), Money(c, "EUR")
    assert (x + y) + z == x + (y + z)
    assert (x + y) - y == x
    assert x + (-x) == Money(0, "EUR")


_PIECES = ["1", "0", "9", "25", ".", "-", "+", "_", "e", "E", " ", "\t", "NaN", "Inf", "\u0663"]


@example(text="1_0", currency="EUR")
@example(text="1e5", currency="EUR")
@example(text="1E-9", currency="EUR")
@example(text="-NaN", currency="EUR")
@example(text="0.1234567", currency="EUR")
@example(text="1234567890123456789", currency="EUR")
@given(
    text=st.lists(st.sampled_from(_PIECES), max_size=7).map("".join),
    currency=st.sampled_from(["EUR", "eur", "", " ", "E R", "\u20ac", "NOK "]),
)
def test_a_wire_amount_reads_the_same_on_the_short_path(text: str, currency: str) -> None:
    # Qonto's converter reads {"value": "22.10", "currency": "EUR"} on a short path; the
    # verdict and the value are those of the full one (parse_decimal and Money's checks).
    from qondor_invoicing._convert import parse_decimal
    from qondor_invoicing.qonto.models import converter

    try:
        expected: Money | None = Money(parse_decimal(text), currency)
    except (ValueError, TypeError):
        expected = None
    try:
        got: Money | None = converter.structure({"value": text, "currency": currency}, Money)
    except Exception:
        got = None
    assert got == expected
    if got is not None and expected is not None:
        assert str(got.amount) == str(expected.amount)
        assert got.extra == {}
