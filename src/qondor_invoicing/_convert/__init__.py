"""cattrs converters: a lenient one for responses and a strict twin for tests.

Models are attrs classes with snake_case attributes; wire names are decided here (camelCase
for Qondor, snake_case for Qonto), never in the models. A model that declares an ``extra``
field receives every wire key it does not know there, so nothing the server sends is lost.

- `wire`: parsers of wire values (decimals, dates, datetimes), open enums, wire names;
- `fast`: the fast twin, structure functions generated per model;
- `converter`: `make_converter` and `structure`, with readable error descriptions.
"""

from .converter import make_converter, structure
from .fast import returns_unchanged, skippable_converter
from .wire import (
    ESSENTIAL,
    EXTRA_FIELD,
    MAX_FRACTION_DIGITS,
    MAX_INTEGER_DIGITS,
    SHORTHAND_ATTRIBUTE,
    Naming,
    OpenStrEnum,
    camel_case,
    json_type,
    parse_date,
    parse_datetime,
    parse_decimal,
    wire_name,
)

__all__ = [
    "ESSENTIAL",
    "EXTRA_FIELD",
    "MAX_FRACTION_DIGITS",
    "MAX_INTEGER_DIGITS",
    "SHORTHAND_ATTRIBUTE",
    "Naming",
    "OpenStrEnum",
    "camel_case",
    "json_type",
    "make_converter",
    "parse_date",
    "parse_datetime",
    "parse_decimal",
    "returns_unchanged",
    "skippable_converter",
    "structure",
    "wire_name",
]
