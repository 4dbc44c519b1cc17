"""The CLI's ``demo`` and ``reconcile`` commands (kept apart: they need the reconciler)."""

from __future__ import annotations

import argparse
import importlib
import random
import sys
from collections import Counter
from datetime import date, timedelta
from typing import IO, TYPE_CHECKING, Any

from .errors import ConfigurationError, InvalidInputError
from .qondor import InvoiceKind, InvoiceState, QondorClient
from .qonto import QontoClient
from .reconcile import (
    FinanceSystem,
    InMemoryFinanceSystem,
    Journal,
    MemoryJournal,
    Reconciler,
    Report,
    SqliteJournal,
    Step,
)
from .testing import FakeQondor, FakeQonto

if TYPE_CHECKING:
    from .cli import ClientFactory, _Output

__all__ = ["EXIT_ATTENTION", "ProgressBar", "demo", "reconcile"]

#: ``reconcile`` exit status when steps need a person, or payments wait for the next run
#: because something failed (deferred or skipped steps), so that cron or a scheduler alerts.
EXIT_ATTENTION = 5


class ProgressBar:
    """A progress bar on a terminal; a few plain lines when output is not a terminal."""

    def __init__(self, stream: IO[str], label: str, *, width: int = 30) -> None:
        self.stream = stream
        self.label = label
        self.width = width
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._last_decile = -1

    def __call__(self, done: int, total: int, step: Step) -> None:
        total = max(total, 1)
        if self.tty:
            filled = round(self.width * done / total)
            bar = "#" * filled + "-" * (self.width - filled)
            self.stream.write(f"\r{self.label} [{bar}] {done}/{total}")
            if done >= total:
                self.stream.write("\n")
            self.stream.flush()
            return
        decile = done * 10 // total
        if decile != self._last_decile and (decile % 5 == 0 or done == total):
            self._last_decile = decile
            self.stream.write(f"{self.label}: {done}/{total} steps applied\n")


def _summary(report: Report) -> dict[str, int]:
    return dict(Counter(str(r.status) for r in report.results))


async def demo(args: argparse.Namespace, out: _Output) -> int:
    """Seed both fakes, reconcile twice (book, then settle), print the report and states."""
    if args.payments < 3:
        raise InvalidInputError("--payments", "must be at least 3 (one payment of each kind)")
    fake_qondor = FakeQondor(rate_limit=None)
    fake_qondor.seed(args.payments, random_seed=args.seed)
    fake_qonto = FakeQonto(rate_limit=None)
    fake_qonto.seed(10, random_seed=args.seed)
    rng = random.Random(args.seed)

    async with (
        QondorClient(
            api_key="test-key", transport=fake_qondor.transport, rate_limit=None
        ) as qondor,
        QontoClient(access_token="test-token", transport=fake_qonto.transport) as qonto,
    ):
        queue = await qondor.invoices.list_unprocessed()
        # The finance system knows what the payments refer to, except a few things, so that
        # the demo shows both outcomes: booked and failed with a clear message.
        finance = InMemoryFinanceSystem.accepting(queue)
        articles = sorted(finance.articles)
        customers = sorted(finance.customers)
        if len(articles) > 3:
            finance.articles.discard(rng.choice(articles))
        if len(customers) > 3:
            finance.customers.discard(rng.choice(customers))

        journal = MemoryJournal()
        progress = ProgressBar(out.stderr, "reconcile")
        reconciler = Reconciler(
            qondor, finance=finance, qonto=qonto, journal=journal, progress=progress
        )
        out.info(f"demo: {len(queue)} payments in the Qondor queue (FakeQondor)")
        plan = await reconciler.plan()
        if not out.as_json:
            out.line("Plan (run 1: validate and book)")
            out.line(plan.render(width=out.width))
            out.line()
        first = await reconciler.apply(plan)

        # Qonto sees the money for about half of the booked invoice specifications (card
        # payments cannot be set as paid; credit notes are not paid).
        paid_on = date(2026, 11, 2)
        booked = [
            r
            for r in first.results
            if r.external_reference
            and r.step.invoice is not None
            and r.step.invoice.kind is InvoiceKind.INVOICE_SPECIFICATION
        ]
        for result in booked[: max(1, len(booked) // 2)]:
            invoice = result.step.invoice
            total = invoice.total() if invoice is not None else None
            fake_qonto.add_supplier_invoice(
                invoice_number=result.external_reference,
                status="paid",
                payment_date=(paid_on + timedelta(days=rng.randint(0, 9))).isoformat(),
                total_amount=(
                    {"value": str(total.amount), "currency": total.currency} if total else None
                ),
                supplier_name="Demo customer payment",
            )
        out.info("demo: Qonto now shows payments; run 2 settles them")
        second = await reconciler.run()

    states = Counter((s.kind, s.state) for s in fake_qondor.invoices.values())
    if out.as_json:
        out.json(
            {
                "run_1": _summary(first),
                "run_2": _summary(second),
                "book_calls": sum(finance.book_calls.values()),
                "final_states": [
                    {"kind": k.name, "state": s.name, "count": n}
                    for (k, s), n in sorted(states.items(), key=lambda kv: str(kv[0]))
                ],
            }
        )
        return 0
    out.line("Report (run 1)")
    out.line(first.render(width=out.width))
    out.line()
    out.line("Report (run 2: settlement with Qonto)")
    out.line(second.render(width=out.width))
    out.line()
    out.line("Final states in Qondor")
    rows: list[list[Any]] = [
        [kind, state, states.get((kind, state), 0)]
        for kind in InvoiceKind
        if kind is not InvoiceKind.UNKNOWN
        for state in InvoiceState
        if states.get((kind, state), 0)
    ]
    out.table(["kind", "state", "payments"], rows)
    out.line()
    out.line(
        f"book() called {sum(finance.book_calls.values())} times for "
        f"{len(finance.bookings)} bookings; refused transitions seen by the fakes: "
        f"{len(fake_qondor.refused_requests) + len(fake_qonto.refused_requests)}"
    )
    return 0


def _load_finance(spec: str) -> FinanceSystem:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigurationError(
            f"--finance must look like 'package.module:attribute', not {spec!r}"
        )
    if "" not in sys.path:
        sys.path.insert(0, "")
    try:
        target: Any = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"cannot load the finance system {spec!r}: {exc}") from None
    if callable(target) and not hasattr(target, "book"):
        target = target()
    if not hasattr(target, "book"):
        raise ConfigurationError(f"{spec!r} is not a FinanceSystem (it has no book method)")
    return target  # type: ignore[no-any-return]


async def reconcile(args: argparse.Namespace, out: _Output, factory: ClientFactory) -> int:
    """Plan a reconcile run against the real APIs; apply it with ``--apply``."""
    finance = _load_finance(args.finance)
    journal: Journal = SqliteJournal(args.journal) if args.journal else MemoryJournal()
    qonto: QontoClient | None
    try:
        qonto = factory.qonto()
    except Exception:
        qonto = None
        out.info("note: no Qonto credentials in the environment; settlement is skipped")
    qondor = factory.qondor()
    try:
        reconciler = Reconciler(
            qondor,
            finance=finance,
            qonto=qonto,
            journal=journal,
            concurrency=args.concurrency,
            progress=ProgressBar(out.stderr, "reconcile"),
        )
        plan = await reconciler.plan()
        if not args.apply:
            if out.as_json:
                out.json({"dry_run": True, "plan": plan.to_dict(), "report": None})
            else:
                out.line(plan.render(width=out.width))
                out.info("dry run: nothing was changed (use --apply to act on this plan)")
            return EXIT_ATTENTION if plan.discrepancies or plan.skips else 0
        report = await reconciler.apply(plan)
        if out.as_json:
            out.json({"dry_run": False, "plan": plan.to_dict(), "report": report.to_dict()})
        else:
            out.line(report.render(width=out.width))
        waiting = len(report.deferred) + len(plan.skips)
        if report.needs_person or waiting:
            out.info(
                f"attention: {len(report.needs_person)} step(s) need a person, {waiting} wait "
                f"for the next run (exit status {EXIT_ATTENTION})"
            )
            return EXIT_ATTENTION
        return 0
    finally:
        await qondor.aclose()
        if qonto is not None:
            await qonto.aclose()
