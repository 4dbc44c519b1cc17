"""Readable reprs and notebook HTML for models and collections."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, timezone
from decimal import Decimal

import attrs

from qondor_invoicing import (
    Customer,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceList,
    InvoiceState,
    Money,
    SupplierInvoice,
    SupplierInvoiceStatus,
)
from qondor_invoicing._render import html_table, jsonable, text_table
from qondor_invoicing.reconcile import (
    Book,
    Discrepancy,
    DiscrepancyReason,
    Fail,
    Plan,
    Report,
    StepResult,
    StepStatus,
)


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


# -- reprs that show what a person looks for ----------------------------------------------


def _lines() -> list[InvoiceLine]:
    return [
        InvoiceLine(
            article_code=f"ART-{n}",
            description=f"Article {n}",
            quantity=Decimal(n),
            vat_rate=Decimal(25),
            amount_excl_vat=Decimal(100 * n),
            amount_incl_vat=Decimal(125 * n),
        )
        for n in range(1, 8)
    ]


def test_invoice_repr_shows_lines_and_sorted_allowed_actions() -> None:
    invoice = attrs.evolve(_invoice(), kind=InvoiceKind.INVOICE_SPECIFICATION, lines=_lines())
    text = repr(invoice)
    assert "lines=[ART-1 x1 125; ART-2 x2 250;" in text
    assert "... 2 more]" in text
    assert text.endswith("allowed_actions=[set_as_paid, set_as_processed, set_as_unprocessed])")


def test_invoice_html_has_its_lines_and_allowed_actions() -> None:
    invoice = attrs.evolve(_invoice(), lines=_lines()[:2])
    page = invoice._repr_html_()
    assert "<caption>2 line(s)</caption>" in page
    assert "<td>ART-2</td><td>Article 2</td><td>2</td>" in page
    # A processed credit note: it may be set as paid or processed again, never reverted.
    assert "allowed actions: set_as_paid, set_as_processed</p>" in page
    assert page.index("<td>kind</td>") < page.index("<td>customer</td>")


def test_allowed_actions_print_in_the_same_order_whatever_the_hash_seed() -> None:
    code = (
        "from qondor_invoicing import Invoice, InvoiceKind, InvoiceState\n"
        "print(Invoice(id=1, kind=InvoiceKind.INVOICE_SPECIFICATION,"
        " state=InvoiceState.PROCESSED).allowed_actions())"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in range(4)
    }
    assert outputs == {
        "frozenset({InvoiceAction.SET_AS_PAID, InvoiceAction.SET_AS_PROCESSED, "
        "InvoiceAction.SET_AS_UNPROCESSED})\n"
    }


def test_supplier_invoice_leads_with_what_a_person_looks_for() -> None:
    si = SupplierInvoice(
        id="si-1",
        status=SupplierInvoiceStatus.TO_PAY,
        file_name="ovh.pdf",
        supplier_name="OVH",
        invoice_number="FA-1",
        total_amount=Money("22.10", "EUR"),
        due_date=date(2026, 1, 31),
    )
    text = repr(si)
    assert text.startswith(
        "SupplierInvoice(supplier_name='OVH', invoice_number='FA-1', "
        "total_amount=Money(amount=Decimal('22.10'), currency='EUR'), "
        "status=<SupplierInvoiceStatus.TO_PAY: 'to_pay'>, "
        "due_date=datetime.date(2026, 1, 31), id='si-1', file_name='ovh.pdf'"
    )
    page = si._repr_html_()
    order = ["supplier_name", "invoice_number", "total_amount", "status", "due_date", "id"]
    positions = [page.index(f"<td>{name}</td>") for name in order]
    assert positions == sorted(positions)
    assert page.index("<td>id</td>") < page.index("<td>file_name</td>")
    assert "<td>22.10 EUR</td>" in page


def test_money_customer_and_line_render_as_text_and_html() -> None:
    money = Money("1250.5", "NOK")
    assert str(money) == "1250.5 NOK"
    assert "1 250.50 NOK" in money._repr_html_()
    customer = Customer(name="Acme <Corp>", number="10045", external_reference="CUST-999")
    assert repr(customer) == (
        "Customer(name='Acme <Corp>', number='10045', external_reference='CUST-999')"
    )
    assert "Acme &lt;Corp&gt;" in customer._repr_html_()
    line = _lines()[0]
    assert repr(line).startswith("InvoiceLine(article_code='ART-1', description='Article 1'")
    assert "<td>vat_rate</td><td>25</td>" in line._repr_html_()


def test_plan_and_report_set_book_fail_and_needs_person_apart_with_amounts() -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    book = attrs.evolve(_invoice(), id=1, kind=InvoiceKind.INVOICE_SPECIFICATION)
    fail = attrs.evolve(book, id=2)
    card = attrs.evolve(book, id=3, kind=InvoiceKind.CREDIT_CARD_PAYMENT)
    steps = [
        Discrepancy(id=3, reason=DiscrepancyReason.CREDIT_CARD_INVALID, detail="bad", invoice=card),
        Fail(invoice=fail, failure_message="Article code 'X' not found"),
        Book(invoice=book),
    ]
    plan = Plan.of(steps, created_at=now, queue_size=3)
    text = str(plan)
    titles = ["To book, then SetAsProcessed (1)", "To fail (SetAsFailed is final) (1)"]
    titles.append("Needs a person (1)")
    assert [ln for ln in text.splitlines() if ln in titles] == titles
    assert text.count("-1 250.50 NOK") == 3
    assert plan._repr_html_().count("<caption>") == 3
    results = [
        StepResult(step=steps[2], status=StepStatus.DONE, external_reference="FIN-1"),
        StepResult(step=steps[1], status=StepStatus.DEFERRED, detail="timeout; stays queued"),
        StepResult(step=steps[0], status=StepStatus.NEEDS_PERSON, detail="bad"),
    ]
    report = Report(
        plan=plan, results=tuple(results), dry_run=False, started_at=now, finished_at=now
    )
    text = report.render(width=70)
    assert [ln for ln in text.splitlines() if ln.endswith("(1)")] == [
        "Done (1)",
        "Needs a person (1)",
        "Deferred: retried on the next run (1)",
    ]
    assert max(len(ln) for ln in text.splitlines()) <= 70
    assert report.to_dict()["results"][0]["amount"] == {"amount": "-1250.50", "currency": "NOK"}
    handed = StepResult(step=steps[2], status=StepStatus.HANDED_OVER, detail="lease lost")
    report = attrs.evolve(report, results=(handed,))
    assert "Handed over: another worker took the payment over (1)" in str(report).splitlines()
    assert "lease lost" in report._repr_html_()
