"""Reading a payment's kind and state from a payload whose schema is not public.

Qondor does not publish the Invoice object. The rest of its API encodes enums as an integer
with a ``...Text`` sibling (``status`` / ``statusText``), so that is the first thing looked
for; string names are recognised in the spellings people and serialisers produce
(``"InvoiceSpecification"``, ``"invoice_specification"``, ``"Credit card payment"``,
``"CreditNote"``, ...). Integer codes alone are *not* guessed: their meaning is unknown, and a
wrong guess would let a rule pass that should refuse. Tell the resolver your codes instead::

    QondorClient(resolver=InvoiceResolver(
        kind_codes={1: InvoiceKind.INVOICE_SPECIFICATION, 2: InvoiceKind.CREDIT_CARD_PAYMENT,
                    3: InvoiceKind.CREDIT_NOTE},
        state_codes={0: InvoiceState.UNPROCESSED, 1: InvoiceState.PROCESSED,
                     2: InvoiceState.FAILED, 3: InvoiceState.PAID},
    ))

Any callable ``(payload) -> (InvoiceKind, InvoiceState)`` can replace `InvoiceResolver`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final, TypeVar

import attrs

from .models import InvoiceKind, InvoiceState

__all__ = [
    "DEFAULT_KIND_FIELDS",
    "DEFAULT_KIND_NAMES",
    "DEFAULT_STATE_FIELDS",
    "DEFAULT_STATE_NAMES",
    "DEFAULT_RESOLVER",
    "STATE_NOT_REPORTED",
    "InvoiceResolver",
    "Resolver",
    "normalise_name",
]

Resolver = Callable[[Mapping[str, Any]], tuple[InvoiceKind, InvoiceState]]
"""A function reading a payment's kind and state from its raw payload."""

T = TypeVar("T")

#: Payload fields that may carry the kind, most specific first. ``paymentType``-like names
#: are kept, but card *PSP* statuses (``paymentStatus``) are never read as a state.
DEFAULT_KIND_FIELDS: Final = (
    "invoiceType",
    "paymentType",
    "invoiceKind",
    "paymentKind",
    "kind",
    "type",
)
#: Payload fields that may carry the processing state, most specific first.
DEFAULT_STATE_FIELDS: Final = (
    "status",
    "state",
    "invoiceStatus",
    "invoiceState",
    "processingStatus",
    "processStatus",
)
#: Boolean flags some payloads use instead of a kind field.
_KIND_FLAGS: Final = (
    ("isCreditNote", InvoiceKind.CREDIT_NOTE),
    ("isCreditCardPayment", InvoiceKind.CREDIT_CARD_PAYMENT),
    ("isCardPayment", InvoiceKind.CREDIT_CARD_PAYMENT),
)
#: Where the readable name of an integer enum is found: ``status`` -> ``statusText``.
_SIBLING_SUFFIXES: Final = ("Text", "Name", "Description")

#: Recognised kind names, after `normalise_name` (lower case, letters and digits only).
DEFAULT_KIND_NAMES: Final[Mapping[str, InvoiceKind]] = {
    **dict.fromkeys(
        (
            "invoicespecification",
            "invoicespec",
            "specification",
            "invoice",
            "customerinvoice",
            "customerforminvoice",
            "bookinginvoice",
            "offerinvoice",
        ),
        InvoiceKind.INVOICE_SPECIFICATION,
    ),
    **dict.fromkeys(
        (
            "creditcardpayment",
            "creditcard",
            "cardpayment",
            "cardpaymentinvoice",
            "creditcardpaymentinvoice",
        ),
        InvoiceKind.CREDIT_CARD_PAYMENT,
    ),
    **dict.fromkeys(
        ("creditnote", "credit", "creditinvoice", "cancellation"),
        InvoiceKind.CREDIT_NOTE,
    ),
}
#: Recognised state names, after `normalise_name`.
DEFAULT_STATE_NAMES: Final[Mapping[str, InvoiceState]] = {
    "unprocessed": InvoiceState.UNPROCESSED,
    "notprocessed": InvoiceState.UNPROCESSED,
    "processed": InvoiceState.PROCESSED,
    "failed": InvoiceState.FAILED,
    "paid": InvoiceState.PAID,
}
#: The value of the unknown `InvoiceState` used when a payload carries no state at all.
STATE_NOT_REPORTED: Final = "not reported"

# What a decoded JSON value that is not an object can be (told from a mapping at once).
_SCALARS: Final = frozenset({type(None), str, int, bool, float, Decimal, list})
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_INTEGER = re.compile(r"-?[0-9]+")


def normalise_name(text: str) -> str:
    """Reduce a name to lower-case letters and digits (``"Credit card payment"`` ->
    ``"creditcardpayment"``), so every spelling of one name compares equal."""
    return _NON_ALNUM.sub("", text.lower())


# Names seen, normalised: payloads repeat a few kind and state names (short ones kept).
_NORMALISED: dict[str, str] = {}
_MAX_NORMALISED: Final = 1024
_MAX_NAME: Final = 64


def _normalised(text: str) -> str:
    name = _NORMALISED.get(text)
    if name is None:
        name = normalise_name(text)
        if len(text) <= _MAX_NAME and len(_NORMALISED) < _MAX_NORMALISED:
            _NORMALISED[text] = name
    return name


_SIBLINGS: dict[str, tuple[str, ...]] = {}


def _siblings(field: str) -> tuple[str, ...]:
    """``status`` -> ``("statusText", "statusName", "statusDescription")`` (made once)."""
    names = _SIBLINGS.get(field)
    if names is None:
        names = tuple(field + suffix for suffix in _SIBLING_SUFFIXES)
        if len(_SIBLINGS) < _MAX_NORMALISED:
            _SIBLINGS[field] = names
    return names


def _kind_names(names: Mapping[str, InvoiceKind]) -> dict[str, InvoiceKind]:
    return {normalise_name(k): v for k, v in names.items()}


def _state_names(names: Mapping[str, InvoiceState]) -> dict[str, InvoiceState]:
    return {normalise_name(k): v for k, v in names.items()}


def _code_key(value: Any) -> int | str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        # int() refuses more than 4,300 digits; no code is that long.
        return int(text) if len(text) <= 100 and _INTEGER.fullmatch(text) else text
    return None


@attrs.frozen(kw_only=True, eq=False)
class InvoiceResolver:
    """The default way of reading a payment's kind and state: configurable, and a callable.

    For each candidate field (in order) it looks at: your integer/string codes for the
    field's value, then the readable sibling (``statusText``, ``statusName``, ...), then the
    value itself as a name. Nested objects (``{"id": 2, "name": "CreditNote"}``) are read
    through their ``name``/``text``/``value``/``code``/``id`` keys.

    Attributes:
        kind_codes: Your tenant's codes for each kind (``{1: InvoiceKind.CREDIT_NOTE}``);
            integers or exact strings. Empty by default: integers are never guessed.
        state_codes: Your tenant's codes for each state.
        kind_fields: Payload fields that may carry the kind.
        state_fields: Payload fields that may carry the state.
        kind_names: Recognised kind names (keys normalised with `normalise_name`).
        state_names: Recognised state names (keys normalised with `normalise_name`).
    """

    kind_codes: Mapping[int | str, InvoiceKind] = attrs.field(factory=dict, converter=dict)
    state_codes: Mapping[int | str, InvoiceState] = attrs.field(factory=dict, converter=dict)
    kind_fields: tuple[str, ...] = attrs.field(default=DEFAULT_KIND_FIELDS, converter=tuple)
    state_fields: tuple[str, ...] = attrs.field(default=DEFAULT_STATE_FIELDS, converter=tuple)
    kind_names: Mapping[str, InvoiceKind] = attrs.field(
        default=DEFAULT_KIND_NAMES, converter=_kind_names
    )
    state_names: Mapping[str, InvoiceState] = attrs.field(
        default=DEFAULT_STATE_NAMES, converter=_state_names
    )

    def __call__(self, payload: Mapping[str, Any]) -> tuple[InvoiceKind, InvoiceState]:
        """Return the kind and state of ``payload``.

        Args:
            payload: The payment as decoded from JSON.

        Returns:
            ``(kind, state)``: ``InvoiceKind.UNKNOWN`` and an unknown `InvoiceState`
            pseudo-member when the payload does not say in a way this resolver recognises.
        """
        return self.kind(payload), self.state(payload)

    def kind(self, payload: Mapping[str, Any]) -> InvoiceKind:
        """Return the kind of ``payload`` (``InvoiceKind.UNKNOWN`` when not recognised)."""
        found = self._find(payload, self.kind_fields, self.kind_codes, self.kind_names)
        if found is not None:
            return found
        for flag, kind in _KIND_FLAGS:
            if payload.get(flag) is True:
                return kind
        return InvoiceKind.UNKNOWN

    def state(self, payload: Mapping[str, Any]) -> InvoiceState:
        """Return the state of ``payload``.

        When it cannot be read, the result is an unknown `InvoiceState` whose value is the
        raw text found (e.g. ``"Archived"`` or ``"7"``), or ``"not reported"`` when the
        payload has none of the state fields. No rule allows an action from an unknown
        state.
        """
        found = self._find(payload, self.state_fields, self.state_codes, self.state_names)
        if found is not None:
            return found
        for field in self.state_fields:
            for name in (*_siblings(field), field):
                value = payload.get(name)
                if value is not None and not isinstance(value, (Mapping, list)):
                    text = str(value).strip()
                    if text:
                        return InvoiceState(text)
        return InvoiceState(STATE_NOT_REPORTED)

    @staticmethod
    def _find(
        payload: Mapping[str, Any],
        fields: tuple[str, ...],
        codes: Mapping[int | str, T],
        names: Mapping[str, T],
    ) -> T | None:
        for field in fields:
            value = payload.get(field)
            if type(value) is dict or (type(value) not in _SCALARS and isinstance(value, Mapping)):
                candidates = tuple(value.get(k) for k in ("name", "text", "value", "code", "id"))
            else:
                candidates = (value,)
            if codes:
                for candidate in candidates:
                    key = _code_key(candidate)
                    if key is not None and key in codes:
                        return codes[key]
            # (The memos read inline: names repeat, and this runs for every payload.)
            for sibling_name in _SIBLINGS.get(field) or _siblings(field):
                sibling = payload.get(sibling_name)
                if isinstance(sibling, str):
                    hit = names.get(_NORMALISED.get(sibling) or _normalised(sibling))
                    if hit is not None:
                        return hit
            for candidate in candidates:
                if isinstance(candidate, str):
                    hit = names.get(_NORMALISED.get(candidate) or _normalised(candidate))
                    if hit is not None:
                        return hit
        return None

    def consumed_keys(self) -> frozenset[str]:
        """Every payload key this resolver may read (they are not repeated in ``extra``)."""
        keys = {*self.kind_fields, *self.state_fields, *(flag for flag, _ in _KIND_FLAGS)}
        for field in (*self.kind_fields, *self.state_fields):
            keys.update(field + s for s in _SIBLING_SUFFIXES)
        return frozenset(keys)


#: The resolver a `QondorClient` uses unless given another.
DEFAULT_RESOLVER: Final = InvoiceResolver()
