"""The reconciler: the safe, resumable integration loop over both clients.

``Reconciler(qondor, finance=..., qonto=..., journal=...)`` plans (reads only) and applies
(book + SetAsProcessed, SetAsFailed, SetAsPaid), recording every intent in a `Journal`
before its side effect. See the reconciler guide.
"""

from .finance import Booking as Booking
from .finance import FinanceSystem as FinanceSystem
from .finance import FinanceSystemUnavailableError as FinanceSystemUnavailableError
from .finance import InMemoryFinanceSystem as InMemoryFinanceSystem
from .journal import Journal as Journal
from .journal import JournalAction as JournalAction
from .journal import JournalConflictError as JournalConflictError
from .journal import JournalEntry as JournalEntry
from .journal import JournalError as JournalError
from .journal import JournalEvent as JournalEvent
from .journal import JournalEventKind as JournalEventKind
from .journal import JournalLockedError as JournalLockedError
from .journal import JournalOutcome as JournalOutcome
from .journal import Lease as Lease
from .journal import LeaseLostError as LeaseLostError
from .journal import MemoryJournal as MemoryJournal
from .journal import SqliteJournal as SqliteJournal
from .matching import Matcher as Matcher
from .matching import SupplierInvoiceIndex as SupplierInvoiceIndex
from .matching import match_by_reference as match_by_reference
from .plan import Book as Book
from .plan import Close as Close
from .plan import Discrepancy as Discrepancy
from .plan import DiscrepancyReason as DiscrepancyReason
from .plan import Fail as Fail
from .plan import Plan as Plan
from .plan import Report as Report
from .plan import Settle as Settle
from .plan import Skip as Skip
from .plan import Step as Step
from .plan import StepKind as StepKind
from .plan import StepResult as StepResult
from .plan import StepStatus as StepStatus
from .postgres import PostgresJournal as PostgresJournal
from .postgres_limiter import PostgresRateLimiter as PostgresRateLimiter
from .reconciler import Progress as Progress
from .reconciler import ReconcileAbortedError as ReconcileAbortedError
from .reconciler import ReconcilePolicy as ReconcilePolicy
from .reconciler import Reconciler as Reconciler
from .validators import DEFAULT_VALIDATORS as DEFAULT_VALIDATORS
from .validators import Problem as Problem
from .validators import Validator as Validator
from .validators import check_account_mappings as check_account_mappings
from .validators import check_article_codes as check_article_codes
from .validators import check_customer as check_customer
from .validators import check_vat_rates as check_vat_rates
from .validators import failure_message as failure_message
from .validators import validate as validate

__all__ = [
    "Book",
    "Booking",
    "Close",
    "DEFAULT_VALIDATORS",
    "Discrepancy",
    "DiscrepancyReason",
    "Fail",
    "FinanceSystem",
    "FinanceSystemUnavailableError",
    "InMemoryFinanceSystem",
    "Journal",
    "JournalAction",
    "JournalConflictError",
    "JournalEntry",
    "JournalError",
    "JournalEvent",
    "JournalEventKind",
    "JournalLockedError",
    "JournalOutcome",
    "Lease",
    "LeaseLostError",
    "Matcher",
    "MemoryJournal",
    "Plan",
    "PostgresJournal",
    "PostgresRateLimiter",
    "Problem",
    "Progress",
    "ReconcileAbortedError",
    "ReconcilePolicy",
    "Reconciler",
    "Report",
    "Settle",
    "Skip",
    "SqliteJournal",
    "Step",
    "StepKind",
    "StepResult",
    "StepStatus",
    "SupplierInvoiceIndex",
    "Validator",
    "check_account_mappings",
    "check_article_codes",
    "check_customer",
    "check_vat_rates",
    "failure_message",
    "match_by_reference",
    "validate",
]
