"""A stateful hypothesis test: random actions through the async client against FakeQondor.

The machine drives the async client from hypothesis' synchronous world through an anyio
blocking portal, once on asyncio and once on trio. Invariants after every step:

- the client's view of every payment it returned equals the fake's state;
- the fake never received a request its rules refuse (the client refused first);
- every accepted change was applied exactly once, despite injected faults (lost responses,
  5xx, refused connections).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date
from typing import Any, ClassVar

import pytest
from _qondor_kit import API_KEY, NoSleep, make_fake
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
)

from qondor_invoicing import (
    QONDOR_RULES,
    IllegalTransitionError,
    InvalidInputError,
    Invoice,
    InvoiceAction,
    InvoiceKind,
    InvoiceState,
    QondorClient,
    RetryPolicy,
)

A, S, K = InvoiceAction, InvoiceState, InvoiceKind

references = st.none() | st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=24
)
# What set_as_failed accepts: no control character but tabs and line breaks, no surrogate.
messages = st.text(
    st.characters(blacklist_categories=("Cc", "Cs")) | st.sampled_from("\t\n"),
    min_size=1,
    max_size=80,
).filter(lambda s: bool(s.strip()))
faults = st.sampled_from([None, None, "lost_response", "server_error", "connection_error"])


class QondorMachine(RuleBasedStateMachine):
    backend: ClassVar[str] = "asyncio"

    invoices = Bundle("invoices")

    def __init__(self) -> None:
        super().__init__()
        self._portal_cm = start_blocking_portal(self.backend)
        self.portal: BlockingPortal = self._portal_cm.__enter__()
        self.fake = make_fake()
        self.client: QondorClient | None = None
        self.strict = True
        self.known: dict[int, Invoice] = {}
        self.applied: dict[int, int] = {}

    def call(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return self.portal.call(functools.partial(func, *args, **kwargs))

    @property
    def qondor(self) -> QondorClient:
        assert self.client is not None
        return self.client

    def teardown(self) -> None:
        try:
            if self.client is not None:
                self.call(self.client.aclose)
        finally:
            self._portal_cm.__exit__(None, None, None)

    # -- rules -----------------------------------------------------------------------------

    @initialize(target=invoices, strict=st.booleans(), seed=st.integers(0, 10_000))
    def start(self, strict: bool, seed: int) -> Any:
        self.strict = strict
        self.client = QondorClient(
            API_KEY,
            transport=self.fake.transport,
            rate_limit=None,
            sleep=NoSleep(),
            strict=strict,
            retry_policy=RetryPolicy(max_retries=3),
        )
        return multiple(*self.fake.seed(6, random_seed=seed))

    @rule(target=invoices, kind=st.sampled_from(list(K)), state=st.sampled_from(list(S)))
    def add(self, kind: K, state: S) -> int:
        return self.fake.add_invoice(kind=kind, state=state)

    @rule(invoice_id=invoices)
    def read(self, invoice_id: int) -> None:
        invoice = self.call(self.qondor.invoices.get, invoice_id)
        assert invoice.state is self.fake.invoices[invoice_id].state
        self.known[invoice_id] = invoice

    @rule()
    def read_queue(self) -> None:
        queue = self.call(self.qondor.invoices.list_unprocessed)
        expected = sorted(i for i, s in self.fake.states().items() if s is S.UNPROCESSED)
        assert [i.id for i in queue] == expected
        for invoice in queue:
            self.known[invoice.id] = invoice

    @rule(
        invoice_id=invoices,
        action=st.sampled_from(list(A)),
        use_model=st.booleans(),
        fault=faults,
        reference=references,
        message=messages,
        paid=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
    )
    def act(
        self,
        invoice_id: int,
        action: A,
        use_model: bool,
        fault: str | None,
        reference: str | None,
        message: str,
        paid: date,
    ) -> None:
        truth = self.fake.invoices[invoice_id]
        before, kind = truth.state, truth.kind
        history = len(truth.history)
        puts = len(self.fake.requests_to("PUT"))
        target: Invoice | int = invoice_id
        if use_model and invoice_id in self.known:
            target = self.known[invoice_id]
        kwargs: dict[str, Any] = {
            A.SET_AS_PROCESSED: {"external_reference": reference},
            A.SET_AS_FAILED: {"failure_message": message},
            A.SET_AS_PAID: {"paid_date": paid},
            A.SET_AS_UNPROCESSED: {},
        }[action]
        if fault is not None:
            self.fake.faults.inject(fault, method="PUT")  # type: ignore[arg-type]
        refusal = QONDOR_RULES.refusal(action, before, kind, strict=self.strict)
        method = getattr(self.qondor.invoices, action.value)
        try:
            if refusal is None:
                result = self.call(method, target, **kwargs)
                assert result.state is QONDOR_RULES.result(action, before)
                applied = len(truth.history) - history
                if before is result.state and fault == "server_error":
                    # A no-op (e.g. processing a processed payment again) that hit a 5xx:
                    # the re-read cannot tell whether it ran, and it does not matter.
                    assert applied in (0, 1), applied
                else:
                    assert applied == 1, "applied exactly once"
                self.applied[invoice_id] = self.applied.get(invoice_id, 0) + applied
                self.known[invoice_id] = result
                if action is A.SET_AS_PROCESSED and reference is not None:
                    assert result.external_reference == truth.external_reference == reference
                if action is A.SET_AS_FAILED:
                    assert result.failure_message == truth.failure_message == message.strip()
                if action is A.SET_AS_PAID:
                    assert result.paid_date == truth.paid_date == paid
            else:
                with pytest.raises(IllegalTransitionError) as info:
                    self.call(method, target, **kwargs)
                assert info.value.reason == refusal, (action, before, kind)
                assert len(self.fake.requests_to("PUT")) == puts, "refused, so nothing sent"
                assert len(truth.history) == history
        finally:
            self.fake.faults.clear()

    @rule(invoice_id=invoices, action=st.sampled_from(list(A)), data=st.data())
    def act_with_invalid_input(self, invoice_id: int, action: A, data: st.DataObject) -> None:
        requests = len(self.fake.requests)
        bad_id = data.draw(st.sampled_from([0, -invoice_id, True, str(invoice_id)]))
        method = getattr(self.qondor.invoices, action.value)
        bad_arguments: list[tuple[Any, dict[str, Any]]] = [
            (
                bad_id,
                {A.SET_AS_PROCESSED: {}, A.SET_AS_FAILED: {"failure_message": "x"}}.get(
                    action, {"paid_date": date(2024, 1, 1)} if action is A.SET_AS_PAID else {}
                ),
            )
        ]
        if action is A.SET_AS_FAILED:
            blank = data.draw(st.sampled_from(["", "  ", "\n\t", "x" * 2001, "\x1b[2J", "\ud800"]))
            bad_arguments.append((invoice_id, {"failure_message": blank}))
        if action is A.SET_AS_PAID:
            bad_arguments.append((invoice_id, {"paid_date": paid_as_text_or_datetime(data)}))
        if action is A.SET_AS_PROCESSED:
            bad_arguments.append((invoice_id, {"external_reference": "   "}))
        for target, kwargs in bad_arguments:
            with pytest.raises(InvalidInputError):
                self.call(method, target, **kwargs)
        # Validated before anything, even before the read a bare id needs.
        assert len(self.fake.requests) == requests

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def client_and_fake_agree(self) -> None:
        for invoice_id, invoice in self.known.items():
            assert invoice.state is self.fake.invoices[invoice_id].state, invoice_id

    @invariant()
    def the_fake_never_refused_anything(self) -> None:
        assert self.fake.refused_requests == []

    @invariant()
    def every_change_applied_once(self) -> None:
        for invoice_id, stored in self.fake.invoices.items():
            assert len(stored.history) == self.applied.get(invoice_id, 0), invoice_id


def paid_as_text_or_datetime(data: st.DataObject) -> Any:
    from datetime import datetime

    return data.draw(st.sampled_from(["2024-02-10", datetime(2024, 2, 10, 9, 30), 20240210]))


SETTINGS = settings(
    max_examples=20,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


class AsyncioMachine(QondorMachine):
    backend = "asyncio"


class TrioMachine(QondorMachine):
    backend = "trio"


TestQondorStatefulAsyncio = AsyncioMachine.TestCase
TestQondorStatefulAsyncio.settings = SETTINGS
TestQondorStatefulTrio = TrioMachine.TestCase
TestQondorStatefulTrio.settings = SETTINGS
