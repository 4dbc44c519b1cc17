"""Converters: round trips, tolerance of unknown fields and values, strictness, error paths."""

from __future__ import annotations

import decimal
import enum
import json
import math
import pickle
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, ClassVar

import attrs
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from qondor_invoicing import ResponseValidationError
from qondor_invoicing._convert import (
    ESSENTIAL,
    MAX_FRACTION_DIGITS,
    MAX_INTEGER_DIGITS,
    OpenStrEnum,
    camel_case,
    make_converter,
    parse_date,
    parse_datetime,
    parse_decimal,
    returns_unchanged,
    structure,
    wire_name,
)
from qondor_invoicing._convert.wire import _DATETIME_RE, _build_datetime


class Color(OpenStrEnum):
    RED = "red"
    DARK_BLUE = "darkBlue"


# Every field essential: these tests are about exact parsing (the incidental fields'
# tolerance is tested in test_convert_adversarial.py).
E: dict[str, Any] = {ESSENTIAL: True}


@attrs.frozen(kw_only=True)
class Line:
    article_code: str
    vat_rate: Decimal | None = attrs.field(default=None, metadata=E)
    quantity: int = attrs.field(default=1, metadata=E)
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class Doc:
    id: int
    total_amount: Decimal
    issue_date: date
    created_at: datetime
    color: Color
    is_paid: bool = attrs.field(default=False, metadata=E)
    lines: list[Line] = attrs.field(factory=list, metadata=E)
    external_ref: str | None = attrs.field(default=None, metadata={"wire": "ExtRef", **E})
    paid_at: datetime | None = attrs.field(default=None, metadata=E)
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class Plain:
    id: int
    name: str | None = None


CAMEL = make_converter("camel")
SNAKE = make_converter("snake")
STRICT_CAMEL = make_converter("camel", strict=True)
STRICT_SNAKE = make_converter("snake", strict=True)

CAMEL_WIRE = {
    "id": 12345,
    "totalAmount": "22.10",
    "issueDate": "2024-02-10",
    "createdAt": "2024-02-10T09:30:00.1234567Z",
    "color": "darkBlue",
    "isPaid": True,
    "lines": [{"articleCode": "ROOM-DLX", "vatRate": 12.5, "quantity": 2, "note": "x"}],
    "ExtRef": "FIN-2024-00789",
    "paidAt": None,
    "brandNewField": {"nested": [1, 2]},
}
SNAKE_WIRE = {
    "id": 7,
    "total_amount": 22.1,
    "issue_date": "2024-02-10",
    "created_at": "2024-02-10T10:30:00+01:00",
    "color": "red",
    "lines": [],
    "ExtRef": None,
    "unknown_thing": "kept",
}


def wire_names(naming: str) -> set[str]:
    return {wire_name(f, naming) for f in attrs.fields(Doc) if f.name != "extra"}  # type: ignore[arg-type]


# --- round trips -----------------------------------------------------------------------


def test_camel_round_trip() -> None:
    doc = structure(CAMEL, CAMEL_WIRE, Doc)
    assert doc.id == 12345
    assert doc.total_amount == Decimal("22.10")
    assert doc.issue_date == date(2024, 2, 10)
    assert doc.created_at == datetime(2024, 2, 10, 9, 30, 0, 123456, tzinfo=timezone.utc)
    assert doc.color is Color.DARK_BLUE
    assert doc.is_paid is True
    assert doc.lines == [
        Line(article_code="ROOM-DLX", vat_rate=Decimal("12.5"), quantity=2, extra={"note": "x"})
    ]
    assert doc.external_ref == "FIN-2024-00789"
    assert doc.extra == {"brandNewField": {"nested": [1, 2]}}

    wire = CAMEL.unstructure(doc)
    assert wire == {
        "id": 12345,
        "totalAmount": "22.10",
        "issueDate": "2024-02-10",
        "createdAt": "2024-02-10T09:30:00.123456+00:00",
        "color": "darkBlue",
        "isPaid": True,
        "lines": [{"articleCode": "ROOM-DLX", "vatRate": "12.5", "quantity": 2, "note": "x"}],
        "ExtRef": "FIN-2024-00789",
        "paidAt": None,
        "brandNewField": {"nested": [1, 2]},
    }
    assert structure(CAMEL, json.loads(json.dumps(wire)), Doc) == doc


def test_snake_round_trip() -> None:
    doc = structure(SNAKE, SNAKE_WIRE, Doc)
    assert doc.total_amount == Decimal("22.1")
    assert doc.created_at.utcoffset() == timedelta(hours=1)
    assert doc.extra == {"unknown_thing": "kept"}
    wire = SNAKE.unstructure(doc)
    assert wire["total_amount"] == "22.1"
    assert wire["ExtRef"] is None
    assert wire["unknown_thing"] == "kept"
    assert "extra" not in wire
    assert structure(SNAKE, wire, Doc) == doc


def test_wire_names() -> None:
    assert camel_case("external_reference") == "externalReference"
    assert camel_case("id") == "id"
    assert camel_case("a_b_c") == "aBC"
    assert wire_names("camel") == {
        "id",
        "totalAmount",
        "issueDate",
        "createdAt",
        "color",
        "isPaid",
        "lines",
        "ExtRef",
        "paidAt",
    }
    assert "total_amount" in wire_names("snake")
    assert "ExtRef" in wire_names("snake")


JSON_LEAVES = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
TZ = st.sampled_from(
    [None, timezone.utc, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
)
DATETIMES = st.builds(
    lambda dt, tz: dt.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)),
    TZ,
)
DECIMALS = st.decimals(
    allow_nan=False, allow_infinity=False, places=4, min_value=-(10**12), max_value=10**12
)
COLORS = st.one_of(st.sampled_from(list(Color)), st.text(max_size=10).map(Color))


def docs(naming: str) -> st.SearchStrategy[Doc]:
    known = wire_names(naming)
    return st.builds(
        Doc,
        id=st.integers(-(2**63), 2**63),
        total_amount=DECIMALS,
        issue_date=st.dates(),
        created_at=DATETIMES,
        color=COLORS,
        is_paid=st.booleans(),
        lines=st.lists(
            st.builds(
                Line,
                article_code=st.text(max_size=10),
                vat_rate=st.none() | DECIMALS,
                quantity=st.integers(0, 1000),
            ),
            max_size=3,
        ),
        external_ref=st.none() | st.text(max_size=10),
        paid_at=st.none() | DATETIMES,
        extra=st.dictionaries(
            st.text(max_size=12).filter(lambda k: k not in known), JSON_VALUES, max_size=4
        ),
    )


@pytest.mark.parametrize(("naming", "converter"), [("camel", CAMEL), ("snake", SNAKE)])
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_round_trip_property(naming: str, converter: Any, data: st.DataObject) -> None:
    doc = data.draw(docs(naming))
    wire = json.loads(json.dumps(converter.unstructure(doc)))
    assert structure(converter, wire, Doc) == doc


# --- tolerance: extra fields ------------------------------------------------------------


@pytest.mark.parametrize(
    ("naming", "lenient", "strict", "base"),
    [("camel", CAMEL, STRICT_CAMEL, CAMEL_WIRE), ("snake", SNAKE, STRICT_SNAKE, SNAKE_WIRE)],
)
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_extra_fields_land_in_extra_or_raise_when_strict(
    naming: str, lenient: Any, strict: Any, base: dict[str, Any], data: st.DataObject
) -> None:
    known = wire_names(naming)
    extras = data.draw(
        st.dictionaries(
            st.text(min_size=1, max_size=12).filter(lambda k: k not in known),
            JSON_VALUES,
            min_size=1,
            max_size=5,
        )
    )
    wire = {k: v for k, v in base.items() if k in known} | extras
    doc = structure(lenient, wire, Doc)
    assert doc.extra == extras
    assert lenient.unstructure(doc) == lenient.unstructure(attrs.evolve(doc)) | extras
    with pytest.raises(ResponseValidationError, match="extra fields found"):
        structure(strict, wire, Doc)


def test_without_an_extra_field_unknown_keys_are_dropped_leniently() -> None:
    assert structure(CAMEL, {"id": 1, "surprise": True}, Plain) == Plain(id=1)
    with pytest.raises(ResponseValidationError, match=r"extra fields found \(surprise\)"):
        structure(STRICT_CAMEL, {"id": 1, "surprise": True}, Plain)


def test_a_wire_key_named_extra_is_kept_too() -> None:
    doc = structure(CAMEL, {**CAMEL_WIRE, "extra": 5}, Doc)
    assert doc.extra["extra"] == 5


def test_strict_converter_accepts_exact_payloads() -> None:
    exact = {k: v for k, v in CAMEL_WIRE.items() if k != "brandNewField"}
    exact["lines"] = [{"articleCode": "A"}]
    assert structure(STRICT_CAMEL, exact, Doc).lines == [Line(article_code="A")]


# --- tolerance: enums ------------------------------------------------------------------


@given(st.text().filter(lambda v: v not in {c.value for c in Color}))
def test_unknown_enum_values_are_kept(value: str) -> None:
    doc = structure(CAMEL, {**CAMEL_WIRE, "color": value}, Doc)
    color = doc.color
    assert isinstance(color, Color)
    assert not color.is_known
    assert color.value == value
    assert color == value
    assert Color(value) is color
    assert str(color) == value
    assert value in repr(color) or repr(value) in repr(color)
    assert CAMEL.unstructure(doc)["color"] == value
    assert pickle.loads(pickle.dumps(color)) is color


def test_known_enum_members() -> None:
    assert Color("red") is Color.RED
    assert Color.RED.is_known
    assert Color.RED == "red"
    assert str(Color.DARK_BLUE) == "darkBlue"
    assert Color("purple") not in list(Color)
    assert len(list(Color)) == 2


def test_non_string_enum_value_is_a_validation_error() -> None:
    with pytest.raises(ResponseValidationError, match=r"\$\.color"):
        structure(CAMEL, {**CAMEL_WIRE, "color": 3}, Doc)


# --- decimals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("22.10", Decimal("22.10")),
        (" 22.10 ", Decimal("22.10")),
        ("-0.5", Decimal("-0.5")),
        ("1e3", Decimal("1000")),
        (22.1, Decimal("22.1")),
        (0.1, Decimal("0.1")),
        (1e-6, Decimal("1e-6")),
        (12, Decimal(12)),
        (10**17, Decimal(10**17)),
        ("-999999999999999999.999999", Decimal("-999999999999999999.999999")),
        (Decimal("3.14"), Decimal("3.14")),
    ],
)
def test_parse_decimal(value: Any, expected: Decimal) -> None:
    result = parse_decimal(value)
    assert result == expected
    if not (isinstance(value, str) and "e" in value):
        assert str(result) == str(expected)  # "22.10" keeps its trailing zero


@pytest.mark.parametrize(
    "value",
    [
        *(True, False, math.nan, math.inf, -math.inf),
        *("NaN", "Infinity", "sNaN", "1_000", "", "abc", "1,5"),
        # Beyond the bounds: 18 integer digits, 6 decimals.
        *("1e999999999", "1e-999999999", "1e18", 10**30, 1e-7, "0.0000001", "0E-7"),
        *("1" * 19, "0." + "1" * 7, "1" * 5000, Decimal("12345678901234567890")),
        *(None, [], {}),
    ],
)
def test_parse_decimal_refuses(value: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        parse_decimal(value)
    with pytest.raises(ResponseValidationError, match=r"\$\.totalAmount"):
        structure(CAMEL, {**CAMEL_WIRE, "totalAmount": value}, Doc)


def test_float_22_1_is_exact() -> None:
    assert parse_decimal(22.1) == Decimal("22.1")
    assert parse_decimal(22.1) != Decimal(22.1)  # noqa: RUF032 (the binary value, on purpose)


# --- dates and datetimes ---------------------------------------------------------------

UTC = timezone.utc


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-02-10T09:30:00Z", datetime(2024, 2, 10, 9, 30, tzinfo=UTC)),
        ("2024-02-10T09:30:00z", datetime(2024, 2, 10, 9, 30, tzinfo=UTC)),
        ("2024-02-10T09:30:00+00:00", datetime(2024, 2, 10, 9, 30, tzinfo=UTC)),
        (
            "2024-02-10T09:30:00+02:00",
            datetime(2024, 2, 10, 9, 30, tzinfo=timezone(timedelta(hours=2))),
        ),
        (
            "2024-02-10T09:30:00-05:30",
            datetime(2024, 2, 10, 9, 30, tzinfo=timezone(-timedelta(hours=5, minutes=30))),
        ),
        (
            "2024-02-10T09:30:00+0200",
            datetime(2024, 2, 10, 9, 30, tzinfo=timezone(timedelta(hours=2))),
        ),
        (
            "2024-02-10T09:30:00+02",
            datetime(2024, 2, 10, 9, 30, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("2024-02-10T09:30:00.1Z", datetime(2024, 2, 10, 9, 30, 0, 100000, tzinfo=UTC)),
        ("2024-02-10T09:30:00.12Z", datetime(2024, 2, 10, 9, 30, 0, 120000, tzinfo=UTC)),
        ("2024-02-10T09:30:00.123Z", datetime(2024, 2, 10, 9, 30, 0, 123000, tzinfo=UTC)),
        ("2024-02-10T09:30:00.1234Z", datetime(2024, 2, 10, 9, 30, 0, 123400, tzinfo=UTC)),
        ("2024-02-10T09:30:00.12345Z", datetime(2024, 2, 10, 9, 30, 0, 123450, tzinfo=UTC)),
        ("2024-02-10T09:30:00.123456Z", datetime(2024, 2, 10, 9, 30, 0, 123456, tzinfo=UTC)),
        ("2024-02-10T09:30:00.1234567Z", datetime(2024, 2, 10, 9, 30, 0, 123456, tzinfo=UTC)),
        ("2024-02-10T09:30:00.12345678Z", datetime(2024, 2, 10, 9, 30, 0, 123456, tzinfo=UTC)),
        ("2024-02-10T09:30:00.123456789Z", datetime(2024, 2, 10, 9, 30, 0, 123456, tzinfo=UTC)),
        ("2024-02-10T09:30:00,5Z", datetime(2024, 2, 10, 9, 30, 0, 500000, tzinfo=UTC)),
        ("2024-02-10T09:30:00", datetime(2024, 2, 10, 9, 30)),
        ("2024-02-10T09:30:00.1234567", datetime(2024, 2, 10, 9, 30, 0, 123456)),
        ("2024-02-10 09:30:00", datetime(2024, 2, 10, 9, 30)),
        ("2024-02-10T09:30", datetime(2024, 2, 10, 9, 30)),
        ("2024-02-10T09:30Z", datetime(2024, 2, 10, 9, 30, tzinfo=UTC)),
        ("2024-02-10", datetime(2024, 2, 10)),
        (" 2024-02-10T09:30:00Z ", datetime(2024, 2, 10, 9, 30, tzinfo=UTC)),
    ],
)
def test_parse_datetime_forms(value: str, expected: datetime) -> None:
    result = parse_datetime(value)
    assert result == expected
    assert result.tzinfo == expected.tzinfo
    doc = structure(CAMEL, {**CAMEL_WIRE, "createdAt": value}, Doc)
    assert doc.created_at == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-02-10", date(2024, 2, 10)),
        (" 2024-02-10 ", date(2024, 2, 10)),
        ("2024-02-10T23:30:00Z", date(2024, 2, 10)),
        ("2024-02-10T00:00:00.0000000", date(2024, 2, 10)),
        ("2024-02-10T01:00:00+05:00", date(2024, 2, 10)),
        (datetime(2024, 2, 10, 8), date(2024, 2, 10)),
        (date(2024, 2, 10), date(2024, 2, 10)),
    ],
)
def test_parse_date_forms(value: Any, expected: date) -> None:
    result = parse_date(value)
    assert result == expected
    assert type(result) is date


@pytest.mark.parametrize(
    "value",
    [
        "",
        "yesterday",
        "2024-13-01",
        "2024-02-30",
        "2024-02-10T25:00:00Z",
        "2024-02-10T09:60:00Z",
        "2024-02-10T09:30:00+25:00",
        "2024-02-10T09:30:00.Z",
        "10/02/2024",
        "2024-2-10",
        "\uff12\uff10\uff12\uff14-02-10",  # full-width digits
        "2024-02-10T09:30:00 Z",
        1707557400,
        None,
        True,
        [],
    ],
)
def test_malformed_dates_and_datetimes(value: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        parse_datetime(value)
    with pytest.raises((TypeError, ValueError)):
        parse_date(value)
    for key in ("createdAt", "issueDate"):
        with pytest.raises(ResponseValidationError, match=rf"\$\.{key}"):
            structure(CAMEL, {**CAMEL_WIRE, key: value}, Doc)


# --- malformed values always give ResponseValidationError --------------------------------

ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=15,
)


def attempt(converter: Any, data: Any, cls: Any) -> ResponseValidationError | None:
    """Structure, returning the error if any; any other exception fails the test."""
    try:
        structure(converter, data, cls)
    except ResponseValidationError as error:
        return error
    return None


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(data=ANY_JSON)
def test_arbitrary_json_documents(data: Any) -> None:
    for converter in (CAMEL, STRICT_CAMEL, SNAKE):
        for cls in (Doc, Plain, Line, list[Doc]):
            error = attempt(converter, data, cls)
            if error is not None:
                assert error.errors
                assert all(" @ $" in e for e in error.errors), error.errors


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(sorted(CAMEL_WIRE)), value=ANY_JSON)
def test_arbitrary_values_in_each_field(key: str, value: Any) -> None:
    error = attempt(CAMEL, {**CAMEL_WIRE, key: value}, Doc)
    if error is not None:
        assert all(e.endswith(f"@ $.{key}") or f"@ $.{key}[" in e for e in error.errors), (
            error.errors
        )
    error = attempt(STRICT_CAMEL, {**CAMEL_WIRE, key: value}, Doc)
    assert error is not None  # CAMEL_WIRE has extra fields
    assert error.errors


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(
    value=ANY_JSON,
    key=st.sampled_from(["articleCode", "vatRate", "quantity"]),
)
def test_arbitrary_values_in_nested_fields(key: str, value: Any) -> None:
    wire = {**CAMEL_WIRE, "lines": [{"articleCode": "A"}, {"articleCode": "B", key: value}]}
    error = attempt(CAMEL, wire, Doc)
    if error is not None:
        assert any(f"$.lines[1].{key}" in e for e in error.errors), error.errors


def test_values_are_not_coerced_silently() -> None:
    for key, value in [
        ("isPaid", "false"),
        ("isPaid", 2),
        ("id", 1.5),
        ("id", 12.0),
        ("id", "1_000"),
        ("id", "١٢"),
        ("id", True),
        ("id", "12a"),
        ("ExtRef", {"a": 1}),
        ("ExtRef", [1]),
        ("ExtRef", True),
    ]:
        with pytest.raises(ResponseValidationError, match=rf"\$\.{key}"):
            structure(CAMEL, {**CAMEL_WIRE, key: value}, Doc)


def test_harmless_coercions() -> None:
    doc = structure(CAMEL, {**CAMEL_WIRE, "id": " 12345 ", "ExtRef": 789}, Doc)
    assert doc.id == 12345
    assert doc.external_ref == "789"
    line = structure(CAMEL, {"articleCode": "A", "quantity": "-3"}, Line)
    assert line.quantity == -3


# --- error messages ------------------------------------------------------------------


def test_error_paths_use_wire_names_and_list_every_problem() -> None:
    wire = {
        **CAMEL_WIRE,
        "totalAmount": "twelve",
        "ExtRef": ["x"],
        "lines": [{"articleCode": "A"}, {"vatRate": "x"}],
    }
    del wire["issueDate"]
    with pytest.raises(ResponseValidationError) as info:
        structure(
            CAMEL,
            wire,
            Doc,
            body='{"raw": true}',
            method="GET",
            url="https://api.example.test/Invoice/1",
        )
    error = info.value
    assert error.method == "GET"
    assert error.url == "https://api.example.test/Invoice/1"
    assert error.body == '{"raw": true}'
    assert str(error).startswith(
        "response from GET https://api.example.test/Invoice/1 is not a valid Doc: "
    )
    paths = sorted(e.rsplit(" @ ", 1)[1] for e in error.errors)
    assert paths == sorted(
        [
            "$.totalAmount",
            "$.issueDate",
            "$.ExtRef",
            "$.lines[1].articleCode",
            "$.lines[1].vatRate",
        ]
    )
    messages = dict(reversed(e.rsplit(" @ ", 1)) for e in error.errors)
    assert messages["$.issueDate"] == "required field missing"
    assert messages["$.totalAmount"] == "not a decimal number: 'twelve'"


def test_snake_paths_and_what() -> None:
    with pytest.raises(ResponseValidationError) as info:
        structure(SNAKE, {**SNAKE_WIRE, "total_amount": None}, Doc, what="supplier invoice")
    assert str(info.value).startswith("response is not a valid supplier invoice: ")
    assert info.value.errors[0].endswith("@ $.total_amount")


def test_top_level_type_errors() -> None:
    for data in (None, [], "text", 3):
        with pytest.raises(ResponseValidationError, match=r"expected an object, got .* @ \$$"):
            structure(CAMEL, data, Doc)
    with pytest.raises(ResponseValidationError, match=r"\$\[1\]\.id"):
        structure(CAMEL, [{"id": 1}, {"id": "x"}], list[Plain])


def test_configure_hook_registers_api_specific_hooks() -> None:
    @attrs.frozen
    class Amount:
        value: Decimal
        currency: str

    def configure(conv: Any) -> None:
        conv.register_structure_hook(
            Amount, lambda v, _: Amount(parse_decimal(v["value"]), v["currency"])
        )

    conv = make_converter("snake", configure=configure)
    assert structure(conv, {"value": "1.50", "currency": "EUR"}, Amount) == Amount(
        Decimal("1.50"), "EUR"
    )
    with pytest.raises(ResponseValidationError):
        structure(conv, {"value": "x", "currency": "EUR"}, Amount)
    with pytest.raises(ResponseValidationError):
        structure(conv, {"currency": "EUR"}, Amount)


def test_non_finite_and_huge_numbers_in_integer_fields() -> None:
    for value in (1e308, math.inf, -math.inf, math.nan):
        with pytest.raises(ResponseValidationError, match=r"\$\.id"):
            structure(CAMEL, {**CAMEL_WIRE, "id": value}, Doc)
    assert structure(CAMEL, {**CAMEL_WIRE, "id": 10**400}, Doc).id == 10**400


def test_enums_survive_api_specific_str_and_int_hooks() -> None:
    def configure(conv: Any) -> None:
        conv.register_structure_hook(str, lambda v, _: v if isinstance(v, str) else str(v))
        conv.register_structure_hook(int, lambda v, _: int(v))

    conv = make_converter("camel", configure=configure)
    doc = structure(conv, CAMEL_WIRE, Doc)
    assert doc.color is Color.DARK_BLUE
    assert structure(conv, {**CAMEL_WIRE, "color": "teal"}, Doc).color.is_known is False
    assert structure(conv, {"level": 2, "mode": "on"}, Settings).level is Level.HIGH


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Mode(str, enum.Enum):
    ON = "on"


@attrs.frozen(kw_only=True)
class Settings:
    level: Level
    mode: Mode


def test_closed_enums_are_built_from_their_values() -> None:
    assert structure(CAMEL, {"level": 2, "mode": "on"}, Settings) == Settings(
        level=Level.HIGH, mode=Mode.ON
    )
    for wire in ({"level": 3, "mode": "on"}, {"level": 1, "mode": "off"}):
        with pytest.raises(ResponseValidationError, match="is not a valid"):
            structure(CAMEL, wire, Settings)


# --- the fast twin agrees with the detailed converter ----------------------------------


def outcome(converter: Any, data: Any, cls: Any) -> tuple[bool, Any]:
    try:
        return True, converter.structure(data, cls)
    except Exception:
        return False, None


DIFFERENTIAL_INPUTS = st.one_of(
    docs("camel").map(lambda d: json.loads(json.dumps(CAMEL.unstructure(d)))),
    st.builds(lambda k, v: {**CAMEL_WIRE, k: v}, st.sampled_from(sorted(CAMEL_WIRE)), ANY_JSON),
    st.builds(lambda v: {**CAMEL_WIRE, "lines": [{"articleCode": "A", "vatRate": v}]}, ANY_JSON),
    ANY_JSON,
)


@pytest.mark.parametrize("converter", [CAMEL, STRICT_CAMEL], ids=["lenient", "strict"])
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(wire=DIFFERENTIAL_INPUTS)
def test_fast_twin_agrees_with_the_detailed_converter(converter: Any, wire: Any) -> None:
    # `structure` answers from the fast twin when it succeeds, so it must never accept
    # what the detailed converter refuses, nor build anything different.
    for cls in (Doc, Plain, list[Line]):
        fast = outcome(converter.fast(), wire, cls)
        detailed = outcome(converter, wire, cls)
        assert fast == detailed, (fast, detailed)


# --- what the fast twin inlines: tuples, mappings, shorthands, marked hooks --------------


@attrs.frozen(kw_only=True)
class Ref:
    ref_id: str | None = None
    kind: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)

    __wire_shorthand__: ClassVar[str] = "ref_id"


@attrs.frozen(kw_only=True)
class Inlined:
    tags: tuple[str, ...] = ()
    refs: tuple[Ref, ...] | None = None
    reasons: Mapping[str, tuple[str, ...]] | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict)
    code: str | None = None
    count: int = 0


def _api_hooks(conv: Any) -> None:
    # An API whose strings may arrive as numbers (as Qondor's do).
    @returns_unchanged(str)
    def structure_str(value: Any, _: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        raise TypeError(f"expected a string, got {type(value).__name__}")

    conv.register_structure_hook(str, structure_str)


INLINED_CONVERTERS = [
    make_converter("snake"),
    make_converter("snake", strict=True),
    make_converter("snake", configure=_api_hooks),
]
INLINED_WIRE = {
    "tags": ["a", "b"],
    "refs": ["r-1", {"ref_id": "r-2", "kind": "transfer", "new": 1}],
    "reasons": {"pay": ["is_credit_note"], "delete": []},
    "raw": {"k": [1, {"x": None}]},
    "code": "C-1",
    "count": 3,
}


def test_inlined_shapes_structure_as_declared() -> None:
    conv = INLINED_CONVERTERS[0]
    value = structure(conv, INLINED_WIRE, Inlined)
    assert value.tags == ("a", "b")
    assert value.refs == (
        Ref(ref_id="r-1"),
        Ref(ref_id="r-2", kind="transfer", extra={"new": 1}),
    )
    assert value.reasons == {"pay": ("is_credit_note",), "delete": ()}
    assert value.raw == {"k": [1, {"x": None}]}
    assert type(value.raw) is dict
    assert value.raw is not INLINED_WIRE["raw"]
    numbers = structure(INLINED_CONVERTERS[2], {**INLINED_WIRE, "code": 7, "tags": [1]}, Inlined)
    assert (numbers.code, numbers.tags) == ("7", ("1",))
    with pytest.raises(ResponseValidationError, match=r"\$\.code"):
        structure(INLINED_CONVERTERS[2], {**INLINED_WIRE, "code": 7.5}, Inlined)
    with pytest.raises(ResponseValidationError, match=r"\$\.refs\[0\]"):
        structure(conv, {**INLINED_WIRE, "refs": [7.5]}, Inlined)


@pytest.mark.parametrize("converter", INLINED_CONVERTERS, ids=["lenient", "strict", "api-hooks"])
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    key=st.sampled_from(sorted(INLINED_WIRE)),
    value=ANY_JSON,
    inner=st.one_of(st.none(), ANY_JSON),
)
def test_fast_twin_agrees_on_inlined_shapes(
    converter: Any, key: str, value: Any, inner: Any
) -> None:
    wires: list[Any] = [{**INLINED_WIRE, key: value}]
    if inner is not None:
        # One level down: an item of a list, or a value of a mapping.
        nested = INLINED_WIRE[key]
        if isinstance(nested, list):
            wires.append({**INLINED_WIRE, key: [*nested, inner]})
        elif isinstance(nested, dict):
            wires.append({**INLINED_WIRE, key: {**nested, "extra": inner}})
    for wire in wires:
        fast = outcome(converter.fast(), wire, Inlined)
        detailed = outcome(converter, wire, Inlined)
        assert fast == detailed, (wire, fast, detailed)


def _datetime_by_regex(value: str) -> datetime:
    match = _DATETIME_RE.match(value.strip())
    if match is None:
        raise ValueError(value)
    return _build_datetime(match)


@settings(max_examples=500)
@given(
    st.one_of(
        st.text(st.sampled_from(list("0123456789-:T.Z+ z,\u0663")), min_size=18, max_size=34),
        st.builds(
            lambda f, z: "2022-03-04T17:58:30" + f + z,
            st.sampled_from(["", ".1", ".123456", ".1234567", ".", "x"]),
            st.sampled_from(["Z", "+02:00", "-11:30", "+0200", "+02", "z", "+02:00:00", " +02:00"]),
        ),
        st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    )
)
def test_parse_datetime_shortcut_reads_what_the_regex_reads(text: str) -> None:
    # The common shape skips the regex: it must accept and read exactly what it would.
    try:
        expected: Any = _datetime_by_regex(text)
    except ValueError:
        expected = ValueError
    try:
        got: Any = parse_datetime(text)
    except ValueError:
        got = ValueError
    assert got == expected
    if isinstance(got, datetime):
        assert got.utcoffset() == expected.utcoffset()


def _positive(instance: Any, attribute: Any, value: int) -> None:
    if value < 0:
        raise ValueError("must not be negative")


@attrs.frozen(kw_only=True)
class Guarded:
    count: int = attrs.field(validator=_positive)
    code: str = attrs.field(converter=str.upper)


@attrs.frozen(kw_only=True)
class Normalised:
    amount: Decimal | None = attrs.field(
        default=None, converter=attrs.converters.optional(parse_decimal)
    )
    tags: tuple[str, ...] = attrs.field(default=(), converter=tuple)


def test_fast_twin_runs_validators_and_unknown_converters() -> None:
    # Only models whose converters are declared skippable are built without __init__.
    conv = make_converter("snake")
    assert conv.fast().structure({"count": 1, "code": "ab"}, Guarded) == Guarded(count=1, code="AB")
    with pytest.raises(ResponseValidationError, match="not a valid Guarded"):
        structure(conv, {"count": -1, "code": "ab"}, Guarded)
    built = conv.fast().structure({"amount": "1.50", "tags": ["a"]}, Normalised)
    assert built == Normalised(amount=Decimal("1.50"), tags=("a",))
    assert conv.fast().structure({}, Normalised) == Normalised()


def _bounded_by_quantizing(value: Decimal) -> bool:
    # The rule as first written: quantized to 10**-6 without rounding, compared.
    adjusted = value.adjusted()
    context = decimal.Context(prec=MAX_INTEGER_DIGITS + MAX_FRACTION_DIGITS + 4, traps=[])
    return (
        -MAX_FRACTION_DIGITS <= adjusted < MAX_INTEGER_DIGITS
        and value.quantize(Decimal(1).scaleb(-MAX_FRACTION_DIGITS), context=context) == value
    )


@settings(max_examples=3000)
@given(
    digits=st.integers(min_value=0, max_value=10**22)
    | st.integers(0, 10**4).map(lambda d: d * 10**9),
    exponent=st.integers(min_value=-14, max_value=8),
    negative=st.booleans(),
    form=st.sampled_from(["decimal", "text", "int"]),
)
def test_decimal_bounds_shortcut_agrees_with_quantizing(
    digits: int, exponent: int, negative: bool, form: str
) -> None:
    # The fast paths (a Decimal or an int checked in place, short text) and the exact
    # test behind them accept exactly what the rule as first written accepts.
    value = Decimal((int(negative), tuple(int(c) for c in str(digits)), exponent))
    if form == "int":
        assume(exponent >= 0)
        wire: Any = int(value)
    else:
        wire = str(value) if form == "text" else value
    try:
        result = parse_decimal(wire)
        accepted = True
    except ValueError:
        accepted = False
    assert accepted == _bounded_by_quantizing(value), value
    if accepted:
        assert result == value
        if form == "decimal":
            assert result is wire  # returned as it is


@settings(max_examples=1000)
@given(
    text=st.lists(st.sampled_from("0123456789-W:T+Z \u0663x"), min_size=10, max_size=10).map(
        "".join
    )
    | st.dates().map(date.isoformat)
)
def test_date_shortcut_reads_what_the_regex_path_reads(text: str) -> None:
    from qondor_invoicing._convert.wire import _DATE_RE

    def by_regex(value: str) -> date | None:
        if _DATE_RE.match(value) is None:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None

    try:
        got: date | None = parse_date(text)
    except ValueError:
        got = None
    if text.strip() == text:
        assert got == by_regex(text), text
