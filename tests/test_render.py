"""Readable reprs and notebook HTML for models and collections."""

from __future__ import annotations

from decimal import Decimal

from qondor_invoicing import Customer, Invoice, InvoiceKind, InvoiceList, InvoiceState, Money
from qondor_invoicing._render import html_table, jsonable, text_table


def _invoice() -> Invoice:
    return Invoice(
        id=7,
        kind=InvoiceKind.CREDIT_NOTE,
        state=InvoiceState.PROCESSED,
        customer=Customer(name="Acme <Corp>"),
        total_incl_vat=Decimal("-1250.50"),
        currency="NOK",
        raw={"secretish": "not shown"},
    )


def test_invoice_repr_is_short_and_readable() -> None:
    text = repr(_invoice())
    assert text.startswith("Invoice(id=7, kind=credit_note, state=processed")
    assert "'Acme <Corp>'" in text
    assert "-1 250.50" in text
    assert "secretish" not in text


def test_invoice_and_list_html_are_escaped_tables() -> None:
    html = _invoice()._repr_html_()
    assert html.startswith("<table>")
    assert "Acme &lt;Corp&gt;" in html
    assert "secretish" not in html
    listing = InvoiceList([_invoice(), _invoice()])
    assert isinstance(listing, list)
    table = listing._repr_html_()
    assert "2 payment(s)" in table
    assert table.count("<tr>") == 3


def test_text_table_aligns_and_clips() -> None:
    table = text_table(["a", "b"], [[1, "x" * 100], [None, Money("2.5", "EUR")]], max_width=10)
    lines = table.splitlines()
    assert lines[0].startswith("a  b")
    assert lines[2].endswith("…")
    assert lines[3].endswith("2.50 EUR")


def test_html_table_escapes_headers_and_cells() -> None:
    assert "&lt;b&gt;" in html_table(["<b>"], [["<b>"]])


def test_jsonable_keeps_money_exact() -> None:
    data = jsonable(_invoice())
    assert data["total_incl_vat"] == "-1250.50"
    assert data["kind"] == InvoiceKind.CREDIT_NOTE.value
    assert "raw" not in data
    assert jsonable(Money("22.10", "EUR")) == {"amount": "22.10", "currency": "EUR"}


def test_supplier_invoice_and_page_render() -> None:
    from qondor_invoicing import SupplierInvoice, SupplierInvoiceStatus
    from qondor_invoicing.qonto.pagination import Page, PaginationMeta

    si = SupplierInvoice(
        id="abc",
        status=SupplierInvoiceStatus.PAID,
        invoice_number="FIN-1",
        total_amount=Money("22.10", "EUR"),
    )
    assert "FIN-1" in si._repr_html_()
    page = Page(items=(si, si), meta=PaginationMeta(total_count=5, next_page=2), page=1)
    assert repr(page) == "<Page 1: 2 item(s) of 5, next page 2>"
    html = page._repr_html_()
    assert html.count("<tr>") == 3
    assert "22.10 EUR" in html
