"""Per-client bounds: response size read under a cap, a deadline per attempt, and a
non-JSON 2xx on a read retried like a 503."""

from __future__ import annotations

import gzip
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
from _kit import Recorder, make_core, ok

from qondor_invoicing import (
    NOT_GIVEN,
    APITimeoutError,
    ResponseTooLargeError,
    ResponseValidationError,
    RetryPolicy,
)
from qondor_invoicing._http import DEFAULT_MAX_RESPONSE_BYTES, HeaderAuth, HTTPCore
from qondor_invoicing._http.options import ClientOptions
from qondor_invoicing._secret import Secret

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024


class Endless(httpx.AsyncByteStream):
    """A body of ``chunk``-sized pieces that never ends, counting what it produced."""

    def __init__(self, chunk: bytes = b"x" * 65536, pause: float = 0.0) -> None:
        self.chunk = chunk
        self.pause = pause
        self.produced = 0
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            # Like a network read, each chunk awaits.
            await anyio.sleep(self.pause) if self.pause else await anyio.lowlevel.checkpoint()
            self.produced += len(self.chunk)
            yield self.chunk

    async def aclose(self) -> None:
        self.closed = True


# -- response size ---------------------------------------------------------------------------


async def test_an_endless_body_is_cut_at_the_cap_while_reading() -> None:
    stream = Endless()
    core = make_core(lambda r: httpx.Response(200, stream=stream), max_response_bytes=MiB)
    with pytest.raises(ResponseTooLargeError) as caught:
        await core.request("GET", "x")
    error = caught.value
    assert (error.limit, error.status_code) == (MiB, 200)
    assert MiB < error.received <= MiB + 65536
    # Reading stopped at the cap: one chunk past it was produced, and it was closed.
    assert stream.produced == error.received
    assert stream.closed
    assert isinstance(error, ResponseValidationError)
    assert "max_response_bytes=1048576" in str(error)


async def test_an_announced_content_length_over_the_cap_is_refused_before_reading() -> None:
    stream = Endless()
    core = make_core(
        lambda r: httpx.Response(200, headers={"content-length": str(50 * MiB)}, stream=stream),
        max_response_bytes=MiB,
    )
    with pytest.raises(ResponseTooLargeError) as caught:
        await core.request("GET", "x")
    assert caught.value.received == 50 * MiB
    assert stream.produced == 0


@pytest.mark.parametrize(
    "declared", ["\u00b2", "\u0661\u0662", "9" * 5000, " 12", "-1", "1e3", "0x10"]
)
async def test_an_unreadable_content_length_reads_the_body_under_the_cap(declared: str) -> None:
    # isdigit() is true of some of these, which int() then refuses: the length announced
    # is ignored (never a bare ValueError) and the body is read and capped as it comes.
    stream = Endless()
    raw = [(b"content-length", declared.encode())]
    core = make_core(
        lambda r: httpx.Response(200, headers=raw, stream=stream), max_response_bytes=MiB
    )
    with pytest.raises(ResponseTooLargeError) as caught:
        await core.request("GET", "x")
    assert MiB < caught.value.received <= MiB + 65536


async def test_the_cap_counts_decompressed_bytes() -> None:
    bomb = gzip.compress(b" " * (4 * MiB))  # a few KiB on the wire
    assert len(bomb) < 64 * 1024
    core = make_core(
        lambda r: httpx.Response(200, headers={"content-encoding": "gzip"}, content=bomb),
        max_response_bytes=MiB,
    )
    with pytest.raises(ResponseTooLargeError):
        await core.request("GET", "x")


async def test_the_cap_applies_to_error_bodies_and_is_not_retried(no_sleep: Any) -> None:
    recorder = Recorder(lambda r: httpx.Response(503, stream=Endless()))
    core = make_core(recorder, max_response_bytes=MiB, sleep=no_sleep)
    with pytest.raises(ResponseTooLargeError) as caught:
        await core.request("GET", "x")
    assert caught.value.status_code == 503
    assert recorder.calls == 1


async def test_a_body_under_the_cap_and_copies_with_another_cap() -> None:
    body = b'{"big": "' + b"y" * (2 * MiB) + b'"}'
    core = make_core(lambda r: httpx.Response(200, content=body), max_response_bytes=MiB)
    assert core.max_response_bytes == MiB
    with pytest.raises(ResponseTooLargeError):
        await core.request("GET", "x")
    larger = core.copy(max_response_bytes=4 * MiB)
    assert len((await larger.request("GET", "x")).data["big"]) == 2 * MiB
    unbounded = core.copy(max_response_bytes=None)
    assert (await unbounded.request("GET", "x")).status_code == 200
    assert core.max_response_bytes == MiB  # the original is unchanged


def test_the_default_cap_and_refused_values() -> None:
    assert make_core(ok).max_response_bytes == DEFAULT_MAX_RESPONSE_BYTES == 20 * MiB
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="max_response_bytes"):
            make_core(ok, max_response_bytes=bad)
    for bad_deadline in (0, -1.0, True, "3"):
        with pytest.raises(ValueError, match="deadline"):
            make_core(ok, deadline=bad_deadline)


# -- deadline --------------------------------------------------------------------------------


def test_the_default_deadline_is_a_multiple_of_the_timeout() -> None:
    core = make_core(ok)
    assert core.attempt_deadline(httpx.USE_CLIENT_DEFAULT) == 90.0  # 3 x 30 s
    assert core.attempt_deadline(0.5) == 1.5
    assert core.attempt_deadline(httpx.Timeout(2.0, read=10.0)) == 30.0
    assert core.attempt_deadline(None) is None
    assert make_core(ok, deadline=4).attempt_deadline(0.5) == 4.0
    assert make_core(ok, deadline=None).attempt_deadline(0.5) is None
    assert core.copy(deadline=2.5).attempt_deadline(None) == 2.5
    assert core.copy(deadline=NOT_GIVEN).attempt_deadline(0.5) == 1.5


async def test_a_trickling_body_is_stopped_by_the_deadline(no_sleep: Any) -> None:
    # The transport never times out a read (each byte arrives quickly); only the
    # deadline ends the attempt, which is then retried like any timeout of a read.
    streams: list[Endless] = []

    def trickle(request: httpx.Request) -> httpx.Response:
        streams.append(Endless(b" ", pause=0.02))
        return httpx.Response(200, stream=streams[-1])

    core = make_core(trickle, deadline=0.2, retry_policy=RetryPolicy(max_retries=1), sleep=no_sleep)
    with anyio.fail_after(10):
        with pytest.raises(APITimeoutError) as caught:
            await core.request("GET", "x")
    assert "deadline of 0.2 s" in str(caught.value)
    assert caught.value.request_sent
    assert len(streams) == 2  # retried once, as the policy says
    assert all(s.closed for s in streams)
    assert len(no_sleep.calls) == 1


async def test_a_state_change_past_its_deadline_is_not_repeated(no_sleep: Any) -> None:
    recorder = Recorder(lambda r: httpx.Response(200, stream=Endless(b" ", pause=0.02)))
    core = make_core(recorder, deadline=0.1, sleep=no_sleep)
    with anyio.fail_after(10):
        with pytest.raises(APITimeoutError) as caught:
            await core.request("PUT", "x", json_body={})
    assert caught.value.request_sent
    assert recorder.calls == 1


@pytest.fixture
def trickle_server() -> Iterator[str]:
    """A 127.0.0.1 server answering 200 and then one byte of body every 0.1 s, forever."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(5)
    stop = threading.Event()

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                b"transfer-encoding: chunked\r\n\r\n"
            )
            try:
                while not stop.wait(0.1):
                    conn.sendall(b"1\r\n \r\n")
            except OSError:
                return  # the client hung up: what the deadline is for

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/"
    finally:
        stop.set()
        server.close()
        thread.join(5)


async def test_a_real_trickling_server_cannot_hold_a_call_past_its_deadline(
    trickle_server: str,
) -> None:
    # timeout=0.5 never fires (a byte comes every 0.1 s); the deadline (3 x 0.5 s) does.
    async with httpx.AsyncClient() as http:
        options = ClientOptions.build(
            base_url=trickle_server,
            http_client=http,
            timeout=0.5,
            retry_policy=RetryPolicy.disabled(),
        )
        core = HTTPCore(options, auth=HeaderAuth({"X-Api-Key": Secret("k")}), api_name="test")
        with anyio.fail_after(10):
            with pytest.raises(APITimeoutError, match=r"deadline of 1\.5 s"):
                await core.request("GET", "slow")


# -- a non-JSON 2xx on a read ----------------------------------------------------------------

MAINTENANCE = httpx.Response(
    200, headers={"content-type": "text/html"}, content=b"<html>Down for maintenance</html>"
)


async def test_a_maintenance_page_on_a_read_is_retried_like_a_503(no_sleep: Any) -> None:
    recorder = Recorder(MAINTENANCE, MAINTENANCE, ok({"id": 1}))
    core = make_core(recorder, sleep=no_sleep)
    response = await core.request("GET", "x")
    assert response.data == {"id": 1}
    assert response.attempts == 3
    assert len(no_sleep.calls) == 2


async def test_a_maintenance_page_that_stays_is_a_typed_error_after_the_retries(
    no_sleep: Any,
) -> None:
    recorder = Recorder(MAINTENANCE)
    core = make_core(recorder, sleep=no_sleep, retry_policy=RetryPolicy(max_retries=2))
    with pytest.raises(ResponseValidationError, match="text/html"):
        await core.request("GET", "x")
    assert recorder.calls == 3


@pytest.mark.parametrize(
    ("method", "policy"),
    [
        ("PUT", RetryPolicy()),  # a state change: the evidence loop decides, not a blind retry
        ("GET", RetryPolicy(retryable_statuses=frozenset({429}))),  # 503 not retried
        ("GET", RetryPolicy.disabled()),
    ],
)
async def test_a_non_json_2xx_is_retried_only_on_reads_the_policy_retries(
    no_sleep: Any, method: str, policy: RetryPolicy
) -> None:
    recorder = Recorder(MAINTENANCE, ok())
    core = make_core(recorder, sleep=no_sleep, retry_policy=policy)
    with pytest.raises(ResponseValidationError):
        await core.request(method, "x")
    assert recorder.calls == 1


async def test_both_clients_take_the_limits_and_with_options_changes_them() -> None:
    from qondor_invoicing import ConfigurationError, QondorClient, QontoClient

    for client in (
        QondorClient(api_key="k", environment="dev", max_response_bytes=1024, deadline=5),
        QontoClient(access_token="t", max_response_bytes=1024, deadline=5),
    ):
        async with client:
            assert (client.max_response_bytes, client.deadline) == (1024, 5)
            copy = client.with_options(max_response_bytes=None, deadline=None)
            assert (copy.max_response_bytes, copy.deadline) == (None, None)
            assert client.with_options(timeout=1).deadline == 5
            assert client.max_response_bytes == 1024
            with pytest.raises(ConfigurationError):
                client.with_options(deadline=-1)
    async with QontoClient(access_token="t") as default:
        assert default.max_response_bytes == DEFAULT_MAX_RESPONSE_BYTES
        assert default.deadline is NOT_GIVEN
