"""The Qondor rule table against the architecture doc's table, spelled out independently."""

from __future__ import annotations

import itertools

import pytest
from _qondor_kit import KIND_DEPENDENT, REFUSED_KINDS, RESULTS, expected_allowed

from qondor_invoicing import (
    QONDOR_RULES,
    IllegalTransitionError,
    Invoice,
    InvoiceAction,
    InvoiceKind,
    InvoiceState,
    Rule,
)
from qondor_invoicing.qondor import QONDOR_RULES_FAQ_RECOVERY

A, S, K = InvoiceAction, InvoiceState, InvoiceKind
KNOWN_KINDS = (K.INVOICE_SPECIFICATION, K.CREDIT_CARD_PAYMENT, K.CREDIT_NOTE)


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize(
    ("action", "state", "kind"), list(itertools.product(list(A), list(S), list(K)))
)
def test_table_matches_the_architecture_doc(action: A, state: S, kind: K, strict: bool) -> None:
    expected = expected_allowed(action, state, kind, strict=strict)
    assert QONDOR_RULES.can(action, state, kind, strict=strict) is expected
    reason = QONDOR_RULES.refusal(action, state, kind, strict=strict)
    assert (reason is None) is expected
    if expected:
        assert QONDOR_RULES.check(action, state, kind, strict=strict).action is action
        assert QONDOR_RULES.result(action, state) is (
            state if state is RESULTS[action] else RESULTS[action]
        )
    else:
        with pytest.raises(IllegalTransitionError) as info:
            QONDOR_RULES.check(action, state, kind, invoice_id=7, strict=strict)
        assert info.value.reason == reason
        assert info.value.invoice_id == 7
        assert info.value.action is action
        assert info.value.state is state


def test_reasons_are_sentences_people_understand() -> None:
    refusal = QONDOR_RULES.refusal
    assert (
        refusal(A.SET_AS_PAID, S.PROCESSED, K.CREDIT_CARD_PAYMENT)
        == "credit card payments cannot be manually set as paid"
    )
    assert (
        refusal(A.SET_AS_UNPROCESSED, S.PROCESSED, K.CREDIT_NOTE)
        == "credit notes cannot be set back to unprocessed"
    )
    assert refusal(A.SET_AS_PAID, S.UNPROCESSED, K.INVOICE_SPECIFICATION) == (
        "this payment is unprocessed; only processed payments can be set as paid"
    )
    assert "this payment is failed" in (
        refusal(A.SET_AS_PROCESSED, S.FAILED, K.INVOICE_SPECIFICATION) or ""
    )
    unknown = refusal(A.SET_AS_PAID, S.PROCESSED, K.UNKNOWN)
    assert unknown is not None
    assert "kind is not recognised" in unknown
    assert "strict=False" in unknown
    # The default table names the documented way to opt in to the FAQ's recovery.
    assert "QONDOR_RULES_FAQ_RECOVERY" in (
        refusal(A.SET_AS_UNPROCESSED, S.FAILED, K.CREDIT_CARD_PAYMENT) or ""
    )


@pytest.mark.parametrize("action", list(A))
def test_every_rule_quotes_the_guide(action: A) -> None:
    rule = QONDOR_RULES.rule(action)
    assert action.endpoint in rule.source
    assert "'" in rule.source  # a quotation, not a paraphrase


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("kind", list(K))
@pytest.mark.parametrize("action", list(A))
@pytest.mark.parametrize("raw", ["Archived", "7", "not reported"])
def test_an_unknown_state_is_refused_for_every_action(
    action: A, kind: K, strict: bool, raw: str
) -> None:
    state = S(raw)
    assert not state.is_known
    reason = QONDOR_RULES.refusal(action, state, kind, strict=strict)
    assert reason is not None
    if kind is K.UNKNOWN and strict and action in KIND_DEPENDENT:
        assert "not recognised" in reason
    elif kind not in REFUSED_KINDS.get(action, set()):
        assert f"unknown ({raw!r})" in reason


def test_faq_recovery_table_differs_only_for_failed_payments() -> None:
    for action, state, kind in itertools.product(list(A), list(S), list(K)):
        default = QONDOR_RULES.can(action, state, kind)
        recovery = QONDOR_RULES_FAQ_RECOVERY.can(action, state, kind)
        if action is A.SET_AS_UNPROCESSED and state is S.FAILED and kind in KNOWN_KINDS:
            assert default is False
            assert recovery is (kind is not K.CREDIT_NOTE), kind
        else:
            assert recovery is default, (action, state, kind)
    assert QONDOR_RULES_FAQ_RECOVERY.result(A.SET_AS_UNPROCESSED, S.FAILED) is S.UNPROCESSED
    assert "FAQ" in QONDOR_RULES_FAQ_RECOVERY.rule(A.SET_AS_UNPROCESSED).source


def test_users_replace_rules_with_their_own() -> None:
    # E.g. a tenant where Qondor confirmed card payments may be set as paid.
    table = QONDOR_RULES.replace(
        Rule(
            action=A.SET_AS_PAID,
            allowed_from={S.PROCESSED},
            result=S.PAID,
            refused_state_reason="this payment is {state}; only processed ones can be paid",
            source="Confirmed by Qondor support for our tenant.",
        )
    )
    assert table.can(A.SET_AS_PAID, S.PROCESSED, K.CREDIT_CARD_PAYMENT)
    assert not QONDOR_RULES.can(A.SET_AS_PAID, S.PROCESSED, K.CREDIT_CARD_PAYMENT)
    # The rule no longer depends on the kind, so strict mode has nothing to refuse.
    assert table.can(A.SET_AS_PAID, S.PROCESSED, K.UNKNOWN, strict=True)


def test_model_helpers_use_the_table() -> None:
    inv = Invoice(id=1, kind=K.CREDIT_CARD_PAYMENT, state=S.PROCESSED)
    assert inv.allowed_actions() == {A.SET_AS_PROCESSED, A.SET_AS_UNPROCESSED}
    assert not inv.can(A.SET_AS_PAID)
    assert inv.refusal(A.SET_AS_PAID) == "credit card payments cannot be manually set as paid"
    failed = Invoice(id=2, kind=K.CREDIT_CARD_PAYMENT, state=S.FAILED)
    assert not failed.can(A.SET_AS_UNPROCESSED)
    assert failed.can(A.SET_AS_UNPROCESSED, QONDOR_RULES_FAQ_RECOVERY)
    unknown = Invoice(id=3, kind=K.UNKNOWN, state=S.PROCESSED)
    assert unknown.allowed_actions() == {A.SET_AS_PROCESSED}
    assert unknown.allowed_actions(strict=False) == {
        A.SET_AS_PROCESSED,
        A.SET_AS_PAID,
        A.SET_AS_UNPROCESSED,
    }
