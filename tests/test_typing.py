"""What type checkers see: a typed custom validator is accepted, the sync clients are typed."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api

SAMPLE = Path(__file__).parent / "typecheck" / "custom_validator.py"
SRC = Path(__file__).parents[1] / "src"


def test_mypy_accepts_a_typed_validator_and_checks_the_sync_clients(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MYPYPATH", str(SRC))
    out, err, status = api.run(
        ["--strict", "--cache-dir", str(tmp_path), "--no-error-summary", str(SAMPLE)]
    )
    errors = [line for line in out.splitlines() if ": error:" in line]
    # The one error the sample makes on purpose, and nothing else.
    assert len(errors) == 1, out + err
    assert 'Argument 1 has incompatible type "str"; expected "int"' in errors[0]
    assert status == 1
