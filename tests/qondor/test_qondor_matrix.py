"""Every kind x state x action against FakeQondor: sent exactly when the table allows it.

The expectation comes from the architecture doc's table written out by hand in
``_qondor_kit`` (not from ``QONDOR_RULES``), for strict and lenient clients, with a model and
with a bare id.
"""

from __future__ import annotations

import itertools

import pytest
from _qondor_kit import (
    RESULTS,
    action_kwargs,
    expected_allowed,
    gets,
    make_client,
    make_fake,
    method_for,
    puts,
)

from qondor_invoicing import (
    QONDOR_RULES,
    BadRequestError,
    IllegalTransitionError,
    InvoiceAction,
    InvoiceKind,
    InvoiceState,
    Rule,
)
from qondor_invoicing.qondor import QONDOR_RULES_FAQ_RECOVERY

pytestmark = pytest.mark.anyio

A, S, K = InvoiceAction, InvoiceState, InvoiceKind
MATRIX = list(itertools.product(list(K), list(S), list(A)))


@pytest.mark.parametrize(
    ("kind", "state", "action"),
    MATRIX,
    ids=[f"{k.value}-{s.value}-{a.value}" for k, s, a in MATRIX],
)
async def test_matrix(kind: K, state: S, action: A) -> None:
    for strict, by_id in itertools.product((True, False), (False, True)):
        case = f"strict={strict} by_id={by_id}"
        fake = make_fake()
        invoice_id = fake.add_invoice(kind=kind, state=state)
        async with make_client(fake, strict=strict) as qondor:
            target = invoice_id if by_id else qondor.parse_invoice(fake.wire(invoice_id))
            allowed = expected_allowed(action, state, kind, strict=strict)
            call = method_for(qondor, action)
            if allowed:
                result = await call(target, **action_kwargs(action))
                assert result.state is RESULTS[action], case
                assert fake.invoices[invoice_id].state is result.state, case
                assert puts(fake) == 1, case
                assert len(fake.invoices[invoice_id].history) == 1, case
            else:
                with pytest.raises(IllegalTransitionError) as info:
                    await call(target, **action_kwargs(action))
                error = info.value
                assert (error.action, error.state, error.kind) == (action, state, kind), case
                assert error.invoice_id == invoice_id, case
                assert error.reason, case
                assert str(invoice_id) in str(error), case
                # Refused before sending: the fake never saw a state change.
                assert puts(fake) == 0, case
                assert fake.invoices[invoice_id].state is state, case
                assert fake.invoices[invoice_id].history == [], case
            assert gets(fake) == (1 if by_id else 0), case
            assert fake.refused_requests == [], case


@pytest.mark.parametrize(
    ("kind", "state", "action"),
    MATRIX,
    ids=[f"{k.value}-{s.value}-{a.value}" for k, s, a in MATRIX],
)
async def test_the_fake_refuses_what_a_careless_client_would_send(
    kind: K, state: S, action: A
) -> None:
    """A client with rules that allow everything finds the fake enforcing the real table."""
    anything = QONDOR_RULES.replace(
        *(
            Rule(
                action=a,
                allowed_from=set(S),
                result=RESULTS[a],
                refused_state_reason="never",
                source="test: allow everything",
            )
            for a in A
        )
    )
    fake = make_fake()
    invoice_id = fake.add_invoice(kind=kind, state=state)
    server_allows = QONDOR_RULES.can(action, state, kind, strict=False)
    async with make_client(fake, rules=anything) as qondor:
        invoice = qondor.parse_invoice(fake.wire(invoice_id))
        call = method_for(qondor, action)
        if server_allows:
            await call(invoice, **action_kwargs(action))
            assert fake.refused_requests == []
        else:
            with pytest.raises(BadRequestError) as info:
                await call(invoice, **action_kwargs(action))
            assert info.value.body.format == "problem_details"
            assert info.value.body.details[0].field == "InvoiceId"
            assert len(fake.refused_requests) == 1
            assert fake.invoices[invoice_id].state is state
    assert puts(fake) == 1


@pytest.mark.parametrize("kind", [K.INVOICE_SPECIFICATION, K.CREDIT_CARD_PAYMENT])
async def test_faq_recovery_end_to_end(kind: K) -> None:
    """The opt-in table returns a failed payment to the queue, client and fake alike."""
    fake = make_fake(rules=QONDOR_RULES_FAQ_RECOVERY)
    invoice_id = fake.add_invoice(kind=kind, state=S.FAILED)
    async with make_client(fake) as default:
        with pytest.raises(IllegalTransitionError, match="QONDOR_RULES_FAQ_RECOVERY"):
            await default.invoices.set_as_unprocessed(invoice_id)
    async with make_client(fake, rules=QONDOR_RULES_FAQ_RECOVERY) as recovering:
        invoice = await recovering.invoices.set_as_unprocessed(invoice_id)
        assert invoice.state is S.UNPROCESSED
        queue = await recovering.invoices.list_unprocessed()
        assert [i.id for i in queue] == [invoice_id]
        processed = await recovering.invoices.set_as_processed(queue[0], external_reference="F-1")
        assert processed.state is S.PROCESSED
    assert [t.action for t in fake.invoices[invoice_id].history] == [
        A.SET_AS_UNPROCESSED,
        A.SET_AS_PROCESSED,
    ]
