"""The Qonto list filters: their vocabularies, their checks and how they go on the wire.

`list_params` checks every filter of ``supplier_invoices.list`` before anything is sent and
returns the query parameters; `path_id` checks an invoice id that goes in a URL path. The
vocabularies (due-date and period values, document types, query fields, sort properties,
the payable-amount pattern) are the ones a server implementing these filters needs too.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timezone
from typing import Any, Literal, TypeAlias
from urllib.parse import quote

from ..errors import InvalidInputError
from ..money import Money
from .models import SupplierInvoice, SupplierInvoiceStatus

__all__ = [
    "ARRAY_FILTER_SUFFIX",
    "DOCUMENT_TYPES",
    "DUE_DATES",
    "PAYABLE_AMOUNT",
    "QUERY_FIELDS",
    "QUERY_FIELDS_SEPARATOR",
    "RELATIVE_DATES",
    "SORT_PROPERTIES",
    "DocumentTypeFilter",
    "DueDateFilter",
    "InvoiceRef",
    "PayableAmountFilter",
    "QueryField",
    "RelativeDateFilter",
    "StatusFilter",
    "list_params",
    "path_id",
]

ARRAY_FILTER_SUFFIX = "[]"
"""How a filter with several values is spelled on the wire: the one place to change it.

Qonto's list page says a filter "provided multiple times is parsed as an array", which
reads as ``filter[status]=a&filter[status]=b``; qontoctl, validated against the live API,
sends ``filter[status][]=a&filter[status][]=b``, which is also the only form a Rails (Rack)
server parses as an array (with repeated plain keys Rack keeps the last value, silently
narrowing the filter). The library therefore sends the ``[]`` form. Set this to ``""`` for
the repeated form.
"""

QUERY_FIELDS_SEPARATOR = ","
"""``query_fields`` is one parameter; several fields are joined with this separator."""

DueDateFilter: TypeAlias = Literal["past_and_today", "future", "missing_date"]
RelativeDateFilter: TypeAlias = Literal[
    "today", "yesterday", "this_week", "past_week", "this_month", "past_month"
]
DocumentTypeFilter: TypeAlias = Literal["duplicates", "non_financial_documents"]
QueryField: TypeAlias = Literal["supplier_name", "amount", "file_name", "invoice_number"]
PayableAmountFilter: TypeAlias = "str | tuple[Literal['lte', 'gte'], Money]"
StatusFilter: TypeAlias = "SupplierInvoiceStatus | str | Iterable[SupplierInvoiceStatus | str]"
InvoiceRef: TypeAlias = "SupplierInvoice | str | uuid.UUID"

DUE_DATES = frozenset({"past_and_today", "future", "missing_date"})
RELATIVE_DATES = frozenset(
    {"today", "yesterday", "this_week", "past_week", "this_month", "past_month"}
)
DOCUMENT_TYPES = frozenset({"duplicates", "non_financial_documents"})
QUERY_FIELDS = frozenset({"supplier_name", "amount", "file_name", "invoice_number"})
SORT_PROPERTIES = frozenset(
    {
        "created_at",
        "file_name",
        "supplier_name",
        "payment_date",
        "due_date",
        "scheduled_date",
        "total_amount",
        # Not in the list page's table, but Qonto's sync guide sorts by it.
        "updated_at",
    }
)
PAYABLE_AMOUNT = re.compile(r"^(lte|gte):\d+(\.\d+)?:[A-Z]{3}$")

# ``\s`` is exactly ``str.isspace()`` (Unicode whitespace); then ASCII control characters.
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")
# Letters, digits, "-" and "_": what `quote` leaves as it is and the checks never refuse.
_PLAIN_ID = re.compile(r"[A-Za-z0-9_-]+")


def path_id(invoice: InvoiceRef, field: str = "invoice_id") -> str:
    """Return an invoice id percent-encoded for a URL path, refusing anything path-like.

    Args:
        invoice: A `SupplierInvoice`, an id string or a `uuid.UUID`.
        field: The argument name to report.

    Raises:
        InvalidInputError: Empty, whitespace, control characters, ``/``, ``\\``, ``?``,
            ``#`` or ``..``: nothing is sent.
    """
    value: object = invoice.id if isinstance(invoice, SupplierInvoice) else invoice
    if type(value) is str and _PLAIN_ID.fullmatch(value) is not None:
        return value  # the common shape (a UUID): nothing to refuse, nothing to escape
    if isinstance(value, uuid.UUID):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidInputError(
            field, f"must be an id string, not {type(value).__name__}", value=value
        )
    if not value:
        raise InvalidInputError(field, "must not be empty", value=value)
    if _SPACE_OR_CONTROL.search(value) is not None:
        raise InvalidInputError(
            field, "must not contain whitespace or control characters", value=value
        )
    if any(ch in value for ch in "/\\?#") or ".." in value or value == ".":
        raise InvalidInputError(
            field,
            "must not contain '/', '\\', '?', '#' or '..' (it goes in the URL path)",
            value=value,
        )
    return quote(value, safe="")


def _one_or_many(value: Any) -> list[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return [value]
    return list(value)


def _array(name: str, values: Sequence[str]) -> list[tuple[str, str]]:
    return [(f"filter[{name}]{ARRAY_FILTER_SUFFIX}", v) for v in values]


def _choice(field: str, value: Any, allowed: frozenset[str]) -> str:
    if isinstance(value, str) and value in allowed:
        return value
    raise InvalidInputError(field, f"must be one of {', '.join(sorted(allowed))}", value=value)


def _choices(field: str, value: Any, allowed: frozenset[str]) -> list[str]:
    values = [_choice(field, v, allowed) for v in _one_or_many(value)]
    if not values:
        raise InvalidInputError(field, "must not be empty (pass None for no filter)", value=value)
    return values


def _rfc3339(field: str, value: Any) -> str:
    if not isinstance(value, datetime):
        raise InvalidInputError(field, "must be a datetime", value=value)
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError(
            field, "must be timezone-aware (a naive datetime is ambiguous)", value=value
        )
    utc = value.astimezone(timezone.utc)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}"
    return text + "Z"


def _flag(field: str, value: Any) -> str:
    if not isinstance(value, bool):
        raise InvalidInputError(field, "must be True or False", value=value)
    return "true" if value else "false"


def _text(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(field, "must be a non-empty string", value=value)
    return value


def _status_values(value: Any) -> list[str]:
    values = []
    for v in _one_or_many(value):
        if isinstance(v, SupplierInvoiceStatus):
            values.append(v.value)
        elif isinstance(v, str) and v.strip():
            # Open enum: a status the library does not know yet may still be filtered on.
            values.append(v)
        else:
            raise InvalidInputError("status", "must be statuses or status strings", value=v)
    if not values:
        raise InvalidInputError("status", "must not be empty (pass None for no filter)")
    return values


def _payable_amount(value: Any) -> str:
    if isinstance(value, tuple) and len(value) == 2:
        op, money = value
        if op not in ("lte", "gte") or not isinstance(money, Money):
            raise InvalidInputError(
                "payable_amount", "expected ('lte' | 'gte', Money)", value=value
            )
        if money.amount < 0:
            raise InvalidInputError("payable_amount", "must not be negative", value=value)
        return f"{op}:{format(money.amount, 'f')}:{money.currency}"
    if isinstance(value, str) and PAYABLE_AMOUNT.match(value):
        return value
    raise InvalidInputError(
        "payable_amount",
        "expected 'lte:<amount>:<CUR>' / 'gte:<amount>:<CUR>' (e.g. 'lte:100.00:EUR') or "
        "('lte' | 'gte', Money)",
        value=value,
    )


def _sort_by(value: Any) -> str:
    if isinstance(value, str):
        prop, sep, direction = value.partition(":")
        if sep and prop in SORT_PROPERTIES and direction in ("asc", "desc"):
            return value
    raise InvalidInputError(
        "sort_by",
        f"expected '<property>:asc' or '<property>:desc' with property one of "
        f"{', '.join(sorted(SORT_PROPERTIES))}",
        value=value,
    )


def list_params(**f: Any) -> Sequence[tuple[str, str]]:
    """Check the filters of `SupplierInvoices.list` and return its query parameters.

    Raises:
        InvalidInputError: A filter value is refused (nothing is sent).
    """
    params: list[tuple[str, str]] = []
    if f["status"] is not None:
        params += _array("status", _status_values(f["status"]))
    if f["due_date"] is not None:
        values = _choices("due_date", f["due_date"], DUE_DATES)
        if isinstance(f["due_date"], str):
            params.append(("filter[due_date]", values[0]))
        else:
            params += _array("due_date", values)
    if f["attachment_id"] is not None:
        if isinstance(f["attachment_id"], str):
            params.append(("filter[attachment_id]", _text("attachment_id", f["attachment_id"])))
        else:
            ids = [_text("attachment_id", v) for v in f["attachment_id"]]
            if not ids:
                raise InvalidInputError("attachment_id", "must not be empty")
            params += _array("attachment_id", ids)
    for name in ("created_at_from", "created_at_to", "updated_at_from", "updated_at_to"):
        if f[name] is not None:
            params.append((f"filter[{name}]", _rfc3339(name, f[name])))
    for name in ("payment_date", "issue_date"):
        if f[name] is not None:
            params.append((f"filter[{name}]", _choice(name, f[name], RELATIVE_DATES)))
    if f["issue_date_from"] is not None:
        value = f["issue_date_from"]
        if not isinstance(value, date) or isinstance(value, datetime):
            raise InvalidInputError("issue_date_from", "must be a date", value=value)
        params.append(("filter[issue_date_from]", value.isoformat()))
    for name in ("missing_data", "matched_transactions"):
        if f[name] is not None:
            params.append((f"filter[{name}]", _flag(name, f[name])))
    if f["document_type"] is not None:
        values = _choices("document_type", f["document_type"], DOCUMENT_TYPES)
        if isinstance(f["document_type"], str):
            params.append(("filter[document_type]", values[0]))
        else:
            params += _array("document_type", values)
    if f["approver_id"] is not None:
        ids = [_text("approver_id", v) for v in _one_or_many(f["approver_id"])]
        if not ids:
            raise InvalidInputError("approver_id", "must not be empty")
        params += _array("approver_id", ids)
    if f["exclude_credit_notes"] is not None:
        params.append(
            (
                "filter[exclude_credit_notes]",
                _flag("exclude_credit_notes", f["exclude_credit_notes"]),
            )
        )
    if f["payable_amount"] is not None:
        params.append(("filter[payable_amount]", _payable_amount(f["payable_amount"])))
    if f["query"] is not None:
        params.append(("query", _text("query", f["query"])))
    if f["query_fields"] is not None:
        if f["query"] is None:
            raise InvalidInputError("query_fields", "has no effect without query=")
        fields = _choices("query_fields", f["query_fields"], QUERY_FIELDS)
        params.append(("query_fields", QUERY_FIELDS_SEPARATOR.join(fields)))
    if f["sort_by"] is not None:
        params.append(("sort_by", _sort_by(f["sort_by"])))
    return params
