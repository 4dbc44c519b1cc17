"""The operator CLI: every command, --json, error paths and exit statuses, on the fakes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import types

import anyio
import pytest

from qondor_invoicing import InvoiceKind, InvoiceState, QondorClient, QontoClient
from qondor_invoicing.cli import ClientFactory, main
from qondor_invoicing.reconcile import InMemoryFinanceSystem
from qondor_invoicing.testing import FakeQondor, FakeQonto


class FakeFactory(ClientFactory):
    def __init__(self, qondor: FakeQondor, qonto: FakeQonto) -> None:
        self.fake_qondor = qondor
        self.fake_qonto = qonto

    def qondor(self) -> QondorClient:
        return QondorClient(
            api_key="test-key", transport=self.fake_qondor.transport, rate_limit=None
        )

    def qonto(self) -> QontoClient:
        return QontoClient(access_token="test-token", transport=self.fake_qonto.transport)


@pytest.fixture
def fakes() -> tuple[FakeQondor, FakeQonto]:
    qondor = FakeQondor(rate_limit=None)
    qondor.seed(12, random_seed=3)
    qonto = FakeQonto(rate_limit=None)
    qonto.seed(8, random_seed=3)
    return qondor, qonto


def run(
    argv: list[str], factory: ClientFactory | None = None, *, confirm: bool = False
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, factory=factory, stdout=out, stderr=err, confirm=lambda _: confirm)
    return code, out.getvalue(), err.getvalue()


def test_demo_runs_on_the_fakes() -> None:
    code, out, err = run(["demo", "--payments", "20"])
    assert code == 0, err
    assert "Final states in Qondor" in out
    assert "refused transitions seen by the fakes: 0" in out
    assert "Traceback" not in err


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_demo_json(backend: str) -> None:
    code, out, err = run(["--backend", backend, "demo", "--payments", "15", "--json"])
    assert code == 0, err
    data = json.loads(out)
    assert data["book_calls"] >= 1
    assert data["run_1"]["done"] >= 1
    assert {row["state"] for row in data["final_states"]} & {"PROCESSED", "PAID"}


def test_queue_table_and_json(fakes: tuple[FakeQondor, FakeQonto]) -> None:
    factory = FakeFactory(*fakes)
    unprocessed = [s for s in fakes[0].invoices.values() if s.state is InvoiceState.UNPROCESSED]
    code, out, _ = run(["queue"], factory)
    assert code == 0
    assert f"{len(unprocessed)} unprocessed payment(s)" in out
    code, out, _ = run(["queue", "--json"], factory)
    assert code == 0
    ids = sorted(item["id"] for item in json.loads(out))
    assert ids == sorted(s.id for s in unprocessed)


def test_show_and_not_found(fakes: tuple[FakeQondor, FakeQonto]) -> None:
    factory = FakeFactory(*fakes)
    some_id = next(iter(fakes[0].invoices))
    code, out, _ = run(["show", str(some_id)], factory)
    assert code == 0
    assert "allowed actions:" in out
    code, out, _ = run(["show", str(some_id), "--json"], factory)
    assert json.loads(out)["id"] == some_id

    code, out, err = run(["show", "999999"], factory)
    assert code == 4
    assert err.startswith("error: NotFoundError")
    assert err.count("\n") == 1
    assert "check the id" in err


def test_bad_arguments_exit_2(fakes: tuple[FakeQondor, FakeQonto]) -> None:
    factory = FakeFactory(*fakes)
    code, _, err = run(["show", "abc"], factory)
    assert code == 2
    assert "positive integer" in err
    code, _, _ = run(["qonto", "mark-paid", "x", "--payment-date", "10/02/2024"], factory)
    assert code == 2


def test_set_unprocessed_asks_then_acts(fakes: tuple[FakeQondor, FakeQonto]) -> None:
    fake_qondor, _ = fakes
    factory = FakeFactory(*fakes)
    target = fake_qondor.add_invoice(
        kind=InvoiceKind.INVOICE_SPECIFICATION, state=InvoiceState.PROCESSED
    )
    puts_before = len(fake_qondor.requests_to("PUT"))
    code, _, err = run(["set-unprocessed", str(target)], factory, confirm=False)
    assert code == 1
    assert "nothing was changed" in err
    assert len(fake_qondor.requests_to("PUT")) == puts_before

    code, out, _ = run(["set-unprocessed", str(target), "--yes", "--json"], factory)
    assert code == 0
    assert json.loads(out)["state"] == InvoiceState.UNPROCESSED.value
    assert fake_qondor.invoices[target].state is InvoiceState.UNPROCESSED


def test_set_unprocessed_refused_before_sending(fakes: tuple[FakeQondor, FakeQonto]) -> None:
    fake_qondor, _ = fakes
    factory = FakeFactory(*fakes)
    target = fake_qondor.add_invoice(kind=InvoiceKind.CREDIT_NOTE, state=InvoiceState.PROCESSED)
    puts_before = len(fake_qondor.requests_to("PUT"))
    code, _, err = run(["set-unprocessed", str(target), "--yes"], factory)
    assert code == 3
    assert "IllegalTransitionError" in err
    assert "nothing was sent" in err
    assert len(fake_qondor.requests_to("PUT")) == puts_before


def test_qonto_commands(fakes: tuple[FakeQondor, FakeQonto]) -> None:
    _, fake_qonto = fakes
    factory = FakeFactory(*fakes)
    code, out, _ = run(["qonto", "list", "--json"], factory)
    assert code == 0
    assert len(json.loads(out)) == len(fake_qonto.invoices)

    code, out, _ = run(["qonto", "list", "--status", "paid", "--json"], factory)
    assert code == 0
    assert all(item["status"] == "paid" for item in json.loads(out))

    target = fake_qonto.add_supplier_invoice(status="to_review", invoice_number="CLI-1")
    code, out, _ = run(["qonto", "show", target], factory)
    assert code == 0
    assert "CLI-1" in out
    code, out, _ = run(
        ["qonto", "mark-paid", target, "--payment-date", "2026-11-02", "--json"], factory
    )
    assert code == 0
    assert json.loads(out)["status"] == "paid"
    assert fake_qonto.invoices[target]["payment_date"] == "2026-11-02"
    code, out, _ = run(["qonto", "unmark-paid", target, "--json"], factory)
    assert code == 0
    assert json.loads(out)["status"] == "to_review"

    rejected = fake_qonto.add_supplier_invoice(status="rejected")
    code, _, err = run(["qonto", "mark-paid", rejected], factory)
    assert code == 3
    assert "IllegalTransitionError" in err


def test_missing_credentials_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("QONDOR_API_KEY", "QONTO_ACCESS_TOKEN", "QONTO_LOGIN", "QONTO_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    code, _, err = run(["queue"])
    assert code == 2
    assert "QONDOR_API_KEY" in err
    assert "Traceback" not in err


@pytest.fixture
def finance_module(
    fakes: tuple[FakeQondor, FakeQonto], monkeypatch: pytest.MonkeyPatch
) -> InMemoryFinanceSystem:
    fake_qondor, _ = fakes

    async def read_queue() -> InMemoryFinanceSystem:
        async with QondorClient(
            api_key="test-key", transport=fake_qondor.transport, rate_limit=None
        ) as client:
            return InMemoryFinanceSystem.accepting(await client.invoices.list_unprocessed())

    finance = anyio.run(read_queue)
    module = types.ModuleType("cli_test_finance")
    module.finance = finance  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cli_test_finance", module)
    return finance


def test_reconcile_dry_run_then_apply(
    fakes: tuple[FakeQondor, FakeQonto], finance_module: InMemoryFinanceSystem
) -> None:
    fake_qondor, _ = fakes
    factory = FakeFactory(*fakes)
    code, out, err = run(["reconcile", "--finance", "cli_test_finance:finance"], factory)
    assert code == 0, err
    assert "dry run" in err
    assert fake_qondor.requests_to("PUT") == []
    assert sum(finance_module.book_calls.values()) == 0

    code, out, err = run(
        ["reconcile", "--finance", "cli_test_finance:finance", "--apply", "--json"], factory
    )
    assert code == 0, err
    assert json.loads(out)["summary"]
    assert fake_qondor.requests_to("PUT")


def test_reconcile_bad_finance_spec(fakes: tuple[FakeQondor, FakeQonto]) -> None:
    code, _, err = run(["reconcile", "--finance", "nope"], FakeFactory(*fakes))
    assert code == 2
    assert "package.module:attribute" in err


def test_python_dash_m_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "qondor_invoicing", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "demo" in result.stdout
    assert "QONDOR_API_KEY" in result.stdout
