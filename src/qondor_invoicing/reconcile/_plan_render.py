"""How a `Plan` and a `Report` read: one-line summaries, text and HTML tables, plain data.

`plan.py` keeps the steps and the two result classes; their ``summary``, ``rows``,
``render``, ``_repr_html_`` and ``to_dict`` methods delegate here.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from .._render import html_table, jsonable, printable, text_table
from ..money import Money
from . import plan as _plan

if TYPE_CHECKING:
    from ..qondor.models import Invoice
    from .plan import Plan, Report, Step

_PLAN_HEADERS: Final = ["payment", "kind", "amount", "detail"]
_PLAN_TITLES: Final = {
    "book": "To book, then SetAsProcessed",
    "fail": "To fail (SetAsFailed is final)",
    "settle": "To settle (SetAsPaid)",
    "close": "To close in the journal",
    "discrepancy": "Needs a person",
    "skip": "Skipped: stay in the queue",
}
_REPORT_HEADERS: Final = ["payment", "step", "amount", "detail"]
_REPORT_TITLES: Final = {
    "done": "Done",
    "needs_person": "Needs a person",
    "deferred": "Deferred: retried on the next run",
    "handed_over": "Handed over: another worker took the payment over",
    "skipped": "Skipped",
    "planned": "Planned (dry run: nothing was done)",
}


def _label(invoice: Invoice | None, invoice_id: int) -> str:
    if invoice is not None and invoice.invoice_number:
        return f"{invoice_id} ({invoice.invoice_number})"
    return str(invoice_id)


def _kind_cell(step: Step) -> str:
    invoice = step.invoice
    return invoice.kind.value if invoice is not None else ""


def _amount(step: Step) -> Money | None:
    invoice = step.invoice
    return invoice.total() if invoice is not None else None


def _summary(counts: dict[str, int], order: Sequence[str]) -> str:
    parts = [f"{counts[k]} {k}" for k in order if counts.get(k)]
    return ", ".join(parts) if parts else "nothing"


def _step_dict(step: Step) -> dict[str, Any]:
    data: dict[str, Any] = {
        "step": step.kind.value,
        "invoice_id": step.invoice_id,
        "detail": step.describe(),
    }
    if step.invoice is not None:
        data["kind"] = step.invoice.kind.value
        data["invoice_number"] = step.invoice.invoice_number
        data["amount"] = jsonable(step.invoice.total())
    return data


# -- Plan ------------------------------------------------------------------------------


def plan_summary(plan: Plan) -> str:
    where = f"queue {plan.queue_size}"
    if plan.supplier_invoices is not None:
        where += f", {plan.supplier_invoices} Qonto supplier invoices"
    return f"Plan: {_summary(plan.counts(), [k.value for k in _plan.StepKind])} ({where})"


def plan_rows(plan: Plan) -> list[list[Any]]:
    return [
        [_label(s.invoice, s.invoice_id), _kind_cell(s), s.kind.value, s.describe()]
        for s in plan.steps
    ]


def _plan_sections(plan: Plan) -> list[tuple[str, list[list[Any]]]]:
    sections = []
    for kind in _plan.StepKind:
        steps = [s for s in plan.steps if s.kind is kind]
        if steps:
            rows = [
                [_label(s.invoice, s.invoice_id), _kind_cell(s), _amount(s), s.describe()]
                for s in steps
            ]
            sections.append((f"{_PLAN_TITLES[kind.value]} ({len(steps)})", rows))
    return sections


def plan_text(plan: Plan, width: int | None) -> str:
    lines = [plan.summary(), *(f"warning: {printable(w)}" for w in plan.warnings)]
    for title, rows in _plan_sections(plan):
        lines += ["", title, text_table(_PLAN_HEADERS, rows, max_width=90, width=width)]
    return "\n".join(lines)


def plan_html(plan: Plan) -> str:
    warnings = "".join(f"<p><b>warning:</b> {html.escape(w)}</p>" for w in plan.warnings)
    tables = "".join(
        html_table(_PLAN_HEADERS, rows, caption=title) for title, rows in _plan_sections(plan)
    )
    return f"<p><b>{html.escape(plan.summary())}</b></p>{warnings}{tables}"


def plan_dict(plan: Plan) -> dict[str, Any]:
    return {
        "created_at": jsonable(plan.created_at),
        "queue_size": plan.queue_size,
        "supplier_invoices": plan.supplier_invoices,
        "counts": plan.counts(),
        "warnings": list(plan.warnings),
        "steps": [_step_dict(s) for s in plan.steps],
    }


# -- Report ----------------------------------------------------------------------------


def report_summary(report: Report) -> str:
    seconds = (report.finished_at - report.started_at).total_seconds()
    head = "Dry run" if report.dry_run else "Report"
    counts = _summary(report.counts(), [s.value for s in _plan.StepStatus])
    return f"{head}: {counts} ({seconds:.1f} s)"


def report_rows(report: Report) -> list[list[Any]]:
    return [
        [
            _label(r.step.invoice, r.step.invoice_id),
            r.step.kind.value,
            r.status.value,
            r.detail or r.step.describe(),
        ]
        for r in report.results
    ]


def _report_sections(report: Report) -> list[tuple[str, list[list[Any]]]]:
    sections = []
    for value, title in _REPORT_TITLES.items():
        results = report.with_status(_plan.StepStatus(value))
        if results:
            rows = [
                [
                    _label(r.step.invoice, r.step.invoice_id),
                    r.step.kind.value,
                    _amount(r.step),
                    r.detail or r.step.describe(),
                ]
                for r in results
            ]
            sections.append((f"{title} ({len(results)})", rows))
    return sections


def report_text(report: Report, width: int | None) -> str:
    lines = [report.summary()]
    for title, rows in _report_sections(report):
        lines += ["", title, text_table(_REPORT_HEADERS, rows, max_width=90, width=width)]
    return "\n".join(lines)


def report_html(report: Report) -> str:
    tables = "".join(
        html_table(_REPORT_HEADERS, rows, caption=title) for title, rows in _report_sections(report)
    )
    return f"<p><b>{html.escape(report.summary())}</b></p>{tables}"


def report_dict(report: Report) -> dict[str, Any]:
    return {
        "dry_run": report.dry_run,
        "started_at": jsonable(report.started_at),
        "finished_at": jsonable(report.finished_at),
        "ok": report.ok,
        "counts": report.counts(),
        "results": [
            {
                **_step_dict(r.step),
                "status": r.status.value,
                "result": r.detail,
                "external_reference": r.external_reference,
            }
            for r in report.results
        ],
    }
