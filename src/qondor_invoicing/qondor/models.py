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


class InvoiceList(CarriesRequestId, list[Invoice]):
    """A list of invoices (what `list_unprocessed` returns) that renders as a table.

    ``_request_id`` is the listing's request id (each invoice carries it too).
    """

    def _repr_html_(self) -> str:
        return records_html(self, _REPR_FIELDS, caption=f"{len(self)} payment(s)")
