"""Memory: iterating 100,000 supplier invoices through auto-pagination.

``async for invoice in qonto.supplier_invoices.list(per_page=100)`` over an
``httpx.MockTransport`` that generates each page when it is asked for (ids numbered from
the page and position, every item the seed document's supplier invoice), so that no
storage of 100,000 invoices exists anywhere: the figures are what the client allocates
while iterating (request, response body, decoded JSON, one page of models).

- peak growth with ``tracemalloc``: the peak of traced memory during the iteration minus
  what was traced when it started;
- peak RSS growth, measured in a separate run without tracemalloc (which costs memory
  itself): the process's high-water mark (``VmHWM``), reset before the run where Linux
  allows it.

Target: peak growth under 30 MB. For contrast, the same figures for ``to_list()`` on a
small part, which keeps every invoice.

Run: ``python bench/bench_memory.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import gc
import json
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

from qondor_invoicing import QontoClient

TARGET_MB = 30.0
PER_PAGE = 100
TOKEN = "bench-oauth-token-7d21e4"
MB = 1_000_000


def page_transport(total: int) -> httpx.MockTransport:
    """A transport answering ``GET supplier_invoices`` pages made on the fly."""
    item = json.dumps({**c.seed_invoice(), "id": "@@ID@@"}).encode()
    head, tail = item.split(b"@@ID@@")

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", "1"))
        per_page = int(request.url.params.get("per_page", "25"))
        first = (page - 1) * per_page
        count = max(0, min(per_page, total - first))
        items = b",".join(
            head + f"{n:08d}-bd0d-4df4-865c-c07afab8bb48".encode() + tail
            for n in range(first, first + count)
        )
        pages = max(1, -(-total // per_page))
        meta = {
            "current_page": page,
            "next_page": page + 1 if page < pages else None,
            "prev_page": page - 1 if page > 1 else None,
            "total_pages": pages,
            "total_count": total,
            "per_page": per_page,
        }
        body = b'{"supplier_invoices":[' + items + b'],"meta":' + json.dumps(meta).encode() + b"}"
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    return httpx.MockTransport(handler)


def vm_hwm() -> int | None:
    """The process's peak resident set size in bytes (Linux), or ``None``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def reset_hwm() -> bool:
    """Reset the peak RSS to the current RSS (Linux >= 4.0); whether it worked."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


async def walk(total: int, *, collect: bool, trace: bool) -> dict[str, Any]:
    """Iterate (or collect) ``total`` invoices; return counts, time and memory figures."""
    async with QontoClient(
        access_token=TOKEN, transport=page_transport(total), rate_limit=None
    ) as qonto:
        # One page first, so that imports and generated converter functions are not counted.
        await qonto.supplier_invoices.list(per_page=PER_PAGE)
        gc.collect()
        reset = False
        rss_before = None
        if trace:
            tracemalloc.start()
            tracemalloc.reset_peak()
        else:
            reset = reset_hwm()
            rss_before = vm_hwm()
        base, _ = tracemalloc.get_traced_memory()
        started = time.perf_counter()
        kept: list[Any] = []
        count = 0
        if collect:
            kept = await qonto.supplier_invoices.list(per_page=PER_PAGE).to_list()
            count = len(kept)
        else:
            async for _invoice in qonto.supplier_invoices.list(per_page=PER_PAGE):
                count += 1
        seconds = time.perf_counter() - started
        result: dict[str, Any] = {"count": count, "seconds": seconds}
        if trace:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            result["traced_peak_growth"] = peak - base
        else:
            rss_after = vm_hwm()
            if rss_before is not None and rss_after is not None:
                result["rss_peak_growth"] = rss_after - rss_before
                result["rss_reset"] = reset
        del kept
        return result


async def run(total: int, collected: int) -> dict[str, Any]:
    untraced = await walk(total, collect=False, trace=False)
    traced = await walk(total, collect=False, trace=True)
    kept = await walk(collected, collect=True, trace=True)
    assert untraced["count"] == traced["count"] == total, (untraced, traced)
    assert kept["count"] == collected, kept
    # Times from the untraced walk only: tracemalloc slows Python down several times.
    iterate = {**traced, **untraced, "traced_seconds": traced["seconds"]}
    return {"total": total, "collected": collected, "iterate": iterate, "kept": kept}


def report(result: dict[str, Any]) -> bool:
    total = result["total"]
    it = result["iterate"]
    kept = result["kept"]
    peak_mb = it["traced_peak_growth"] / MB
    ok = peak_mb < TARGET_MB
    print(
        f"{total:,} supplier invoices (the seed document's object, unique ids), {PER_PAGE} per "
        "page, pages generated on the fly by an httpx.MockTransport (no fake storage counted)."
    )
    print()
    rss = it.get("rss_peak_growth")
    rss_text = "n/a" if rss is None else f"{rss / MB:.1f}"
    if rss is not None and not it.get("rss_reset"):
        rss_text += " (high-water mark not reset: a lower bound)"
    rows = [
        [
            f"async for over {total:,}",
            f"{peak_mb:.1f}",
            rss_text,
            f"{it['seconds']:.1f}",
            f"{total / it['seconds']:,.0f}",
            f"< {TARGET_MB:g} MB: {c.verdict(ok)}",
        ],
        [
            f"to_list() of {result['collected']:,} (contrast)",
            f"{kept['traced_peak_growth'] / MB:.1f}",
            "-",
            "-",
            "-",
            f"{kept['traced_peak_growth'] / result['collected'] / 1000:.1f} kB per invoice kept",
        ],
    ]
    print(
        c.table(
            [
                "what",
                "peak growth, tracemalloc (MB)",
                "peak RSS growth, untraced (MB)",
                "seconds (untraced)",
                "invoices/s",
                "target",
            ],
            rows,
        )
    )
    return ok


def main(argv: list[str] | None = None) -> int:
    args = c.parse_args(__doc__.splitlines()[0], argv)
    total = 2_000 if args.quick else 100_000
    collected = 500 if args.quick else 5_000
    env = c.print_header("Memory of auto-pagination", "bench_memory.py", args.quick)
    c.flush()
    result = anyio.run(run, total, collected)
    ok = report(result)
    c.write_json(args.json, {"environment": env, **result, "target_met": ok})
    return 0


if __name__ == "__main__":
    sys.exit(main())
