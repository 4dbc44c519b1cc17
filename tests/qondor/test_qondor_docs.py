"""The Qondor guide's code compiles, and its configuration examples do what it says."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from qondor_invoicing import (
    QONDOR_RULES,
    InvoiceAction,
    InvoiceKind,
    InvoiceState,
    QondorClient,
)

GUIDE = Path(__file__).parents[2] / "docs" / "qondor.md"
BLOCKS = re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)


def test_the_guide_has_examples() -> None:
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("code", BLOCKS)
def test_every_example_compiles(code: str) -> None:
    compile(code, str(GUIDE), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def run(marker: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    (code,) = [b for b in BLOCKS if marker in b]
    monkeypatch.setenv("QONDOR_API_KEY", "docs-example-key")
    namespace: dict[str, Any] = {}
    exec(compile(code, str(GUIDE), "exec"), namespace)
    return namespace


def test_the_resolver_example(monkeypatch: pytest.MonkeyPatch) -> None:
    qondor: QondorClient = run("kind_codes=", monkeypatch)["qondor"]
    assert qondor.resolver({"invoiceType": 2, "status": 3}) == (
        InvoiceKind.CREDIT_CARD_PAYMENT,
        InvoiceState.PAID,
    )


def test_the_replace_example(monkeypatch: pytest.MonkeyPatch) -> None:
    qondor: QondorClient = run("QONDOR_RULES.replace(", monkeypatch)["qondor"]
    action = InvoiceAction.SET_AS_UNPROCESSED
    assert qondor.rules.can(action, InvoiceState.FAILED, InvoiceKind.CREDIT_NOTE)
    assert not QONDOR_RULES.can(action, InvoiceState.FAILED, InvoiceKind.CREDIT_NOTE)


def test_the_guide_quotes_both_sides_of_the_contradiction() -> None:
    text = " ".join(GUIDE.read_text(encoding="utf-8").split())
    assert "Only works on processed payments (not failed ones)" in text
    assert "Call SetAsUnprocessed to return to queue, then reprocess" in text
    assert "QONDOR_RULES_FAQ_RECOVERY" in text
    assert "```mermaid" in GUIDE.read_text(encoding="utf-8")
