"""Every rule of Qonto's supplier-invoice state machine, each beside the sentence it comes from.

The client checks these before sending a state change (an illegal one raises
`IllegalTransitionError` and sends nothing); `FakeQonto` enforces the same table
server-side. Pass ``rules=QONTO_RULES.replace(...)`` to `QontoClient` to override a rule.

Sources are Qonto's endpoint pages for mark as paid, unmark as paid and reject
(docs.qonto.com, "Supplier invoices", checked 2026-11), paraphrased.
"""

from __future__ import annotations

from typing import TypeAlias

from .._states import Rule, RuleTable
from .models import SupplierInvoiceAction, SupplierInvoiceStatus

__all__ = ["QONTO_RULES", "QontoRule", "QontoRuleTable"]

S = SupplierInvoiceStatus
A = SupplierInvoiceAction

QontoRule: TypeAlias = Rule[SupplierInvoiceAction, SupplierInvoiceStatus, None]
QontoRuleTable: TypeAlias = RuleTable[SupplierInvoiceAction, SupplierInvoiceStatus, None]

MARK_AS_PAID: QontoRule = Rule(
    action=A.MARK_AS_PAID,
    # "Eligible statuses: to_review, to_approve, pending, awaiting_payment, to_pay, paid,
    #  archived. Invoices in scheduled status cannot be marked as paid; any other status
    #  returns 400."
    allowed_from={S.TO_REVIEW, S.TO_APPROVE, S.PENDING, S.AWAITING_PAYMENT, S.TO_PAY, S.ARCHIVED},
    # "If the invoice is already paid, the request succeeds with no side effects, so it is
    #  safe to retry."
    no_op_from={S.PAID},
    result=S.PAID,
    refused_state_reason=(
        "only invoices that are to review, to approve, pending, awaiting payment, to pay, "
        "archived or already paid can be marked as paid; this one is {state}"
    ),
    source=(
        "Mark a supplier invoice as paid: eligible statuses are to_review, to_approve, "
        "pending, awaiting_payment, to_pay, paid and archived; scheduled invoices cannot be "
        "marked as paid; any other status returns 400; already paid is a no-op."
    ),
)

UNMARK_AS_PAID: QontoRule = Rule(
    action=A.UNMARK_AS_PAID,
    # "The invoice must be in paid status. It returns to to_review and its payment_date is
    #  cleared. Any other status returns 400."
    allowed_from={S.PAID},
    result=S.TO_REVIEW,
    refused_state_reason="only paid invoices can be unmarked as paid; this one is {state}",
    source=(
        "Unmark a supplier invoice as paid: precondition status paid; the invoice returns to "
        "to_review with payment_date set to null; otherwise 400."
    ),
)

REJECT: QontoRule = Rule(
    action=A.REJECT,
    # "Only invoices in to_review, to_approve or awaiting_payment can be rejected; the
    #  status becomes rejected. Any other status (including rejected) returns 400."
    allowed_from={S.TO_REVIEW, S.TO_APPROVE, S.AWAITING_PAYMENT},
    result=S.REJECTED,
    refused_state_reason=(
        "only invoices that are to review, to approve or awaiting payment can be rejected; "
        "this one is {state}"
    ),
    source=(
        "Reject a supplier invoice: only to_review, to_approve and awaiting_payment invoices "
        "can be rejected; the status becomes rejected; otherwise 400 (a repeated reject is "
        "not a no-op)."
    ),
)

QONTO_RULES: QontoRuleTable = RuleTable.of(
    "Qonto supplier invoices", [MARK_AS_PAID, UNMARK_AS_PAID, REJECT]
)
"""The rule table of Qonto supplier invoices.

Statuses the library does not know are refused by every rule. Qonto does not say whether
credit notes (``is_credit_note``) can be marked as paid, so the table does not refuse them;
the server has the last word.
"""
