"""The reconciler guide's worked example runs and prints what the guide says it prints."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

GUIDE = Path(__file__).parents[2] / "docs" / "reconciler.md"


def _blocks(text: str) -> tuple[str, str]:
    after = text.split("<!-- worked-example:", 1)[1]
    code = re.search(r"```python\n(.*?)```", after, re.S)
    output = re.search(r"```text\n(.*?)```", after, re.S)
    assert code is not None
    assert output is not None
    return code.group(1), output.group(1)


def _normalise(text: str) -> str:
    return re.sub(r"\(\d+\.\d s\)", "(t s)", text).strip()


def test_worked_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, expected = _blocks(GUIDE.read_text(encoding="utf-8"))
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(GUIDE), "exec"), {"__name__": "__main__"})
    assert _normalise(out.getvalue()) == _normalise(expected)
    assert (tmp_path / "reconcile.db").exists()
