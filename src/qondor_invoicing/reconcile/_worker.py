"""What planning and applying share: the reconciler's settings, Qondor's rules, reads."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .._render import printable
from ..errors import InvoicingError
from ..qondor.models import Invoice, InvoiceAction
from ..qondor.rules import QONDOR_RULES
from ._fence import Sleep
from ._policy import Progress, ReconcilePolicy

if TYPE_CHECKING:
    from ..qondor.client import QondorClient
    from ..qonto.client import QontoClient
    from .finance import FinanceSystem
    from .journal import Journal
    from .matching import Matcher
    from .reconciler import Reconciler
    from .validators import Validator

if sys.version_info < (3, 11):  # pragma: no cover (anyio depends on the backport there)
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

logger = logging.getLogger("qondor_invoicing.reconcile")


@contextlib.contextmanager
def _one_error() -> Iterator[None]:
    """At the plan/apply boundary: raise a task group's error itself, never the group.

    A group of errors (``Exception`` only: cancellation passes unchanged) is replaced by its
    first `InvoicingError` (its first error if none is), chained to the group when the
    group held more than one, so callers catch ``except JournalError`` as documented.
    """
    try:
        yield
    except BaseExceptionGroup as group:
        leaves = list(_leaves(group))
        if not all(isinstance(e, Exception) for e in leaves):
            raise
        first = next((e for e in leaves if isinstance(e, InvoicingError)), leaves[0])
        if len(leaves) > 1:
            raise first from group
        raise first from first.__cause__


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            yield from _leaves(error)
        else:
            yield error


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    text = " ".join(text.split())
    name = type(exc).__name__
    if len(text) > 300:
        text = text[:299] + "…"
    return text if text.startswith(name) else f"{name}: {text}"


class _Worker:
    """The settings of one `Reconciler` call, as planning and applying read them."""

    def __init__(self, reconciler: Reconciler) -> None:
        self.qondor: QondorClient = reconciler.qondor
        self.finance: FinanceSystem = reconciler.finance
        self.qonto: QontoClient | None = reconciler.qonto
        self.journal: Journal = reconciler.journal
        self.matcher: Matcher = reconciler.matcher
        self.validators: tuple[Validator[Any], ...] = reconciler.validators
        self.concurrency: int = reconciler.concurrency
        self.policy: ReconcilePolicy = reconciler.policy
        self.progress: Progress | None = reconciler.progress
        self.owner: str = reconciler.owner
        attempts = self.policy.attempts
        # State changes go through the client's one change loop; ``attempts`` only bounds
        # its sends (the client's retry policy with max_retries = attempts - 1).
        self._changes: QondorClient = (
            self.qondor
            if attempts is None
            else self.qondor.with_options(
                max_retries=min(attempts - 1, self.qondor.retry_policy.max_retries)
            )
        )
        self.sleep: Sleep = reconciler.sleep

    def _scrub(self, text: str) -> str:
        """``text`` with every credential of the clients masked: what the journal and logs get.

        The clients' own errors are scrubbed already; this also covers text that reaches the
        reconciler another way (a finance system's exception quoting a server's answer).
        Each client's redactor knows its current and past credentials (refreshed tokens too).
        """
        for client in (self.qondor, self.qonto):
            redact = getattr(getattr(client, "_core", None), "redact", None)
            if redact is not None:
                text = redact(text)
        # Control characters and lone surrogates as escapes: storable in every journal,
        # printable in every log (an exception's text may quote anything).
        return printable(text)

    @property
    def _rules(self) -> Any:
        return getattr(self.qondor, "rules", QONDOR_RULES)

    @property
    def _strict(self) -> bool:
        return bool(getattr(self.qondor, "strict", True))

    def _refusal(self, invoice: Invoice, action: InvoiceAction) -> str | None:
        reason: str | None = invoice.refusal(action, self._rules, strict=self._strict)
        return reason

    def _fatal(self, exc: BaseException) -> bool:
        return isinstance(exc, self.policy.fatal_errors)

    async def _read(self, invoice_id: int) -> Invoice | BaseException:
        try:
            return await self.qondor.invoices.get(invoice_id)
        except Exception as exc:
            if self._fatal(exc):
                raise
            return exc
