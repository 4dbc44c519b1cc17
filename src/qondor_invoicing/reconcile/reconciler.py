"""The reconciler: Qondor's processing queue, your finance system and Qonto, safely and resumably.

``plan()`` reads (the queue, the journal, Qonto, the finance system's lookups) and decides;
``apply(plan)`` acts, one payment at a time per worker slot, recording every intent in the
journal before its side effect and every outcome after it. See the reconciler guide for
the crash-safety argument.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import anyio

from ..errors import ConfigurationError
from ._applier import _Applier
from ._fence import Sleep
from ._planner import _Planner
from ._policy import Progress as Progress
from ._policy import ReconcileAbortedError as ReconcileAbortedError
from ._policy import ReconcilePolicy as ReconcilePolicy
from ._worker import _now
from .finance import FinanceSystem
from .journal import Journal, MemoryJournal
from .matching import Matcher, match_by_reference
from .plan import Plan, Report, StepResult, StepStatus
from .validators import DEFAULT_VALIDATORS, Validator

if TYPE_CHECKING:
    from ..qondor.client import QondorClient
    from ..qonto.client import QontoClient

__all__ = ["Progress", "ReconcileAbortedError", "ReconcilePolicy", "Reconciler"]


def _default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Reconciler:
    """The integration loop the Qondor guide describes, safe to interrupt and run again.

    Example::

        async with QondorClient() as qondor, QontoClient() as qonto:
            reconciler = Reconciler(
                qondor, finance=my_finance, qonto=qonto, journal=SqliteJournal("recon.db")
            )
            plan = await reconciler.plan()     # reads only
            print(plan)
            report = await reconciler.apply(plan)

    Args:
        qondor: The Qondor client.
        finance: Your finance system (see `FinanceSystem`).
        qonto: The Qonto client, for settlement; without it nothing is set as paid.
        journal: Where intents and outcomes are recorded; a `MemoryJournal` by default.
            Use a `SqliteJournal` (or a server-backed journal) to survive crashes without
            relying on ``book`` being idempotent.
        matcher: Matches processed payments to Qonto supplier invoices; by default the
            external reference is the supplier invoice's number or id.
        validators: The checks run on each queued payment (`DEFAULT_VALIDATORS`).
        concurrency: Most payments worked on at once (each client's rate limit and
            concurrency limit also apply).
        policy: Decisions and retries (`ReconcilePolicy`).
        progress: Called as ``progress(done, total, step)`` after each step is applied.
        owner: This worker's name in the journal's claims; unique per process by default.
            The journal also tells processes apart (each journal object is its own
            incarnation), so a restarted worker with the same name waits for its old
            claims' leases like any other worker.
        sleep: How the lease heartbeat waits (``anyio.sleep``); tests pass a fake clock's.

    Raises:
        ValueError: ``concurrency`` below 1.
    """

    def __init__(
        self,
        qondor: QondorClient,
        *,
        finance: FinanceSystem,
        qonto: QontoClient | None = None,
        journal: Journal | None = None,
        matcher: Matcher | None = None,
        validators: Sequence[Validator[Any]] | None = None,
        concurrency: int = 4,
        policy: ReconcilePolicy | None = None,
        progress: Progress | None = None,
        owner: str | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        _check_arguments(qondor, finance, qonto, journal, validators, concurrency, policy, owner)
        self.qondor = qondor
        self.finance = finance
        self.qonto = qonto
        self.journal: Journal = journal if journal is not None else MemoryJournal()
        self.matcher: Matcher = matcher if matcher is not None else match_by_reference
        self.validators: tuple[Validator[Any], ...] = tuple(
            validators if validators is not None else DEFAULT_VALIDATORS
        )
        self.concurrency = concurrency
        self.policy: ReconcilePolicy = policy if policy is not None else ReconcilePolicy()
        self.progress = progress
        self.owner: str = owner or _default_owner()
        self.sleep: Sleep = sleep if sleep is not None else anyio.sleep

    def __repr__(self) -> str:
        return (
            f"Reconciler(journal={self.journal!r}, qonto={'yes' if self.qonto else 'no'}, "
            f"concurrency={self.concurrency}, owner={self.owner!r})"
        )

    async def plan(self) -> Plan:
        """Decide what to do. Reads only: nothing changes anywhere, the journal included.

        Returns:
            The plan.

        Raises:
            APIError: Qondor's queue could not be read (after the client's retries).
            JournalError: The journal could not be read (the error itself, never an
                exception group; with several at once, the first, caused by the group).
        """
        return await _Planner(self).plan()

    async def run(self, *, dry_run: bool = False) -> Report:
        """Plan, then apply (or, with ``dry_run``, only plan and report).

        Args:
            dry_run: Change nothing: no state change, no booking, no journal write.

        Returns:
            The report.

        Raises:
            ReconcileAbortedError: See `apply`.
        """
        plan = await self.plan()
        if dry_run:
            now = _now()
            results = tuple(
                StepResult(step=s, status=StepStatus.PLANNED, detail=f"would {s.describe()}")
                for s in plan.steps
            )
            return Report(plan=plan, results=results, dry_run=True, started_at=now, finished_at=now)
        return await self.apply(plan)

    async def apply(self, plan: Plan) -> Report:
        """Carry out a plan, at most ``concurrency`` payments at a time.

        Each step is applied as described in the reconciler guide: claim the payment,
        record the intent, act, confirm against Qondor, record the outcome, release. A
        transient error leaves the payment for the next run (DEFERRED in the report). The
        plan's failures are sent before its other steps (see the failure breaker).

        Args:
            plan: A plan from `plan`. It may be stale: every change is re-checked against
                Qondor's current state when sent, and nothing is ever sent twice for one
                confirmed step.

        Returns:
            The report, one result per step.

        Raises:
            ReconcileAbortedError: An error that would make every later step fail (401,
                403, the journal cannot be written); its ``report`` tells what was done.
        """
        return await _Applier(self).apply(plan)


_FINANCE_METHODS = ("has_article", "vat_rates", "find_customer", "account_for", "book")


def _check_arguments(
    qondor: Any,
    finance: Any,
    qonto: Any,
    journal: Any,
    validators: Any,
    concurrency: Any,
    policy: Any,
    owner: Any,
) -> None:
    """Refuse, when the reconciler is made, what would fail in the middle of a run.

    Raises:
        ConfigurationError: Naming the argument; a sync client gets the way to use it.
    """
    from ..qondor.client import QondorClient
    from ..qonto.client import QontoClient

    def refuse(message: str) -> NoReturn:
        raise ConfigurationError(f"Reconciler: {message}")

    for name, value, expected, required in (
        ("qondor", qondor, QondorClient, True),
        ("qonto", qonto, QontoClient, False),
    ):
        if value is None and not required:
            continue
        if not isinstance(value, expected):
            sync = type(value).__name__.endswith("SyncClient")
            refuse(
                f"{name} must be a {expected.__name__}, not {type(value).__name__}"
                + ("; for blocking code use SyncReconciler with the sync clients" if sync else "")
            )
    missing = [m for m in _FINANCE_METHODS if not callable(getattr(finance, m, None))]
    if missing:
        refuse(
            f"finance ({type(finance).__name__}) lacks {', '.join(missing)}: it must be a "
            "FinanceSystem (see InMemoryFinanceSystem)"
        )
    if journal is not None and not isinstance(journal, Journal):
        refuse(
            "journal must be a Journal (MemoryJournal, SqliteJournal, ...), not "
            f"{type(journal).__name__}"
        )
    if validators is not None and (
        isinstance(validators, (str, bytes))
        or not isinstance(validators, Sequence)
        or not all(callable(v) for v in validators)
    ):
        refuse(
            "validators must be a sequence of validators (e.g. [*DEFAULT_VALIDATORS, mine]), "
            f"not {type(validators).__name__}"
        )
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        refuse(f"concurrency must be an integer >= 1, not {concurrency!r}")
    if policy is not None and not isinstance(policy, ReconcilePolicy):
        refuse(f"policy must be a ReconcilePolicy, not {type(policy).__name__}")
    if owner is not None and not isinstance(owner, str):
        refuse(f"owner must be a str, not {type(owner).__name__}")
