"""Every retry rule of the request loop, on asyncio and trio, without ever really waiting."""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest
from _kit import Recorder, make_core, ok

from qondor_invoicing import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    UnprocessableEntityError,
)
from qondor_invoicing._http import Auth, parse_retry_after
from qondor_invoicing._secret import Secret

pytestmark = pytest.mark.anyio

NO_JITTER = RetryPolicy(jitter=0.0)


def status(code: int, **headers: str) -> httpx.Response:
    return httpx.Response(code, headers=headers, json={"statusCode": code, "message": "nope"})


# --- retryable statuses ------------------------------------------------------------------


@pytest.mark.parametrize("code", [408, 429, 500, 502, 503, 504, 599])
async def test_retryable_status_is_retried_then_succeeds(code: int, no_sleep) -> None:
    handler = Recorder(status(code), status(code), ok())
    core = make_core(handler, sleep=no_sleep, retry_policy=NO_JITTER)
    response = await core.request("GET", "things")
    assert response.data == {"ok": True}
    assert response.attempts == 3
    assert handler.calls == 3
    assert no_sleep.calls == [0.5, 1.0]


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
    ],
)
async def test_client_errors_are_not_retried(code: int, error: type[Exception], no_sleep) -> None:
    handler = Recorder(status(code), ok())
    core = make_core(handler, sleep=no_sleep)
    with pytest.raises(error):
        await core.request("GET", "things")
    assert handler.calls == 1
    assert no_sleep.calls == []


async def test_custom_retryable_statuses_replace_the_defaults(no_sleep) -> None:
    policy = RetryPolicy(retryable_statuses={409}, jitter=0.0)
    handler = Recorder(status(409), ok())
    core = make_core(handler, sleep=no_sleep, retry_policy=policy)
    assert (await core.request("GET", "x")).attempts == 2

    handler = Recorder(status(503), ok())
    core = make_core(handler, sleep=no_sleep, retry_policy=policy)
    with pytest.raises(InternalServerError):
        await core.request("GET", "x")
    assert handler.calls == 1


async def test_max_retries_exhausted_raises_the_last_error(no_sleep) -> None:
    handler = Recorder(status(503))
    core = make_core(handler, sleep=no_sleep, retry_policy=RetryPolicy(max_retries=4, jitter=0))
    with pytest.raises(InternalServerError) as info:
        await core.request("GET", "things")
    assert info.value.status_code == 503
    assert handler.calls == 5
    assert no_sleep.calls == [0.5, 1.0, 2.0, 4.0]


async def test_disabled_policy_never_retries(no_sleep) -> None:
    for failure in (status(503), status(429, **{"Retry-After": "1"}), httpx.ConnectError("x")):
        handler = Recorder(failure, ok())
        core = make_core(handler, sleep=no_sleep, retry_policy=RetryPolicy.disabled())
        with pytest.raises((InternalServerError, RateLimitError, APIConnectionError)):
            await core.request("GET", "things")
        assert handler.calls == 1
    assert no_sleep.calls == []
    assert RetryPolicy.disabled().max_retries == 0


# --- connection errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("connect timeout"),
        httpx.ReadError("reset"),
        httpx.ReadTimeout("read timeout"),
        httpx.RemoteProtocolError("server disconnected"),
        httpx.PoolTimeout("pool"),
    ],
)
async def test_connection_errors_on_a_read_are_retried(exc: Exception, no_sleep) -> None:
    handler = Recorder(exc, ok())
    core = make_core(handler, sleep=no_sleep, retry_policy=NO_JITTER)
    response = await core.request("GET", "things")
    assert response.attempts == 2
    assert no_sleep.calls == [0.5]


async def test_connection_errors_exhaust_retries(no_sleep) -> None:
    handler = Recorder(httpx.ConnectError("refused"))
    core = make_core(handler, sleep=no_sleep, retry_policy=RetryPolicy(max_retries=2))
    with pytest.raises(APIConnectionError) as info:
        await core.request("GET", "things")
    assert not isinstance(info.value, APITimeoutError)
    assert info.value.request_sent is False
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert handler.calls == 3


async def test_connection_errors_not_retried_when_policy_says_so(no_sleep) -> None:
    handler = Recorder(httpx.ConnectError("refused"), ok())
    core = make_core(
        handler, sleep=no_sleep, retry_policy=RetryPolicy(retry_connection_errors=False)
    )
    with pytest.raises(APIConnectionError):
        await core.request("GET", "things")
    assert handler.calls == 1


@pytest.mark.parametrize(
    ("exc", "timeout", "sent"),
    [
        (httpx.ConnectError("refused"), False, False),
        (httpx.ConnectTimeout("slow connect"), True, False),
        (httpx.PoolTimeout("no slot"), True, False),
        (httpx.ReadTimeout("slow read"), True, True),
        (httpx.WriteTimeout("slow write"), True, True),
        (httpx.ReadError("reset"), False, True),
        (httpx.RemoteProtocolError("disconnected"), False, True),
    ],
)
async def test_connection_error_types_and_request_sent(
    exc: Exception, timeout: bool, sent: bool, no_sleep
) -> None:
    core = make_core(Recorder(exc), sleep=no_sleep, retry_policy=RetryPolicy.disabled())
    with pytest.raises(APIConnectionError) as info:
        await core.request("PUT", "Invoice/SetAsPaid", json_body={"id": 1})
    error = info.value
    assert isinstance(error, APITimeoutError) is timeout
    assert error.request_sent is sent
    assert error.method == "PUT"
    assert error.url == "https://api.example.test/v1/Invoice/SetAsPaid"
    assert "PUT https://api.example.test/v1/Invoice/SetAsPaid" in str(error)


# --- state changes (safe_to_repeat=False) ----------------------------------------------


@pytest.mark.parametrize("code", [500, 502, 503, 504, 408])
async def test_unsafe_call_is_not_repeated_after_a_server_error(code: int, no_sleep) -> None:
    handler = Recorder(status(code), ok())
    core = make_core(handler, sleep=no_sleep)
    with pytest.raises(APIStatusError) as info:
        await core.request("PUT", "Invoice/SetAsProcessed", json_body={"id": 1})
    assert info.value.status_code == code
    assert handler.calls == 1
    assert no_sleep.calls == []


async def test_unsafe_call_is_not_repeated_after_a_read_timeout(no_sleep) -> None:
    handler = Recorder(httpx.ReadTimeout("lost"), ok())
    core = make_core(handler, sleep=no_sleep)
    with pytest.raises(APITimeoutError) as info:
        await core.request("POST", "supplier_invoices/1/mark_as_paid", safe_to_repeat=False)
    assert info.value.request_sent is True
    assert "request_sent" not in str(info.value)  # the attribute, not the text, says it
    assert handler.calls == 1
    assert no_sleep.calls == []


async def test_unsafe_call_is_not_repeated_after_a_reset(no_sleep) -> None:
    handler = Recorder(httpx.ReadError("connection reset"), ok())
    core = make_core(handler, sleep=no_sleep)
    with pytest.raises(APIConnectionError) as info:
        await core.request("PUT", "Invoice/SetAsPaid")
    assert info.value.request_sent is True
    assert handler.calls == 1


@pytest.mark.parametrize("exc", [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow")])
async def test_unsafe_call_is_repeated_after_a_connect_error(exc: Exception, no_sleep) -> None:
    handler = Recorder(exc, ok())
    core = make_core(handler, sleep=no_sleep)
    response = await core.request("PUT", "Invoice/SetAsPaid", json_body={"id": 1})
    assert response.attempts == 2
    assert handler.calls == 2
    assert handler.requests[0].content == handler.requests[1].content == b'{"id":1}'


async def test_unsafe_call_is_repeated_after_a_429(no_sleep) -> None:
    handler = Recorder(status(429, **{"Retry-After": "3"}), ok())
    core = make_core(handler, sleep=no_sleep)
    response = await core.request("POST", "supplier_invoices/1/reject")
    assert response.attempts == 2
    assert no_sleep.calls == [3.0]


async def test_post_marked_safe_is_repeated_after_a_5xx(no_sleep) -> None:
    handler = Recorder(status(503), ok())
    core = make_core(handler, sleep=no_sleep)
    response = await core.request("POST", "search", safe_to_repeat=True)
    assert response.attempts == 2


async def test_get_marked_unsafe_is_not_repeated(no_sleep) -> None:
    handler = Recorder(status(503), ok())
    core = make_core(handler, sleep=no_sleep)
    with pytest.raises(InternalServerError):
        await core.request("GET", "export", safe_to_repeat=False)
    assert handler.calls == 1


@pytest.mark.parametrize("method", ["PUT", "POST", "PATCH", "DELETE"])
async def test_writes_default_to_unsafe(method: str, no_sleep) -> None:
    handler = Recorder(status(500), ok())
    core = make_core(handler, sleep=no_sleep)
    with pytest.raises(InternalServerError):
        await core.request(method, "x")
    assert handler.calls == 1


# --- Retry-After ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"Retry-After": "0"}, 0.0),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),
        ({"RETRY-AFTER": " 4 "}, 4.0),
    ],
)
async def test_retry_after_replaces_the_backoff(headers, expected: float, no_sleep) -> None:
    handler = Recorder(status(429, **headers), ok())
    core = make_core(handler, sleep=no_sleep)
    await core.request("GET", "things")
    assert no_sleep.calls == [expected]


async def test_retry_after_as_http_date(no_sleep) -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=30)
    handler = Recorder(status(503, **{"Retry-After": format_datetime(when, usegmt=True)}), ok())
    core = make_core(handler, sleep=no_sleep)
    await core.request("GET", "things")
    [waited] = no_sleep.calls
    assert 27.0 <= waited <= 30.0


async def test_retry_after_on_a_5xx_is_honoured(no_sleep) -> None:
    handler = Recorder(status(503, **{"Retry-After": "7"}), ok())
    core = make_core(handler, sleep=no_sleep)
    await core.request("GET", "things")
    assert no_sleep.calls == [7.0]


@pytest.mark.parametrize("value", ["soon", "-1", "nan", ""])
async def test_unusable_retry_after_falls_back_to_backoff(value: str, no_sleep) -> None:
    handler = Recorder(status(503, **{"Retry-After": value}), ok())
    core = make_core(handler, sleep=no_sleep, retry_policy=NO_JITTER)
    await core.request("GET", "things")
    assert no_sleep.calls == [0.5]


@pytest.mark.parametrize(
    "headers", [{"Retry-After": "61"}, {"retry-after-ms": "61000"}, {"Retry-After": "inf"}]
)
async def test_retry_after_above_the_cap_surfaces_the_error(headers, no_sleep) -> None:
    handler = Recorder(status(429, **headers), ok())
    core = make_core(handler, sleep=no_sleep, retry_policy=RetryPolicy(max_retry_after=60))
    with pytest.raises(RateLimitError) as info:
        await core.request("GET", "things")
    assert handler.calls == 1
    assert no_sleep.calls == []
    assert info.value.retry_after is not None
    assert info.value.retry_after > 60


async def test_retry_after_at_the_cap_is_honoured(no_sleep) -> None:
    handler = Recorder(status(429, **{"Retry-After": "60"}), ok())
    core = make_core(handler, sleep=no_sleep, retry_policy=RetryPolicy(max_retry_after=60))
    await core.request("GET", "things")
    assert no_sleep.calls == [60.0]


async def test_rate_limit_error_carries_retry_after_when_retries_run_out(no_sleep) -> None:
    handler = Recorder(status(429, **{"Retry-After": "2"}))
    core = make_core(handler, sleep=no_sleep, retry_policy=RetryPolicy(max_retries=1))
    with pytest.raises(RateLimitError) as info:
        await core.request("GET", "things")
    assert info.value.retry_after == 2.0
    assert handler.calls == 2


def test_parse_retry_after_forms() -> None:
    now = 1_700_000_000.0
    date = format_datetime(datetime.fromtimestamp(now + 120, timezone.utc), usegmt=True)
    past = format_datetime(datetime.fromtimestamp(now - 120, timezone.utc), usegmt=True)
    assert parse_retry_after({"Retry-After": date}, now=now) == pytest.approx(120.0)
    assert parse_retry_after({"Retry-After": past}, now=now) == 0.0
    assert parse_retry_after({"Retry-After": "Tue, 99 Foo 2024"}) is None
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after-ms": "x", "Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "-5", "Retry-After": "3"}) == 3.0
    assert parse_retry_after(httpx.Headers({"Retry-After": "12"})) == 12.0
    assert parse_retry_after({"Retry-After": " 1.5 "}) == 1.5
    assert parse_retry_after({"retry-after-ms": "2500"}) == 2.5
    # float() reads these; no server sends them: as if the header said nothing usable.
    for odd in ("\u0661", "\uff13", "1_0", "nan", "-1"):
        assert parse_retry_after({"Retry-After": odd}) is None, odd
        assert parse_retry_after({"retry-after-ms": odd, "Retry-After": "3"}) == 3.0, odd
    # HTTP-date against the real clock
    soon = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=10), usegmt=True)
    waited = parse_retry_after({"Retry-After": soon})
    assert waited is not None
    assert 8.0 <= waited <= 10.0 + (time.time() % 1)


# --- backoff -------------------------------------------------------------------------


def test_backoff_grows_exponentially_up_to_max_delay() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=8.0, jitter=0.0)
    assert [policy.backoff(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


@pytest.mark.parametrize("jitter", [0.0, 0.25, 0.5, 1.0])
def test_backoff_jitter_stays_within_bounds(jitter: float) -> None:
    policy = RetryPolicy(initial_delay=0.5, max_delay=8.0, jitter=jitter)
    rng = random.Random(1234)
    for retry in range(1, 8):
        base = min(0.5 * 2 ** (retry - 1), 8.0)
        delays = [policy.backoff(retry, rng=rng) for _ in range(300)]
        assert all(base * (1 - jitter) <= d <= base for d in delays)
        if jitter:
            # The jitter really spreads the delays over most of its range.
            assert max(delays) - min(delays) > 0.8 * base * jitter


def test_backoff_without_rng_uses_module_random() -> None:
    policy = RetryPolicy(initial_delay=2.0, jitter=0.5)
    delays = {policy.backoff(1) for _ in range(50)}
    assert len(delays) > 1
    assert all(1.0 <= d <= 2.0 for d in delays)


async def test_backoff_sleeps_grow_in_the_loop(no_sleep) -> None:
    handler = Recorder(status(502))
    policy = RetryPolicy(max_retries=6, initial_delay=0.25, max_delay=2.0, jitter=0.25)
    core = make_core(handler, sleep=no_sleep, retry_policy=policy)
    with pytest.raises(InternalServerError):
        await core.request("GET", "things")
    bases = [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert len(no_sleep.calls) == 6
    for waited, base in zip(no_sleep.calls, bases, strict=True):
        assert base * 0.75 <= waited <= base


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": -1},
        {"initial_delay": -0.1},
        {"max_delay": -1},
        {"jitter": 1.5},
        {"jitter": -0.1},
        {"max_retry_after": -1},
        {"max_retries": 2.5},
        {"max_retries": True},
        {"initial_delay": float("nan")},  # every backoff would be NaN
        {"max_delay": float("inf")},  # a wait without bound
        {"jitter": float("nan")},
        {"retryable_statuses": "503"},  # not {"5", "0", "3"}
        {"retryable_statuses": [503, 42]},
        {"retry_connection_errors": "no"},
    ],
)
def test_policy_validates_its_values(kwargs) -> None:
    with pytest.raises(ConfigurationError, match=r"must be|must hold"):
        RetryPolicy(**kwargs)


def test_policy_is_a_frozen_value() -> None:
    policy = RetryPolicy()
    assert policy == RetryPolicy()
    assert hash(policy) == hash(RetryPolicy())
    assert 503 in policy.retryable_statuses
    assert 408 in policy.retryable_statuses
    assert 429 in policy.retryable_statuses
    assert 400 not in policy.retryable_statuses
    with pytest.raises(AttributeError):
        policy.max_retries = 5  # type: ignore[misc]


def test_delay_returns_none_above_cap_and_backoff_without_header() -> None:
    policy = RetryPolicy(jitter=0.0, max_retry_after=10)
    assert policy.delay(1, {"Retry-After": "11"}) is None
    assert policy.delay(1, {"Retry-After": "10"}) == 10.0
    assert policy.delay(3, {}) == 2.0
    assert policy.delay(3) == 2.0


# --- APIM quota: 403 + Retry-After ------------------------------------------------------


async def test_apim_quota_403_with_retry_after_is_retried(no_sleep) -> None:
    quota = httpx.Response(
        403,
        headers={"Retry-After": "5"},
        json={"statusCode": 403, "message": "Out of call volume quota."},
    )
    handler = Recorder(quota, ok())
    core = make_core(handler, sleep=no_sleep)
    assert (await core.request("GET", "things")).attempts == 2
    assert no_sleep.calls == [5.0]


async def test_apim_quota_403_is_retried_for_state_changes_too(no_sleep) -> None:
    handler = Recorder(status(403, **{"Retry-After": "1"}), ok())
    core = make_core(handler, sleep=no_sleep)
    assert (await core.request("PUT", "Invoice/SetAsPaid")).attempts == 2


async def test_plain_403_is_not_retried(no_sleep) -> None:
    handler = Recorder(status(403), ok())
    core = make_core(handler, sleep=no_sleep)
    with pytest.raises(PermissionDeniedError):
        await core.request("GET", "things")
    assert handler.calls == 1


async def test_apim_quota_403_with_a_long_wait_surfaces(no_sleep) -> None:
    handler = Recorder(status(403, **{"Retry-After": "86400"}), ok())
    core = make_core(handler, sleep=no_sleep)
    with pytest.raises(PermissionDeniedError, match="403"):
        await core.request("GET", "things")
    assert no_sleep.calls == []


# --- credential refresh --------------------------------------------------------------


class RotatingAuth(Auth):
    """Hands out a new token after a 401, once."""

    def __init__(self) -> None:
        self.token = Secret("token-one-aaaaaaaa")
        self.refreshes = 0

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token.get_secret_value()}"}

    async def refresh(self) -> bool:
        self.refreshes += 1
        self.token = Secret("token-two-bbbbbbbb")
        return True

    def secrets(self) -> list[str]:
        return [self.token.get_secret_value()]


async def test_401_refreshes_credentials_once_without_using_the_retry_budget(no_sleep) -> None:
    auth = RotatingAuth()
    handler = Recorder(status(401), ok())
    core = make_core(handler, auth=auth, sleep=no_sleep, retry_policy=RetryPolicy.disabled())
    response = await core.request("PUT", "x")
    assert response.status_code == 200
    assert auth.refreshes == 1
    assert no_sleep.calls == []
    assert [r.headers["authorization"] for r in handler.requests] == [
        "Bearer token-one-aaaaaaaa",
        "Bearer token-two-bbbbbbbb",
    ]


async def test_a_second_401_after_refresh_surfaces(no_sleep) -> None:
    auth = RotatingAuth()
    handler = Recorder(status(401))
    core = make_core(handler, auth=auth, sleep=no_sleep)
    with pytest.raises(AuthenticationError):
        await core.request("GET", "x")
    assert auth.refreshes == 1
    assert handler.calls == 2


# --- logging of retries --------------------------------------------------------------


async def test_retries_are_logged_with_attempt_and_delay(no_sleep, caplog) -> None:
    caplog.set_level("DEBUG", logger="qondor_invoicing")
    handler = Recorder(status(503), ok())
    core = make_core(handler, sleep=no_sleep, retry_policy=NO_JITTER)
    await core.request("GET", "things")
    messages = [r.getMessage() for r in caplog.records]
    assert any("GET https://api.example.test/v1/things -> 503 (attempt 1" in m for m in messages), (
        messages
    )
    assert any("retrying in 0.50 s after attempt 1 (status 503)" in m for m in messages)
    assert any("-> 200 (attempt 2" in m for m in messages)
    assert all(r.name == "qondor_invoicing" for r in caplog.records)
