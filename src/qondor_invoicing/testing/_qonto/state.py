"""The Qonto fake's records: applied state changes and what an invoice's state allows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from ...qonto.models import SupplierInvoiceAction

__all__ = ["SupplierInvoiceTransition", "available_actions", "missing_data"]

#: The fields whose absence Qonto's ``missing_data`` filter and ``pay`` reason report.
REQUIRED_FIELDS: Final = ("invoice_number", "supplier_name", "total_amount", "due_date")


@attrs.frozen(kw_only=True)
class SupplierInvoiceTransition:
    """One state change the fake applied.

    Attributes:
        invoice_id: The supplier invoice.
        action: The action.
        from_status: The status before.
        to_status: The status after (the same for an accepted no-op).
        body: The request body as received (``None`` for unmark as paid).
    """

    invoice_id: str
    action: SupplierInvoiceAction
    from_status: str
    to_status: str
    body: Any


def missing_data(invoice: Mapping[str, Any]) -> bool:
    """Whether the invoice lacks a field needed to pay it."""
    return any(invoice.get(field) in (None, "") for field in REQUIRED_FIELDS)


def available_actions(invoice: Mapping[str, Any]) -> dict[str, Any]:
    """The invoice's ``available_actions`` object, from its status and content."""
    # What the Qonto app would allow: the fake's approximation from the third-party entity
    # catalog (pay reasons: is_credit_note, missing_iban, missing_data, invalid_status).
    status = invoice.get("status")
    reasons: dict[str, list[str]] = {}
    pay_reasons = []
    if invoice.get("is_credit_note"):
        pay_reasons.append("is_credit_note")
    if not invoice.get("iban"):
        pay_reasons.append("missing_iban")
    if missing_data(invoice):
        pay_reasons.append("missing_data")
    if status not in ("to_review", "to_approve", "awaiting_payment", "to_pay"):
        pay_reasons.append("invalid_status")
    if pay_reasons:
        reasons["pay"] = pay_reasons
    deletable = status in ("to_review", "rejected", "archived", "discarded")
    if not deletable:
        reasons["delete"] = ["invalid_status"]
    archivable = status in ("to_review", "to_pay", "paid", "rejected")
    if not archivable:
        reasons["archive"] = ["invalid_status"]
    if status != "archived":
        reasons["unarchive"] = ["invalid_status"]
    return {
        "delete": deletable,
        "archive": archivable,
        "unarchive": status == "archived",
        "pay": not pay_reasons,
        "reasons": reasons,
    }
