"""One step's claim while it is applied: the fence check before each side effect, the heartbeat.

A worker holds a payment through a `Lease` with a fencing token. Before every side effect
(``book()``, each state change sent to Qondor) it checks with the journal that the token is
still current and that at least a safety margin of the lease is left; while the step runs, a
heartbeat task renews the lease every ``interval`` seconds, so a slow ``book()`` or API call
keeps its claim and a frozen process loses it. A renewal refused (the payment was taken
over) makes the next check fail at once, before any further side effect.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from .journal import Journal, Lease, LeaseLostError

__all__ = ["Sleep", "StepFence"]

logger = logging.getLogger("qondor_invoicing.reconcile")

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[object]]


class StepFence:
    """The lease of the step being applied on one payment.

    Args:
        journal: The journal that granted the lease.
        lease: The lease.
        lease_seconds: The length of each renewal.
        margin: Seconds of lease a side effect needs left.
        interval: Seconds between two renewals.
        sleep: Waits that many seconds (``anyio.sleep``; a fake clock's in tests).
    """

    def __init__(
        self,
        journal: Journal,
        lease: Lease,
        *,
        lease_seconds: float,
        margin: float,
        interval: float,
        sleep: Sleep,
    ) -> None:
        self.journal = journal
        self.lease = lease
        self.lease_seconds = lease_seconds
        self.margin = margin
        self.interval = interval
        self.sleep = sleep
        self.lost: LeaseLostError | None = None
        self.renewals = 0

    @property
    def key(self) -> str:
        return self.lease.payment_key

    @property
    def token(self) -> int:
        return self.lease.token

    async def check(self) -> None:
        """The fence before a side effect.

        Raises:
            LeaseLostError: A renewal was refused, or the journal says the token is no
                longer current or less than the margin of the lease is left.
        """
        if self.lost is not None:
            raise self.lost
        try:
            self.lease = await self.journal.check(self.lease, margin=self.margin)
        except LeaseLostError as exc:
            self.lost = exc
            raise

    async def run(self, body: Callable[[], Awaitable[T]]) -> T:
        """Run ``body`` with the heartbeat renewing the lease until it returns."""
        failure: Exception | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._heartbeat)
            try:
                result = await body()
            except Exception as exc:  # raised below, outside the task group (no group)
                failure = exc
            finally:
                tg.cancel_scope.cancel()
        if failure is not None:
            raise failure
        return result

    async def _heartbeat(self) -> None:
        while True:
            await self.sleep(self.interval)
            try:
                self.lease = await self.journal.renew(self.lease, self.lease_seconds)
            except LeaseLostError as exc:
                self.lost = exc
                logger.warning("reconcile: payment %s: lease lost while working: %s", self.key, exc)
                return
            except Exception as exc:
                # The journal is unreachable: the check before the next side effect decides.
                logger.info("reconcile: payment %s: lease not renewed: %s", self.key, exc)
            else:
                self.renewals += 1
