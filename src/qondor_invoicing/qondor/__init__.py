"""The Qondor Invoicing API v1: `QondorClient`, its models and its rule table."""

from .client import API_KEY_ENV_VAR as API_KEY_ENV_VAR
from .client import ENVIRONMENTS as ENVIRONMENTS
from .client import QondorClient as QondorClient
from .invoices import MAX_EXTERNAL_REFERENCE_LENGTH as MAX_EXTERNAL_REFERENCE_LENGTH
from .invoices import MAX_FAILURE_MESSAGE_LENGTH as MAX_FAILURE_MESSAGE_LENGTH
from .invoices import Invoices as Invoices
from .invoices import InvoicesWithRawResponse as InvoicesWithRawResponse
from .models import Customer as Customer
from .models import Invoice as Invoice
from .models import InvoiceAction as InvoiceAction
from .models import InvoiceKind as InvoiceKind
from .models import InvoiceLine as InvoiceLine
from .models import InvoiceList as InvoiceList
from .models import InvoiceState as InvoiceState
from .resolve import InvoiceResolver as InvoiceResolver
from .resolve import Resolver as Resolver
from .rules import QONDOR_RULES as QONDOR_RULES
from .rules import QONDOR_RULES_FAQ_RECOVERY as QONDOR_RULES_FAQ_RECOVERY

__all__ = [
    "API_KEY_ENV_VAR",
    "Customer",
    "ENVIRONMENTS",
    "Invoice",
    "InvoiceAction",
    "InvoiceKind",
    "InvoiceLine",
    "InvoiceList",
    "InvoiceResolver",
    "InvoiceState",
    "Invoices",
    "InvoicesWithRawResponse",
    "MAX_EXTERNAL_REFERENCE_LENGTH",
    "MAX_FAILURE_MESSAGE_LENGTH",
    "QONDOR_RULES",
    "QONDOR_RULES_FAQ_RECOVERY",
    "QondorClient",
    "Resolver",
]
