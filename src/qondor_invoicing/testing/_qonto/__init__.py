"""`FakeQonto`, by concern: the fake and its routes (`fake`), who gets in (`auth`), the list
route (`listing`), the bulk route (`bulk`, `multipart`), generated invoices (`generation`),
its records (`state`) and wire values (`wire`)."""

from .fake import FakeQonto as FakeQonto
from .state import SupplierInvoiceTransition as SupplierInvoiceTransition

__all__ = ["FakeQonto", "SupplierInvoiceTransition"]
