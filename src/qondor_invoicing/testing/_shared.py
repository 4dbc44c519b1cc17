"""What both fakes share beyond the server machinery: refusal wording and generated data.

`verb` words an action for a refusal message ("cannot be set as paid"); `Generator` is the
random stream a fake draws its generated records from, which ``seed(random_seed=...)``
swaps for a reproducible one while it runs.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Mapping
from typing import Final

from ..qondor.models import InvoiceAction
from ..qonto.models import SupplierInvoiceAction

__all__ = ["Generator", "verb"]

_VERBS: Final[Mapping[InvoiceAction | SupplierInvoiceAction, str]] = {
    InvoiceAction.SET_AS_PROCESSED: "set as processed",
    InvoiceAction.SET_AS_FAILED: "set as failed",
    InvoiceAction.SET_AS_PAID: "set as paid",
    InvoiceAction.SET_AS_UNPROCESSED: "set as unprocessed",
    SupplierInvoiceAction.MARK_AS_PAID: "marked as paid",
    SupplierInvoiceAction.UNMARK_AS_PAID: "unmarked as paid",
    SupplierInvoiceAction.REJECT: "rejected",
}


def verb(action: InvoiceAction | SupplierInvoiceAction) -> str:
    """The action as a past participle: ``"set as paid"``, ``"rejected"``."""
    return _VERBS[action]


class Generator:
    """A fake's source of generated data: one random stream.

    Args:
        seed: Seed of the stream used outside `seeded` blocks.
    """

    def __init__(self, seed: int | str) -> None:
        self.rng = random.Random(seed)

    @contextlib.contextmanager
    def seeded(self, seed: int) -> Iterator[random.Random]:
        """Draw from a stream seeded with ``seed`` inside the block, then from the usual one."""
        saved, self.rng = self.rng, random.Random(seed)
        try:
            yield self.rng
        finally:
            self.rng = saved
