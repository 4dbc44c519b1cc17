"""Client overhead: the SDK's ``get()`` against raw ``httpx.AsyncClient.get()`` + ``.json()``.

Both sides send the same number of sequential requests over one ``httpx.MockTransport``
whose handler returns a realistic body from precomputed bytes, so the transport costs the
same for both and the difference is what the SDK adds: the request loop (headers, limits,
retries bookkeeping, logging, redaction), JSON checks, and building the model (for Qondor
also reading kind and state from the payload; the rule checks of state changes are
included in the throughput benchmark). The clients are built with ``rate_limit=None``: a
client-side rate limit would measure the limit, not the overhead. A fifth contender times
the request loop alone (``HTTPCore.request``, a private API) on the Qonto body.

Two more contenders measure the floor the models set: raw httpx (``get()`` + ``.json()``)
followed by calling the constructors of every attrs instance of the payment / invoice with
values already parsed (the Qondor payment is 6 instances, the supplier invoice 17). No
converter building these frozen models can go below that, however fast; its ratio to raw
says how much of the target the models alone take.

Each API's contenders are interleaved in their own group of rounds, so that every ratio
compares runs made seconds apart (a shared machine's speed drifts more over a minute).

Run: ``python bench/bench_overhead.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

from qondor_invoicing import InvoiceKind, QondorClient, QontoClient, SupplierInvoice
from qondor_invoicing.testing import FakeQondor

TARGET = 1.25
QONDOR_BASE = "https://qondor.azure-api.net/Prod/Invoicing/v1/"
QONTO_BASE = "https://thirdparty.qonto.com/v2/"
API_KEY = "bench-subscription-key-0f3a9c"
TOKEN = "bench-oauth-token-7d21e4"


def qondor_payload() -> dict[str, Any]:
    """A payment as the fake API sends it: an invoice specification with several lines."""
    fake = FakeQondor(rate_limit=None)
    for invoice_id in fake.seed(60, random_seed=7):
        wire = fake.wire(invoice_id)
        if fake.invoices[invoice_id].kind is InvoiceKind.INVOICE_SPECIFICATION and (
            len(wire.get("lines") or ()) >= 3
        ):
            return wire
    raise RuntimeError("no invoice specification with 3 lines in the seed")


def transport_for(body: bytes) -> httpx.MockTransport:
    headers = {"content-type": "application/json; charset=utf-8", "apim-request-id": "b-1"}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers=headers)

    return httpx.MockTransport(handler)


async def run(calls: int, rounds: int) -> dict[str, Any]:
    qondor_body = qondor_payload()
    invoice_id = qondor_body["id"]
    qonto_object = c.seed_invoice()
    qonto_id = qonto_object["id"]
    qondor_bytes = json.dumps(qondor_body).encode()
    qonto_bytes = json.dumps({"supplier_invoice": qonto_object}).encode()

    qondor = QondorClient(API_KEY, transport=transport_for(qondor_bytes), rate_limit=None)
    qonto = QontoClient(access_token=TOKEN, transport=transport_for(qonto_bytes), rate_limit=None)
    # What the floor contenders construct: every attrs instance, values already parsed.
    qondor_calls = c.constructor_calls(qondor.parse_invoice(qondor_body))
    qonto_calls = c.constructor_calls(SupplierInvoice.from_wire(qonto_object))
    raw_qondor = httpx.AsyncClient(
        transport=transport_for(qondor_bytes),
        base_url=QONDOR_BASE,
        headers={"Ocp-Apim-Subscription-Key": API_KEY},
    )
    raw_qonto = httpx.AsyncClient(
        transport=transport_for(qonto_bytes),
        base_url=QONTO_BASE,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )

    async def sdk_qondor() -> None:
        for _ in range(calls):
            await qondor.invoices.get(invoice_id)

    async def sdk_qonto() -> None:
        for _ in range(calls):
            await qonto.supplier_invoices.get(qonto_id)

    async def core_qonto() -> None:
        # The request loop alone (private API): what the SDK adds before building a model.
        for _ in range(calls):
            await qonto._core.request("GET", f"supplier_invoices/{qonto_id}")

    async def httpx_qondor() -> None:
        for _ in range(calls):
            (await raw_qondor.get(f"Invoice/{invoice_id}")).json()

    async def httpx_qonto() -> None:
        for _ in range(calls):
            (await raw_qonto.get(f"supplier_invoices/{qonto_id}")).json()

    async def floor_qondor() -> None:
        for _ in range(calls):
            (await raw_qondor.get(f"Invoice/{invoice_id}")).json()
            for cls, kwargs in qondor_calls:
                cls(**kwargs)

    async def floor_qonto() -> None:
        for _ in range(calls):
            (await raw_qonto.get(f"supplier_invoices/{qonto_id}")).json()
            for cls, kwargs in qonto_calls:
                cls(**kwargs)

    async with qondor, qonto, raw_qondor, raw_qonto:
        # One group per API, so that each ratio compares runs made seconds apart: on a
        # shared machine, speed drifts over a minute more than between neighbours.
        times = await c.interleaved(
            {
                "raw httpx, Qondor body": httpx_qondor,
                "qondor.invoices.get()": sdk_qondor,
                "floor: raw + Qondor constructors": floor_qondor,
            },
            rounds,
        )
        times |= await c.interleaved(
            {
                "raw httpx, Qonto body": httpx_qonto,
                "qonto.supplier_invoices.get()": sdk_qonto,
                "request loop only, Qonto body": core_qonto,
                "floor: raw + Qonto constructors": floor_qonto,
            },
            rounds,
        )
    return {
        "calls": calls,
        "rounds": rounds,
        "times": times,
        "qondor_body_bytes": len(qondor_bytes),
        "qonto_body_bytes": len(qonto_bytes),
        "ratio_qondor": c.ratios(times, "qondor.invoices.get()", "raw httpx, Qondor body"),
        "ratio_qonto": c.ratios(times, "qonto.supplier_invoices.get()", "raw httpx, Qonto body"),
        "ratio_core": c.ratios(times, "request loop only, Qonto body", "raw httpx, Qonto body"),
        "ratio_floor_qondor": c.ratios(
            times, "floor: raw + Qondor constructors", "raw httpx, Qondor body"
        ),
        "ratio_floor_qonto": c.ratios(
            times, "floor: raw + Qonto constructors", "raw httpx, Qonto body"
        ),
        "instances": {"qondor": len(qondor_calls), "qonto": len(qonto_calls)},
    }


def report(result: dict[str, Any]) -> bool:
    calls = result["calls"]
    times = result["times"]
    print(
        f"{calls:,} sequential calls per contender, {result['rounds']} interleaved rounds; "
        f"bodies: Qondor {result['qondor_body_bytes']:,} bytes, "
        f"Qonto {result['qonto_body_bytes']:,} bytes; clients built with rate_limit=None."
    )
    print()
    rows = []
    for name, seconds in times.items():
        med = c.median(seconds)
        rows.append([name, f"{med * 1e6 / calls:.1f}", f"{calls / med:,.0f}"])
    print(c.table(["contender", "median us/call", "calls/s"], rows))
    print()
    ok = True
    rows = []
    for api, key in (("Qondor", "qondor"), ("Qonto", "qonto")):
        values = result[f"ratio_{key}"]
        floor = result[f"ratio_floor_{key}"]
        med = c.median(values)
        ok &= med <= TARGET
        spread = f"{min(values):.2f}-{max(values):.2f}"
        rows.append(
            [
                api,
                f"{med:.2f}",
                spread,
                f"{c.median(floor):.2f} ({result['instances'][key]} instances)",
                f"<= {TARGET}",
                c.verdict(med <= TARGET),
            ]
        )
    headers = ["API", "SDK / raw (median)", "range over rounds", "floor / raw", "target"]
    print(c.table([*headers, "verdict"], rows))
    core = result["ratio_core"]
    print()
    print(
        f"The request loop alone (HTTPCore.request, no model): {c.median(core):.2f} x raw "
        f"({min(core):.2f}-{max(core):.2f}); the rest of the SDK's time is building the model."
    )
    print(
        "Floor: raw httpx plus the models' constructors called with values already parsed "
        "(no converter can go below it)."
    )
    return ok


def main(argv: list[str] | None = None) -> int:
    args = c.parse_args(__doc__.splitlines()[0], argv)
    calls = 200 if args.quick else 2000
    rounds = args.rounds or (3 if args.quick else 15)
    env = c.print_header("Client overhead", "bench_overhead.py", args.quick)
    result = anyio.run(run, calls, rounds)
    ok = report(result)
    c.write_json(args.json, {"environment": env, **result, "target_met": ok})
    return 0


if __name__ == "__main__":
    sys.exit(main())
