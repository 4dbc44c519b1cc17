"""Parsing: structuring supplier invoices with our converter, pydantic v2 and msgspec.

The input is decoded JSON (a list of dicts, as ``json.loads`` gives it): 20,000 copies of
the seed document's supplier invoice, each with its own id. Each contender turns the whole
list into models of the same shape (see ``models_pydantic.py`` and ``models_msgspec.py``):

- ours: ``structure(converter, data, tuple[SupplierInvoice, ...])``, the call a page of
  ``qonto.supplier_invoices.list()`` goes through (frozen attrs models, unknown keys kept);
- pydantic v2: ``TypeAdapter(list[SupplierInvoice]).validate_python(data)``, what peer
  SDKs generate (frozen models, ``extra="allow"``);
- msgspec: ``msgspec.convert(data, list[SupplierInvoice])`` (frozen structs; unknown keys
  dropped, status a plain string), the practical limit in Python.

A fourth row, "attrs construction only", calls the constructors of the 17 attrs instances
one invoice is made of, with values already parsed: the floor of any converter that builds
these frozen slotted attrs models, whatever it does around that.

A second table structures the same invoices a page of 100 at a time, each page dropped
before the next (what ``async for`` over ``list()`` does): with 20,000 models alive at once,
Python's cyclic garbage collector walks a large heap, which costs pydantic's models more
than slotted attrs instances; page by page the heap stays small and the comparison is the
per-object cost. A third measures the same from JSON bytes (decoding included).

Run: ``python bench/bench_parsing.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c
import models_msgspec
import models_pydantic
import msgspec

from qondor_invoicing._convert import structure
from qondor_invoicing.qonto import SupplierInvoice
from qondor_invoicing.qonto.models import converter

TARGET = 1.0  # ours / pydantic


def make_documents(count: int) -> list[dict[str, Any]]:
    """``count`` distinct decoded copies of the seed invoice (fresh objects, new ids)."""
    seed = c.seed_invoice()
    text = json.dumps(
        [{**seed, "id": f"{n:08d}-bd0d-4df4-865c-c07afab8bb48"} for n in range(count)]
    )
    data: list[dict[str, Any]] = json.loads(text)
    return data


def check_same_content(data: list[dict[str, Any]]) -> None:
    """The three contenders read the same values (a benchmark of wrong parsers is useless)."""
    ours = structure(converter, data[:1], tuple[SupplierInvoice, ...])[0]
    pyd = models_pydantic.SupplierInvoiceList.validate_python(data[:1])[0]
    fast = models_msgspec.structure_list(data[:1])[0]
    assert ours.total_amount is not None
    assert pyd.total_amount is not None
    assert fast.total_amount is not None
    assert ours.total_amount.amount == pyd.total_amount.amount == fast.total_amount.amount
    assert ours.created_at == pyd.created_at == fast.created_at
    assert ours.issue_date == pyd.issue_date == fast.issue_date
    assert ours.taxes is not None
    assert pyd.taxes is not None
    assert fast.taxes is not None
    assert ours.taxes[0].tax_rate == pyd.taxes[0].tax_rate == fast.taxes[0].tax_rate
    assert ours.status == pyd.status == fast.status


async def run(count: int, rounds: int) -> dict[str, Any]:
    data = make_documents(count)
    check_same_content(data)
    raw = json.dumps(data).encode()
    decoder = msgspec.json.Decoder(list[models_msgspec.SupplierInvoice])
    many = tuple[SupplierInvoice, ...]

    calls = c.constructor_calls(structure(converter, data[0], SupplierInvoice))

    async def ours() -> None:
        structure(converter, data, many)

    async def construction_only() -> None:
        for _ in range(count):
            for cls, kwargs in calls:
                cls(**kwargs)

    async def pydantic() -> None:
        models_pydantic.SupplierInvoiceList.validate_python(data)

    async def msgspec_convert() -> None:
        models_msgspec.structure_list(data)

    pages = [data[i : i + 100] for i in range(0, count, 100)]

    async def ours_pages() -> None:
        for page in pages:
            structure(converter, page, many)

    async def pydantic_pages() -> None:
        for page in pages:
            models_pydantic.SupplierInvoiceList.validate_python(page)

    async def msgspec_pages() -> None:
        for page in pages:
            models_msgspec.structure_list(page)

    async def ours_bytes() -> None:
        structure(converter, json.loads(raw), many)

    async def pydantic_bytes() -> None:
        models_pydantic.SupplierInvoiceList.validate_json(raw)

    async def msgspec_bytes() -> None:
        decoder.decode(raw)

    from_dicts = await c.interleaved(
        {
            "pydantic v2": pydantic,
            "ours": ours,
            "msgspec": msgspec_convert,
            "attrs construction only": construction_only,
        },
        rounds,
    )
    by_page = await c.interleaved(
        {"pydantic v2": pydantic_pages, "ours": ours_pages, "msgspec": msgspec_pages}, rounds
    )
    from_bytes = await c.interleaved(
        {"pydantic v2": pydantic_bytes, "ours": ours_bytes, "msgspec": msgspec_bytes}, rounds
    )
    return {
        "count": count,
        "rounds": rounds,
        "from_dicts": from_dicts,
        "by_page": by_page,
        "from_bytes": from_bytes,
        "bytes": len(raw),
    }


def report(result: dict[str, Any]) -> bool:
    count = result["count"]
    print(
        f"{count:,} supplier invoices (the seed document's object, {result['bytes'] // count:,} "
        f"bytes of JSON each), {result['rounds']} interleaved rounds."
    )
    ok = True
    for key, title in (
        ("from_dicts", "From decoded JSON, the whole list at once (the target)"),
        ("by_page", "From decoded JSON, a page of 100 at a time"),
        ("from_bytes", "From JSON bytes, the whole list at once (decoding included)"),
    ):
        times = result[key]
        print()
        print(f"{title}:")
        print()
        rows = []
        for name, seconds in times.items():
            med = c.median(seconds)
            per_pydantic = c.median(c.ratios(times, name, "pydantic v2"))
            rows.append(
                [name, f"{med * 1e6 / count:.1f}", f"{count / med:,.0f}", f"{per_pydantic:.2f}"]
            )
        print(c.table(["contender", "us/invoice", "invoices/s", "time / pydantic"], rows))
        if key == "by_page":
            print()
            print(
                "page by page: ours / pydantic v2 = "
                f"{c.median(c.ratios(times, 'ours', 'pydantic v2')):.2f}, ours / msgspec = "
                f"{c.median(c.ratios(times, 'ours', 'msgspec')):.1f}"
            )
        if key == "from_dicts":
            ratio = c.median(c.ratios(times, "ours", "pydantic v2"))
            msgspec_ratio = c.median(c.ratios(times, "ours", "msgspec"))
            ok = ratio <= TARGET
            print()
            floor = c.median(c.ratios(times, "attrs construction only", "pydantic v2"))
            print(
                f"ours / pydantic v2 = {ratio:.2f} (target <= {TARGET}: {c.verdict(ok)}); "
                f"ours / msgspec = {msgspec_ratio:.1f}; constructing the attrs models alone "
                f"takes {floor:.2f} x pydantic's whole parse"
            )
    return ok


def main(argv: list[str] | None = None) -> int:
    args = c.parse_args(__doc__.splitlines()[0], argv)
    count = 1000 if args.quick else 20_000
    rounds = args.rounds or (3 if args.quick else 7)
    env = c.print_header("Parsing", "bench_parsing.py", args.quick)
    result = anyio.run(run, count, rounds)
    ok = report(result)
    c.write_json(args.json, {"environment": env, **result, "target_met": ok})
    return 0


if __name__ == "__main__":
    sys.exit(main())
