"""Qonto supplier invoices as typed, frozen models.

The wire object drifts (Qonto added some twenty fields in 2026 alone), so every field but
``id`` and ``status`` is optional and nullable, unknown fields land in ``extra`` and unknown
statuses are kept as `SupplierInvoiceStatus` pseudo-members. Money is `Money` (a `Decimal`
and a currency), never a float.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs
import cattrs

from .._convert import ESSENTIAL, OpenStrEnum, make_converter, parse_decimal, structure
from .._render import model_html
from .._request_id import RequestIdSlot
from ..money import Money, _from_parsed

if TYPE_CHECKING:
    from .rules import QontoRuleTable

__all__ = [
    "ApprovalWorkflow",
    "AvailableActions",
    "EInvoicingLifecycleEvent",
    "MatchedTransaction",
    "RelatedInvoice",
    "RequestTransfer",
    "SuggestedTransaction",
    "SupplierInvoice",
    "SupplierInvoiceAction",
    "SupplierInvoiceMeta",
    "SupplierInvoiceStatus",
    "SupplierInvoiceTax",
    "SupplierSnapshot",
    "converter",
    "strict_converter",
]


class SupplierInvoiceStatus(OpenStrEnum):
    """The status of a supplier invoice (an open enum: unknown values are kept).

    Qonto's documentation never lists the whole enum; these are every value seen in its
    documentation, in the official CLI and in live-validated third-party clients. A value
    not listed here parses into a pseudo-member with ``is_known == False`` and is refused
    by every rule of `QONTO_RULES`.
    """

    TO_REVIEW = "to_review"
    TO_APPROVE = "to_approve"
    PENDING = "pending"
    AWAITING_PAYMENT = "awaiting_payment"
    TO_PAY = "to_pay"
    SCHEDULED = "scheduled"
    PAID = "paid"
    ARCHIVED = "archived"
    REJECTED = "rejected"
    DISCARDED = "discarded"


class SupplierInvoiceAction(str, enum.Enum):
    """A state change the Qonto API offers for supplier invoices (value: the endpoint name)."""

    MARK_AS_PAID = "mark_as_paid"
    UNMARK_AS_PAID = "unmark_as_paid"
    REJECT = "reject"

    def __str__(self) -> str:
        return self.value


def _extra() -> Any:
    return attrs.field(factory=dict, repr=False)


# Parsed exactly or the record is refused; every other optional field is incidental (a value
# of unexpected shape is kept as received in ``extra``, and logged).
_ESSENTIAL: Final[Mapping[str, Any]] = {ESSENTIAL: True}


@attrs.frozen(kw_only=True)
class SupplierInvoiceTax:
    """One tax line of a supplier invoice.

    Attributes:
        tax_amount: The tax amount.
        tax_rate: The rate as a fraction, e.g. ``Decimal("0.20")`` for 20 %.
        extra: Wire fields this library does not know.
    """

    tax_amount: Money | None = None
    tax_rate: Decimal | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True)
class MatchedTransaction:
    """A payment linked to a supplier invoice.

    Qonto documents two shapes of ``matched_transactions``: a list of ids (older pages) and
    a list of ``{subject_id, subject_type, transaction_id}`` objects. Both parse into this
    class; a bare id is kept in ``transaction_id`` with the other fields ``None``.

    Attributes:
        transaction_id: The transaction id (or the bare id of the older shape).
        subject_id: The id of the transfer or other payment behind it.
        subject_type: What ``subject_id`` is, e.g. ``"transfer"``.
        extra: Wire fields this library does not know.
    """

    transaction_id: str | None = None
    subject_id: str | None = None
    subject_type: str | None = None
    extra: Mapping[str, Any] = _extra()

    # The older shape: a bare id string stands for {"transaction_id": id}.
    __wire_shorthand__: ClassVar[str] = "transaction_id"


@attrs.frozen(kw_only=True)
class RequestTransfer:
    """The transfer request created to pay a supplier invoice.

    Attributes:
        id: The transfer request id.
        initiator_id: The membership that created it.
        extra: Wire fields this library does not know.
    """

    id: str | None = None
    initiator_id: str | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True)
class EInvoicingLifecycleEvent:
    """One event of the (French) e-invoicing lifecycle of a supplier invoice.

    Attributes:
        status_code: The lifecycle status code (200-214).
        reason: The reason code, e.g. ``"DOUBLE FACTURE"``.
        reason_message: The reason in words.
        timestamp: When it happened.
        extra: Wire fields this library does not know.
    """

    status_code: int | None = None
    reason: str | None = None
    reason_message: str | None = None
    timestamp: datetime | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True)
class SupplierInvoiceMeta:
    """Integration metadata of a supplier invoice.

    Attributes:
        integration_type: The integration that brought it in, e.g. ``"amazon"``.
        connector: The connector, e.g. ``"grover"``.
        accounting_recorded_at: When an accounting tool recorded it.
        accounting_recorded_source: Which accounting tool recorded it.
        extra: Wire fields this library does not know.
    """

    integration_type: str | None = None
    connector: str | None = None
    accounting_recorded_at: datetime | None = None
    accounting_recorded_source: str | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True)
class AvailableActions:
    """What the Qonto *app* allows for a supplier invoice, with the reasons for refusals.

    These flags describe app features (no public API endpoint deletes, archives or pays a
    supplier invoice); the API's own state changes are governed by `QONTO_RULES`.

    Attributes:
        delete: Whether the invoice can be deleted in the app.
        archive: Whether it can be archived.
        unarchive: Whether it can be unarchived.
        pay: Whether it can be paid through Qonto.
        reasons: Why an action is not available, per action, e.g.
            ``{"pay": ("is_credit_note",)}``.
        extra: Wire fields this library does not know (e.g. new action flags).
    """

    delete: bool | None = None
    archive: bool | None = None
    unarchive: bool | None = None
    pay: bool | None = None
    reasons: Mapping[str, tuple[str, ...]] | None = None
    extra: Mapping[str, Any] = _extra()

    def reasons_for(self, action: str) -> tuple[str, ...]:
        """Return the reason codes given for ``action`` (e.g. ``"pay"``), possibly empty."""
        if not self.reasons:
            return ()
        return self.reasons.get(action, ())


@attrs.frozen(kw_only=True)
class ApprovalWorkflow:
    """The approval workflow a supplier invoice goes through.

    Attributes:
        approver_ids: The memberships that may approve it.
        supplier_invoice_request_id: The approval request.
        verified_by: Who verified it.
        last_approved_by: Who approved it last.
        extra: Wire fields this library does not know.
    """

    approver_ids: tuple[str, ...] | None = None
    supplier_invoice_request_id: str | None = None
    verified_by: str | None = None
    last_approved_by: str | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True)
class RelatedInvoice:
    """An invoice related to a supplier invoice (e.g. the invoice a credit note credits).

    Attributes:
        id: Its id.
        invoice_number: Its number.
        total_amount: Its total.
        attachment_id: Its document.
        file_name: Its file name.
        extra: Wire fields this library does not know.
    """

    id: str | None = None
    invoice_number: str | None = None
    total_amount: Money | None = None
    attachment_id: str | None = None
    file_name: str | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True)
class SuggestedTransaction:
    """A transaction Qonto suggests matching with a supplier invoice.

    Attributes:
        id: The transaction id.
        score: How confident the suggestion is, from 0 to 1.
        extra: Wire fields this library does not know.
    """

    id: str | None = None
    score: Decimal | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True)
class SupplierSnapshot:
    """The supplier as it was recorded on the invoice.

    Attributes:
        id: The supplier id.
        name: Its name.
        iban: Its IBAN.
        tin: Its tax identification number.
        vat_number: Its VAT number.
        email: Its e-mail address.
        currency: Its currency.
        status: Its status in Qonto.
        extra: Wire fields this library does not know.
    """

    id: str | None = None
    name: str | None = None
    iban: str | None = None
    tin: str | None = None
    vat_number: str | None = None
    email: str | None = None
    currency: str | None = None
    status: str | None = None
    extra: Mapping[str, Any] = _extra()


_LEAD_FIELDS = (
    "supplier_name",
    "invoice_number",
    "total_amount",
    "status",
    "due_date",
    "payment_date",
    "id",
)


@attrs.frozen(kw_only=True, repr=False)
class SupplierInvoice(RequestIdSlot):
    """A Qonto supplier invoice (or supplier credit note, or Document-Review item).

    Construct one with only ``id`` and ``status``; every other field is optional. Wire
    fields this library does not know are kept in ``extra``.

    Attributes:
        id: The invoice id (a UUID string; treated as opaque).
        status: Its status; unknown values are kept (``status.is_known == False``).
        organization_id: The organization it belongs to.
        file_name: The name of the uploaded document.
        is_einvoice: Whether it is an e-invoice.
        e_invoice_type: ``"zugferd"`` or ``"xrechnung"``.
        has_discrepancies: Whether Qonto found discrepancies in it.
        has_duplicates: Whether Qonto found duplicates of it.
        has_suggested_credit_notes: Whether Qonto suggests credit notes for it.
        is_credit_note: Whether it is a supplier credit note.
        is_attachment_invoice: Whether the document was recognised as an invoice.
        is_attachment_non_financial: Whether the document is not a financial document.
        attachment_category: ``INVOICE``, ``CREDIT_NOTE``, ``EXPENSE_RECEIPT``, ...
        source_type: ``email``, ``e_invoicing`` or ``direct_upload``.
        source: ``email_forward``, ``e_invoicing``, ``supplier_invoices``, ``integration``, ...
        created_at: When it was created.
        updated_at: When it last changed.
        analyzed_at: When Qonto finished reading the document.
        attachment_id: The stored document.
        display_attachment_id: The document to display.
        declined_note: The note given when it was rejected.
        invoice_number: The invoice number read from the document.
        supplier_name: The supplier's name.
        supplier_id: The supplier's id.
        issuer_name: The issuer's name as read from the document.
        description: A description.
        vat_number: The issuer's VAT number.
        tin: The issuer's tax identification number.
        iban: The IBAN to pay.
        initiator_id: The membership that created it.
        self_invoice_id: The self-invoice generated for it, if any.
        total_amount: The total including taxes.
        total_amount_excluding_taxes: The total excluding taxes (absent when unknown).
        total_tax_amount: The tax total (absent when unknown).
        payable_amount: What remains to pay after credit notes.
        total_amount_credit_notes: The total of the credit notes applied to it.
        taxes: The tax lines.
        issue_date: The issue date.
        due_date: The due date.
        payment_date: When it was paid (set by mark_as_paid, cleared by unmark_as_paid).
        scheduled_date: When its payment is scheduled.
        matched_transactions: Payments linked to it (both wire shapes).
        matched_transactions_ids: Deprecated by Qonto (holds transfer ids).
        transfer_ids: Ids of the transfers that pay it.
        request_transfer: The transfer request created to pay it.
        suggested_transactions: Transactions Qonto suggests matching.
        related_invoices: Related invoices (e.g. the invoice a credit note credits).
        supplier_snapshot: The supplier as recorded on the invoice.
        approval_workflow: Its approval workflow.
        available_actions: What the Qonto app allows for it, with reasons.
        einvoicing_lifecycle_events: Its e-invoicing lifecycle.
        meta: Integration metadata.
        deleted_at: Seen (empty) only in an older bulk example; kept as text.
        extra: Wire fields this library does not know.
    """

    id: str
    status: SupplierInvoiceStatus = attrs.field(converter=SupplierInvoiceStatus)
    organization_id: str | None = None
    file_name: str | None = None
    is_einvoice: bool | None = None
    e_invoice_type: str | None = None
    has_discrepancies: bool | None = None
    has_duplicates: bool | None = None
    has_suggested_credit_notes: bool | None = None
    is_credit_note: bool | None = attrs.field(default=None, metadata=_ESSENTIAL)
    is_attachment_invoice: bool | None = None
    is_attachment_non_financial: bool | None = None
    attachment_category: str | None = None
    source_type: str | None = None
    source: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    analyzed_at: datetime | None = None
    attachment_id: str | None = None
    display_attachment_id: str | None = None
    declined_note: str | None = None
    invoice_number: str | None = attrs.field(default=None, metadata=_ESSENTIAL)
    supplier_name: str | None = None
    supplier_id: str | None = None
    issuer_name: str | None = None
    description: str | None = None
    vat_number: str | None = None
    tin: str | None = None
    iban: str | None = None
    initiator_id: str | None = None
    self_invoice_id: str | None = None
    total_amount: Money | None = attrs.field(default=None, metadata=_ESSENTIAL)
    total_amount_excluding_taxes: Money | None = attrs.field(default=None, metadata=_ESSENTIAL)
    total_tax_amount: Money | None = attrs.field(default=None, metadata=_ESSENTIAL)
    payable_amount: Money | None = attrs.field(default=None, metadata=_ESSENTIAL)
    total_amount_credit_notes: Money | None = attrs.field(default=None, metadata=_ESSENTIAL)
    taxes: tuple[SupplierInvoiceTax, ...] | None = None
    issue_date: date | None = None
    due_date: date | None = None
    payment_date: date | None = attrs.field(default=None, metadata=_ESSENTIAL)
    scheduled_date: date | None = None
    matched_transactions: tuple[MatchedTransaction, ...] | None = None
    matched_transactions_ids: tuple[str, ...] | None = None
    transfer_ids: tuple[str | None, ...] | None = None
    request_transfer: RequestTransfer | None = None
    suggested_transactions: tuple[SuggestedTransaction, ...] | None = None
    related_invoices: tuple[RelatedInvoice, ...] | None = None
    supplier_snapshot: SupplierSnapshot | None = None
    approval_workflow: ApprovalWorkflow | None = None
    available_actions: AvailableActions | None = None
    einvoicing_lifecycle_events: tuple[EInvoicingLifecycleEvent, ...] | None = None
    meta: SupplierInvoiceMeta | None = None
    deleted_at: str | None = None
    extra: Mapping[str, Any] = _extra()

    def __repr__(self) -> str:
        # Sixty fields, most of them empty: what a person looks for first (who, which
        # invoice, how much, where it stands, when), then the others that carry something.
        names = [*_LEAD_FIELDS, *(f.name for f in attrs.fields(type(self)))]
        shown = [
            f"{name}={getattr(self, name)!r}"
            for name in dict.fromkeys(names)
            if name != "extra" and (name in ("id", "status") or getattr(self, name) is not None)
        ]
        if self.extra:
            shown.append(f"extra_keys={tuple(self.extra)!r}")
        return f"SupplierInvoice({', '.join(shown)})"

    def _repr_html_(self) -> str:
        return model_html(self, lead=_LEAD_FIELDS, caption=f"SupplierInvoice {self.id}")

    def allowed_actions(
        self, rules: QontoRuleTable | None = None
    ) -> frozenset[SupplierInvoiceAction]:
        """Return the API state changes the rule table allows from this invoice's status.

        Args:
            rules: The rule table to consult (default `QONTO_RULES`).

        Returns:
            The allowed actions (a no-op such as marking a paid invoice as paid counts).
        """
        return _rules(rules).allowed_actions(self.status)

    def can(self, action: SupplierInvoiceAction, rules: QontoRuleTable | None = None) -> bool:
        """Return whether the rule table allows ``action`` from this invoice's status.

        Args:
            action: The state change.
            rules: The rule table to consult (default `QONTO_RULES`).
        """
        return _rules(rules).can(action, self.status)

    @classmethod
    def from_wire(cls, data: Any, *, strict: bool = False) -> SupplierInvoice:
        """Build a model from a decoded JSON object as the API sends it.

        Args:
            data: The JSON object (a mapping).
            strict: Refuse keys this library does not know (to catch schema drift in
                tests) instead of keeping them in ``extra``.

        Returns:
            The model.

        Raises:
            ResponseValidationError: When the data does not fit, with the path of each
                problem.
        """
        return structure(strict_converter if strict else converter, data, cls)

    def to_wire(self) -> dict[str, Any]:
        """Return the model as the JSON object the API sends (unknown fields included)."""
        result: dict[str, Any] = converter.unstructure(self)
        return result


def _rules(rules: QontoRuleTable | None) -> QontoRuleTable:
    if rules is not None:
        return rules
    from .rules import QONTO_RULES

    return QONTO_RULES


def _configure(strict: bool) -> Any:
    def configure(conv: cattrs.Converter) -> None:
        def structure_money(value: Any, _: Any) -> Money:
            if type(value) is dict and len(value) == 2:
                # The shape Qonto sends, {"value": "22.10", "currency": "EUR"}, checked
                # inline: what `parse_decimal` accepts at once from a string of at most 7
                # characters (no exponent: both bounds hold), and an alphabetic currency.
                # Anything else takes the full path below, which says what is wrong.
                text = value.get("value")
                currency = value.get("currency")
                if (
                    type(text) is str
                    and len(text) <= 7
                    and text.isascii()
                    and type(currency) is str
                    and currency.isalpha()
                    and "_" not in text
                    and "e" not in text
                    and "E" not in text
                ):
                    try:
                        amount = Decimal(text)
                    except InvalidOperation:
                        pass
                    else:
                        if amount.is_finite():
                            return _from_parsed(amount, currency, {})
            if type(value) is not dict:  # decoded JSON is a dict: skip the slower checks
                if isinstance(value, Money):
                    return value
                if not isinstance(value, Mapping):
                    raise TypeError(
                        f"expected a money object {{value, currency}}, got {type(value).__name__}"
                    )
            if strict and not value.keys() <= {"value", "currency"}:
                unknown = sorted(set(value) - {"value", "currency"})
                raise cattrs.ForbiddenExtraKeysError(
                    f"extra fields in money object: {unknown}", Money, set(unknown)
                )
            if "value" not in value:
                raise KeyError("money object without 'value'")
            currency = value.get("currency")
            if not isinstance(currency, str) or not currency.strip():
                raise ValueError(f"money object without a currency: {currency!r}")
            amount = parse_decimal(value["value"])
            # Keys besides value and currency (Qonto's value_cents, ...) are kept.
            extra = (
                {}
                if len(value) == 2
                else {k: v for k, v in value.items() if k != "value" and k != "currency"}
            )
            # Both parts checked here: build it without checking them again.
            return _from_parsed(amount, currency, extra)

        conv.register_structure_hook(Money, structure_money)
        conv.register_unstructure_hook(
            Money, lambda m: {**m.extra, "value": str(m.amount), "currency": m.currency}
        )

    return configure


converter: cattrs.Converter = make_converter("snake", configure=_configure(strict=False))
"""The lenient converter used for responses: unknown keys kept in ``extra``."""

strict_converter: cattrs.Converter = make_converter(
    "snake", strict=True, configure=_configure(strict=True)
)
"""The strict twin: unknown keys raise. Tests use it to catch schema drift."""
