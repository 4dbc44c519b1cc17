"""Models of the Qondor Invoicing API: payments, their kind, their state, the actions on them.

Qondor calls every item of its processing queue a *payment*: an invoice specification, a
credit card payment or a credit note. The library calls the model `Invoice`, after the API's
``Invoice/...`` routes.

The wire schema of the Invoice object is not public. The fields below are the plausible ones
(customer, project, lines with article code and VAT, totals, currency); every one of them is
optional, the payload as received is kept in `Invoice.raw`, and keys the library does not
recognise are kept in `Invoice.extra`. See the Qondor guide ("What the library assumes about
the wire format") for how payloads are read.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

import attrs

from .._convert import ESSENTIAL, OpenStrEnum, parse_decimal, skippable_converter
from .._render import cell, html_table, model_html, model_repr, records_html
from .._request_id import CarriesRequestId, RequestIdSlot
from ..money import Money

if TYPE_CHECKING:
    from .._states import RuleTable

__all__ = [
    "Customer",
    "Invoice",
    "InvoiceAction",
    "InvoiceKind",
    "InvoiceLine",
    "InvoiceList",
    "InvoiceState",
]


class InvoiceKind(str, enum.Enum):
    """What kind of payment a project manager issued in Qondor.

    ``UNKNOWN`` is used when the payload does not say in a way the resolver recognises; in
    strict mode (the default) every rule that depends on the kind refuses it.
    """

    INVOICE_SPECIFICATION = "invoice_specification"
    CREDIT_CARD_PAYMENT = "credit_card_payment"
    CREDIT_NOTE = "credit_note"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


class InvoiceState(OpenStrEnum):
    """Where a payment is in Qondor's processing flow.

    A state the resolver cannot read is kept as an unknown pseudo-member
    (``state.is_known is False``, ``state.value`` is the raw text, or ``"not reported"``
    when the payload has no state at all). No rule allows any action from an unknown state,
    so nothing is ever sent for a payment whose state the library could not determine.
    """

    UNPROCESSED = "unprocessed"
    PROCESSED = "processed"
    FAILED = "failed"
    PAID = "paid"


class InvoiceAction(str, enum.Enum):
    """A state change the Invoicing API offers (one ``PUT Invoice/SetAs...`` endpoint each)."""

    SET_AS_PROCESSED = "set_as_processed"
    SET_AS_FAILED = "set_as_failed"
    SET_AS_PAID = "set_as_paid"
    SET_AS_UNPROCESSED = "set_as_unprocessed"

    @property
    def endpoint(self) -> str:
        """The API route of the action, relative to ``Invoice/`` (e.g. ``"SetAsProcessed"``)."""
        return "".join(part.capitalize() for part in self.value.split("_"))

    def __str__(self) -> str:
        return self.value


def _optional_decimal(value: Decimal | int | str | None) -> Decimal | None:
    if value is None:
        return None
    if type(value) is Decimal and value.is_finite():
        return value  # already parsed (the converter's hook ran first)
    if isinstance(value, float):
        # Floats carry binary rounding errors: amounts are built from strings or Decimals.
        raise TypeError("amounts must be Decimal, int or str, not float")
    return parse_decimal(value)


def _dict(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value) if value else {}


# Both return what the converters' fast path already produced (a finite Decimal, a new dict).
skippable_converter(_optional_decimal)
skippable_converter(_dict)

# Fields the rules, validators and reconciler read: parsed exactly or the payment is refused
# with a ResponseValidationError. Every other optional field is incidental: a value of an
# unexpected shape is kept as received in ``extra`` (and logged) instead.
_ESSENTIAL: Final[Mapping[str, Any]] = {ESSENTIAL: True}


@attrs.frozen(kw_only=True)
class Customer:
    """The customer a payment is issued to.

    Attributes:
        id: Qondor's id of the customer record.
        number: The customer number (a string in Qondor, e.g. ``"10045"``).
        name: The customer's name.
        external_reference: The customer's reference in your systems, as stored in Qondor.
        organisation_number: The organisation number (e.g. Norwegian ``"987654321"``).
        vat_number: The VAT number.
        email: The invoice e-mail address.
        extra: Wire keys the library does not recognise, as received.
    """

    id: int | None = attrs.field(default=None, metadata=_ESSENTIAL)
    number: str | None = attrs.field(default=None, metadata=_ESSENTIAL)
    name: str | None = attrs.field(default=None, metadata=_ESSENTIAL)
    external_reference: str | None = attrs.field(default=None, metadata=_ESSENTIAL)
    organisation_number: str | None = attrs.field(default=None, metadata=_ESSENTIAL)
    vat_number: str | None = attrs.field(default=None, metadata=_ESSENTIAL)
    email: str | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, converter=_dict, hash=False)

    def __repr__(self) -> str:
        return model_repr(self, _CUSTOMER_FIELDS)

    def _repr_html_(self) -> str:
        return model_html(self)


_CUSTOMER_FIELDS = (
    "name",
    "number",
    "external_reference",
    "id",
    "organisation_number",
    "vat_number",
    "email",
)


@attrs.frozen(kw_only=True)
class InvoiceLine:
    """One line of a payment.

    Attributes:
        description: The line text.
        article_code: The article (product) code, e.g. ``"ROOM-DLX"``.
        article_category: The article category, e.g. ``"Accommodation"``.
        quantity: How many.
        unit_price: Price of one unit, excluding VAT.
        amount_excl_vat: Line amount excluding VAT.
        vat_rate: The VAT rate as a percentage, e.g. ``Decimal("25")`` or ``Decimal("12")``.
        vat_amount: The VAT on the line.
        amount_incl_vat: Line amount including VAT.
        account_code: The ledger account the line maps to, when Qondor sends one.
        extra: Wire keys the library does not recognise, as received.
    """

    description: str | None = None
    article_code: str | None = attrs.field(default=None, metadata=_ESSENTIAL)
    article_category: str | None = attrs.field(default=None, metadata=_ESSENTIAL)
    quantity: Decimal | None = attrs.field(
        default=None, converter=_optional_decimal, metadata=_ESSENTIAL
    )
    unit_price: Decimal | None = attrs.field(
        default=None, converter=_optional_decimal, metadata=_ESSENTIAL
    )
    amount_excl_vat: Decimal | None = attrs.field(
        default=None, converter=_optional_decimal, metadata=_ESSENTIAL
    )
    vat_rate: Decimal | None = attrs.field(
        default=None, converter=_optional_decimal, metadata=_ESSENTIAL
    )
    vat_amount: Decimal | None = attrs.field(
        default=None, converter=_optional_decimal, metadata=_ESSENTIAL
    )
    amount_incl_vat: Decimal | None = attrs.field(
        default=None, converter=_optional_decimal, metadata=_ESSENTIAL
    )
    account_code: str | None = attrs.field(default=None, metadata=_ESSENTIAL)
    extra: Mapping[str, Any] = attrs.field(factory=dict, converter=_dict, hash=False)

    def __repr__(self) -> str:
        return model_repr(self, _LINE_FIELDS)

    def _repr_html_(self) -> str:
        return model_html(self)

    def _short(self) -> str:
        what = self.article_code or self.description or "line"
        quantity = f" x{cell(self.quantity)}" if self.quantity is not None else ""
        amount = f" {cell(self.amount_incl_vat)}" if self.amount_incl_vat is not None else ""
        return f"{what}{quantity}{amount}"


_LINE_FIELDS = (
    "article_code",
    "description",
    "article_category",
    "quantity",
    "unit_price",
    "amount_excl_vat",
    "vat_rate",
    "vat_amount",
    "amount_incl_vat",
    "account_code",
)
_LINE_HEADERS = ["article", "description", "qty", "excl. VAT", "VAT %", "VAT", "incl. VAT"]
_REPR_LINES = 5


_REPR_FIELDS = (
    "id",
    "kind",
    "state",
    "invoice_number",
    "customer",
    "total_incl_vat",
    "currency",
    "external_reference",
)


@attrs.frozen(kw_only=True, repr=False)
class Invoice(RequestIdSlot):
    """A payment in Qondor's processing queue (invoice specification, card payment, credit note).

    Construct one by keyword with only ``id``, ``kind`` and ``state``; every other field is
    optional. Instances are immutable: state changes return a new `Invoice`.

    Attributes:
        id: The Qondor payment id (the ``invoiceId`` of the state-change endpoints).
        kind: What kind of payment this is.
        state: Where it is in the processing flow.
        invoice_number: The payment's number, when Qondor sends one.
        project_id: The Qondor project it belongs to.
        project_number: The project number (a string, e.g. ``"P-2024-0042"``).
        customer: Who the payment is issued to.
        lines: The payment's lines.
        currency: ISO 4217 code, e.g. ``"NOK"``.
        total_excl_vat: Total excluding VAT.
        total_vat: Total VAT.
        total_incl_vat: Total including VAT.
        issue_date: When the payment was issued.
        due_date: When it is due.
        paid_date: When it was paid (set by `set_as_paid`).
        external_reference: Your finance system's reference (set by `set_as_processed`).
        failure_message: Why processing failed (set by `set_as_failed`).
        credited_invoice_id: For a credit note, the id of the payment it cancels.
        raw: The last payload Qondor sent for this payment, exactly as decoded (not part of
            equality). A model returned by a state change whose response had no body keeps
            the payload it was read from.
        extra: Top-level wire keys the library does not recognise, as received.
    """

    id: int
    kind: InvoiceKind
    state: InvoiceState
    invoice_number: str | None = None
    project_id: int | None = None
    project_number: str | None = None
    customer: Customer | None = attrs.field(default=None, metadata=_ESSENTIAL)
    lines: tuple[InvoiceLine, ...] = attrs.field(default=(), converter=tuple, metadata=_ESSENTIAL)
    currency: str | None = attrs.field(default=None, metadata=_ESSENTIAL)
    total_excl_vat: Decimal | None = attrs.field(
        default=None, converter=_optional_decimal, metadata=_ESSENTIAL
    )
    total_vat: Decimal | None = attrs.field(
        default=None, converter=_optional_decimal, metadata=_ESSENTIAL
    )
    total_incl_vat: Decimal | None = attrs.field(
        default=None, converter=_optional_decimal, metadata=_ESSENTIAL
    )
    issue_date: date | None = None
    due_date: date | None = None
    paid_date: date | None = attrs.field(default=None, metadata=_ESSENTIAL)
    external_reference: str | None = attrs.field(default=None, metadata=_ESSENTIAL)
    failure_message: str | None = None
    credited_invoice_id: int | None = attrs.field(default=None, metadata=_ESSENTIAL)
    raw: Mapping[str, Any] = attrs.field(
        factory=dict, converter=_dict, eq=False, hash=False, repr=False
    )
    extra: Mapping[str, Any] = attrs.field(factory=dict, converter=_dict, hash=False)

    def __repr__(self) -> str:
        """The main fields, the lines (the first five) and the actions the default rules allow."""
        lines = [ln._short() for ln in self.lines[:_REPR_LINES]]
        if len(self.lines) > _REPR_LINES:
            lines.append(f"... {len(self.lines) - _REPR_LINES} more")
        allowed = ", ".join(sorted(a.name.lower() for a in self.allowed_actions()))
        return (
            f"{model_repr(self, _REPR_FIELDS)[:-1]}, lines=[{'; '.join(lines)}], "
            f"allowed_actions=[{allowed}])"
        )

    def _repr_html_(self) -> str:
        fields = model_html(self, lead=_REPR_FIELDS, skip=("lines",), caption=f"Invoice {self.id}")
        rows = [
            [
                ln.article_code,
                ln.description,
                ln.quantity,
                ln.amount_excl_vat,
                ln.vat_rate,
                ln.vat_amount,
                ln.amount_incl_vat,
            ]
            for ln in self.lines
        ]
        lines = html_table(_LINE_HEADERS, rows, caption=f"{len(rows)} line(s)") if rows else ""
        allowed = ", ".join(sorted(a.name.lower() for a in self.allowed_actions())) or "none"
        return f"{fields}{lines}<p>allowed actions: {allowed}</p>"

    def allowed_actions(
        self,
        rules: RuleTable[InvoiceAction, InvoiceState, InvoiceKind] | None = None,
        *,
        strict: bool = True,
    ) -> frozenset[InvoiceAction]:
        """Every action the rules allow for this payment.

        Args:
            rules: The rule table; defaults to `QONDOR_RULES`. Pass ``client.rules`` when
                your client was built with its own rules.
            strict: Refuse an UNKNOWN kind on rules that depend on the kind (pass
                ``client.strict`` to match your client).

        Returns:
            The allowed actions.
        """
        return _rules(rules).allowed_actions(self.state, self.kind, strict=strict)

    def can(
        self,
        action: InvoiceAction,
        rules: RuleTable[InvoiceAction, InvoiceState, InvoiceKind] | None = None,
        *,
        strict: bool = True,
    ) -> bool:
        """Whether the rules allow ``action`` for this payment.

        Args:
            action: The action.
            rules: The rule table; defaults to `QONDOR_RULES`.
            strict: Refuse an UNKNOWN kind on rules that depend on the kind.

        Returns:
            ``True`` when a state change would be sent, ``False`` when it would be refused.
        """
        return _rules(rules).can(action, self.state, self.kind, strict=strict)

    def refusal(
        self,
        action: InvoiceAction,
        rules: RuleTable[InvoiceAction, InvoiceState, InvoiceKind] | None = None,
        *,
        strict: bool = True,
    ) -> str | None:
        """Why the rules refuse ``action`` for this payment, or ``None`` when they allow it."""
        return _rules(rules).refusal(action, self.state, self.kind, strict=strict)

    def total(self) -> Money | None:
        """The total including VAT as `Money`, or ``None`` if the amount or currency is missing."""
        if self.total_incl_vat is None or not self.currency:
            return None
        return Money(self.total_incl_vat, self.currency)


def _rules(
    rules: RuleTable[InvoiceAction, InvoiceState, InvoiceKind] | None,
) -> RuleTable[InvoiceAction, InvoiceState, InvoiceKind]:
    if rules is not None:
        return rules
    from .rules import QONDOR_RULES  # rules.py imports this module's enums

    return QONDOR_RULES


# -- reading payloads ------------------------------------------------------------------------
#
# Each model field has a canonical wire name (its camelCase name) and the other spellings a
# plausible Qondor payload may use. The first one present with a non-null value wins; every
# spelling present is consumed (the payload as a whole stays in ``raw``).

_INVOICE_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "invoiceId", "paymentId"),
    "invoiceNumber": ("invoiceNumber", "invoiceNo", "number"),
    "projectId": ("projectId",),
    "projectNumber": ("projectNumber", "projectNo"),
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
_CURRENCY_KEYS = ("currency", "invoiceCurrency", "currencyCode", "invoiceCurrencyCode")
# ISO 4217 numeric codes Qondor offices plausibly invoice in (the API sends 578 for NOK).
_ISO_NUMERIC = {578: "NOK", 752: "SEK", 208: "DKK", 978: "EUR", 840: "USD", 826: "GBP"}
_LINES_KEYS = ("lines", "invoiceLines", "specificationLines", "lineItems", "rows", "items")
_CURRENCY_AND_LINES_KEYS = frozenset(_CURRENCY_KEYS) | frozenset(_LINES_KEYS)
_LINE_ALIASES: dict[str, tuple[str, ...]] = {
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
_CUSTOMER_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "customerId"),
    "number": ("number", "customerNumber", "customerNo"),
    "name": ("name", "customerName"),
    "externalReference": ("externalReference", "customerExternalReference"),
    "organisationNumber": ("organisationNumber", "organizationNumber", "orgNumber", "orgNo"),
    "vatNumber": ("vatNumber", "vatNo"),
    "email": ("email", "invoiceEmail"),
}
# Customer fields sent flat on the invoice rather than as a nested object.
_FLAT_CUSTOMER: dict[str, tuple[str, ...]] = {
    "id": ("customerId",),
    "number": ("customerNumber", "customerNo"),
    "name": ("customerName",),
    "externalReference": ("customerExternalReference",),
    "organisationNumber": ("organisationNumber", "organizationNumber", "customerOrgNumber"),
    "vatNumber": ("vatNumber", "customerVatNumber"),
    "email": ("invoiceEmail", "customerEmail"),
}


AliasIndex = dict[str, tuple[str, int]]


def _alias_index(aliases: Mapping[str, tuple[str, ...]]) -> AliasIndex:
    """Each spelling -> (canonical name, its rank among the spellings of that name)."""
    return {
        name: (canonical, rank)
        for canonical, names in aliases.items()
        for rank, name in enumerate(names)
    }


_ALIAS_INDEXES: dict[int, tuple[Mapping[str, tuple[str, ...]], AliasIndex]] = {
    id(table): (table, _alias_index(table))
    for table in (_INVOICE_ALIASES, _LINE_ALIASES, _CUSTOMER_ALIASES, _FLAT_CUSTOMER)
}
# `_canonical` relies on it (`_FLAT_CUSTOMER` is only read by `_pick`).
assert all(
    names[0] == canonical
    for table in (_INVOICE_ALIASES, _LINE_ALIASES, _CUSTOMER_ALIASES)
    for canonical, names in table.items()
)


def _index(aliases: Mapping[str, tuple[str, ...]]) -> AliasIndex:
    known = _ALIAS_INDEXES.get(id(aliases))
    return known[1] if known is not None and known[0] is aliases else _alias_index(aliases)


def _pick(
    data: Mapping[str, Any], aliases: Mapping[str, tuple[str, ...]]
) -> tuple[dict[str, Any], set[str]]:
    # One pass over the payload's keys (a few) rather than over every spelling (dozens):
    # for each name, the best-ranked spelling present with a non-null value wins.
    index = _index(aliases)
    picked: dict[str, Any] = {}
    ranks: dict[str, int] = {}
    consumed: set[str] = set()
    for key, value in data.items():
        hit = index.get(key)
        if hit is None:
            continue
        consumed.add(key)
        if value is None:
            continue
        canonical, rank = hit
        if canonical not in ranks or rank < ranks[canonical]:
            ranks[canonical] = rank
            picked[canonical] = value
    return picked, consumed


def _canonical(
    data: Mapping[str, Any], aliases: Mapping[str, tuple[str, ...]], ignore: frozenset[str]
) -> dict[str, Any]:
    # What `_pick` does, and unrecognised keys kept under their own name (the converter
    # files them in ``extra``), in the same pass. Every canonical name is its own first
    # spelling, so an unrecognised key never collides with a picked one.
    index = _index(aliases)
    result: dict[str, Any] = {}
    ranks: dict[str, int] = {}
    for key, value in data.items():
        hit = index.get(key)
        if hit is None:
            if key not in ignore:
                result[key] = value
        elif value is not None:
            canonical, rank = hit
            best = ranks.get(canonical)
            if best is None or rank < best:
                ranks[canonical] = rank
                result[canonical] = value
    return result


def canonical_line(data: Any) -> Any:
    """Rename the keys of one wire line to the library's canonical camelCase names."""
    if type(data) is not dict and not isinstance(data, Mapping):
        return data
    return _canonical(data, _LINE_ALIASES, frozenset())


def canonical_customer(data: Any) -> Any:
    """Rename the keys of a wire customer object to the library's canonical names."""
    if type(data) is not dict and not isinstance(data, Mapping):
        return data
    return _canonical(data, _CUSTOMER_ALIASES, frozenset())


def canonical_invoice(data: Mapping[str, Any], *, ignore: frozenset[str]) -> dict[str, Any]:
    """Rename a wire invoice's keys to canonical camelCase names, nested objects included.

    Args:
        data: The payload as decoded from JSON.
        ignore: Keys to drop (the kind and state fields, which the resolver reads).

    Returns:
        A mapping the converter structures into `Invoice` (minus ``kind``/``state``/``raw``).
    """
    result = _canonical(data, _INVOICE_ALIASES, ignore | _CURRENCY_AND_LINES_KEYS)
    currency = _currency(data)
    if currency is not None:
        result["currency"] = currency
    for key in _LINES_KEYS:
        value = data.get(key)
        if value is not None:
            result["lines"] = (
                [canonical_line(line) for line in value] if isinstance(value, list) else value
            )
            break
    nested = data.get("customer")
    if type(nested) is dict or isinstance(nested, Mapping):
        result["customer"] = canonical_customer(nested)
    elif isinstance(nested, str):
        result["customer"] = {"name": nested}
    elif nested is None:
        result.pop("customer", None)
        flat, consumed = _pick(data, _FLAT_CUSTOMER)
        for key in consumed:
            result.pop(key, None)
        if flat:
            result["customer"] = flat
    return result


def _currency(data: Mapping[str, Any]) -> str | None:
    for key in _CURRENCY_KEYS:
        value = data.get(key)
        if isinstance(value, str):
            text = value.strip()
            if not text:
                continue
            if not (text.isascii() and text.isdigit()):
                return text.upper()
            # An ISO 4217 numeric code (three digits); int() of a long one would raise.
            value = int(text) if len(text) <= 4 else None
        if isinstance(value, int) and not isinstance(value, bool) and value in _ISO_NUMERIC:
            return _ISO_NUMERIC[value]
    return None


class InvoiceList(CarriesRequestId, list[Invoice]):
    """A list of invoices (what `list_unprocessed` returns) that renders as a table.

    ``_request_id`` is the listing's request id (each invoice carries it too).
    """

    def _repr_html_(self) -> str:
        return records_html(self, _REPR_FIELDS, caption=f"{len(self)} payment(s)")
