"""How a Qondor payload is read: the spellings of each field, and the few irregular parts.

Each model field has a wire name (its camelCase name) and the other spellings a plausible
Qondor payload may use. The converter reads them (`WIRE_ALIASES`, see `_convert.aliases`):
the best-ranked spelling present with a non-null value wins, every spelling present is
consumed (the payload as a whole stays in ``Invoice.raw``). What is not a plain alias is
prepared by `invoice_fields`: the currency (several keys, ISO 4217 numeric codes), and a
customer sent as a string or flat on the invoice. The keys the resolver reads and the
currency keys are ignored by the converter (`ignored_keys`): they are not kept in ``extra``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .models import Customer, Invoice, InvoiceKind, InvoiceLine, InvoiceState

__all__ = ["WIRE_ALIASES", "ignored_keys", "invoice_fields"]

_LINES_KEYS: Final = ("lines", "invoiceLines", "specificationLines", "lineItems", "rows", "items")
_INVOICE_ALIASES: Final[Mapping[str, tuple[str, ...]]] = {
    "id": ("id", "invoiceId", "paymentId"),
    "invoiceNumber": ("invoiceNumber", "invoiceNo", "number"),
    "projectId": ("projectId",),
    "projectNumber": ("projectNumber", "projectNo"),
    "lines": _LINES_KEYS,
    "totalExclVat": ("totalExclVat", "totalAmountExclVat", "amountExclVat", "sumExclVat"),
    "totalVat": ("totalVat", "totalVatAmount", "vatAmount", "sumVat"),
    "totalInclVat": (
        "totalInclVat",
        "totalAmountInclVat",
        "amountInclVat",
        "totalAmount",
        "sumInclVat",
    ),
    "issueDate": ("issueDate", "invoiceDate", "date"),
    "dueDate": ("dueDate",),
    "paidDate": ("paidDate", "paymentDate"),
    "externalReference": ("externalReference",),
    "failureMessage": ("failureMessage", "errorMessage"),
    "creditedInvoiceId": (
        "creditedInvoiceId",
        "originalInvoiceId",
        "creditNoteForInvoiceId",
        "creditedPaymentId",
    ),
}
_LINE_ALIASES: Final[Mapping[str, tuple[str, ...]]] = {
    "description": ("description", "text", "name", "lineText", "productName"),
    "articleCode": ("articleCode", "artNo", "articleNumber", "articleNo", "productCode"),
    "articleCategory": ("articleCategory", "category", "articleCategoryName", "productCategory"),
    "quantity": ("quantity", "qty", "count"),
    "unitPrice": ("unitPrice", "unitPriceExclVat", "price"),
    "amountExclVat": ("amountExclVat", "totalExclVat", "lineTotalExclVat", "netAmount"),
    "vatRate": ("vatRate", "vatPercentage", "vatPercent"),
    "vatAmount": ("vatAmount", "totalVat", "vatSum"),
    "amountInclVat": ("amountInclVat", "totalInclVat", "lineTotalInclVat", "grossAmount"),
    "accountCode": ("accountCode", "accountNumber", "accountNo", "account"),
}
_CUSTOMER_ALIASES: Final[Mapping[str, tuple[str, ...]]] = {
    "id": ("id", "customerId"),
    "number": ("number", "customerNumber", "customerNo"),
    "name": ("name", "customerName"),
    "externalReference": ("externalReference", "customerExternalReference"),
    "organisationNumber": ("organisationNumber", "organizationNumber", "orgNumber", "orgNo"),
    "vatNumber": ("vatNumber", "vatNo"),
    "email": ("email", "invoiceEmail"),
}
#: The spellings the converter reads each model's fields under (``make_converter(aliases=)``).
WIRE_ALIASES: Final[Mapping[type, Mapping[str, tuple[str, ...]]]] = {
    Invoice: _INVOICE_ALIASES,
    InvoiceLine: _LINE_ALIASES,
    Customer: _CUSTOMER_ALIASES,
}

_CURRENCY_KEYS: Final = ("currency", "invoiceCurrency", "currencyCode", "invoiceCurrencyCode")
# ISO 4217 numeric codes Qondor offices plausibly invoice in (the API sends 578 for NOK).
_ISO_NUMERIC: Final = {578: "NOK", 752: "SEK", 208: "DKK", 978: "EUR", 840: "USD", 826: "GBP"}
# Customer fields sent flat on the invoice rather than as a nested object (read only when
# there is no nested one; then they are consumed).
_FLAT_CUSTOMER: Final[Mapping[str, tuple[str, ...]]] = {
    "id": ("customerId",),
    "number": ("customerNumber", "customerNo"),
    "name": ("customerName",),
    "externalReference": ("customerExternalReference",),
    "organisationNumber": ("organisationNumber", "organizationNumber", "customerOrgNumber"),
    "vatNumber": ("vatNumber", "customerVatNumber"),
    "email": ("invoiceEmail", "customerEmail"),
}


def ignored_keys(resolver_keys: frozenset[str]) -> frozenset[str]:
    """The payload keys the converter ignores (``make_converter(ignored={Invoice: ...})``):
    those the resolver reads (``resolver_keys``) and the currency keys (the converter reads
    a key an `Invoice` field is read from all the same)."""
    return resolver_keys | frozenset(_CURRENCY_KEYS)


def invoice_fields(
    payload: Mapping[str, Any],
    kind: InvoiceKind,
    state: InvoiceState,
    resolver_keys: frozenset[str],
) -> dict[str, Any]:
    """What the converter structures an `Invoice` from: a copy of ``payload`` with the kind,
    the state, the payload itself (``raw``) and the currency set, and the customer as an
    object (or missing). Aliased fields are read by the converter itself.

    Args:
        payload: The payment as decoded from JSON.
        kind: Its kind, as resolved.
        state: Its state, as resolved.
        resolver_keys: Every key the resolver may read.

    Returns:
        A new dict (``payload`` is not changed).
    """
    data = dict(payload)  # copied in C; only the few keys below are touched
    data["kind"] = kind
    data["state"] = state
    data["raw"] = payload
    data["currency"] = _currency(payload)
    nested = payload.get("customer")
    if type(nested) is not dict:
        _customer_not_nested(data, payload, nested, resolver_keys)
    return data


def _customer_not_nested(
    data: dict[str, Any], payload: Mapping[str, Any], nested: Any, resolver_keys: frozenset[str]
) -> None:
    if isinstance(nested, Mapping):
        return  # a nested object all the same
    if isinstance(nested, str):
        data["customer"] = {"name": nested}
    elif nested is None:
        data.pop("customer", None)
        flat, consumed = _flat_customer(payload)
        for key in consumed:
            data.pop(key, None)
        if flat:
            data["customer"] = flat
    elif "customer" in resolver_keys:
        del data["customer"]  # something else, read by the resolver: not a customer
    # Else something else: the converter says what is wrong with it.


def _flat_customer(payload: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """The customer fields sent flat on the invoice (the best-ranked non-null spelling of
    each) under the customer's wire names, and every spelling present."""
    picked: dict[str, Any] = {}
    consumed: set[str] = set()
    for wire, names in _FLAT_CUSTOMER.items():
        for name in names:
            if name in payload:
                consumed.add(name)
                value = payload[name]
                if value is not None and wire not in picked:
                    picked[wire] = value
    return picked, consumed


# Currency texts seen, normalised ("" for one that names no currency): a few distinct ones.
_CURRENCY_TEXTS: dict[str, str] = {}
_MAX_CURRENCY_TEXTS: Final = 256
_MAX_TEXT: Final = 16  # longer texts are not kept


def _currency(data: Mapping[str, Any]) -> str | None:
    """The first currency key that names a currency: a code (upper-cased) or an ISO 4217
    numeric code (as a number or digits)."""
    for key in _CURRENCY_KEYS:
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, str):
            code = _CURRENCY_TEXTS.get(value)
            if code is None:
                code = _currency_text(value)
                if len(value) <= _MAX_TEXT and len(_CURRENCY_TEXTS) < _MAX_CURRENCY_TEXTS:
                    _CURRENCY_TEXTS[value] = code
            if code:
                return code
        elif isinstance(value, int) and not isinstance(value, bool) and value in _ISO_NUMERIC:
            return _ISO_NUMERIC[value]
    return None


def _currency_text(value: str) -> str:
    text = value.strip()
    if not text:
        return ""
    if not (text.isascii() and text.isdigit()):
        return text.upper()
    # An ISO 4217 numeric code (three digits); int() of a long one would raise.
    return _ISO_NUMERIC.get(int(text), "") if len(text) <= 4 else ""
