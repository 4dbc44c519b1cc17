"""Matching processed Qondor payments to Qonto supplier invoices (pluggable).

A matcher is a function ``(invoice, index) -> candidates``: given a processed Qondor payment
(its ``external_reference`` is the one the reconciler sent, even when Qondor does not echo
it back) and an index of the Qonto supplier invoices, it returns the supplier invoices that
record that payment's money. None means "not seen in Qonto yet"; one is a match; several are
ambiguous and reported for a person.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import attrs

from ..qondor.models import Invoice
from ..qonto.models import SupplierInvoice

__all__ = ["Matcher", "SupplierInvoiceIndex", "match_by_reference"]


@attrs.frozen(kw_only=True)
class SupplierInvoiceIndex:
    """The Qonto supplier invoices of one plan, indexed for matchers.

    Attributes:
        invoices: Every supplier invoice, as listed.
        by_id: Supplier invoices by Qonto id.
        by_number: Supplier invoices by ``invoice_number`` (several may share one).
    """

    invoices: tuple[SupplierInvoice, ...]
    by_id: Mapping[str, SupplierInvoice]
    by_number: Mapping[str, tuple[SupplierInvoice, ...]]

    @classmethod
    def build(cls, invoices: Iterable[SupplierInvoice]) -> SupplierInvoiceIndex:
        """Index ``invoices``."""
        items = tuple(invoices)
        by_number: dict[str, list[SupplierInvoice]] = {}
        for si in items:
            if si.invoice_number:
                by_number.setdefault(si.invoice_number, []).append(si)
        return cls(
            invoices=items,
            by_id={si.id: si for si in items},
            by_number={k: tuple(v) for k, v in by_number.items()},
        )

    def __len__(self) -> int:
        return len(self.invoices)


Matcher = Callable[[Invoice, SupplierInvoiceIndex], Sequence[SupplierInvoice]]
"""``(invoice, index) -> candidates``: the supplier invoices recording the payment's money."""


def match_by_reference(
    invoice: Invoice, index: SupplierInvoiceIndex
) -> tuple[SupplierInvoice, ...]:
    """The default matcher: the reference is the supplier invoice's number or its Qonto id.

    Args:
        invoice: A processed payment, with the reference the reconciler sent.
        index: The supplier invoices.

    Returns:
        Every supplier invoice whose number or id equals the reference.
    """
    reference = invoice.external_reference
    if not reference:
        return ()
    found = list(index.by_number.get(reference, ()))
    by_id = index.by_id.get(reference)
    if by_id is not None and all(si.id != by_id.id for si in found):
        found.append(by_id)
    return tuple(found)
