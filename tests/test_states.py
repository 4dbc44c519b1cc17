"""The transition-rule engine: rules as data, refusals with human reasons, overrides."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qondor_invoicing import IllegalTransitionError, Rule, RuleTable
from qondor_invoicing._convert import OpenStrEnum
from qondor_invoicing._states import describe


class Kind(OpenStrEnum):
    SPEC = "spec"
    CARD = "card"
    NOTE = "note"
    UNKNOWN = "unknown"


class State(OpenStrEnum):
    UNPROCESSED = "unprocessed"
    PROCESSED = "processed"
    FAILED = "failed"
    PAID = "paid"


class Action(OpenStrEnum):
    PROCESS = "process"
    FAIL = "fail"
    PAY = "pay"
    REOPEN = "reopen"


RULES = RuleTable.of(
    "Demo",
    [
        Rule(
            action=Action.PROCESS,
            allowed_from={State.UNPROCESSED},
            no_op_from={State.PROCESSED},
            result=State.PROCESSED,
            refused_state_reason="{state} payments cannot be processed",
        ),
        Rule(
            action=Action.FAIL,
            allowed_from={State.UNPROCESSED, State.FAILED},
            result=State.FAILED,
            refused_state_reason="only unprocessed payments can fail, this one is {state}",
        ),
        Rule(
            action=Action.PAY,
            allowed_from=[State.PROCESSED],
            no_op_from=[State.PAID],
            result=State.PAID,
            refused_state_reason="only processed payments can be set as paid, this one is {state}",
            refused_kinds={Kind.CARD: "credit card payments cannot be manually set as paid"},
            source="Credit card payments cannot be set as paid.",
        ),
        Rule(
            action=Action.REOPEN,
            allowed_from={State.PROCESSED},
            result=State.UNPROCESSED,
            refused_state_reason="only processed payments can be reopened",
            refused_kinds={Kind.NOTE: "{kind}s cannot be reopened (it is {state})"},
        ),
    ],
    unknown_kind=Kind.UNKNOWN,
)


def test_check_returns_the_rule_when_allowed() -> None:
    rule = RULES.check(Action.PAY, State.PROCESSED, Kind.SPEC)
    assert rule.action is Action.PAY
    assert rule.result is State.PAID
    assert rule.source.startswith("Credit card")


def test_check_raises_with_a_human_reason() -> None:
    with pytest.raises(IllegalTransitionError) as info:
        RULES.check(Action.PAY, State.UNPROCESSED, Kind.SPEC, invoice_id=12345)
    error = info.value
    assert error.reason == "only processed payments can be set as paid, this one is unprocessed"
    assert error.action is Action.PAY
    assert error.state is State.UNPROCESSED
    assert error.kind is Kind.SPEC
    assert error.invoice_id == 12345
    assert str(error) == (
        "cannot PAY invoice 12345: only processed payments can be set as paid, this one is "
        "unprocessed"
    )


def test_refused_kind_wins_over_state() -> None:
    with pytest.raises(IllegalTransitionError, match="credit card payments cannot be manually"):
        RULES.check(Action.PAY, State.PROCESSED, Kind.CARD)
    assert RULES.refusal(Action.REOPEN, State.PROCESSED, Kind.NOTE) == (
        "notes cannot be reopened (it is processed)"
    )


def test_can_and_allowed_actions() -> None:
    assert RULES.can(Action.PROCESS, State.UNPROCESSED)
    assert not RULES.can(Action.PROCESS, State.PAID)
    assert RULES.allowed_actions(State.UNPROCESSED, Kind.SPEC) == {Action.PROCESS, Action.FAIL}
    assert RULES.allowed_actions(State.PROCESSED, Kind.SPEC) == {
        Action.PROCESS,
        Action.PAY,
        Action.REOPEN,
    }
    assert RULES.allowed_actions(State.PROCESSED, Kind.CARD) == {Action.PROCESS, Action.REOPEN}
    assert RULES.allowed_actions(State.PAID, Kind.SPEC) == {Action.PAY}
    assert isinstance(RULES.allowed_actions(State.PAID), frozenset)


def test_no_op_states_are_allowed_and_keep_the_state() -> None:
    assert RULES.can(Action.PROCESS, State.PROCESSED)
    assert RULES.result(Action.PROCESS, State.PROCESSED) is State.PROCESSED
    assert RULES.result(Action.PROCESS, State.UNPROCESSED) is State.PROCESSED
    assert RULES.result(Action.PAY, State.PAID) is State.PAID
    assert RULES.result(Action.PAY, State.PROCESSED) is State.PAID


def test_strict_mode_refuses_an_unknown_kind_where_the_kind_matters() -> None:
    with pytest.raises(IllegalTransitionError, match="kind is not recognised") as info:
        RULES.check(Action.PAY, State.PROCESSED, Kind.UNKNOWN)
    assert info.value.kind is Kind.UNKNOWN
    assert "pay depends on the kind" in info.value.reason
    # Rules that do not look at the kind do not care.
    assert RULES.can(Action.PROCESS, State.UNPROCESSED, Kind.UNKNOWN)
    # Non-strict callers accept the risk.
    assert RULES.can(Action.PAY, State.PROCESSED, Kind.UNKNOWN, strict=False)
    assert Action.PAY in RULES.allowed_actions(State.PROCESSED, Kind.UNKNOWN, strict=False)
    assert Action.PAY not in RULES.allowed_actions(State.PROCESSED, Kind.UNKNOWN)


def test_strict_mode_refuses_a_kind_the_library_does_not_know() -> None:
    gift = Kind("gift_card")
    assert not gift.is_known
    assert not RULES.can(Action.PAY, State.PROCESSED, gift)
    assert "not recognised" in (RULES.refusal(Action.PAY, State.PROCESSED, gift) or "")
    assert RULES.can(Action.PAY, State.PROCESSED, gift, strict=False)


def test_unknown_state_is_refused_with_its_value_in_the_reason() -> None:
    odd = State("archived_by_admin")
    with pytest.raises(IllegalTransitionError) as info:
        RULES.check(Action.FAIL, odd)
    assert info.value.reason == (
        "only unprocessed payments can fail, this one is unknown ('archived_by_admin')"
    )
    assert RULES.allowed_actions(odd) == frozenset()


def test_replace_overrides_one_rule_and_leaves_the_table_alone() -> None:
    lenient = RULES.replace(
        Rule(
            action=Action.REOPEN,
            allowed_from={State.PROCESSED, State.FAILED},
            result=State.UNPROCESSED,
            refused_state_reason="only processed or failed payments can be reopened",
        )
    )
    assert lenient.can(Action.REOPEN, State.FAILED, Kind.CARD)
    assert lenient.can(Action.REOPEN, State.PROCESSED, Kind.NOTE)
    assert not RULES.can(Action.REOPEN, State.FAILED, Kind.CARD)
    assert lenient.rule(Action.PAY) is RULES.rule(Action.PAY)
    assert lenient.name == RULES.name
    assert lenient.unknown_kind is Kind.UNKNOWN


def test_table_rejects_two_rules_for_one_action() -> None:
    rule = RULES.rule(Action.PAY)
    with pytest.raises(ValueError, match="two rules"):
        RuleTable.of("dup", [rule, rule])


def test_missing_rule_names_the_table() -> None:
    table = RuleTable.of("Tiny", [RULES.rule(Action.PAY)])
    with pytest.raises(KeyError, match="Tiny rules have no rule"):
        table.check(Action.FAIL, State.UNPROCESSED)


def test_reasons_with_other_braces_are_kept() -> None:
    table = RuleTable.of(
        "Braces",
        [
            Rule(
                action=Action.PAY,
                allowed_from={State.PROCESSED},
                result=State.PAID,
                refused_state_reason="see {docs} ({state})",
            )
        ],
    )
    assert table.refusal(Action.PAY, State.FAILED) == "see {docs} (failed)"


def test_rules_are_frozen_values() -> None:
    rule = RULES.rule(Action.PAY)
    assert rule.allowed_from == frozenset({State.PROCESSED})
    assert isinstance(rule.no_op_from, frozenset)
    assert rule.depends_on_kind
    assert not RULES.rule(Action.FAIL).depends_on_kind
    with pytest.raises(AttributeError):
        rule.result = State.FAILED  # type: ignore[misc]


def test_illegal_transition_error_pickles() -> None:
    error = IllegalTransitionError(
        action=Action.PAY, state=State.PAID, reason="no", invoice_id=7, kind=Kind.CARD
    )
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.action, clone.state, clone.kind, clone.invoice_id, clone.reason) == (
        Action.PAY,
        State.PAID,
        Kind.CARD,
        7,
        "no",
    )
    assert str(clone) == str(error)


def test_describe() -> None:
    assert describe(State.UNPROCESSED) == "unprocessed"
    assert describe(Action.PAY) == "pay"
    assert describe(State("new_one")) == "unknown ('new_one')"
    assert describe(42) == "42"


NO_BRACES = st.text().filter(lambda t: "{" not in t)


@given(
    action=st.sampled_from(list(Action)),
    state=st.one_of(st.sampled_from(list(State)), NO_BRACES.map(State)),
    kind=st.one_of(st.none(), st.sampled_from(list(Kind)), NO_BRACES.map(Kind)),
    strict=st.booleans(),
)
def test_check_can_refusal_and_allowed_actions_agree(action, state, kind, strict) -> None:
    reason = RULES.refusal(action, state, kind, strict=strict)
    assert RULES.can(action, state, kind, strict=strict) is (reason is None)
    assert (action in RULES.allowed_actions(state, kind, strict=strict)) is (reason is None)
    if reason is None:
        assert RULES.check(action, state, kind, strict=strict) is RULES.rule(action)
        result = RULES.result(action, state)
        assert result in (state, RULES.rule(action).result)
    else:
        assert reason
        assert "{state}" not in reason
        assert "{kind}" not in reason
        with pytest.raises(IllegalTransitionError) as info:
            RULES.check(action, state, kind, strict=strict)
        assert info.value.reason == reason
