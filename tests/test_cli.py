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
    data = json.loads(out)
    assert data["dry_run"] is False
    steps = data["plan"]["steps"]
    assert steps
    assert {"step", "invoice_id", "detail", "kind", "amount"} <= set(steps[0])
    results = data["report"]["results"]
    assert [r["invoice_id"] for r in results] == [s["invoice_id"] for s in steps]
    assert {r["status"] for r in results} == {"done"}
    assert data["report"]["ok"] is True
    assert fake_qondor.requests_to("PUT")


def test_reconcile_dry_run_json_has_the_whole_plan(
    fakes: tuple[FakeQondor, FakeQonto], finance_module: InMemoryFinanceSystem
) -> None:
    code, out, err = run(
        ["reconcile", "--finance", "cli_test_finance:finance", "--json"], FakeFactory(*fakes)
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["dry_run"] is True
    assert data["report"] is None
    assert data["plan"]["counts"]["book"] == len(data["plan"]["steps"]) > 0


def test_reconcile_exit_status_when_a_person_is_needed(
    fakes: tuple[FakeQondor, FakeQonto], finance_module: InMemoryFinanceSystem
) -> None:
    fake_qondor, _ = fakes
    card = fake_qondor.add_invoice(kind=InvoiceKind.CREDIT_CARD_PAYMENT)
    finance_module.articles.clear()  # every payment fails validation; the card one needs a person
    argv = ["reconcile", "--finance", "cli_test_finance:finance"]
    code, out, err = run(argv, FakeFactory(*fakes))
    assert code == 5, err
    assert "Needs a person" in out
    code, out, err = run([*argv, "--apply"], FakeFactory(*fakes))
    assert code == 5, err
    assert "need a person" in err
    assert fake_qondor.invoices[card].state is InvoiceState.UNPROCESSED


def test_reconcile_exit_status_when_steps_are_deferred(
    fakes: tuple[FakeQondor, FakeQonto],
    finance_module: InMemoryFinanceSystem,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def book(invoice: object) -> str:
        raise ConnectionError("the finance system is down")

    monkeypatch.setattr(finance_module, "book", book)
    argv = ["reconcile", "--finance", "cli_test_finance:finance", "--apply", "--json"]
    code, out, err = run(argv, FakeFactory(*fakes))
    assert code == 5, err
    assert json.loads(out)["report"]["counts"]["deferred"] > 0


def test_reconcile_exit_status_when_payments_are_skipped(
    fakes: tuple[FakeQondor, FakeQonto], finance_module: InMemoryFinanceSystem
) -> None:
    finance_module.down = True  # every lookup raises: nothing can be validated
    code, out, err = run(
        ["reconcile", "--finance", "cli_test_finance:finance"], FakeFactory(*fakes)
    )
    assert code == 5, err
    assert "Skipped: stay in the queue" in out


def test_version() -> None:
    code, out, _ = run(["--version"])
    assert code == 0
    assert out.startswith("qondor-invoicing 0.")


def test_tables_fit_the_terminal_with_amounts_right_aligned(
    fakes: tuple[FakeQondor, FakeQonto], monkeypatch: pytest.MonkeyPatch
) -> None:
    for columns in (70, 100, 200):
        monkeypatch.setenv("COLUMNS", str(columns))
        code, out, _ = run(["queue"], FakeFactory(*fakes))
        assert code == 0
        header, _, *rows = out.splitlines()[:-1]
        assert max(len(line) for line in [header, *rows]) <= columns
        end = header.index("total") + len("total")  # right-aligned: ends under its header
        assert all(row[end - 1] != " " and row[end : end + 1] in ("", " ") for row in rows)
    monkeypatch.setenv("COLUMNS", "70")
    code, out, _ = run(["show", "12345"], FakeFactory(*fakes))
    assert max(len(line) for line in out.splitlines()) <= 70


def test_server_text_cannot_drive_the_terminal(fakes: tuple[FakeQondor, FakeQonto]) -> None:
    fake_qondor, _ = fakes
    evil = fake_qondor.add_invoice(
        state=InvoiceState.FAILED,
        failure_message="bad\x1b]0;owned\x07\x1b[2J\u202etxt",
        customer={"id": 9, "name": "Evil\x1b[31m Corp\x9b"},
    )
    for argv in (["show", str(evil)], ["show", str(evil), "--json"]):
        code, out, err = run(argv, FakeFactory(*fakes))
        assert code == 0, err
        for char in "\x1b\x07\x9b\u202e":
            assert char not in out
    assert "\\x1b]0;owned\\x07" in run(["show", str(evil)], FakeFactory(*fakes))[1]


def test_configuration_errors_in_cli_terms(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("QONDOR_API_KEY", "QONDOR_ENVIRONMENT", "QONDOR_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    code, _, err = run(["queue"])
    assert code == 2
    assert "QONDOR_API_KEY" in err
    assert "api_key=" not in err
    assert "see --help" in err
    code, _, err = run(["reconcile", "--finance", "nope"])
    assert code == 2
    assert "environment" not in err


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
