"""The Qonto supplier invoice as pydantic v2 models: what peer SDKs generate.

Same shape and types as `qondor_invoicing.qonto.SupplierInvoice`: every field but ``id`` and
``status`` optional, ``Decimal`` money, ``date`` and ``datetime`` fields, nested objects,
tuples, frozen instances, unknown keys kept (``extra="allow"``) at every level, and the
library's own open enum for the status (pydantic calls its ``_missing_`` for unknown
values, so they are kept too).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from qondor_invoicing.qonto import SupplierInvoiceStatus


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class Money(_Model):
    amount: Decimal = Field(alias="value")
    currency: str


class SupplierInvoiceTax(_Model):
    tax_amount: Money | None = None
    tax_rate: Decimal | None = None


class MatchedTransaction(_Model):
    transaction_id: str | None = None
    subject_id: str | None = None
    subject_type: str | None = None


class RequestTransfer(_Model):
    id: str | None = None
    initiator_id: str | None = None


class EInvoicingLifecycleEvent(_Model):
    status_code: int | None = None
    reason: str | None = None
    reason_message: str | None = None
    timestamp: datetime | None = None


class SupplierInvoiceMeta(_Model):
    integration_type: str | None = None
    connector: str | None = None
    accounting_recorded_at: datetime | None = None
    accounting_recorded_source: str | None = None


class AvailableActions(_Model):
    delete: bool | None = None
    archive: bool | None = None
    unarchive: bool | None = None
    pay: bool | None = None
    reasons: Mapping[str, tuple[str, ...]] | None = None


class ApprovalWorkflow(_Model):
    approver_ids: tuple[str, ...] | None = None
    supplier_invoice_request_id: str | None = None
    verified_by: str | None = None
    last_approved_by: str | None = None


class RelatedInvoice(_Model):
    id: str | None = None
    invoice_number: str | None = None
    total_amount: Money | None = None
    attachment_id: str | None = None
    file_name: str | None = None


class SuggestedTransaction(_Model):
    id: str | None = None
    score: Decimal | None = None


class SupplierSnapshot(_Model):
    id: str | None = None
    name: str | None = None
    iban: str | None = None
    tin: str | None = None
    vat_number: str | None = None
    email: str | None = None
    currency: str | None = None
    status: str | None = None


class SupplierInvoice(_Model):
    id: str
    status: SupplierInvoiceStatus
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


SupplierInvoiceList: TypeAdapter[list[SupplierInvoice]] = TypeAdapter(list[SupplierInvoice])
