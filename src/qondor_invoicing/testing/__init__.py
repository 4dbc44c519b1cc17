"""Stateful offline fakes of both APIs, for this library's tests and for yours.

Each fake is a small in-memory server with the real API's routes, rules, error bodies and
rate limits, plus fault injection. Plug one into a client with ``transport=fake.transport``.
"""

from ._qondor import FakeQondor as FakeQondor
from ._qondor import InvoiceTransition as InvoiceTransition
from ._qondor import StoredInvoice as StoredInvoice
from ._qonto import FakeQonto as FakeQonto
from ._qonto import SupplierInvoiceTransition as SupplierInvoiceTransition
from ._server import FakeRequest as FakeRequest
from ._server import FakeResponse as FakeResponse
from ._server import FaultKind as FaultKind
from ._server import Faults as Faults
from ._server import RecordedRequest as RecordedRequest
from .conformance import FinanceProperty as FinanceProperty
from .conformance import FinanceSystemConformanceError as FinanceSystemConformanceError
from .conformance import check_finance_system as check_finance_system

__all__ = [
    "FakeQondor",
    "FakeQonto",
    "FakeRequest",
    "FakeResponse",
    "FaultKind",
    "Faults",
    "FinanceProperty",
    "FinanceSystemConformanceError",
    "InvoiceTransition",
    "RecordedRequest",
    "StoredInvoice",
    "SupplierInvoiceTransition",
    "check_finance_system",
]
