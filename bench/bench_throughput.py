"""Throughput under limits: draining Qondor's payment queue from FakeQondor.

A drain is what an integration does with the queue: ``list_unprocessed()`` once, then for
every payment ``get()`` and ``set_as_processed()`` (two requests each, the rule check before
the second), with at most ``CONCURRENCY`` payments in flight (anyio task group bounded by a
``CapacityLimiter``). The fake answers every request after ``LATENCY`` seconds.

Contenders, each on a fresh fake holding the same payments, in interleaved rounds:

- **rate-limited**: the client's rate limit at ``RATE`` requests/s and the fake enforcing
  the same limit (a sliding window, as Azure API Management does). Qondor's real limit is
  10 requests/s; at that rate a full run would take minutes, and the mechanism is the same.
  Target: achieved rate >= 0.9 x ``RATE``, and no 429 received.
- **unlimited**: no rate limit on either side. The bound is then concurrency / latency.
  Target: achieved rate >= 0.85 x that bound.
- **rate-limited, one-token bucket (before)**: the same with the limiter the client had
  before (a token bucket of one token), for the before/after comparison.
- **naive loop**: the sequential loop a user writes with raw ``httpx`` (no limit, no
  retries, no rule checks); its bound is 1 / latency. In the full run it drains the first
  ``NAIVE_PAYMENTS`` payments only: its rate does not depend on the queue's length.

The achieved rate counts every request the fake received (429s included) over the drain's
wall-clock time, from the first request to the last answer, and again from the answer to
``list_unprocessed()`` on: the listing is one request whose answer (every payment) takes a
while to build and parse, and no concurrency shortens it, so the targets are judged on the
part that concurrency and the rate limit govern; both figures are printed. "CPU ms/request" is the
process's CPU time (client and in-process fake together) per request: when it times the
bound exceeds the CPU this process gets, the bound cannot be reached on that machine.

Run: ``python bench/bench_throughput.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

from qondor_invoicing import InvoiceKind, QondorClient, RateLimiter
from qondor_invoicing.testing import FakeQondor, Faults

LATENCY = 0.020
CONCURRENCY = 8
RATE = 100.0
RATE_TARGET = 0.9
BOUND_TARGET = 0.85
API_KEY = "bench-subscription-key-0f3a9c"
BASE = "https://qondor.azure-api.net/Prod/Invoicing/v1/"
KINDS = (
    InvoiceKind.INVOICE_SPECIFICATION,
    InvoiceKind.CREDIT_CARD_PAYMENT,
    InvoiceKind.INVOICE_SPECIFICATION,
    InvoiceKind.CREDIT_NOTE,
)


def make_fake(payments: int, rate_limit: tuple[int, float] | None) -> FakeQondor:
    """A fake holding ``payments`` unprocessed payments of every kind, answering slowly."""
    fake = FakeQondor(API_KEY, rate_limit=None, faults=Faults(latency=LATENCY))
    for n in range(payments):
        fake.add_invoice(kind=KINDS[n % len(KINDS)])
    fake.rate_limit = rate_limit
    return fake


def outcome(fake: FakeQondor, times: tuple[float, float, float], payments: int) -> dict[str, Any]:
    seconds, cpu, listing = times
    processed = sum(1 for i in fake.invoices.values() if i.state.value == "processed")
    statuses = [r.status for r in fake.requests]
    return {
        "seconds": seconds,
        "requests": len(statuses),
        "rate": len(statuses) / seconds,
        # After the listing: the part of the drain that concurrency can speed up.
        "rate_after_listing": (len(statuses) - 1) / (seconds - listing),
        "429s": statuses.count(429),
        "cpu_per_request": cpu / len(statuses),
        "processed": processed,
        "payments": payments,
    }


async def sdk_drain(
    fake: FakeQondor, rate_limit: float | None, *, bucket: bool = False
) -> tuple[float, float, float]:
    """Drain the queue with the SDK; return the seconds and CPU seconds it took.

    With ``bucket``, the client's limiter is replaced by the one-token bucket it used
    before the sliding window (for the before/after comparison; private attribute).
    """
    async with QondorClient(API_KEY, transport=fake.transport, rate_limit=rate_limit) as qondor:
        if bucket and rate_limit:
            qondor._core._shared.rate_limiter = RateLimiter(rate_limit, burst=1)
        limiter = anyio.CapacityLimiter(CONCURRENCY)
        started, cpu = time.perf_counter(), time.process_time()
        queue = await qondor.invoices.list_unprocessed()
        listed = time.perf_counter()

        async def one(invoice_id: int) -> None:
            async with limiter:
                invoice = await qondor.invoices.get(invoice_id)
                await qondor.invoices.set_as_processed(
                    invoice, external_reference=f"FIN-{invoice_id}"
                )

        async with anyio.create_task_group() as tg:
            for invoice in queue:
                tg.start_soon(one, invoice.id)
        return time.perf_counter() - started, time.process_time() - cpu, listed - started


async def naive_drain(fake: FakeQondor, limit: int) -> tuple[float, float, float]:
    """The loop a user writes with raw httpx: one payment after the other."""
    async with httpx.AsyncClient(
        transport=fake.transport, base_url=BASE, headers={"Ocp-Apim-Subscription-Key": API_KEY}
    ) as http:
        started, cpu = time.perf_counter(), time.process_time()
        response = await http.get("Invoice/GetAllUnprocessedInvoices")
        response.raise_for_status()
        listed = time.perf_counter()
        for item in response.json()[:limit]:
            response = await http.get(f"Invoice/{item['id']}")
            response.raise_for_status()
            invoice = response.json()
            response = await http.put(
                "Invoice/SetAsProcessed",
                json={"invoiceId": invoice["id"], "externalReference": f"FIN-{invoice['id']}"},
            )
            response.raise_for_status()
        return time.perf_counter() - started, time.process_time() - cpu, listed - started


async def run(payments: int, naive_payments: int, rounds: int) -> dict[str, Any]:
    results: dict[str, list[dict[str, Any]]] = {
        "rate-limited": [],
        "rate-limited, one-token bucket (before)": [],
        "unlimited": [],
        "naive": [],
    }
    window = (int(RATE), 1.0)

    async def limited() -> None:
        fake = make_fake(payments, window)
        results["rate-limited"].append(outcome(fake, await sdk_drain(fake, RATE), payments))

    async def limited_bucket() -> None:
        fake = make_fake(payments, window)
        results["rate-limited, one-token bucket (before)"].append(
            outcome(fake, await sdk_drain(fake, RATE, bucket=True), payments)
        )

    async def unlimited() -> None:
        fake = make_fake(payments, None)
        results["unlimited"].append(outcome(fake, await sdk_drain(fake, None), payments))

    async def naive() -> None:
        fake = make_fake(payments, window)
        results["naive"].append(
            outcome(fake, await naive_drain(fake, naive_payments), naive_payments)
        )

    await c.interleaved(
        {
            "rate-limited": limited,
            "unlimited": unlimited,
            "naive": naive,
            "rate-limited, one-token bucket (before)": limited_bucket,
        },
        rounds,
        warmup=False,
    )
    return {
        "payments": payments,
        "naive_payments": naive_payments,
        "rounds": rounds,
        "latency": LATENCY,
        "concurrency": CONCURRENCY,
        "rate_limit": RATE,
        "results": results,
    }


def report(result: dict[str, Any]) -> bool:
    rounds = result["results"]
    bound = CONCURRENCY / LATENCY
    print(
        f"{result['payments']:,} payments (naive loop: {result['naive_payments']:,}), latency "
        f"{LATENCY * 1000:.0f} ms per request, at most {CONCURRENCY} payments in flight, "
        f"{result['rounds']} interleaved rounds (medians). Requests per payment: get + "
        "set_as_processed, plus one list_unprocessed."
    )
    print()
    rows = []
    goals = {
        "rate-limited": (RATE, f"client and fake limit {RATE:g} req/s", RATE_TARGET),
        "rate-limited, one-token bucket (before)": (RATE, f"the same, {RATE:g} req/s", None),
        "unlimited": (bound, f"concurrency / latency = {bound:g} req/s", BOUND_TARGET),
        "naive": (1 / LATENCY, f"1 / latency = {1 / LATENCY:g} req/s", None),
    }
    ok = True
    for name, runs in rounds.items():
        reference, label, target = goals[name]
        rate = c.median(r["rate"] for r in runs)
        steady = c.median(r["rate_after_listing"] for r in runs)
        seconds = c.median(r["seconds"] for r in runs)
        too_many = max(r["429s"] for r in runs)
        cpu = c.median(r["cpu_per_request"] for r in runs)
        done = all(r["processed"] == r["payments"] for r in runs)
        share = steady / reference
        verdict = "-"
        if target is not None:
            met = share >= target and done and (name != "rate-limited" or too_many == 0)
            ok &= met
            verdict = f">= {target} and no 429: {c.verdict(met)}"
        rows.append(
            [
                name,
                f"{seconds:.2f}",
                f"{rate:.1f}",
                f"{steady:.1f}",
                label,
                f"{share:.3f}",
                str(too_many),
                "yes" if done else "NO",
                f"{cpu * 1000:.2f}",
                verdict,
            ]
        )
    print(
        c.table(
            [
                "drain",
                "seconds",
                "requests/s, whole drain",
                "requests/s after the listing",
                "reference",
                "after the listing / reference",
                "429s (max)",
                "all processed",
                "CPU ms/request",
                "target",
            ],
            rows,
        )
    )
    sdk = c.median(r["rate"] for r in rounds["unlimited"])
    naive = c.median(r["rate"] for r in rounds["naive"])
    limited = c.median(r["rate"] for r in rounds["rate-limited"])
    print()
    print(
        f"The SDK drains {sdk / naive:.1f}x faster than the naive loop without a rate limit, "
        f"and {limited / naive:.1f}x faster at {RATE:g} req/s."
    )
    return ok


def main(argv: list[str] | None = None) -> int:
    args = c.parse_args(__doc__.splitlines()[0], argv)
    payments = 150 if args.quick else 2000
    naive_payments = 50 if args.quick else 500
    rounds = args.rounds or (1 if args.quick else 3)
    env = c.print_header("Throughput under limits", "bench_throughput.py", args.quick)
    c.flush()
    result = anyio.run(run, payments, naive_payments, rounds)
    ok = report(result)
    c.write_json(args.json, {"environment": env, **result, "target_met": ok})
    return 0


if __name__ == "__main__":
    sys.exit(main())
