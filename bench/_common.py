"""Shared helpers of the benchmarks: arguments, interleaved rounds, medians, reporting.

Every benchmark measures its contenders side by side in one run, in rounds: each round runs
every contender once, in an order that rotates from round to round, so that a noisy
neighbour on the machine slows all of them alike. Ratios are computed per round and the
median of the rounds is reported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
SEED_FILE = BENCH_DIR / "supplier_invoice.json"
PACKAGES = (
    "qondor-invoicing",
    "httpx",
    "anyio",
    "attrs",
    "cattrs",
    "pydantic",
    "msgspec",
    "qodev-qonto-api",
    "qondor-api-sdk",
)


def seed_invoice() -> dict[str, Any]:
    """The Qonto supplier invoice of the seed document (the "unmark as paid" example)."""
    data: dict[str, Any] = json.loads(SEED_FILE.read_text())
    return data


def parse_args(
    description: str,
    argv: Sequence[str] | None = None,
    *,
    flags: Mapping[str, str] | None = None,
) -> argparse.Namespace:
    """The arguments every benchmark takes, plus its own on/off ``flags`` (name: help)."""
    parser = argparse.ArgumentParser(description=description)
    for name, help_text in (flags or {}).items():
        parser.add_argument(f"--{name}", action="store_true", help=help_text)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a short run that only proves the benchmark works (CI); figures are not meaningful",
    )
    parser.add_argument("--rounds", type=int, default=None, help="override the number of rounds")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    return parser.parse_args(argv)


def cpu_model() -> str:
    """The CPU's model name, as the kernel reports it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str:
    """The commit of the working tree (``+dirty`` when it has uncommitted changes)."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "src"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def environment() -> dict[str, Any]:
    """Where and when the figures were measured."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "machine": f"{cpu_model()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}",
        "commit": git_commit(),
        "packages": versions,
    }


def command(script: str, quick: bool) -> str:
    """The command that reproduces a run."""
    return f"python bench/{script}" + (" --quick" if quick else "")


def print_header(title: str, script: str, quick: bool) -> dict[str, Any]:
    """Print what is measured, where and how to reproduce it; return the environment."""
    env = environment()
    print(f"# {title}")
    print()
    print(f"- date: {env['date']}")
    print(f"- python: {env['python']}")
    print(f"- machine: {env['machine']}")
    print(f"- commit: {env['commit']}")
    print("- packages: " + ", ".join(f"{k} {v}" for k, v in env["packages"].items()))
    print(f"- command: `{command(script, quick)}`")
    if quick:
        print("- QUICK MODE: a smoke run; the figures below are not meaningful")
    print()
    return env


def median(values: Iterable[float]) -> float:
    """The median."""
    return statistics.median(list(values))


def rotated(names: Sequence[str], round_index: int) -> list[str]:
    """``names`` rotated by the round number, so that no contender always runs first."""
    k = round_index % len(names)
    return [*names[k:], *names[:k]]


async def timed(fn: Callable[[], Awaitable[Any]]) -> float:
    """Seconds ``fn()`` takes, after a full garbage collection."""
    gc.collect()
    t0 = time.perf_counter()
    await fn()
    return time.perf_counter() - t0


async def interleaved(
    contenders: Mapping[str, Callable[[], Awaitable[Any]]], rounds: int, *, warmup: bool = True
) -> dict[str, list[float]]:
    """Run every contender once per round (rotating the order); return seconds per round.

    With ``warmup``, each contender first runs once untimed (first-use costs such as
    generated converter functions and imports are not what is measured).
    """
    names = list(contenders)
    times: dict[str, list[float]] = {name: [] for name in names}
    if warmup:
        for name in names:
            await contenders[name]()
    for r in range(rounds):
        for name in rotated(names, r):
            times[name].append(await timed(contenders[name]))
    return times


def ratios(times: Mapping[str, list[float]], numerator: str, denominator: str) -> list[float]:
    """Per-round ratios of two contenders' times."""
    return [a / b for a, b in zip(times[numerator], times[denominator], strict=True)]


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    """How a target is reported."""
    return "met" if ok else "NOT MET"


def write_json(path: Path | None, payload: Mapping[str, Any]) -> None:
    """Write the results as JSON when ``--json`` was given."""
    if path is not None:
        path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def flush() -> None:
    """Flush stdout (results appear as they are measured, also through a pipe)."""
    sys.stdout.flush()


def constructor_calls(invoice: Any) -> list[tuple[type[Any], dict[str, Any]]]:
    """Every attrs instance of a parsed invoice as ``(class, kwargs)``, innermost first."""
    calls: list[tuple[type[Any], dict[str, Any]]] = []

    def walk(value: Any) -> None:
        if attrs.has(type(value)):
            kwargs = {}
            for field in attrs.fields(type(value)):
                item = getattr(value, field.name)
                walk(item)
                if item is not None and item != () and item != {}:
                    kwargs[field.alias] = item
            calls.append((type(value), kwargs))
        elif isinstance(value, tuple):
            for item in value:
                walk(item)

    walk(invoice)
    return calls
