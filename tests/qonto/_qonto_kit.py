"""Helpers for the Qonto tests (imported as `_qonto_kit`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qondor_invoicing import QontoClient
from qondor_invoicing.testing import FakeQonto

TOKEN = "qonto-oauth-7c1e9a52d4b84f0b9e3a"
LOGIN = "acme-sas-4821"
SECRET_KEY = "sk_live_93b1f0c2a7e64d58"
STAGING = "staging-5e0d7b19c3a24f86"
BASE = "https://thirdparty.qonto.com/v2/"
SANDBOX = "https://thirdparty-sandbox.staging.qonto.co/v2/"
# Qonto's "unmark a supplier invoice as paid" page as captured, the seed document.
SEED_FILE = Path(__file__).resolve().parent / "data" / "unmark_as_paid.txt"
QONTO_ENV = ("QONTO_ACCESS_TOKEN", "QONTO_LOGIN", "QONTO_SECRET_KEY", "QONTO_STAGING_TOKEN")

# The example object of that page, kept here verbatim (a test checks it against the page).
SEED_OBJECT: dict[str, Any] = json.loads(
    """
{
  "id": "4d5418bb-bd0d-4df4-865c-c07afab8bb48",
  "is_einvoice": false,
  "has_discrepancies": false,
  "organization_id": "4d5418bb-bd0d-4df4-865c-c07afab8bb48",
  "file_name": "my-invoice.pdf",
  "status": "to_review",
  "source_type": "email",
  "created_at": "2022-03-04T17:58:30+02:00",
  "updated_at": "2022-03-04T17:58:30+02:00",
  "attachment_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
  "display_attachment_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
  "declined_note": "",
  "e_invoice_type": "zugferd",
  "has_duplicates": false,
  "invoice_number": "QONTO-JAN-2022",
  "supplier_name": "McDonald's",
  "vat_number": "IT12345678901",
  "tin": "1234567890",
  "description": "This is an invoice for Ronald!",
  "total_amount": {"value": "22.10", "currency": "EUR"},
  "total_amount_excluding_taxes": {"value": "18.42", "currency": "EUR"},
  "total_tax_amount": {"value": "3.68", "currency": "EUR"},
  "taxes": [{"tax_amount": {"value": "3.68", "currency": "EUR"}, "tax_rate": "0.20"}],
  "issue_date": "2022-03-01",
  "due_date": "2022-03-01",
  "payment_date": "2022-03-01",
  "scheduled_date": "2022-03-01",
  "iban": "FR1420041010050500013M02606",
  "initiator_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
  "source": "email_forward",
  "is_attachment_invoice": true,
  "attachment_category": "INVOICE",
  "is_attachment_non_financial": true,
  "analyzed_at": "2022-03-04T17:58:30+02:00",
  "matched_transactions_ids": ["4d5418bb-bd0d-4df4-865c-c07afab8bb48"],
  "matched_transactions": [
    {
      "subject_id": "4d5418bb-bd0d-4df4-865c-c07afab8bb48",
      "subject_type": "transfer",
      "transaction_id": "4d5418bb-bd0d-4df4-865c-c07afab8bb48"
    }
  ],
  "transfer_ids": ["4d5418bb-bd0d-4df4-865c-c07afab8bb48"],
  "request_transfer": {
    "id": "4d5418bb-bd0d-4df4-865c-c07afab8bb48",
    "initiator_id": "4d5418bb-bd0d-4df4-865c-c07afab8bb48"
  },
  "einvoicing_lifecycle_events": [
    {
      "status_code": 200,
      "reason": "DOUBLE FACTURE",
      "reason_message": "I already received this invoice",
      "timestamp": "2024-12-04T11:05:16.4497Z"
    }
  ],
  "meta": {
    "integration_type": "amazon",
    "connector": "grover",
    "accounting_recorded_at": "2023-11-07T05:31:56Z",
    "accounting_recorded_source": "regate"
  },
  "available_actions": {
    "delete": true,
    "archive": true,
    "unarchive": true,
    "pay": true,
    "reasons": {
      "pay": ["is_credit_note"],
      "delete": ["invalid_status"],
      "archive": ["invalid_status"],
      "unarchive": ["invalid_status"]
    }
  },
  "approval_workflow": {
    "approver_ids": ["3c90c3cc-0d44-4b50-8888-8dd25736052a"],
    "supplier_invoice_request_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
    "verified_by": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
    "last_approved_by": "3c90c3cc-0d44-4b50-8888-8dd25736052a"
  },
  "payable_amount": {"value": "22.10", "currency": "EUR"},
  "total_amount_credit_notes": {"value": "22.10", "currency": "EUR"},
  "is_credit_note": false,
  "has_suggested_credit_notes": false,
  "related_invoices": [
    {
      "id": "4d5418bb-bd0d-4df4-865c-c07afab8bb48",
      "invoice_number": "QONTO-JAN-2022",
      "total_amount": {"value": "22.10", "currency": "EUR"},
      "attachment_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
      "file_name": "my-invoice.pdf"
    }
  ],
  "suggested_transactions": [{"id": "4d5418bb-bd0d-4df4-865c-c07afab8bb48", "score": "0.8"}]
}
"""
)
SEED_ID = SEED_OBJECT["id"]


class NoSleep:
    """A sleep that records the delays it was asked for and returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def wire(invoice_id: str = SEED_ID, status: str = "to_review", **fields: Any) -> dict[str, Any]:
    """The seed object with another id, status or fields."""
    data = json.loads(json.dumps(SEED_OBJECT))
    data.update(id=invoice_id, status=status, **fields)
    return data


def make_fake(**kwargs: Any) -> FakeQonto:
    """A fake with no rate limit (tests that exercise the limit build their own)."""
    kwargs.setdefault("rate_limit", None)
    kwargs.setdefault("access_token", TOKEN)
    return FakeQonto(**kwargs)


def make_client(fake: FakeQonto, **kwargs: Any) -> QontoClient:
    """A client on ``fake``'s transport that never really sleeps nor throttles."""
    kwargs.setdefault("rate_limit", None)
    kwargs.setdefault("sleep", NoSleep())
    if "login" not in kwargs and "token_provider" not in kwargs:
        kwargs.setdefault("access_token", TOKEN)
    return QontoClient(transport=fake.transport, **kwargs)


def posts(fake: FakeQonto, path_contains: str = "") -> int:
    return len(fake.requests_to("POST", path_contains))
