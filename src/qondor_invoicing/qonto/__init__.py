"""Qonto Business API v2: supplier invoices (client, models, state machine, pagination)."""

from .auth import APIKeyAuth as APIKeyAuth
from .auth import BearerAuth as BearerAuth
from .auth import QontoAuth as QontoAuth
from .auth import TokenProvider as TokenProvider
from .bulk import MAX_FILES_PER_REQUEST as MAX_FILES_PER_REQUEST
from .bulk import MAX_REQUEST_BYTES as MAX_REQUEST_BYTES
from .bulk import BulkCreateResult as BulkCreateResult
from .bulk import BulkItemError as BulkItemError
from .bulk import BulkItemResult as BulkItemResult
from .bulk import FileInput as FileInput
from .bulk import SupplierInvoiceUpload as SupplierInvoiceUpload
from .client import PRODUCTION_BASE_URL as PRODUCTION_BASE_URL
from .client import SANDBOX_BASE_URL as SANDBOX_BASE_URL
from .client import QontoClient as QontoClient
from .filters import ARRAY_FILTER_SUFFIX as ARRAY_FILTER_SUFFIX
from .filters import SORT_PROPERTIES as SORT_PROPERTIES
from .models import ApprovalWorkflow as ApprovalWorkflow
from .models import AvailableActions as AvailableActions
from .models import EInvoicingLifecycleEvent as EInvoicingLifecycleEvent
from .models import MatchedTransaction as MatchedTransaction
from .models import RelatedInvoice as RelatedInvoice
from .models import RequestTransfer as RequestTransfer
from .models import SuggestedTransaction as SuggestedTransaction
from .models import SupplierInvoice as SupplierInvoice
from .models import SupplierInvoiceAction as SupplierInvoiceAction
from .models import SupplierInvoiceMeta as SupplierInvoiceMeta
from .models import SupplierInvoiceStatus as SupplierInvoiceStatus
from .models import SupplierInvoiceTax as SupplierInvoiceTax
from .models import SupplierSnapshot as SupplierSnapshot
from .pagination import AsyncPaginator as AsyncPaginator
from .pagination import Page as Page
from .pagination import PaginationMeta as PaginationMeta
from .rules import QONTO_RULES as QONTO_RULES
from .rules import QontoRule as QontoRule
from .rules import QontoRuleTable as QontoRuleTable
from .supplier_invoices import SupplierInvoices as SupplierInvoices
from .supplier_invoices import SupplierInvoicesWithRawResponse as SupplierInvoicesWithRawResponse

__all__ = [
    "APIKeyAuth",
    "ARRAY_FILTER_SUFFIX",
    "ApprovalWorkflow",
    "AsyncPaginator",
    "AvailableActions",
    "BearerAuth",
    "BulkCreateResult",
    "BulkItemError",
    "BulkItemResult",
    "EInvoicingLifecycleEvent",
    "FileInput",
    "MAX_FILES_PER_REQUEST",
    "MAX_REQUEST_BYTES",
    "MatchedTransaction",
    "PRODUCTION_BASE_URL",
    "Page",
    "PaginationMeta",
    "QONTO_RULES",
    "QontoAuth",
    "QontoClient",
    "QontoRule",
    "QontoRuleTable",
    "RelatedInvoice",
    "RequestTransfer",
    "SANDBOX_BASE_URL",
    "SORT_PROPERTIES",
    "SuggestedTransaction",
    "SupplierInvoice",
    "SupplierInvoiceAction",
    "SupplierInvoiceMeta",
    "SupplierInvoiceStatus",
    "SupplierInvoiceTax",
    "SupplierInvoiceUpload",
    "SupplierInvoices",
    "SupplierInvoicesWithRawResponse",
    "SupplierSnapshot",
    "TokenProvider",
]
