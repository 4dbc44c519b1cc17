"""One small transition-rule engine used by both APIs.

The rules themselves are data (``qondor/rules.py``, ``qonto/rules.py``); this module only
knows how to read them. A `Rule` says from which states an action is allowed, which kinds of
record it is refused for, and why, in sentences a person understands.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Generic, TypeVar

import attrs

from .errors import IllegalTransitionError

__all__ = ["ActionSet", "Rule", "RuleTable", "describe"]

A = TypeVar("A")
S = TypeVar("S")
K = TypeVar("K")


class ActionSet(frozenset[A]):
    """The actions a rule table allows: a frozenset that prints in a stable order (by name)."""

    __slots__ = ()

    def __repr__(self) -> str:
        names = sorted(f"{type(a).__name__}.{getattr(a, 'name', a)}" for a in self)
        return f"frozenset({{{', '.join(names)}}})" if names else "frozenset()"


def _frozen(values: Iterable[S]) -> frozenset[S]:
    # A typed converter: ``converter=frozenset`` leaves mypy unable to infer ``S``.
    return frozenset(values)


def _format_reason(reason: str, **values: str) -> str:
    try:
        return reason.format(**values)
    except (KeyError, IndexError, ValueError):
        # A reason with other braces in it: substitute what we know, keep the rest as is.
        for name, value in values.items():
            reason = reason.replace("{" + name + "}", value)
        return reason


def describe(value: object) -> str:
    """Return a value as people read it: enum members by their name in lower case."""
    if isinstance(value, enum.Enum):
        name = value.name
        if name.startswith("UNKNOWN["):
            return f"unknown ({value.value!r})"
        return name.lower().replace("_", " ")
    return str(value)


@attrs.frozen(kw_only=True)
class Rule(Generic[A, S, K]):
    """When one action is allowed.

    Attributes:
        action: The action this rule governs.
        allowed_from: States from which the action may be taken.
        result: The state the record is in after the action.
        refused_state_reason: Why the action is refused from any other state; may use
            ``{state}`` (e.g. "only processed payments can be set as paid, this one is
            {state}").
        refused_kinds: Kinds of record the action is refused for, each with its reason
            (which may use ``{state}`` and ``{kind}``).
        no_op_from: States from which the action is accepted but changes nothing.
        source: The sentence of the source document the rule comes from.
    """

    action: A
    allowed_from: frozenset[S] = attrs.field(converter=_frozen)
    result: S
    refused_state_reason: str
    refused_kinds: Mapping[K, str] = attrs.field(factory=dict)
    no_op_from: frozenset[S] = attrs.field(factory=frozenset, converter=_frozen)
    source: str = ""

    @property
    def depends_on_kind(self) -> bool:
        """Whether the kind of the record matters to this rule."""
        return bool(self.refused_kinds)


@attrs.frozen(kw_only=True)
class RuleTable(Generic[A, S, K]):
    """A complete set of rules for one API.

    Attributes:
        name: What the table describes, e.g. ``"Qondor invoicing"``.
        rules: One rule per action.
        unknown_kind: The kind value meaning "not recognised"; in strict mode a rule that
            depends on the kind refuses it, and any kind kept by an `OpenStrEnum` that the
            library does not know (``is_known == False``).
    """

    name: str
    rules: Mapping[A, Rule[A, S, K]]
    unknown_kind: K | None = None

    @classmethod
    def of(
        cls, name: str, rules: Iterable[Rule[A, S, K]], *, unknown_kind: K | None = None
    ) -> RuleTable[A, S, K]:
        """Build a table from a sequence of rules (one per action)."""
        table: dict[A, Rule[A, S, K]] = {}
        for rule in rules:
            if rule.action in table:
                raise ValueError(f"two rules for {rule.action!r}")
            table[rule.action] = rule
        return cls(name=name, rules=table, unknown_kind=unknown_kind)

    def replace(self, *rules: Rule[A, S, K]) -> RuleTable[A, S, K]:
        """Return a copy of this table with the given rules replacing those of their action."""
        return attrs.evolve(self, rules={**self.rules, **{r.action: r for r in rules}})

    def rule(self, action: A) -> Rule[A, S, K]:
        """Return the rule for ``action``."""
        try:
            return self.rules[action]
        except KeyError:
            raise KeyError(f"{self.name} rules have no rule for {action!r}") from None

    def refusal(
        self, action: A, state: S, kind: K | None = None, *, strict: bool = True
    ) -> str | None:
        """Return why ``action`` is refused for a record in ``state`` of ``kind``, or ``None``.

        Args:
            action: The action.
            state: The record's current state.
            kind: The record's kind, where the API has kinds.
            strict: Refuse an unrecognised kind for rules that depend on the kind.
        """
        rule = self.rule(action)
        if kind is not None and kind in rule.refused_kinds:
            return _format_reason(
                rule.refused_kinds[kind], state=describe(state), kind=describe(kind)
            )
        if strict and rule.depends_on_kind and self._is_unknown_kind(kind):
            return (
                f"the payment kind is not recognised, and {describe(action)} depends on the "
                "kind; pass a kind resolver or use strict=False to allow it"
            )
        if state not in rule.allowed_from and state not in rule.no_op_from:
            return _format_reason(rule.refused_state_reason, state=describe(state))
        return None

    def _is_unknown_kind(self, kind: K | None) -> bool:
        if self.unknown_kind is None or kind is None:
            return False
        # The table's UNKNOWN member, or a value kept by an open enum that the library
        # does not know (``OpenStrEnum`` pseudo-members have ``is_known == False``).
        return kind == self.unknown_kind or getattr(kind, "is_known", True) is False

    def can(self, action: A, state: S, kind: K | None = None, *, strict: bool = True) -> bool:
        """Whether ``action`` is allowed for a record in ``state`` of ``kind``."""
        return self.refusal(action, state, kind, strict=strict) is None

    def allowed_actions(
        self, state: S, kind: K | None = None, *, strict: bool = True
    ) -> frozenset[A]:
        """Every action allowed for a record in ``state`` of ``kind``."""
        return ActionSet(
            a for a in self.rules if self.refusal(a, state, kind, strict=strict) is None
        )

    def check(
        self,
        action: A,
        state: S,
        kind: K | None = None,
        *,
        invoice_id: int | str | None = None,
        strict: bool = True,
    ) -> Rule[A, S, K]:
        """Return the rule allowing ``action``, or raise.

        Raises:
            IllegalTransitionError: When the rule refuses it; nothing has been sent.
        """
        reason = self.refusal(action, state, kind, strict=strict)
        if reason is not None:
            raise IllegalTransitionError(
                action=action, state=state, kind=kind, invoice_id=invoice_id, reason=reason
            )
        return self.rules[action]

    def result(self, action: A, state: S) -> S:
        """The state after ``action`` is taken from ``state`` (unchanged for a no-op)."""
        rule = self.rule(action)
        if state in rule.no_op_from and state not in rule.allowed_from:
            return state
        return rule.result
