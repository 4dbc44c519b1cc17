"""`send_confirmed`: after an ambiguous failure, read again before sending a change again."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import attrs
import pytest

from qondor_invoicing import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ConfigurationError,
    IllegalTransitionError,
    InternalServerError,
    NotFoundError,
    ResponseValidationError,
    RetryPolicy,
)
from qondor_invoicing._http.changes import Verdict, is_ambiguous, send_confirmed

pytestmark = pytest.mark.anyio

#: No jitter, so the backoff before resend n is exactly 0.5 * 2 ** (n - 1).
POLICY = RetryPolicy(max_retries=3, jitter=0.0)


@attrs.frozen
class Record:
    """A stand-in for an invoice: its state, and which re-read produced it (0: none)."""

    state: str
    read: int = 0


def server_error(status: int = 500) -> InternalServerError:
    return InternalServerError(f"{status} from the server", status_code=status)


def lost() -> APITimeoutError:
    return APITimeoutError("read timed out", request_sent=True)


def never_sent() -> APIConnectionError:
    return APIConnectionError("connection refused", request_sent=False)


class Scripted:
    """An async callable answering from a script (results or exceptions), recording its calls."""

    def __init__(self, *script: Record | BaseException) -> None:
        self.script = list(script)
        self.calls: list[Record] = []

    async def __call__(self, latest: Record) -> Record:
        self.calls.append(latest)
        item = self.script.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def reads(*states: str) -> list[Record]:
    return [Record(state, read=n) for n, state in enumerate(states, start=1)]


def judge(before: Record, now: Record) -> Verdict:
    return {
        "done": Verdict.APPLIED,
        "closed": Verdict.REFUSED,
        "unreadable": Verdict.UNKNOWN,
    }.get(now.state, Verdict.NOT_APPLIED)


def refused_when_closed(now: Record, error: APIError) -> BaseException:
    return IllegalTransitionError(action="finish", state=now.state, reason="it is closed")


def garbled(status: int = 200) -> ResponseValidationError:
    """A 2xx answer without evidence of the change (as the clients' ``send`` raise it)."""
    return ResponseValidationError(
        "answered 200 with text/plain where JSON was expected",
        body="Request blocked by policy",
        status_code=status,
        content_type="text/plain",
    )


async def run(
    send: Scripted,
    reread: Scripted,
    *,
    sleep: Sleeps | None = None,
    start: Record | None = None,
    **options: Any,
) -> Record:
    options.setdefault("policy", POLICY)
    return await send_confirmed(
        current=start or Record("open"),
        send=send,
        reread=reread,
        judge=judge,
        refusal=refused_when_closed,
        sleep=sleep or Sleeps(),
        describe="test: finish for record 7",
        **options,
    )


def states(calls: Sequence[Record]) -> list[tuple[str, int]]:
    return [(r.state, r.read) for r in calls]


async def test_a_change_that_succeeds_is_sent_once_and_never_re_read() -> None:
    send, reread, sleep = Scripted(Record("done", read=99)), Scripted(), Sleeps()
    result = await run(send, reread, sleep=sleep)
    assert result == Record("done", read=99)
    assert len(send.calls) == 1
    assert reread.calls == []
    assert sleep.calls == []


@pytest.mark.parametrize("failure", [server_error(), server_error(503), lost()], ids=str)
async def test_an_ambiguous_failure_already_applied_is_not_sent_again(
    failure: APIError,
) -> None:
    send, reread, sleep = Scripted(failure), Scripted(*reads("done")), Sleeps()
    result = await run(send, reread, sleep=sleep)
    assert result == Record("done", read=1)  # the fresh read judged applied
    assert len(send.calls) == 1
    assert states(reread.calls) == [("open", 0)]
    assert sleep.calls == []


async def test_an_ambiguous_failure_not_applied_is_sent_again_after_a_backoff() -> None:
    send = Scripted(lost(), server_error(502), Record("done", read=99))
    reread, sleep = Scripted(*reads("open", "open")), Sleeps()
    result = await run(send, reread, sleep=sleep)
    assert result == Record("done", read=99)
    # Each attempt and re-read gets the latest known record.
    assert states(send.calls) == [("open", 0), ("open", 1), ("open", 2)]
    assert states(reread.calls) == [("open", 0), ("open", 1)]
    assert sleep.calls == [POLICY.backoff(1), POLICY.backoff(2)] == [0.5, 1.0]


async def test_judge_compares_the_fresh_read_with_the_record_before_the_attempt() -> None:
    seen: list[tuple[Record, Record]] = []

    def judging(before: Record, now: Record) -> Verdict:
        seen.append((before, now))
        return judge(before, now)

    result = await send_confirmed(
        current=Record("open"),
        send=Scripted(server_error(), server_error(), Record("x")),
        reread=Scripted(*reads("open", "done")),
        judge=judging,
        refusal=refused_when_closed,
        policy=POLICY,
        sleep=Sleeps(),
        describe="test",
    )
    assert result == Record("done", read=2)
    assert seen == [(Record("open"), Record("open", 1)), (Record("open", 1), Record("done", 2))]


async def test_a_change_the_rules_now_refuse_raises_the_hooks_error_from_the_failure() -> None:
    failure = server_error()
    send, reread, sleep = Scripted(failure), Scripted(*reads("closed")), Sleeps()
    with pytest.raises(IllegalTransitionError, match="it is closed") as info:
        await run(send, reread, sleep=sleep)
    assert info.value.__cause__ is failure
    assert len(send.calls) == 1
    assert sleep.calls == []


async def test_the_refusal_hook_can_let_the_original_failure_stand() -> None:
    failure = lost()
    send = Scripted(failure)
    with pytest.raises(APITimeoutError) as info:
        await send_confirmed(
            current=Record("open"),
            send=send,
            reread=Scripted(*reads("closed")),
            judge=judge,
            refusal=lambda now, error: error,
            policy=POLICY,
            sleep=Sleeps(),
            describe="test",
        )
    assert info.value is failure
    assert info.value.__cause__ is None
    assert len(send.calls) == 1


@pytest.mark.parametrize("doubt", [lost(), garbled()], ids=["lost", "garbled-2xx"])
async def test_a_read_that_cannot_tell_leaves_the_outcome_unknown(doubt: APIError) -> None:
    send, reread, sleep = Scripted(doubt), Scripted(*reads("unreadable")), Sleeps()
    with pytest.raises(type(doubt)) as info:
        await run(send, reread, sleep=sleep)
    assert info.value is doubt  # never a result: nothing may be recorded as done
    assert len(send.calls) == 1
    assert sleep.calls == []


@pytest.mark.parametrize("status", [200, 201, 204])
async def test_a_2xx_without_evidence_is_confirmed_by_reading_back(status: int) -> None:
    send, reread = Scripted(garbled(status)), Scripted(*reads("done"))
    assert await run(send, reread) == Record("done", read=1)
    assert len(send.calls) == 1


async def test_a_2xx_without_evidence_not_applied_is_sent_again_then_surfaces() -> None:
    doubts = [garbled(), garbled(), Record("done", read=99)]
    send, reread = Scripted(*doubts), Scripted(*reads("open", "open"))
    assert await run(send, reread) == Record("done", read=99)
    assert len(send.calls) == 3
    # Within the budget only: then the last doubt is raised, never a result.
    last = garbled()
    send, reread = Scripted(garbled(), last), Scripted(*reads("open", "open"))
    with pytest.raises(ResponseValidationError) as info:
        await run(send, reread, policy=RetryPolicy(max_retries=1, jitter=0.0))
    assert info.value is last
    assert len(reread.calls) == 2


async def test_a_2xx_without_evidence_the_rules_now_refuse_is_an_illegal_transition() -> None:
    doubt = garbled()
    with pytest.raises(IllegalTransitionError) as info:
        await run(Scripted(doubt), Scripted(*reads("closed")))
    assert info.value.__cause__ is doubt


async def test_a_failed_re_read_raises_the_original_failure_with_the_re_read_as_context() -> None:
    failure, reread_failure = lost(), server_error(503)
    send = Scripted(failure)
    with pytest.raises(APITimeoutError) as info:
        await run(send, Scripted(reread_failure))
    assert info.value is failure
    assert info.value.__context__ is reread_failure
    assert not info.value.__suppress_context__
    assert len(send.calls) == 1


async def test_a_re_read_failure_that_is_not_an_api_error_propagates() -> None:
    misconfigured = ConfigurationError("token_provider returned None")
    with pytest.raises(ConfigurationError) as info:
        await run(Scripted(server_error()), Scripted(misconfigured))
    assert info.value is misconfigured


async def test_a_bug_in_the_re_read_is_never_mistaken_for_an_unknown_outcome() -> None:
    with pytest.raises(ZeroDivisionError):
        await run(Scripted(server_error()), Scripted(ZeroDivisionError()))


async def test_resends_are_bounded_by_max_retries_then_the_last_failure_surfaces() -> None:
    failures = [server_error(), lost(), server_error(502), server_error(504)]
    send, reread, sleep = Scripted(*failures), Scripted(*reads(*["open"] * 4)), Sleeps()
    with pytest.raises(InternalServerError) as info:
        await run(send, reread, sleep=sleep)
    assert info.value is failures[-1]
    assert len(send.calls) == 1 + POLICY.max_retries
    # The last failure is checked too: a change applied at the last attempt is not an error.
    assert len(reread.calls) == 1 + POLICY.max_retries
    assert len(sleep.calls) == POLICY.max_retries


async def test_with_the_budget_spent_the_last_attempt_is_still_confirmed() -> None:
    send, reread = Scripted(server_error()), Scripted(*reads("done"))
    result = await run(send, reread, policy=RetryPolicy.disabled())
    assert result.state == "done"
    assert len(send.calls) == 1


@pytest.mark.parametrize(
    ("policy", "failure"),
    [
        (RetryPolicy(retryable_statuses={503}), server_error(500)),
        (RetryPolicy(retry_connection_errors=False), lost()),
    ],
    ids=["status-not-retryable", "connection-errors-not-retried"],
)
async def test_the_policys_filters_stop_a_resend_but_not_the_check(
    policy: RetryPolicy, failure: APIError
) -> None:
    send, reread = Scripted(failure), Scripted(*reads("open"))
    with pytest.raises(type(failure)) as info:
        await run(send, reread, policy=policy)
    assert info.value is failure
    assert len(send.calls) == 1
    assert len(reread.calls) == 1  # an applied change would still have been returned


@pytest.mark.parametrize(
    "failure",
    [
        NotFoundError("no such record", status_code=404),
        ResponseValidationError("not JSON", status_code=None),
        IllegalTransitionError(action="finish", state="closed", reason="refused by the server"),
        RuntimeError("a bug in send"),
    ],
    ids=lambda failure: type(failure).__name__,
)
async def test_a_failure_that_cannot_have_applied_the_change_is_raised_at_once(
    failure: Exception,
) -> None:
    send, reread, sleep = Scripted(failure), Scripted(), Sleeps()
    with pytest.raises(type(failure)) as info:
        await run(send, reread, sleep=sleep)
    assert info.value is failure
    assert len(send.calls) == 1
    assert reread.calls == []
    assert sleep.calls == []


async def test_a_connection_never_opened_is_raised_at_once_the_core_retried_it() -> None:
    failure = never_sent()
    send, reread = Scripted(failure), Scripted()
    with pytest.raises(APIConnectionError) as info:
        await run(send, reread)
    assert info.value is failure
    assert info.value.request_sent is False
    assert len(send.calls) == 1
    assert reread.calls == []


async def test_the_doubt_and_its_resolution_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="qondor_invoicing")
    await run(Scripted(lost(), Record("x")), Scripted(*reads("open")))
    await run(Scripted(server_error()), Scripted(*reads("done")))
    messages = [r.getMessage() for r in caplog.records if r.name == "qondor_invoicing"]
    assert messages == [
        "test: finish for record 7 ended in doubt (APITimeoutError); reading it again",
        "test: finish for record 7 was not applied; sending it again in 0.50 s",
        "test: finish for record 7 ended in doubt (InternalServerError); reading it again",
        "test: finish for record 7 was applied; not sending it again",
    ]


def test_what_is_ambiguous() -> None:
    assert is_ambiguous(server_error(500))
    assert is_ambiguous(server_error(599))
    assert is_ambiguous(lost())
    assert is_ambiguous(APIConnectionError("reset"))  # request_sent defaults to True
    assert not is_ambiguous(never_sent())
    assert not is_ambiguous(APITimeoutError("connect timeout", request_sent=False))
    assert not is_ambiguous(NotFoundError("no", status_code=404))
    assert not is_ambiguous(ValueError("no"))
    assert is_ambiguous(garbled(200))
    assert is_ambiguous(garbled(204))
    assert not is_ambiguous(ResponseValidationError("no status"))
    assert not is_ambiguous(garbled(404))
