"""A process that reads one payment from Qondor as fast as a shared rate limit allows.

Run as ``python _limiter_worker.py --qondor URL --dsn DSN --schema S --invoice ID``, for the
shared rate limit's test: ``--concurrency`` tasks read payment ``ID`` in a loop through a
`PostgresRateLimiter` until the process is killed. It prints "ready" once connected.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

import anyio

from qondor_invoicing import RateLimitError, RetryPolicy
from qondor_invoicing.qondor import QondorClient
from qondor_invoicing.reconcile import PostgresRateLimiter


async def work(args: argparse.Namespace) -> None:
    async with (
        PostgresRateLimiter(args.dsn, schema=args.schema, rate=args.rate) as limiter,
        QondorClient(
            api_key="test-key",
            base_url=args.qondor,
            rate_limit=limiter,
            retry_policy=RetryPolicy(max_retries=0),
        ) as qondor,
    ):
        await limiter.used_today()  # connected, tables created
        print("ready", flush=True)

        async def loop() -> None:
            while True:
                with contextlib.suppress(RateLimitError):  # counted by the fake
                    await qondor.invoices.get(args.invoice)

        async with anyio.create_task_group() as tg:
            for _ in range(args.concurrency):
                tg.start_soon(loop)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--qondor", required=True)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--invoice", type=int, required=True)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    args = parser.parse_args()
    anyio.run(work, args, backend=args.backend)
    return 0


if __name__ == "__main__":
    sys.exit(main())
