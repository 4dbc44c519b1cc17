"""The operator CLI: ``qondor-invoicing`` (or ``python -m qondor_invoicing``).

Credentials come from the environment only (``QONDOR_API_KEY``, ``QONTO_ACCESS_TOKEN`` or
``QONTO_LOGIN`` + ``QONTO_SECRET_KEY``, ...), never from arguments that would land in shell
history. Output is a table for people, or JSON with ``--json`` for scripts. Expected errors
print one line naming what went wrong and what to do, and exit non-zero without a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import sys
from collections.abc import Callable, Sequence
from datetime import date
from importlib import metadata as _metadata
from typing import IO, Any

import anyio

from ._render import json_text, printable, text_table
from .errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    ConfigurationError,
    IllegalTransitionError,
    InvalidInputError,
    InvoicingError,
    NotFoundError,
)
from .qondor import Invoice, QondorClient
from .qonto import QontoClient, SupplierInvoice, SupplierInvoiceStatus

try:
    __version__ = _metadata.version("qondor-invoicing")
except _metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
    from . import __version__

__all__ = ["ClientFactory", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_NOT_FOUND = 4
EXIT_INTERRUPTED = 130


class ClientFactory:
    """Builds the clients the commands use. Tests pass one wired to the fakes."""

    def qondor(self) -> QondorClient:
        """A Qondor client configured from the environment, as the library reads it."""
        return QondorClient()

    def qonto(self) -> QontoClient:
        """A Qonto client configured from the environment, as the library reads it."""
        return QontoClient()


class _Output:
    """Where the commands print. Every line goes through `printable`: data from a server
    (a failure message, a supplier name) never reaches the terminal as control characters."""

    def __init__(self, stdout: IO[str], stderr: IO[str], as_json: bool) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.as_json = as_json
        self.width = max(shutil.get_terminal_size().columns, 40)

    def json(self, value: Any) -> None:
        self.stdout.write(json_text(value) + "\n")

    def line(self, text: str = "") -> None:
        self.stdout.write(printable(text, keep_newlines=True) + "\n")

    def info(self, text: str) -> None:
        self.stderr.write(printable(text, keep_newlines=True) + "\n")

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.line(text_table(headers, rows, width=self.width))


def _invoice_rows(invoices: Sequence[Invoice]) -> list[list[Any]]:
    rows = []
    for inv in invoices:
        customer = inv.customer.name if inv.customer and inv.customer.name else ""
        rows.append(
            [
                inv.id,
                inv.kind,
                inv.state,
                inv.invoice_number,
                customer,
                inv.total(),
                inv.external_reference,
            ]
        )
    return rows


_INVOICE_HEADERS = ["id", "kind", "state", "number", "customer", "total", "ext ref"]


def _show_invoice(out: _Output, inv: Invoice) -> None:
    if out.as_json:
        out.json(inv)
        return
    out.table(_INVOICE_HEADERS, _invoice_rows([inv]))
    if inv.lines:
        out.line()
        out.table(
            ["article", "description", "qty", "excl. VAT", "VAT %", "incl. VAT"],
            [
                [
                    ln.article_code,
                    ln.description,
                    ln.quantity,
                    ln.amount_excl_vat,
                    ln.vat_rate,
                    ln.amount_incl_vat,
                ]
                for ln in inv.lines
            ],
        )
    allowed = sorted(a.name for a in inv.allowed_actions())
    out.line()
    out.line(f"allowed actions: {', '.join(allowed) or 'none'}")
    if inv.failure_message:
        out.line(f"failure message: {inv.failure_message}")


_SI_HEADERS = ["id", "status", "number", "supplier", "total", "due", "paid on"]


def _si_rows(items: Sequence[SupplierInvoice]) -> list[list[Any]]:
    return [
        [
            si.id,
            si.status,
            si.invoice_number,
            si.supplier_name,
            si.total_amount,
            getattr(si, "due_date", None),
            si.payment_date,
        ]
        for si in items
    ]


def _show_si(out: _Output, si: SupplierInvoice) -> None:
    if out.as_json:
        out.json(si)
    else:
        out.table(_SI_HEADERS, _si_rows([si]))


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not an invoice id (a positive integer)")
    return value


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date in YYYY-MM-DD form") from None


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON for scripts")

    p = argparse.ArgumentParser(
        prog="qondor-invoicing",
        description=(
            "Operate the Qondor invoicing queue and Qonto supplier invoices. Credentials come "
            "from the environment: QONDOR_API_KEY (QONDOR_ENVIRONMENT=prod|test|dev), "
            "QONTO_ACCESS_TOKEN or QONTO_LOGIN + QONTO_SECRET_KEY (QONTO_STAGING_TOKEN for "
            "the sandbox)."
        ),
    )
    p.add_argument(
        "--backend", choices=["asyncio", "trio"], default="asyncio", help="async backend"
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="run a full reconcile on the built-in fakes (no credentials, no network)",
    )
    demo.add_argument("--payments", type=int, default=40, help="payments to seed (default 40)")
    demo.add_argument("--seed", type=int, default=7, help="random seed of the demo data")

    sub.add_parser("queue", parents=[common], help="list the unprocessed payments")
    show = sub.add_parser("show", parents=[common], help="show one payment")
    show.add_argument("id", type=_positive_int)

    rec = sub.add_parser(
        "reconcile", parents=[common], help="plan (default) or apply a reconcile run"
    )
    rec.add_argument("--apply", action="store_true", help="act on the plan (default: dry run)")
    rec.add_argument("--journal", metavar="PATH", help="SQLite journal file (resumable runs)")
    rec.add_argument(
        "--finance",
        metavar="MODULE:ATTR",
        required=True,
        help="import path of your FinanceSystem (or a zero-argument factory returning one)",
    )
    rec.add_argument("--concurrency", type=int, default=4)

    unproc = sub.add_parser(
        "set-unprocessed",
        parents=[common],
        help="return a processed payment to the queue (admin recovery only)",
    )
    unproc.add_argument("id", type=_positive_int)
    unproc.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    qonto = sub.add_parser("qonto", help="Qonto supplier invoices")
    qsub = qonto.add_subparsers(dest="qonto_command", required=True, metavar="COMMAND")
    ql = qsub.add_parser("list", parents=[common], help="list supplier invoices")
    ql.add_argument(
        "--status",
        action="append",
        default=[],
        help="filter by status (repeatable), e.g. --status paid",
    )
    ql.add_argument("--limit", type=int, default=50, help="most invoices to print (default 50)")
    qs = qsub.add_parser("show", parents=[common], help="show one supplier invoice")
    qs.add_argument("id")
    qm = qsub.add_parser("mark-paid", parents=[common], help="mark a supplier invoice as paid")
    qm.add_argument("id")
    qm.add_argument(
        "--payment-date", type=_iso_date, default=None, help="YYYY-MM-DD (default: today)"
    )
    qu = qsub.add_parser("unmark-paid", parents=[common], help="unmark a supplier invoice as paid")
    qu.add_argument("id")
    return p


async def _queue(args: argparse.Namespace, out: _Output, factory: ClientFactory) -> int:
    async with factory.qondor() as qondor:
        invoices = await qondor.invoices.list_unprocessed()
    if out.as_json:
        out.json(list(invoices))
    else:
        out.table(_INVOICE_HEADERS, _invoice_rows(list(invoices)))
        out.line(f"{len(invoices)} unprocessed payment(s)")
    return EXIT_OK


async def _show(args: argparse.Namespace, out: _Output, factory: ClientFactory) -> int:
    async with factory.qondor() as qondor:
        inv = await qondor.invoices.get(args.id)
    _show_invoice(out, inv)
    return EXIT_OK


async def _set_unprocessed(
    args: argparse.Namespace, out: _Output, factory: ClientFactory, confirm: Callable[[str], bool]
) -> int:
    async with factory.qondor() as qondor:
        inv = await qondor.invoices.get(args.id)
        if not args.yes and not confirm(
            f"Return payment {inv.id} ({inv.kind.name.lower()}, {inv.state.name.lower()}) to the "
            "unprocessed queue? It will be picked up again by the integration. [y/N] "
        ):
            out.info("aborted: nothing was changed")
            return EXIT_FAILED
        updated = await qondor.invoices.set_as_unprocessed(inv)
    _show_invoice(out, updated)
    return EXIT_OK


async def _qonto(args: argparse.Namespace, out: _Output, factory: ClientFactory) -> int:
    async with factory.qonto() as qonto:
        invoices = qonto.supplier_invoices
        if args.qonto_command == "list":
            statuses = [SupplierInvoiceStatus(s) for s in args.status] or None
            items: list[SupplierInvoice] = []
            async for si in invoices.list(status=statuses):
                items.append(si)
                if len(items) >= args.limit:
                    break
            if out.as_json:
                out.json(items)
            else:
                out.table(_SI_HEADERS, _si_rows(items))
            return EXIT_OK
        if args.qonto_command == "show":
            si = await invoices.get(args.id)
        elif args.qonto_command == "mark-paid":
            si = await invoices.mark_as_paid(
                args.id, payment_date=args.payment_date or date.today()
            )
        else:
            si = await invoices.unmark_as_paid(args.id)
    _show_si(out, si)
    return EXIT_OK


_ENV_VAR = re.compile(r"\b(?:QONDOR|QONTO)_[A-Z_]+\b")
# The library's messages name both ways to configure it (an argument, or the environment);
# the CLI has only the environment.
_PYTHON_TERMS = (
    (re.compile(r"pass [^:]*?,? or set "), "set "),
    (re.compile(r"(?:\w+= \+ )?\w+= \(or ([^)]*)\)"), r"\1"),
    (re.compile(r", or \w+= and \w+=\)"), ")"),
    (re.compile(r" \(or pass base_url=\)"), " (or set QONDOR_BASE_URL)"),
)


def _cli_terms(message: str) -> str:
    for pattern, replacement in _PYTHON_TERMS:
        message = pattern.sub(replacement, message)
    return message


def _hint(exc: BaseException) -> str:
    if isinstance(exc, ConfigurationError):
        return "see --help for the environment variables" if _ENV_VAR.search(str(exc)) else ""
    if isinstance(exc, AuthenticationError):
        return "check the credentials in the environment"
    if isinstance(exc, NotFoundError):
        return "check the id"
    if isinstance(exc, IllegalTransitionError):
        return "nothing was sent; see `show` for the allowed actions"
    if isinstance(exc, APIConnectionError):
        return "check the network and retry"
    if isinstance(exc, APIStatusError) and exc.status_code >= 500:
        return "the API failed; retry later"
    return ""


def _exit_code(exc: BaseException) -> int:
    if isinstance(exc, (ConfigurationError, InvalidInputError)):
        return EXIT_USAGE
    if isinstance(exc, IllegalTransitionError):
        return EXIT_REFUSED
    if isinstance(exc, NotFoundError):
        return EXIT_NOT_FOUND
    return EXIT_FAILED


def _ask(prompt: str) -> bool:
    if not sys.stdin.isatty():
        return False
    return input(prompt).strip().lower() in ("y", "yes")


def main(
    argv: Sequence[str] | None = None,
    *,
    factory: ClientFactory | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
    confirm: Callable[[str], bool] | None = None,
) -> int:
    """Run the CLI and return its exit status.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).
        factory: Builds the clients (default: from the environment).
        stdout: Where results go.
        stderr: Where errors and progress go.
        confirm: Asks the operator a yes/no question (default: the terminal; refuses when
            stdin is not a terminal).

    Returns:
        0 on success, 1 when an operation failed, 2 for usage or configuration errors,
        3 when a state change was refused before sending, 4 when a record was not found,
        5 when ``reconcile`` left steps for a person or deferred some to the next run,
        130 when interrupted.
    """
    out_stream = stdout or sys.stdout
    err_stream = stderr or sys.stderr
    try:
        with contextlib.redirect_stdout(out_stream), contextlib.redirect_stderr(err_stream):
            args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed its message
        return int(exc.code or 0)
    out = _Output(out_stream, err_stream, getattr(args, "json", False))
    factory = factory or ClientFactory()
    ask = confirm or _ask

    async def run() -> int:
        from . import _cli_reconcile

        if args.command == "demo":
            return await _cli_reconcile.demo(args, out)
        if args.command == "reconcile":
            return await _cli_reconcile.reconcile(args, out, factory)
        if args.command == "queue":
            return await _queue(args, out, factory)
        if args.command == "show":
            return await _show(args, out, factory)
        if args.command == "set-unprocessed":
            return await _set_unprocessed(args, out, factory, ask)
        return await _qonto(args, out, factory)

    try:
        return anyio.run(run, backend=args.backend)
    except KeyboardInterrupt:
        err_stream.write("interrupted\n")
        return EXIT_INTERRUPTED
    except (InvoicingError, ValueError) as exc:
        hint = _hint(exc)
        name = type(exc).__name__
        message = _cli_terms(str(exc)) if isinstance(exc, ConfigurationError) else str(exc)
        text = f"error: {name}: {message}" + (f" ({hint})" if hint else "")
        err_stream.write(printable(text) + "\n")
        return _exit_code(exc)
