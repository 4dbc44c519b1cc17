"""qondor-invoicing: a typed async SDK for the Qondor Invoicing API v1 and Qonto supplier invoices.

Import public names from here (or from ``qondor_invoicing.testing`` for the fakes); modules
whose name starts with an underscore are private.
"""

from ._http import NOT_GIVEN as NOT_GIVEN
from ._http import NotGiven as NotGiven
from ._http import RateLimiter as RateLimiter
from ._http import RetryPolicy as RetryPolicy
from ._states import Rule as Rule
from ._states import RuleTable as RuleTable
from .errors import APIConnectionError as APIConnectionError
from .errors import APIError as APIError
from .errors import APIStatusError as APIStatusError
from .errors import APITimeoutError as APITimeoutError
from .errors import AuthenticationError as AuthenticationError
from .errors import BadRequestError as BadRequestError
from .errors import ConfigurationError as ConfigurationError
from .errors import ConflictError as ConflictError
from .errors import ErrorBody as ErrorBody
from .errors import ErrorDetail as ErrorDetail
from .errors import IllegalTransitionError as IllegalTransitionError
from .errors import InternalServerError as InternalServerError
from .errors import InvalidInputError as InvalidInputError
from .errors import InvoicingError as InvoicingError
from .errors import NotFoundError as NotFoundError
from .errors import PermissionDeniedError as PermissionDeniedError
from .errors import RateLimitError as RateLimitError
from .errors import ResponseValidationError as ResponseValidationError
from .errors import UnexpectedRedirectError as UnexpectedRedirectError
from .errors import UnprocessableEntityError as UnprocessableEntityError
from .money import Money as Money
from .qondor.client import QondorClient as QondorClient
from .qondor.models import Customer as Customer
from .qondor.models import Invoice as Invoice
from .qondor.models import InvoiceAction as InvoiceAction
from .qondor.models import InvoiceKind as InvoiceKind
from .qondor.models import InvoiceLine as InvoiceLine
from .qondor.models import InvoiceState as InvoiceState
from .qondor.resolve import InvoiceResolver as InvoiceResolver
from .qondor.rules import QONDOR_RULES as QONDOR_RULES
from .qondor.rules import QONDOR_RULES_FAQ_RECOVERY as QONDOR_RULES_FAQ_RECOVERY

__version__ = "0.1.0.dev0"

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "Customer",
    "ErrorBody",
    "ErrorDetail",
    "IllegalTransitionError",
    "InternalServerError",
    "InvalidInputError",
    "Invoice",
    "InvoiceAction",
    "InvoiceKind",
    "InvoiceLine",
    "InvoiceResolver",
    "InvoiceState",
    "InvoicingError",
    "Money",
    "NOT_GIVEN",
    "NotFoundError",
    "NotGiven",
    "PermissionDeniedError",
    "QONDOR_RULES",
    "QONDOR_RULES_FAQ_RECOVERY",
    "QondorClient",
    "RateLimitError",
    "RateLimiter",
    "ResponseValidationError",
    "RetryPolicy",
    "Rule",
    "RuleTable",
    "UnexpectedRedirectError",
    "UnprocessableEntityError",
]
