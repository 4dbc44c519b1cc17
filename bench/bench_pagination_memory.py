"""Memory of auto-pagination: iterating supplier invoices keeps one page in memory.

Seeds `FakeQonto` with 1,000, 5,000 and 10,000 supplier invoices, then measures with
``tracemalloc`` the peak memory allocated while ``async for`` walks every invoice (100 per
page), and, for contrast, while ``to_list()`` collects them all. The fake's own data is
allocated before tracing starts, so the figures are what the iteration itself allocates.

Run: ``python bench/bench_pagination_memory.py [--check]`` (``--quick`` for a smoke run
with 100, 500 and 1,000 invoices, too few for ``--check`` to mean anything). With
``--check`` the script exits non-zero unless the iteration's peak at the largest count is
within 1.5x of its peak at the smallest (flat), while collecting grows with the count.
"""

from __future__ import annotations

import functools
import gc
import sys
import time
import tracemalloc

import _common as c
import anyio

from qondor_invoicing import QontoClient
from qondor_invoicing.testing import FakeQonto

TOKEN = "bench-token"
SIZES = (1_000, 5_000, 10_000)
QUICK_SIZES = (100, 500, 1_000)


async def walk(fake: FakeQonto, *, collect: bool, trace: bool = True) -> tuple[int, int, float]:
    """Return (items seen, peak bytes allocated during the walk, seconds).

    Timings are taken without tracing (``trace=False``): tracemalloc slows Python down.
    """
    async with QontoClient(access_token=TOKEN, transport=fake.transport, rate_limit=None) as qonto:
        gc.collect()
        if trace:
            tracemalloc.start()
            tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        started = time.perf_counter()
        if collect:
            items = await qonto.supplier_invoices.list(per_page=100).to_list()
            count = len(items)
        else:
            count = 0
            async for _invoice in qonto.supplier_invoices.list(per_page=100):
                count += 1
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        if trace:
            tracemalloc.stop()
        if collect:
            del items
        return count, peak - base, elapsed


def main(argv: list[str] | None = None) -> int:
    args = c.parse_args(
        __doc__.splitlines()[0], argv, flags={"check": "fail unless memory stays flat"}
    )
    env = c.print_header(
        "Memory of auto-pagination over FakeQonto", "bench_pagination_memory.py", args.quick
    )
    c.flush()
    rows = []
    for size in QUICK_SIZES if args.quick else SIZES:
        fake = FakeQonto(access_token=TOKEN, rate_limit=None)
        fake.seed(size, random_seed=1)
        seen, iter_peak, _ = anyio.run(functools.partial(walk, fake, collect=False))
        collected, list_peak, _ = anyio.run(functools.partial(walk, fake, collect=True))
        _, _, iter_s = anyio.run(functools.partial(walk, fake, collect=False, trace=False))
        assert seen == collected == size, (seen, collected, size)
        rows.append((size, iter_peak, list_peak, iter_s))

    print(
        f"{'invoices':>9}  {'async for peak':>15}  {'to_list() peak':>15}  "
        f"{'walk time (untraced)':>20}"
    )
    for size, iter_peak, list_peak, iter_s in rows:
        print(
            f"{size:>9,}  {iter_peak / 2**20:>12.2f} MiB  {list_peak / 2**20:>12.2f} MiB"
            f"  {iter_s:>19.2f}s"
        )
    smallest, largest = rows[0], rows[-1]
    ratio = largest[1] / smallest[1]
    print(f"async for peak, {largest[0]:,} vs {smallest[0]:,} invoices: x{ratio:.2f}")
    flat = ratio <= 1.5
    grows = largest[2] > 5 * smallest[2]
    c.write_json(
        args.json,
        {
            "environment": env,
            "rows": [
                {"invoices": size, "iter_peak": i, "list_peak": li, "iter_seconds": t}
                for size, i, li, t in rows
            ],
            "iter_peak_ratio": ratio,
            "flat": flat,
            "list_grows": grows,
        },
    )
    if args.check:
        if not (flat and grows):
            print("FAIL: iteration memory is not flat" if not flat else "FAIL: to_list() flat?")
            return 1
        print("OK: iteration memory is flat")
    return 0


if __name__ == "__main__":
    sys.exit(main())
