"""The Qonto supplier invoice as msgspec structs: the practical speed limit in Python.

Same shape and types as `qondor_invoicing.qonto.SupplierInvoice` (``Decimal`` money, ``date``
and ``datetime`` fields, nested objects, tuples, frozen), with two differences msgspec
imposes: unknown keys are accepted but dropped (msgspec cannot keep them), and the status
is a plain ``str`` (msgspec has no hook for unknown enum values).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import msgspec


class _Struct(msgspec.Struct, frozen=True, kw_only=True):
    pass


class Money(_Struct):
    amount: Decimal = msgspec.field(name="value")
    currency: str


class SupplierInvoiceTax(_Struct):
    tax_amount: Money | None = None
    tax_rate: Decimal | None = None


class MatchedTransaction(_Struct):
    transaction_id: str | None = None
    subject_id: str | None = None
    subject_type: str | None = None


class RequestTransfer(_Struct):
    id: str | None = None
    initiator_id: str | None = None


class EInvoicingLifecycleEvent(_Struct):
    status_code: int | None = None
    reason: str | None = None
    reason_message: str | None = None
    timestamp: datetime | None = None


class SupplierInvoiceMeta(_Struct):
    integration_type: str | None = None
    connector: str | None = None
    accounting_recorded_at: datetime | None = None
    accounting_recorded_source: str | None = None


class AvailableActions(_Struct):
    delete: bool | None = None
    archive: bool | None = None
    unarchive: bool | None = None
    pay: bool | None = None
    reasons: dict[str, tuple[str, ...]] | None = None


class ApprovalWorkflow(_Struct):
    approver_ids: tuple[str, ...] | None = None
    supplier_invoice_request_id: str | None = None
    verified_by: str | None = None
    last_approved_by: str | None = None


class RelatedInvoice(_Struct):
    id: str | None = None
    invoice_number: str | None = None
    total_amount: Money | None = None
    attachment_id: str | None = None
    file_name: str | None = None


class SuggestedTransaction(_Struct):
    id: str | None = None
    score: Decimal | None = None


class SupplierSnapshot(_Struct):
    id: str | None = None
    name: str | None = None
    iban: str | None = None
    tin: str | None = None
    vat_number: str | None = None
    email: str | None = None
    currency: str | None = None
    status: str | None = None


class SupplierInvoice(_Struct):
    id: str
    status: str
    organization_id: str | None = None
    file_name: str | None = None
    is_einvoice: bool | None = None
    e_invoice_type: str | None = None
    has_discrepancies: bool | None = None
    has_duplicates: bool | None = None
    has_suggested_credit_notes: bool | None = None
    is_credit_note: bool | None = None
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
    invoice_number: str | None = None
    supplier_name: str | None = None
    supplier_id: str | None = None
    issuer_name: str | None = None
    description: str | None = None
    vat_number: str | None = None
    tin: str | None = None
    iban: str | None = None
    initiator_id: str | None = None
    self_invoice_id: str | None = None
    total_amount: Money | None = None
    total_amount_excluding_taxes: Money | None = None
    total_tax_amount: Money | None = None
    payable_amount: Money | None = None
    total_amount_credit_notes: Money | None = None
    taxes: tuple[SupplierInvoiceTax, ...] | None = None
    issue_date: date | None = None
    due_date: date | None = None
    payment_date: date | None = None
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


def structure_list(data: object) -> list[SupplierInvoice]:
    """Structure decoded JSON (a list of dicts) into structs."""
    return msgspec.convert(data, list[SupplierInvoice])
