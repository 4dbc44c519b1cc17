"""Generated supplier invoices for the Qonto fake: seeded mixes and uploaded documents."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from ...qonto.models import SupplierInvoiceStatus
from .._shared import Generator
from .state import REQUIRED_FIELDS
from .wire import CENT, iso, money

__all__ = ["FIRST_STATUSES", "STATUS_WEIGHTS", "SupplierInvoiceFactory"]

#: The ``source`` values a supplier invoice object shows (the entity's enum).
OBJECT_SOURCES: Final = frozenset(
    {
        "email_forward",
        "e_invoicing",
        "supplier_invoices",
        "pay_by_invoice",
        "integration",
        "regate",
        "generic_upload",
        "pay_later",
    }
)
_SUPPLIERS: Final = (
    ("OVHcloud", "FR22424761419", "FR7630001007941234567890185", "Cloud hosting"),
    ("Bureau Vallée", "FR40483247862", "FR7610107001011234567890129", "Office supplies"),
    ("SNCF Voyageurs", "FR68519037584", "FR7630004000031234567890143", "Train tickets"),
    ("Deutsche Telekom", "DE123475223", "DE89370400440532013000", "Mobile plans"),
    ("Fiera Milano", "IT12345678901", "IT60X0542811101000000123456", "Trade fair stand"),
    ("Hôtel Lutetia", "FR83552081317", "FR7630006000011234567890189", "Conference rooms"),
    ("Maison Kayser", "FR56501012345", "FR7611315000011234567890138", "Catering"),
    ("Adobe Systems", "IE6364992H", "IE29AIBK93115212345678", "Software licences"),
    ("La Poste", "FR44356000000", "FR7620041000011234567890168", "Postage"),
    ("Mercado Eventos", "ESB12345674", "ES9121000418450200051332", "Event logistics"),
)
#: The statuses of ``seed()``'s first ten invoices, one each.
FIRST_STATUSES: Final = (
    SupplierInvoiceStatus.TO_REVIEW,
    SupplierInvoiceStatus.TO_APPROVE,
    SupplierInvoiceStatus.PENDING,
    SupplierInvoiceStatus.AWAITING_PAYMENT,
    SupplierInvoiceStatus.TO_PAY,
    SupplierInvoiceStatus.SCHEDULED,
    SupplierInvoiceStatus.PAID,
    SupplierInvoiceStatus.ARCHIVED,
    SupplierInvoiceStatus.REJECTED,
    SupplierInvoiceStatus.DISCARDED,
)
#: How often ``seed()`` picks each of `FIRST_STATUSES` after the first ten.
STATUS_WEIGHTS: Final = (30, 8, 6, 8, 10, 5, 20, 5, 5, 3)


class SupplierInvoiceFactory(Generator):
    """Builds supplier invoices as wire objects, with ids unique among ``invoices``.

    Args:
        invoices: The fake's invoices by id (read to avoid ids taken and to pick the
            invoice a credit note cancels).
    """

    def __init__(self, invoices: Mapping[str, Mapping[str, Any]]) -> None:
        # Not seeded like seed()'s default stream, so ids never repeat those of seed().
        super().__init__("fake-qonto")
        self._invoices = invoices
        self._created_seq = 0

    def uuid(self) -> str:
        """A random UUID (version 4) from the stream."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _new_id(self) -> str:
        invoice_id = self.uuid()
        while invoice_id in self._invoices:  # seed() called twice with one random_seed
            invoice_id = self.uuid()
        return invoice_id

    def _next_created_at(self) -> datetime:
        # Strictly increasing creation times, so that ordering by created_at is total.
        self._created_seq += 1
        base = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)
        return base + timedelta(minutes=7 * self._created_seq + self.rng.randrange(0, 7))

    def uploaded(
        self,
        *,
        organization_id: str,
        moment: datetime,
        file_name: str | None,
        attachment_id: str | None,
        source: str | None,
        meta: Any,
    ) -> dict[str, Any]:
        """A supplier invoice just created by a bulk upload, not analysed yet."""
        attachment = attachment_id or self.uuid()
        return {
            "id": self._new_id(),
            "organization_id": organization_id,
            "file_name": file_name or f"{attachment}.pdf",
            "status": SupplierInvoiceStatus.TO_REVIEW.value,
            "source_type": "direct_upload",
            "source": source if source in OBJECT_SOURCES else "supplier_invoices",
            "created_at": iso(moment),
            "updated_at": iso(moment),
            "attachment_id": attachment,
            "display_attachment_id": attachment,
            "declined_note": "",
            "is_einvoice": False,
            "has_discrepancies": False,
            "has_duplicates": False,
            "invoice_number": None,
            "supplier_name": None,
            "total_amount": None,
            "issue_date": None,
            "due_date": None,
            "payment_date": None,
            "scheduled_date": None,
            "iban": None,
            "is_credit_note": False,
            "matched_transactions": [],
            "transfer_ids": [],
            "meta": meta if meta is not None else {},
            "available_actions": {
                "delete": True,
                "archive": True,
                "unarchive": False,
                "pay": False,
                "reasons": {"pay": ["missing_data"], "unarchive": ["invalid_status"]},
            },
        }

    def generate(self, *, organization_id: str, status: str, credit_note: bool) -> dict[str, Any]:
        """A realistic analysed supplier invoice in ``status`` (no ``available_actions``)."""
        rng = self.rng
        supplier, vat, iban, description = rng.choice(_SUPPLIERS)
        created = self._next_created_at()
        issued = created.date() - timedelta(days=rng.randrange(0, 10))
        due = issued + timedelta(days=rng.choice((0, 15, 30, 45)))
        excl = Decimal(rng.randrange(1500, 480000)) / 100
        rate = Decimal("0.20") if vat.startswith("FR") else Decimal("0.19")
        sign = -1 if credit_note else 1
        excl = excl * sign
        tax = (excl * rate).quantize(CENT, rounding=ROUND_HALF_UP)
        total = excl + tax
        number = f"{'AV' if credit_note else 'FA'}-{issued.year}-{rng.randrange(1000, 99999):05d}"
        attachment = self.uuid()
        invoice_id = self._new_id()
        invoice: dict[str, Any] = {
            "id": invoice_id,
            "organization_id": organization_id,
            "file_name": f"{supplier.lower().replace(' ', '-')}-{number}.pdf",
            "status": status,
            "source_type": rng.choice(("email", "direct_upload", "direct_upload")),
            "source": rng.choice(("email_forward", "supplier_invoices", "integration")),
            "created_at": iso(created),
            "updated_at": iso(created + timedelta(hours=rng.randrange(0, 48))),
            "analyzed_at": iso(created + timedelta(seconds=rng.randrange(5, 90))),
            "attachment_id": attachment,
            "display_attachment_id": attachment,
            "declined_note": "",
            "is_einvoice": False,
            "has_discrepancies": False,
            "has_duplicates": rng.random() < 0.04,
            "has_suggested_credit_notes": False,
            "invoice_number": number,
            "supplier_name": supplier,
            "supplier_id": self.uuid(),
            "description": description,
            "vat_number": vat,
            "iban": iban,
            "initiator_id": self.uuid(),
            "total_amount": money(total),
            "total_amount_excluding_taxes": money(excl),
            "total_tax_amount": money(tax),
            "taxes": [{"tax_amount": money(tax), "tax_rate": str(rate)}],
            "payable_amount": money(total),
            "total_amount_credit_notes": money(Decimal(0)),
            "issue_date": issued.isoformat(),
            "due_date": due.isoformat(),
            "payment_date": None,
            "scheduled_date": None,
            "is_credit_note": credit_note,
            "is_attachment_invoice": True,
            "is_attachment_non_financial": False,
            "attachment_category": "CREDIT_NOTE" if credit_note else "INVOICE",
            "matched_transactions": [],
            "matched_transactions_ids": [],
            "transfer_ids": [],
            "request_transfer": None,
            "related_invoices": [],
            "approval_workflow": None,
            "einvoicing_lifecycle_events": [],
            "meta": {},
        }
        if credit_note:
            originals = [inv for inv in self._invoices.values() if not inv.get("is_credit_note")][
                -20:
            ]
            if originals:
                original = rng.choice(originals)
                invoice["related_invoices"] = [
                    {
                        "id": original["id"],
                        "invoice_number": original.get("invoice_number"),
                        "total_amount": original.get("total_amount"),
                        "attachment_id": original.get("attachment_id"),
                        "file_name": original.get("file_name"),
                    }
                ]
        roll = rng.random()
        if status == "to_review" and roll < 0.12:
            # Not read from the document yet, or unreadable: the "missing data" case.
            for field in REQUIRED_FIELDS:
                if rng.random() < 0.6:
                    invoice[field] = None
            invoice["payable_amount"] = invoice["total_amount"]
        elif status == "to_review" and roll < 0.16:
            invoice.update(
                is_attachment_invoice=False,
                is_attachment_non_financial=True,
                attachment_category="OTHER_NON_FINANCIAL_DOCUMENT",
            )
        if rng.random() < 0.05:
            invoice.update(
                is_einvoice=True,
                e_invoice_type="zugferd",
                source_type="e_invoicing",
                source="e_invoicing",
            )
        if status in ("to_approve", "awaiting_payment"):
            invoice["approval_workflow"] = {
                "approver_ids": [self.uuid()],
                "supplier_invoice_request_id": self.uuid(),
                "verified_by": None,
                "last_approved_by": None,
            }
        if status == "scheduled":
            invoice["scheduled_date"] = (
                due if due > created.date() else created.date()
            ).isoformat()
            invoice["request_transfer"] = {"id": self.uuid(), "initiator_id": self.uuid()}
        if status == "paid":
            paid = max(issued, due - timedelta(days=rng.randrange(0, 5)))
            transfer = self.uuid()
            transaction = self.uuid()
            invoice.update(
                payment_date=paid.isoformat(),
                matched_transactions=[
                    {
                        "subject_id": transfer,
                        "subject_type": "transfer",
                        "transaction_id": transaction,
                    }
                ],
                matched_transactions_ids=[transfer],
                transfer_ids=[transfer],
            )
        if status == "rejected":
            invoice["declined_note"] = rng.choice(
                ("Duplicate of an invoice already paid", "Wrong amount", "Not our order")
            )
        return invoice
