"""`FakeQondor`, by concern: the fake and its routes (`fake`), generated payments
(`generation`) and its records with their wire encoding (`state`)."""

from .fake import FakeQondor as FakeQondor
from .state import InvoiceTransition as InvoiceTransition
from .state import StoredInvoice as StoredInvoice

__all__ = ["FakeQondor", "InvoiceTransition", "StoredInvoice"]
