"""Run every benchmark in bench/ (``bench_*.py``), one after the other, each in its own process.

``python bench/run.py`` runs them all at full size (minutes); ``python bench/run.py --quick``
runs each in its short mode, which only proves they still work (CI does that). Names after
the flags select benchmarks (``python bench/run.py --quick overhead parsing``).

The exit status is non-zero when a benchmark fails to run; missing a performance target is
reported in its output, not in the exit status (timings depend on the machine).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def scripts(selected: list[str]) -> list[Path]:
    """The benchmark scripts, in name order, restricted to ``selected`` names if any."""
    found = sorted(BENCH_DIR.glob("bench_*.py"))
    if selected:
        found = [p for p in found if any(name in p.stem for name in selected)]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    parser.add_argument("names", nargs="*", help="run only benchmarks whose name contains one")
    args = parser.parse_args(argv)
    failed = []
    chosen = scripts(args.names)
    if not chosen:
        print(f"no benchmark matches {args.names}", file=sys.stderr)
        return 2
    for script in chosen:
        command = [sys.executable, str(script)]
        if args.quick:
            command.append("--quick")
        print(f"$ {' '.join(['python', f'bench/{script.name}', *command[2:]])}", flush=True)
        started = time.perf_counter()
        status = subprocess.run(command, check=False).returncode
        print(f"({script.name}: exit {status}, {time.perf_counter() - started:.1f} s)\n")
        if status != 0:
            failed.append(script.name)
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
