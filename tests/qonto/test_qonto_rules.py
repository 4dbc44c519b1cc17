"""QONTO_RULES against the architecture doc's table and Qonto's status matrix."""

from __future__ import annotations

import pytest

from qondor_invoicing import (
    QONTO_RULES,
    IllegalTransitionError,
    Rule,
    SupplierInvoice,
    SupplierInvoiceAction,
    SupplierInvoiceStatus,
)

S = SupplierInvoiceStatus
A = SupplierInvoiceAction

# Qonto's status matrix (reference §3): "✓" allowed, "=" accepted no-op, "x" refused (400).
MATRIX = {
    #                      mark   unmark reject
    S.TO_REVIEW: ("✓", "x", "✓"),
    S.TO_APPROVE: ("✓", "x", "✓"),
    S.PENDING: ("✓", "x", "x"),
    S.AWAITING_PAYMENT: ("✓", "x", "✓"),
    S.TO_PAY: ("✓", "x", "x"),
    S.SCHEDULED: ("x", "x", "x"),
    S.PAID: ("=", "✓", "x"),
    S.ARCHIVED: ("✓", "x", "x"),
    S.REJECTED: ("x", "x", "x"),
    S.DISCARDED: ("x", "x", "x"),
}
ACTIONS = (A.MARK_AS_PAID, A.UNMARK_AS_PAID, A.REJECT)
RESULTS = {A.MARK_AS_PAID: S.PAID, A.UNMARK_AS_PAID: S.TO_REVIEW, A.REJECT: S.REJECTED}


def test_matrix_covers_every_known_status() -> None:
    assert set(MATRIX) == set(S)


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize("action", ACTIONS)
def test_rule_table_matches_the_status_matrix(status: S, action: A) -> None:
    expected = MATRIX[status][ACTIONS.index(action)]
    assert QONTO_RULES.can(action, status) == (expected != "x")
    if expected == "x":
        with pytest.raises(IllegalTransitionError) as info:
            QONTO_RULES.check(action, status, invoice_id="si-1")
        error = info.value
        assert error.action is action
        assert error.state is status
        assert error.invoice_id == "si-1"
        assert status.name.lower().replace("_", " ") in error.reason
    elif expected == "=":
        assert QONTO_RULES.result(action, status) is status
    else:
        assert QONTO_RULES.result(action, status) is RESULTS[action]


@pytest.mark.parametrize("action", ACTIONS)
def test_unknown_statuses_are_refused_with_a_readable_reason(action: A) -> None:
    status = S("in_ocr_queue")
    reason = QONTO_RULES.refusal(action, status)
    assert reason is not None
    assert "unknown ('in_ocr_queue')" in reason


def test_scheduled_refusal_reads_like_a_sentence() -> None:
    with pytest.raises(IllegalTransitionError) as info:
        QONTO_RULES.check(A.MARK_AS_PAID, S.SCHEDULED, invoice_id="si-9")
    assert str(info.value) == (
        "cannot MARK_AS_PAID invoice si-9: only invoices that are to review, to approve, "
        "pending, awaiting payment, to pay, archived or already paid can be marked as paid; "
        "this one is scheduled"
    )


def test_every_rule_cites_its_source() -> None:
    for rule in QONTO_RULES.rules.values():
        assert rule.source
        assert not rule.depends_on_kind


def test_rules_can_be_overridden_and_models_use_the_given_table() -> None:
    # E.g. a team that never wants archived invoices marked as paid.
    stricter = QONTO_RULES.replace(
        Rule(
            action=A.MARK_AS_PAID,
            allowed_from={S.TO_PAY},
            no_op_from={S.PAID},
            result=S.PAID,
            refused_state_reason="we only mark to-pay invoices as paid; this one is {state}",
        )
    )
    si = SupplierInvoice(id="a", status=S.ARCHIVED)
    assert si.can(A.MARK_AS_PAID)
    assert not si.can(A.MARK_AS_PAID, stricter)
    assert si.allowed_actions(stricter) == frozenset()
    assert SupplierInvoice(id="b", status=S.PAID).allowed_actions() == {
        A.MARK_AS_PAID,
        A.UNMARK_AS_PAID,
    }
