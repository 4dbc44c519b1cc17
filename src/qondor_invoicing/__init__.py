"""qondor-invoicing: a typed async SDK for the Qondor Invoicing API v1 and Qonto supplier invoices.

Import public names from here (or from ``qondor_invoicing.testing`` for the fakes); modules
whose name starts with an underscore are private.
"""

from ._env import setup_logging as _setup_logging
from ._http import NOT_GIVEN as NOT_GIVEN
from ._http import APIResponse as APIResponse
from ._http import Limiter as Limiter
from ._http import NotGiven as NotGiven
from ._http import RateLimiter as RateLimiter
from ._http import RetryPolicy as RetryPolicy
from ._http.error_body import ErrorBody as ErrorBody
from ._http.error_body import ErrorDetail as ErrorDetail
from ._secret import Secret as Secret
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
from .errors import EventLoopError as EventLoopError
from .errors import IllegalTransitionError as IllegalTransitionError
from .errors import InternalServerError as InternalServerError
from .errors import InvalidInputError as InvalidInputError
from .errors import InvoicingError as InvoicingError
from .errors import NotFoundError as NotFoundError
from .errors import PaginationError as PaginationError
from .errors import PermissionDeniedError as PermissionDeniedError
from .errors import RateLimitError as RateLimitError
from .errors import ResponseTooLargeError as ResponseTooLargeError
from .errors import ResponseValidationError as ResponseValidationError
from .errors import StrongCustomerAuthenticationError as StrongCustomerAuthenticationError
from .errors import UnexpectedRedirectError as UnexpectedRedirectError
from .errors import UnprocessableEntityError as UnprocessableEntityError
from .money import Money as Money
from .qondor.client import QondorClient as QondorClient
from .qondor.models import Customer as Customer
from .qondor.models import Invoice as Invoice
from .qondor.models import InvoiceAction as InvoiceAction
from .qondor.models import InvoiceKind as InvoiceKind
from .qondor.models import InvoiceLine as InvoiceLine
from .qondor.models import InvoiceList as InvoiceList
from .qondor.models import InvoiceState as InvoiceState
from .qondor.resolve import InvoiceResolver as InvoiceResolver
from .qondor.rules import QONDOR_RULES as QONDOR_RULES
from .qondor.rules import QONDOR_RULES_FAQ_RECOVERY as QONDOR_RULES_FAQ_RECOVERY
from .qonto.bulk import BulkCreateResult as BulkCreateResult
from .qonto.bulk import BulkItemError as BulkItemError
from .qonto.bulk import BulkItemResult as BulkItemResult
from .qonto.bulk import SupplierInvoiceUpload as SupplierInvoiceUpload
from .qonto.client import QontoClient as QontoClient
from .qonto.models import ApprovalWorkflow as ApprovalWorkflow
from .qonto.models import AvailableActions as AvailableActions
from .qonto.models import EInvoicingLifecycleEvent as EInvoicingLifecycleEvent
from .qonto.models import MatchedTransaction as MatchedTransaction
from .qonto.models import RelatedInvoice as RelatedInvoice
from .qonto.models import RequestTransfer as RequestTransfer
from .qonto.models import SuggestedTransaction as SuggestedTransaction
from .qonto.models import SupplierInvoice as SupplierInvoice
from .qonto.models import SupplierInvoiceAction as SupplierInvoiceAction
from .qonto.models import SupplierInvoiceMeta as SupplierInvoiceMeta
from .qonto.models import SupplierInvoiceStatus as SupplierInvoiceStatus
from .qonto.models import SupplierInvoiceTax as SupplierInvoiceTax
from .qonto.models import SupplierSnapshot as SupplierSnapshot
from .qonto.rules import QONTO_RULES as QONTO_RULES
from .reconcile import DEFAULT_VALIDATORS as DEFAULT_VALIDATORS
from .reconcile import FinanceSystem as FinanceSystem
from .reconcile import InMemoryFinanceSystem as InMemoryFinanceSystem
from .reconcile import Journal as Journal
from .reconcile import JournalConflictError as JournalConflictError
from .reconcile import JournalError as JournalError
from .reconcile import JournalLockedError as JournalLockedError
from .reconcile import LeaseLostError as LeaseLostError
from .reconcile import MemoryJournal as MemoryJournal
from .reconcile import Plan as Plan
from .reconcile import Problem as Problem
from .reconcile import ReconcileAbortedError as ReconcileAbortedError
from .reconcile import ReconcilePolicy as ReconcilePolicy
from .reconcile import Reconciler as Reconciler
from .reconcile import Report as Report
from .reconcile import SqliteJournal as SqliteJournal
from .reconcile import Validator as Validator

__version__ = "0.1.0.dev0"

from .sync import QondorSyncClient as QondorSyncClient
from .sync import QontoSyncClient as QontoSyncClient
from .sync import SyncReconciler as SyncReconciler

_setup_logging()

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponse",
    "APIStatusError",
    "APITimeoutError",
    "ApprovalWorkflow",
    "AuthenticationError",
    "AvailableActions",
    "BadRequestError",
    "BulkCreateResult",
    "BulkItemError",
    "BulkItemResult",
    "ConfigurationError",
    "ConflictError",
    "Customer",
    "DEFAULT_VALIDATORS",
    "EInvoicingLifecycleEvent",
    "ErrorBody",
    "ErrorDetail",
    "EventLoopError",
    "FinanceSystem",
    "IllegalTransitionError",
    "InMemoryFinanceSystem",
    "InternalServerError",
    "InvalidInputError",
    "Invoice",
    "InvoiceAction",
    "InvoiceKind",
    "InvoiceLine",
    "InvoiceList",
    "InvoiceResolver",
    "InvoiceState",
    "InvoicingError",
    "Journal",
    "JournalConflictError",
    "JournalError",
    "JournalLockedError",
    "LeaseLostError",
    "Limiter",
    "MatchedTransaction",
    "MemoryJournal",
    "Money",
    "NOT_GIVEN",
    "NotFoundError",
    "NotGiven",
    "PaginationError",
    "PermissionDeniedError",
    "Plan",
    "Problem",
    "QONDOR_RULES",
    "QONDOR_RULES_FAQ_RECOVERY",
    "QONTO_RULES",
    "QondorClient",
    "QondorSyncClient",
    "QontoClient",
    "QontoSyncClient",
    "RateLimitError",
    "RateLimiter",
    "ReconcileAbortedError",
    "ReconcilePolicy",
    "Reconciler",
    "RelatedInvoice",
    "Report",
    "RequestTransfer",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "RetryPolicy",
    "Rule",
    "RuleTable",
    "Secret",
    "SqliteJournal",
    "StrongCustomerAuthenticationError",
    "SuggestedTransaction",
    "SupplierInvoice",
    "SupplierInvoiceAction",
    "SupplierInvoiceMeta",
    "SupplierInvoiceStatus",
    "SupplierInvoiceTax",
    "SupplierInvoiceUpload",
    "SupplierSnapshot",
    "SyncReconciler",
    "UnexpectedRedirectError",
    "UnprocessableEntityError",
    "Validator",
]
