"""Every benchmark in bench/ still runs, in its short mode (``--quick``: each has one).

Timings are not asserted: they depend on the machine and its load. What is asserted is that
each script runs to completion, exits 0 and prints its results, so a refactoring that breaks
a benchmark is caught by CI rather than by the next person who wants the figures.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
SCRIPTS = sorted(BENCH.glob("bench_*.py"))
# What each of ours prints once it has measured (others only need to exit 0).
EXPECTED = {
    "bench_overhead.py": "SDK / raw (median)",
    "bench_parsing.py": "ours / pydantic v2 =",
    "bench_throughput.py": "after the listing / reference",
    "bench_memory.py": "peak growth, tracemalloc (MB)",
    "bench_pagination_memory.py": "async for peak, 1,000 vs 100 invoices",
    # Peers not installed in the project's venv: skipped with a message, ours still measured.
    "bench_peers.py": "every target:",
}

pytestmark = pytest.mark.slow


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
        cwd=BENCH.parent,
    )


def test_every_benchmark_is_known() -> None:
    names = {p.name for p in SCRIPTS}
    assert set(EXPECTED) <= names, sorted(set(EXPECTED) - names)


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_benchmark_runs_in_quick_mode(script: Path) -> None:
    result = run(str(script), "--quick")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "QUICK MODE" in result.stdout, result.stdout[-3000:]
    expected = EXPECTED.get(script.name)
    if expected is not None:
        assert expected in result.stdout, result.stdout[-3000:]


def test_runner_selects_and_reports_failures() -> None:
    result = run(str(BENCH / "run.py"), "--quick", "no-such-benchmark")
    assert result.returncode == 2
    assert "no benchmark matches" in result.stderr


def test_json_output(tmp_path: Path) -> None:
    out = tmp_path / "overhead.json"
    result = run(str(BENCH / "bench_overhead.py"), "--quick", "--rounds", "1", "--json", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    text = out.read_text()
    assert '"ratio_qondor"' in text
    assert '"environment"' in text
