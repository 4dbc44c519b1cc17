"""The Qondor Invoicing API's business rules, as data.

Every rule quotes the sentence of Qondor's integration guide ("Technical integration guide:
processing payments with the Invoice API") it comes from, in ``Rule.source``. The client
checks these rules before it sends a state change, and `FakeQondor` enforces the same table
server-side.

| action             | allowed from                       | refused                              |
|--------------------|------------------------------------|--------------------------------------|
| SET_AS_PROCESSED   | unprocessed (processed: no-op)     | paid, failed                         |
| SET_AS_FAILED      | unprocessed (failed: no-op)        | processed, paid                      |
| SET_AS_PAID        | processed                          | every other state; card payments     |
| SET_AS_UNPROCESSED | processed                          | every other state; credit notes      |

**The guide contradicts itself once.** Its FAQ says a credit card payment set to failed
because of an integration error is recovered by calling SetAsUnprocessed ("Call
SetAsUnprocessed to return to queue, then reprocess"), and its second FAQ entry lists "A bug
in your validation logic incorrectly rejected the payment" as a reason to use it. The
endpoint's own section and the rules summary say the opposite, twice: "Only works on
processed payments (not failed ones)" and "Only for processed payments". `QONDOR_RULES`
follows the endpoint section and the rules summary (a failed payment is refused: FAILED is
documented as final, and a refused call costs nothing while an unexpected one may).
`QONDOR_RULES_FAQ_RECOVERY` follows the FAQ and allows SetAsUnprocessed from FAILED as well;
opt in with ``QondorClient(rules=QONDOR_RULES_FAQ_RECOVERY)`` once Qondor has confirmed the
recovery for your tenant.
"""

from __future__ import annotations

from typing import Final

from .._states import Rule, RuleTable
from .models import InvoiceAction, InvoiceKind, InvoiceState

__all__ = ["QONDOR_RULES", "QONDOR_RULES_FAQ_RECOVERY", "QondorRule", "QondorRuleTable"]

QondorRule = Rule[InvoiceAction, InvoiceState, InvoiceKind]
QondorRuleTable = RuleTable[InvoiceAction, InvoiceState, InvoiceKind]

_A = InvoiceAction
_S = InvoiceState
_K = InvoiceKind

SET_AS_PROCESSED: Final[QondorRule] = Rule(
    action=_A.SET_AS_PROCESSED,
    allowed_from={_S.UNPROCESSED},
    # "Must not be already paid or failed": a processed payment may be reported again
    # (e.g. with its external reference); its state does not change.
    no_op_from={_S.PROCESSED},
    result=_S.PROCESSED,
    refused_state_reason=(
        "this payment is {state}; only unprocessed (or already processed) payments can be set "
        "as processed"
    ),
    source=(
        "Business rules summary: 'SetAsProcessed | Must not be already paid or failed'. "
        "Payment states: 'Unprocessed | Ready for your integration to pick up | Validate -> "
        "SetAsProcessed or SetAsFailed'."
    ),
)

SET_AS_FAILED: Final[QondorRule] = Rule(
    action=_A.SET_AS_FAILED,
    allowed_from={_S.UNPROCESSED},
    # "Must not be already processed or paid": failing a failed payment again is accepted
    # and changes nothing but the message.
    no_op_from={_S.FAILED},
    result=_S.FAILED,
    refused_state_reason=(
        "this payment is {state}; only unprocessed (or already failed) payments can be set as "
        "failed"
    ),
    source=(
        "Business rules summary: 'SetAsFailed | Must not be already processed or paid'. "
        "'Important: SetAsFailed is a final state. The payment cannot be reprocessed.'"
    ),
)

SET_AS_PAID: Final[QondorRule] = Rule(
    action=_A.SET_AS_PAID,
    allowed_from={_S.PROCESSED},
    result=_S.PAID,
    refused_state_reason="this payment is {state}; only processed payments can be set as paid",
    refused_kinds={_K.CREDIT_CARD_PAYMENT: "credit card payments cannot be manually set as paid"},
    source=(
        "Business rules summary: 'SetAsPaid | Must be processed; credit card payments cannot "
        "be manually set as paid'. Payment states: 'Processed | Successfully transferred to "
        "finance system | SetAsPaid (when paid)'."
    ),
)

SET_AS_UNPROCESSED: Final[QondorRule] = Rule(
    action=_A.SET_AS_UNPROCESSED,
    allowed_from={_S.PROCESSED},
    result=_S.UNPROCESSED,
    refused_state_reason=(
        "this payment is {state}; only processed payments can be set back to unprocessed "
        "(the guide's FAQ suggests recovering failed payments this way: see "
        "QONDOR_RULES_FAQ_RECOVERY)"
    ),
    refused_kinds={_K.CREDIT_NOTE: "credit notes cannot be set back to unprocessed"},
    source=(
        "SetAsUnprocessed restrictions: 'Only works on processed payments (not failed ones)' "
        "and 'Credit notes cannot be set back to unprocessed once processed'. Business rules "
        "summary: 'SetAsUnprocessed | Only for processed payments; credit notes cannot be "
        "reverted'."
    ),
)

#: The rules the client and `FakeQondor` apply by default (the guide's rules summary).
QONDOR_RULES: Final[QondorRuleTable] = RuleTable(
    name="Qondor invoicing",
    rules={r.action: r for r in (SET_AS_PROCESSED, SET_AS_FAILED, SET_AS_PAID, SET_AS_UNPROCESSED)},
    unknown_kind=_K.UNKNOWN,
)

#: The guide's FAQ reading: SetAsUnprocessed also returns a *failed* payment to the queue
#: (credit notes still refused). Opt in with ``QondorClient(rules=QONDOR_RULES_FAQ_RECOVERY)``.
QONDOR_RULES_FAQ_RECOVERY: Final[QondorRuleTable] = QONDOR_RULES.replace(
    Rule(
        action=_A.SET_AS_UNPROCESSED,
        allowed_from={_S.PROCESSED, _S.FAILED},
        result=_S.UNPROCESSED,
        refused_state_reason=(
            "this payment is {state}; only processed or failed payments can be set back to "
            "unprocessed"
        ),
        refused_kinds={_K.CREDIT_NOTE: "credit notes cannot be set back to unprocessed"},
        source=(
            "FAQ, 'What happens if a credit card payment is set to failed?': 'Integration/"
            "finance system | Yes | Call SetAsUnprocessed to return to queue, then reprocess'. "
            "FAQ, 'When should I use SetAsUnprocessed?': 'A bug in your validation logic "
            "incorrectly rejected the payment'. (Contradicts 'Only works on processed payments "
            "(not failed ones)'.)"
        ),
    )
)
