"""Peers: our clients against the published peer SDKs on the same calls and the same bodies.

Contenders, all in one process over the same ``httpx.MockTransport`` answering the same
precomputed bytes, in interleaved rounds (the order rotating), medians of the per-round ratios:

- ``get()``, Qonto body (the seed supplier invoice): ``qonto.supplier_invoices.get()`` (as
  the default install runs it, with the standard ``json`` module, and, when msgspec is
  importable, with the ``speedups`` extra's decoder: "+ speedups"), raw
  httpx ``get()`` + ``.json()``, and qodev-qonto-api's ``get_supplier_invoice`` (its pydantic
  ``SupplierInvoice``, which keeps dates and the status as strings);
- ``get()``, Qondor body (an invoice specification from ``FakeQondor``):
  ``qondor.invoices.get()`` (both ways), raw httpx, and qondor-api-sdk's ``customer.get``
  (that SDK has no invoicing: the same body is read into its own pydantic
  ``CustomerDetails``);
- parsing N decoded supplier invoices: ours (``structure(..., tuple[SupplierInvoice, ...])``),
  qodev-qonto-api's model, pydantic models of our shape (``models_pydantic.py``) and msgspec
  (``models_msgspec.py``).

The peers need Python >= 3.12 and are not dependencies of this project: install them in a
venv of their own (see docs/performance.md). A peer that is not importable is skipped with a
message, so ``--quick`` runs in the project's own venv too (CI does that, peers skipped).
The peers' clients make their ``httpx.AsyncClient`` themselves; the benchmark swaps in one
built the same way (base URL, the peer's headers) over the shared transport.

Run: ``python bench/bench_peers.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c
from bench_overhead import API_KEY, QONDOR_BASE, QONTO_BASE, TOKEN, qondor_payload, transport_for

from qondor_invoicing import QondorClient, QontoClient
from qondor_invoicing._convert import structure
from qondor_invoicing._http import decode
from qondor_invoicing.qonto import SupplierInvoice
from qondor_invoicing.qonto.models import converter

TARGET_PEER = 1.0  # ours / peer, every peer
TARGET_RAW = 1.15  # ours / raw httpx

Contender = Callable[[], Awaitable[Any]]
# Our contenders in each group: as the default install runs, and with the speedups extra.
OURS = {
    "qonto": ("qonto.supplier_invoices.get()", "qonto.supplier_invoices.get() + speedups"),
    "qondor": ("qondor.invoices.get()", "qondor.invoices.get() + speedups"),
}
RAW = {"qonto": "raw httpx, Qonto body", "qondor": "raw httpx, Qondor body"}


def standard_json(run: Contender) -> Contender:
    """``run`` as the default install runs it: bodies decoded by the standard json module
    even when msgspec is importable (as it is in the peers' environment)."""

    async def without_speedups() -> None:
        saved = decode.FAST_DECODER
        setattr(decode, "FAST_DECODER", None)  # noqa: B010 - a Final, on purpose
        try:
            await run()
        finally:
            setattr(decode, "FAST_DECODER", saved)  # noqa: B010

    return without_speedups


def optional_import(name: str, why: str) -> ModuleType | None:
    """The module, or ``None`` with a message saying what is skipped and why."""
    try:
        return importlib.import_module(name)
    except Exception as exc:  # ImportError, or a SyntaxError of a 3.12-only package
        print(f"- skipped: {why} ({name} not importable here: {type(exc).__name__}: {exc})")
        return None


def qodev_contenders(
    module: ModuleType, body: bytes, invoice_id: str, calls: int
) -> tuple[Contender, Any]:
    """qodev-qonto-api's ``get_supplier_invoice`` over the shared transport, and its client."""
    client = module.QontoClient(login="bench-login", secret_key=TOKEN, base_url=QONTO_BASE)
    # What its __aenter__ builds, with the benchmark's transport.
    client._client = httpx.AsyncClient(
        base_url=client._base_url,
        headers={"Authorization": f"bench-login:{TOKEN}", "Accept": "application/json"},
        timeout=30.0,
        transport=transport_for(body),
    )

    async def run() -> None:
        for _ in range(calls):
            await client.get_supplier_invoice(invoice_id)

    return run, client._client


def qondor_sdk_contenders(
    module: ModuleType, body: bytes, invoice_id: int, calls: int
) -> tuple[Contender, Any]:
    """qondor-api-sdk's ``customer.get`` over the shared transport, and its HTTP client."""
    client = module.QondorClient("https://qondor.azure-api.net/Prod", API_KEY)
    http = httpx.AsyncClient(
        base_url=client._base_url,
        headers={"Ocp-Apim-Subscription-Key": API_KEY},
        timeout=30.0,
        transport=transport_for(body),
    )
    client.customer._http = http

    async def run() -> None:
        for _ in range(calls):
            await client.customer.get(invoice_id)

    return run, http


async def run_gets(calls: int, rounds: int) -> dict[str, Any]:
    qondor_body = qondor_payload()
    invoice_id = qondor_body["id"]
    qonto_object = c.seed_invoice()
    qonto_id = qonto_object["id"]
    qondor_bytes = json.dumps(qondor_body).encode()
    qonto_bytes = json.dumps({"supplier_invoice": qonto_object}).encode()

    qondor = QondorClient(API_KEY, transport=transport_for(qondor_bytes), rate_limit=None)
    qonto = QontoClient(access_token=TOKEN, transport=transport_for(qonto_bytes), rate_limit=None)
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
    to_close: list[Any] = [raw_qondor, raw_qonto]

    async def sdk_qondor() -> None:
        for _ in range(calls):
            await qondor.invoices.get(invoice_id)

    async def sdk_qonto() -> None:
        for _ in range(calls):
            await qonto.supplier_invoices.get(qonto_id)

    async def httpx_qondor() -> None:
        for _ in range(calls):
            (await raw_qondor.get(f"Invoice/{invoice_id}")).json()

    async def httpx_qonto() -> None:
        for _ in range(calls):
            (await raw_qonto.get(f"supplier_invoices/{qonto_id}")).json()

    qonto_group: dict[str, Contender] = {
        RAW["qonto"]: httpx_qonto,
        OURS["qonto"][0]: standard_json(sdk_qonto),
    }
    qondor_group: dict[str, Contender] = {
        RAW["qondor"]: httpx_qondor,
        OURS["qondor"][0]: standard_json(sdk_qondor),
    }
    if decode.FAST_DECODER is not None:
        qonto_group[OURS["qonto"][1]] = sdk_qonto
        qondor_group[OURS["qondor"][1]] = sdk_qondor
    else:
        print("- skipped: our clients with the speedups extra (msgspec not importable here)")
    qodev = optional_import("qodev_qonto_api", "qodev-qonto-api's get_supplier_invoice")
    if qodev is not None:
        fn, http = qodev_contenders(qodev, qonto_bytes, qonto_id, calls)
        qonto_group["qodev-qonto-api get_supplier_invoice"] = fn
        to_close.append(http)
    qsdk = optional_import("qondor_api_sdk", "qondor-api-sdk's customer.get")
    if qsdk is not None:
        fn, http = qondor_sdk_contenders(qsdk, qondor_bytes, 1, calls)
        qondor_group["qondor-api-sdk customer.get"] = fn
        to_close.append(http)

    try:
        async with qondor, qonto:
            times = await c.interleaved(qonto_group, rounds)
            times |= await c.interleaved(qondor_group, rounds)
    finally:
        for http in to_close:
            await http.aclose()
    return {
        "calls": calls,
        "times": times,
        "groups": {"qonto": list(qonto_group), "qondor": list(qondor_group)},
        "bytes": {"qonto": len(qonto_bytes), "qondor": len(qondor_bytes)},
    }


def make_documents(count: int) -> list[dict[str, Any]]:
    """``count`` distinct decoded copies of the seed invoice (fresh objects, new ids)."""
    seed = c.seed_invoice()
    text = json.dumps(
        [{**seed, "id": f"{n:08d}-bd0d-4df4-865c-c07afab8bb48"} for n in range(count)]
    )
    data: list[dict[str, Any]] = json.loads(text)
    return data


async def run_parsing(count: int, rounds: int) -> dict[str, Any]:
    data = make_documents(count)
    many = tuple[SupplierInvoice, ...]

    async def ours() -> None:
        structure(converter, data, many)

    contenders: dict[str, Contender] = {"ours": ours}
    qodev = optional_import("qodev_qonto_api.models", "parsing with qodev-qonto-api's model")
    if qodev is not None:
        from pydantic import TypeAdapter

        qodev_list = TypeAdapter(list[qodev.SupplierInvoice])
        first = qodev_list.validate_python(data[:1])[0]
        assert str(first.total_amount.value) == str(data[0]["total_amount"]["value"])

        async def qodev_model() -> None:
            qodev_list.validate_python(data)

        contenders["qodev-qonto-api SupplierInvoice"] = qodev_model
    models_pydantic = optional_import("models_pydantic", "pydantic models of our shape")
    if models_pydantic is not None:

        async def pydantic_same_shape() -> None:
            models_pydantic.SupplierInvoiceList.validate_python(data)

        contenders["pydantic v2, our shape"] = pydantic_same_shape
    models_msgspec = optional_import("models_msgspec", "msgspec structs of our shape")
    if models_msgspec is not None:

        async def msgspec_convert() -> None:
            models_msgspec.structure_list(data)

        contenders["msgspec, our shape"] = msgspec_convert
    times = await c.interleaved(contenders, rounds)
    return {"count": count, "times": times}


def report(gets: dict[str, Any], parsing: dict[str, Any], rounds: int) -> bool:
    ok = True
    calls = gets["calls"]
    times = gets["times"]
    print()
    print(
        f"## get(): {calls:,} sequential calls per contender, {rounds} interleaved rounds "
        f"(Qonto body {gets['bytes']['qonto']:,} bytes, Qondor body "
        f"{gets['bytes']['qondor']:,} bytes; our clients with rate_limit=None)"
    )
    print()
    rows = []
    verdicts = []
    for api in ("qonto", "qondor"):
        group = gets["groups"][api]
        ours_here = [name for name in OURS[api] if name in group]
        for name in group:
            med = c.median(times[name])
            over = [
                "-" if name in OURS[api] else f"{c.median(c.ratios(times, ours, name)):.2f}"
                for ours in OURS[api]
            ]
            rows.append([name, f"{med * 1e6 / calls:.1f}", *over])
        for ours in ours_here:
            for name in group:
                if name in OURS[api]:
                    continue
                values = c.ratios(times, ours, name)
                med = c.median(values)
                target = TARGET_RAW if name == RAW[api] else TARGET_PEER
                ok &= med <= target
                verdicts.append(
                    f"{ours} / {name} = {med:.2f} ({min(values):.2f}-{max(values):.2f}), "
                    f"target <= {target}: {c.verdict(med <= target)}"
                )
    headers = ["contender", "median us/call", "ours / contender", "ours + speedups / contender"]
    print(c.table(headers, rows))
    print()
    for line in verdicts:
        print(f"- {line}")
    count = parsing["count"]
    ptimes = parsing["times"]
    print()
    print(f"## Parsing {count:,} decoded supplier invoices, {rounds} interleaved rounds")
    print()
    rows = []
    for name, seconds in ptimes.items():
        med = c.median(seconds)
        ours_over = "-" if name == "ours" else f"{c.median(c.ratios(ptimes, 'ours', name)):.2f}"
        rows.append([name, f"{med * 1e6 / count:.1f}", f"{count / med:,.0f}", ours_over])
    print(c.table(["contender", "us/invoice", "invoices/s", "ours / contender"], rows))
    if "qodev-qonto-api SupplierInvoice" in ptimes:
        ratio = c.median(c.ratios(ptimes, "ours", "qodev-qonto-api SupplierInvoice"))
        ok &= ratio <= TARGET_PEER
        print()
        print(
            f"parsing: ours / qodev-qonto-api = {ratio:.2f}, target <= {TARGET_PEER}: "
            f"{c.verdict(ratio <= TARGET_PEER)}"
        )
    print()
    print(f"every target: {c.verdict(ok)}")
    return ok


def main(argv: list[str] | None = None) -> int:
    args = c.parse_args(__doc__.splitlines()[0], argv)
    calls = 100 if args.quick else 2000
    count = 500 if args.quick else 5000
    rounds = args.rounds or (3 if args.quick else 15)
    env = c.print_header("Peers", "bench_peers.py", args.quick)
    gets = anyio.run(run_gets, calls, rounds)
    parsing = anyio.run(run_parsing, count, rounds)
    ok = report(gets, parsing, rounds)
    c.write_json(
        args.json, {"environment": env, "gets": gets, "parsing": parsing, "target_met": ok}
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
