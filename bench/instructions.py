"""Instructions per call, counted by valgrind's callgrind: a comparison a busy machine cannot blur.

Wall-clock ratios move with the machine's load; the number of instructions the interpreter
executes for one call does not (to within about 1 %). For each scenario this runs the
scenario's loop twice under ``valgrind --tool=callgrind`` (``--low`` and ``--high`` calls,
each after one warm-up call) and reports ``(Ir(high) - Ir(low)) / (high - low)``: the
instructions of one call, start-up and imports cancelled out. Instructions are not time
(a cache miss costs more than an add), but on the same interpreter and code paths they
track it closely, and they are what a change to the Python code changes.

Run: ``python bench/instructions.py`` (all scenarios; valgrind must be installed; about
3 minutes per scenario on a quiet machine) or ``python bench/instructions.py raw qonto``.
Scenarios: raw / qonto (raw httpx and ``qonto.supplier_invoices.get()`` on the Qonto body),
raw-qondor / qondor (the same for Qondor), qonto-std / qondor-std (our ``get()`` as the
default install runs it: bodies decoded by the standard json module even where msgspec, the
``speedups`` extra, is importable), core / core-qondor (the request loop alone, Qonto /
Qondor body),
parse-qonto (structuring one decoded supplier invoice), parse-qondor (``parse_invoice``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

SCENARIOS = (
    "raw",
    "qonto",
    "qonto-std",
    "raw-qondor",
    "qondor",
    "qondor-std",
    "core",
    "core-qondor",
    "parse-qonto",
    "parse-qondor",
)


async def _loop(scenario: str, calls: int) -> None:
    import _common as c
    import httpx
    from bench_overhead import API_KEY, QONDOR_BASE, QONTO_BASE, TOKEN, qondor_payload
    from bench_overhead import transport_for as transport

    from qondor_invoicing import QondorClient, QontoClient
    from qondor_invoicing._convert import structure
    from qondor_invoicing._http.decode import decode_json
    from qondor_invoicing.qonto import SupplierInvoice
    from qondor_invoicing.qonto.models import converter

    qondor_body = qondor_payload()
    qondor_id = qondor_body["id"]
    qonto_object = c.seed_invoice()
    qonto_id = qonto_object["id"]
    qondor_bytes = json.dumps(qondor_body).encode()
    qonto_bytes = json.dumps({"supplier_invoice": qonto_object}).encode()
    # Decoded as the clients decode bodies (fractions as Decimal).
    qondor_decoded = decode_json(qondor_bytes.decode())
    qonto_decoded = decode_json(qonto_bytes.decode())["supplier_invoice"]
    if scenario.endswith("-std"):
        # As the default install runs: the standard json module, even with msgspec here.
        from qondor_invoicing._http import decode

        setattr(decode, "FAST_DECODER", None)  # noqa: B010 - a Final, on purpose
        scenario = scenario.removesuffix("-std")
    qondor = QondorClient(API_KEY, transport=transport(qondor_bytes), rate_limit=None)
    qonto = QontoClient(access_token=TOKEN, transport=transport(qonto_bytes), rate_limit=None)
    raw = httpx.AsyncClient(
        transport=transport(qonto_bytes),
        base_url=QONTO_BASE,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    raw_qondor = httpx.AsyncClient(
        transport=transport(qondor_bytes),
        base_url=QONDOR_BASE,
        headers={"Ocp-Apim-Subscription-Key": API_KEY},
    )
    one: Any
    async with qondor, qonto, raw, raw_qondor:
        if scenario == "raw":

            async def one() -> None:
                (await raw.get(f"supplier_invoices/{qonto_id}")).json()

        elif scenario == "qonto":

            async def one() -> None:
                await qonto.supplier_invoices.get(qonto_id)

        elif scenario == "raw-qondor":

            async def one() -> None:
                (await raw_qondor.get(f"Invoice/{qondor_id}")).json()

        elif scenario == "qondor":

            async def one() -> None:
                await qondor.invoices.get(qondor_id)

        elif scenario == "core":

            async def one() -> None:
                await qonto._core.request("GET", f"supplier_invoices/{qonto_id}")

        elif scenario == "core-qondor":

            async def one() -> None:
                await qondor._core.request("GET", f"Invoice/{qondor_id}")

        elif scenario == "parse-qonto":

            async def one() -> None:
                structure(converter, qonto_decoded, SupplierInvoice)

        elif scenario == "parse-qondor":

            async def one() -> None:
                qondor.parse_invoice(qondor_decoded)

        else:
            raise SystemExit(f"unknown scenario {scenario!r}; one of {', '.join(SCENARIOS)}")
        await one()
        for _ in range(calls):
            await one()


def _instructions(scenario: str, calls: int) -> int:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    result = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--run",
            scenario,
            str(calls),
        ],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    match = re.search(r"Collected : (\d+)", result.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{result.stderr[-2000:]}")
    return int(match[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", default=list(SCENARIOS))
    parser.add_argument("--low", type=int, default=20)
    parser.add_argument("--high", type=int, default=120)
    parser.add_argument("--run", nargs=2, metavar=("SCENARIO", "CALLS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run:
        import anyio

        anyio.run(_loop, args.run[0], int(args.run[1]))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    counts = {}
    for scenario in args.scenarios:
        low = _instructions(scenario, args.low)
        high = _instructions(scenario, args.high)
        counts[scenario] = (high - low) / (args.high - args.low)
        print(f"{scenario}: {counts[scenario]:,.0f} instructions per call", flush=True)
    pairs = (
        ("qonto", "raw"),
        ("qonto-std", "raw"),
        ("qondor", "raw-qondor"),
        ("qondor-std", "raw-qondor"),
        ("core", "raw"),
        ("core-qondor", "raw-qondor"),
    )
    for ours, raw in pairs:
        if ours in counts and raw in counts:
            print(f"{ours} / {raw} = {counts[ours] / counts[raw]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
