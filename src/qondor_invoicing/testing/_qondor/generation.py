"""Generated payments for the Qondor fake: customers, lines of articles, totals."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

import attrs

from ...qondor.models import InvoiceKind
from .._shared import Generator
from .state import StoredInvoice

__all__ = ["PaymentFactory", "totals"]

_CENT: Final = Decimal("0.01")


@attrs.frozen
class _Article:
    code: str
    description: str
    category: str
    vat_rate: int
    unit_price: Decimal
    account: str


_ARTICLES: Final = (
    _Article("ROOM-DLX", "Deluxe double room", "Accommodation", 12, Decimal("1890.00"), "3020"),
    _Article("ROOM-STD", "Standard single room", "Accommodation", 12, Decimal("1450.00"), "3020"),
    _Article("CONF-DAY", "Conference day package", "Conference", 25, Decimal("795.00"), "3000"),
    _Article(
        "CONF-ROOM", "Plenary room hire, full day", "Conference", 25, Decimal("12500"), "3000"
    ),
    _Article("DINNER-3C", "Three-course dinner", "Food and beverage", 15, Decimal("695"), "3010"),
    _Article("LUNCH-BUF", "Lunch buffet", "Food and beverage", 15, Decimal("325.00"), "3010"),
    _Article("BUS-AIRPORT", "Bus transfer airport-hotel", "Transport", 12, Decimal("350"), "3020"),
    _Article("AV-TECH", "AV equipment and technician", "Equipment", 25, Decimal("8900"), "3000"),
    _Article("ACT-RIB", "RIB safari on the fjord", "Activities", 25, Decimal("1150.00"), "3000"),
    _Article("VENUE-CPH", "Venue hire, Copenhagen", "Venue abroad", 0, Decimal("24000"), "3100"),
)
_CUSTOMERS: Final = (
    (301, "10045", "Acme Corp AS", "CUST-999", "987654321"),
    (302, "10046", "Nordlys Konferanse AS", "CUST-1002", "912345678"),
    (303, "10047", "Fjord Pharma ASA", "CUST-1003", "923456789"),
    (304, "10048", "Bergen Tech Forum", "CUST-1004", "934567890"),
    (305, "10049", "Norsk Medisinsk Selskap", "CUST-1005", "945678901"),
    (306, "10050", "Vestland Energi AS", "CUST-1006", "956789012"),
)
_CARD_PAYERS: Final = ("Kari Nordmann", "Ola Hansen", "Ingrid Berg", "Lars Johansen")
_FAILURE_MESSAGES: Final = (
    "Article code 'ROOM-DLX' not found in finance system",
    "Customer 'Acme Corp' (ref: CUST-999) not found",
    "VAT rate 12% not configured for product category 'Accommodation'",
)


def _money(value: Decimal) -> float:
    # C# decimals serialise as JSON numbers; a float carries two decimals exactly enough.
    return float(value.quantize(_CENT, rounding=ROUND_HALF_UP))


def _line(article: _Article, quantity: int, sign: int = 1) -> dict[str, Any]:
    excl = (article.unit_price * quantity * sign).quantize(_CENT, rounding=ROUND_HALF_UP)
    vat = (excl * article.vat_rate / 100).quantize(_CENT, rounding=ROUND_HALF_UP)
    return {
        "description": article.description,
        "articleCode": article.code,
        "articleCategory": article.category,
        "quantity": quantity,
        "unitPrice": _money(article.unit_price),
        "amountExclVat": _money(excl),
        "vatRate": article.vat_rate,
        "vatAmount": _money(vat),
        "amountInclVat": _money(excl + vat),
        "accountCode": article.account,
    }


def _article(line: Mapping[str, Any]) -> _Article:
    code = line.get("articleCode")
    for article in _ARTICLES:
        if article.code == code:
            return article
    return _Article(
        str(code),
        str(line.get("description") or code),
        str(line.get("articleCategory") or ""),
        int(line.get("vatRate") or 0),
        Decimal(repr(line.get("unitPrice") or 0)),
        str(line.get("accountCode") or ""),
    )


def totals(lines: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """``totalExclVat``, ``totalVat`` and ``totalInclVat`` of the lines."""

    def total(key: str) -> Decimal:
        return sum(
            (Decimal(repr(line[key])) for line in lines if isinstance(line.get(key), (int, float))),
            Decimal(0),
        )

    return {
        "totalExclVat": _money(total("amountExclVat")),
        "totalVat": _money(total("vatAmount")),
        "totalInclVat": _money(total("amountInclVat")),
    }


class PaymentFactory(Generator):
    """Builds the wire content of payments (everything but id, kind and state fields)."""

    def __init__(self) -> None:
        super().__init__(0)

    def failure_message(self) -> str:
        """A message a finance system would give for a failed payment."""
        return self.rng.choice(_FAILURE_MESSAGES)

    def generate(
        self,
        invoice_id: int,
        kind: InvoiceKind,
        existing: Iterable[StoredInvoice],
    ) -> dict[str, Any]:
        """The camelCase payload of a new payment; a credit note cancels the last invoice.

        Args:
            invoice_id: Its id.
            kind: Its kind.
            existing: The payments stored so far.
        """
        rng = self.rng
        issued = date(2024, 1, 8) + timedelta(days=rng.randrange(0, 330))
        project_id = 4000 + rng.randrange(1, 400)
        payload: dict[str, Any] = {
            "invoiceNumber": str(100000 + invoice_id % 100000),
            "projectId": project_id,
            "projectNo": f"P-{issued.year}-{project_id % 1000:04d}",
        }
        credited: StoredInvoice | None = None
        if kind is InvoiceKind.CREDIT_CARD_PAYMENT:
            payer = rng.choice(_CARD_PAYERS)
            # The booker paid by card through a registration form: a person, not a customer
            # record with a number.
            payload["customer"] = {
                "name": payer,
                "email": payer.lower().replace(" ", ".") + "@example.no",
            }
            articles = rng.sample(
                [a for a in _ARTICLES if a.category in ("Conference", "Food and beverage")], k=2
            )
            lines = [_line(a, rng.randrange(1, 3)) for a in articles]
            due = issued
        else:
            cid, number, name, ref, org = rng.choice(_CUSTOMERS)
            payload["customer"] = {
                "id": cid,
                "customerNumber": number,
                "name": name,
                "externalReference": ref,
                "organisationNumber": org,
                "vatNumber": f"NO{org}MVA",
                "email": f"invoice@{name.split()[0].lower()}.no",
            }
            if kind is InvoiceKind.CREDIT_NOTE:
                originals = [
                    s
                    for s in existing
                    if s.kind is InvoiceKind.INVOICE_SPECIFICATION and s.id != invoice_id
                ]
                credited = originals[-1] if originals else None
            if credited is not None:
                payload["customer"] = dict(credited.payload.get("customer") or payload["customer"])
                payload["projectId"] = credited.payload.get("projectId", project_id)
                payload["projectNo"] = credited.payload.get("projectNo", payload["projectNo"])
                original_lines = [
                    line for line in credited.payload.get("lines", []) if isinstance(line, Mapping)
                ]
                # A credit note cancels the original, line by line, with negative amounts.
                lines = [
                    _line(_article(line), int(line.get("quantity") or 1), sign=-1)
                    for line in original_lines
                ]
                issued = max(issued, date.fromisoformat(credited.payload["issueDate"]))
            else:
                articles = rng.sample(_ARTICLES, k=rng.randrange(1, 5))
                lines = [_line(a, rng.randrange(1, 41)) for a in articles]
                if kind is InvoiceKind.CREDIT_NOTE:
                    lines = [_line(_article(line), int(line["quantity"]), -1) for line in lines]
            due = issued + timedelta(days=14)
        payload.update(
            currency="NOK",
            currencyCode=578,
            issueDate=issued.isoformat(),
            dueDate=due.isoformat(),
            creditedInvoiceId=credited.id if credited is not None else None,
            lines=lines,
            **totals(lines),
        )
        return payload
