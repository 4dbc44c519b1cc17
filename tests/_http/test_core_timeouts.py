"""Timeouts at each level, client lifecycle and ``with_options`` copies."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from _kit import BASE_URL, DemoClient, Recorder, make_core, ok

from qondor_invoicing import NOT_GIVEN, InvalidInputError, NotGiven, RetryPolicy
from qondor_invoicing._http import DEFAULT_TIMEOUT, HTTPCore

pytestmark = pytest.mark.anyio


def timeouts(value: float | None) -> dict[str, float | None]:
    return {"connect": value, "read": value, "write": value, "pool": value}


class TimeoutSpy:
    """Records the timeout each request carried to the transport."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request.extensions["timeout"])
        return ok()

    @property
    def last(self) -> dict[str, Any]:
        return self.seen[-1]


async def test_library_default_timeout() -> None:
    spy = TimeoutSpy()
    core = make_core(spy)
    await core.request("GET", "x")
    assert spy.last == {"connect": 10.0, "read": 30.0, "write": 30.0, "pool": 30.0}
    assert spy.last == DEFAULT_TIMEOUT.as_dict()
    assert isinstance(core.timeout, NotGiven)


@pytest.mark.parametrize(
    ("timeout", "expected"),
    [
        (5.0, timeouts(5.0)),
        (None, timeouts(None)),
        (httpx.Timeout(3.0, read=20.0), {"connect": 3.0, "read": 20.0, "write": 3.0, "pool": 3.0}),
    ],
)
async def test_client_timeout(timeout: Any, expected: dict[str, Any]) -> None:
    spy = TimeoutSpy()
    core = make_core(spy, timeout=timeout)
    await core.request("GET", "x")
    assert spy.last == expected


async def test_per_call_timeout_overrides_the_client() -> None:
    spy = TimeoutSpy()
    core = make_core(spy, timeout=5.0)
    await core.request("GET", "x", timeout=1.0)
    assert spy.last == timeouts(1.0)
    await core.request("GET", "x", timeout=None)
    assert spy.last == timeouts(None)
    await core.request("GET", "x", timeout=NOT_GIVEN)
    assert spy.last == timeouts(5.0)
    await core.request("GET", "x")
    assert spy.last == timeouts(5.0)
    await core.request("GET", "x", timeout=httpx.Timeout(2.0, connect=0.5))
    assert spy.last == {"connect": 0.5, "read": 2.0, "write": 2.0, "pool": 2.0}


async def test_none_is_not_the_same_as_not_given() -> None:
    spy = TimeoutSpy()
    core = make_core(spy)
    await core.request("GET", "x", timeout=None)
    assert spy.last == timeouts(None)
    await core.request("GET", "x", timeout=NOT_GIVEN)
    assert spy.last == DEFAULT_TIMEOUT.as_dict()


async def test_with_options_timeout_applies_to_the_copy_only() -> None:
    spy = TimeoutSpy()
    core = make_core(spy, timeout=5.0)
    fast = core.copy(timeout=1.5)
    unlimited = core.copy(timeout=None)
    inherited = core.copy()
    await fast.request("GET", "x")
    assert spy.last == timeouts(1.5)
    await unlimited.request("GET", "x")
    assert spy.last == timeouts(None)
    await inherited.request("GET", "x")
    assert spy.last == timeouts(5.0)
    await core.request("GET", "x")
    assert spy.last == timeouts(5.0)
    await fast.request("GET", "x", timeout=9.0)
    assert spy.last == timeouts(9.0)


async def test_injected_client_keeps_its_own_timeout_unless_told() -> None:
    spy = TimeoutSpy()
    async with httpx.AsyncClient(transport=httpx.MockTransport(spy), timeout=7.0) as http:
        core = make_core(None, http_client=http)
        await core.request("GET", "x")
        assert spy.last == timeouts(7.0)
        core = make_core(None, http_client=http, timeout=2.0)
        await core.request("GET", "x")
        assert spy.last == timeouts(2.0)


async def test_a_timeout_from_the_transport_becomes_api_timeout_error(no_sleep) -> None:
    from qondor_invoicing import APITimeoutError

    core = make_core(
        Recorder(httpx.ReadTimeout("timed out")),
        sleep=no_sleep,
        retry_policy=RetryPolicy(max_retries=1),
    )
    with pytest.raises(APITimeoutError, match=r"GET https://api.example.test/v1/x timed out"):
        await core.request("GET", "x", timeout=0.01)
    assert len(no_sleep.calls) == 1


# --- lifecycle ---------------------------------------------------------------------------


async def test_owned_client_is_closed_by_aclose() -> None:
    client = DemoClient()
    http = client._core.http_client
    assert not client.is_closed
    async with client as entered:
        assert entered is client
        assert await client.things.get() == {"ok": True}
    assert client.is_closed
    assert http.is_closed


async def test_injected_client_is_not_closed() -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: ok())) as http:
        client = DemoClient(http_client=http)
        async with client:
            await client.things.get()
        assert not http.is_closed
        await client.aclose()
        assert not http.is_closed
        # Still usable by its owner.
        assert (await http.get(BASE_URL)).status_code == 200
    assert http.is_closed


def test_transport_and_http_client_are_exclusive() -> None:
    with pytest.raises(ValueError, match="either"):
        make_core(None, http_client=httpx.AsyncClient(), transport=httpx.MockTransport(ok))


async def test_owned_client_never_follows_redirects() -> None:
    core = make_core(lambda r: ok())
    assert core.http_client.follow_redirects is False
    await core.aclose()


async def test_with_options_shares_pool_and_limits() -> None:
    client = DemoClient(rate_limit=5, max_concurrency=2)
    copy = client.with_options(timeout=1.0, max_retries=0)
    assert copy is not client
    assert copy._core.http_client is client._core.http_client
    assert copy._core.rate_limiter is client._core.rate_limiter
    assert copy._core._shared is client._core._shared
    await copy.things.get()
    assert copy._core._shared.concurrency_limiter() is client._core._shared.concurrency_limiter()
    assert copy.timeout == 1.0
    assert isinstance(client.timeout, NotGiven)
    assert copy.retry_policy.max_retries == 0
    assert client.retry_policy.max_retries == 3
    # Resources are re-bound to the copy.
    assert copy.things._client is copy
    assert client.things._client is client
    # Closing the copy leaves the pool open; closing the owner closes it for both.
    await copy.aclose()
    assert not client.is_closed
    assert await client.things.get() == {"ok": True}
    await client.aclose()
    assert client.is_closed
    assert copy.is_closed


async def test_with_options_retry_policy_headers_and_log_bodies() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return ok()

    client = DemoClient(handler, headers={"X-App": "one", "X-Keep": "yes"})
    policy = RetryPolicy(max_retries=7)
    copy = client.with_options(retry_policy=policy, headers={"X-App": "two"}, log_bodies=True)
    assert copy.retry_policy is policy
    assert copy._core.log_bodies is True
    assert client._core.log_bodies is False
    shortcut = client.with_options(retry_policy=policy, max_retries=1)
    assert shortcut.retry_policy == RetryPolicy(max_retries=1)
    await copy.things.get()
    await client.things.get()
    assert seen[0].headers["x-app"] == "two"
    assert seen[0].headers["x-keep"] == "yes"
    assert seen[1].headers["x-app"] == "one"


def test_not_given_is_a_falsy_singleton() -> None:
    assert NotGiven() is NOT_GIVEN
    assert not NOT_GIVEN
    assert repr(NOT_GIVEN) == "NOT_GIVEN"
    assert NOT_GIVEN is not None


async def test_core_copy_with_no_changes_is_equivalent() -> None:
    spy = TimeoutSpy()
    core = make_core(spy, timeout=4.0, headers={"A": "1"})
    twin = core.copy()
    assert isinstance(twin, HTTPCore)
    assert twin.timeout == 4.0
    assert twin.headers == {"A": "1"}
    assert twin.headers is not core.headers  # mutating one never changes the other
    await twin.aclose()
    assert not core.is_closed


@pytest.mark.parametrize("timeout", [float("nan"), 0, -2.5, "30", (1, 2)])
async def test_a_call_timeout_that_cannot_work_is_refused_before_sending(timeout: Any) -> None:
    spy = TimeoutSpy()
    core = make_core(spy)
    with pytest.raises(InvalidInputError, match="timeout") as caught:
        await core.request("GET", "x", timeout=timeout)
    assert caught.value.field == "timeout"
    assert spy.seen == []  # nothing was sent


async def test_a_url_httpx_cannot_build_is_refused_before_sending() -> None:
    spy = TimeoutSpy()
    core = make_core(spy)
    with pytest.raises(InvalidInputError, match="URL component 'query' too long") as caught:
        await core.request("GET", "x", params={"query": "x" * 70_000})
    assert caught.value.field == "url"
    assert spy.seen == []


@pytest.mark.parametrize(
    "kwargs", [{"params": {"query": "a\ud800"}}, {"json_body": {"note": "\udfff"}}], ids=repr
)
async def test_text_utf8_cannot_carry_is_refused_before_sending(kwargs: dict[str, Any]) -> None:
    spy = TimeoutSpy()
    core = make_core(spy)
    with pytest.raises(InvalidInputError, match="lone surrogate") as caught:
        await core.request("POST", "x", **kwargs)
    assert caught.value.field == "text"
    assert spy.seen == []
