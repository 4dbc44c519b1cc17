"""Every ```python block in README.md and docs/ runs as pasted.

Each block is written to a file in a temporary directory and run by a fresh interpreter, with
no ``QONDOR_*`` or ``QONTO_*`` variable in its environment (so a block that needs real
credentials or the network fails here), warnings turned into errors, and a timeout. A block
that defines ``test_`` functions is run by pytest instead. A block whose first line is
``# not run: <reason>`` is skipped; there should be very few.

A block may include a file (``--8<-- "docs/examples/x.py"``, as the site does): the file is
what runs. A file that needs a service (a database) is run by its own test instead, named in
``RUN_ELSEWHERE``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SOURCES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^(?P<indent>[ \t]*)```python[^\n]*\n(?P<code>.*?)^(?P=indent)```", re.S | re.M)
NOT_RUN = "# not run:"
INCLUDE = re.compile(r'^--8<-- "(?P<path>[^"]+)"$', re.M)
# Included files that need a service, and the test that runs them with it.
RUN_ELSEWHERE = {
    "docs/examples/postgres_finance.py": "tests/reconcile/test_docs_postgres_finance.py",
}
TIMEOUT = 120


def _blocks() -> list[tuple[str, str]]:
    found = []
    for source in SOURCES:
        text = source.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            code = textwrap.dedent(match.group("code"))
            code = INCLUDE.sub(lambda m: (ROOT / m.group("path")).read_text("utf-8"), code)
            found.append((f"{source.relative_to(ROOT)}:{line}", code))
    return found


BLOCKS = _blocks()


def test_the_docs_have_examples() -> None:
    assert len(BLOCKS) >= 25


def test_few_blocks_are_not_run() -> None:
    skipped = [where for where, code in BLOCKS if code.startswith(NOT_RUN)]
    assert len(skipped) <= 2, skipped


def _runs_elsewhere(code: str) -> str | None:
    for included, test in RUN_ELSEWHERE.items():
        if code.strip() == (ROOT / included).read_text("utf-8").strip():
            assert (ROOT / test).exists(), f"{test} should run {included}"
            return test
    return None


def _environment() -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("QONDOR_", "QONTO_", "RECONCILE"))
    }
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    return env


@pytest.mark.parametrize(("where", "code"), BLOCKS, ids=[where for where, _ in BLOCKS])
def test_the_block_runs_as_pasted(where: str, code: str, tmp_path: Path) -> None:
    if code.startswith(NOT_RUN):
        compile(code, where, "exec")  # a block that is not run still has to be Python
        pytest.skip(code.splitlines()[0])
    elsewhere = _runs_elsewhere(code)
    if elsewhere:
        pytest.skip(f"needs a service: run by {elsewhere}")
    if re.search(r"^(async )?def test_", code, re.M):
        script = tmp_path / "test_snippet.py"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        command += ["-W", "error", "--rootdir", str(tmp_path), str(script)]
    else:
        script = tmp_path / "snippet.py"
        command = [sys.executable, "-X", "dev", "-W", "error", str(script)]
    script.write_text(code, encoding="utf-8")
    done = subprocess.run(
        command,
        cwd=tmp_path,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{where} failed:\n{output}"
    assert "Exception ignored" not in output, f"{where}:\n{output}"
    assert "Warning" not in done.stderr, f"{where}:\n{done.stderr}"
