"""Credentials never appear in a repr, a log line or an exception, even when echoed back."""

from __future__ import annotations

import json
import logging
import pickle
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from _kit import SECRET, DemoClient, Recorder, make_core, ok

from qondor_invoicing import APIError, RetryPolicy
from qondor_invoicing._http import Auth, HeaderAuth, Redactor
from qondor_invoicing._secret import Secret

pytestmark = pytest.mark.anyio

# A credential with characters that JSON and URLs escape.
ODD = "org-login:k3y/with+odd&chars=!"
# Header values are ASCII; a credential that reaches us some other way may not be.
NON_ASCII = "clé-secrète/ünïcode"


def odd_core(handler: Any, **kwargs: Any):
    auth = HeaderAuth({"X-Api-Key": Secret(SECRET), "Authorization": Secret(ODD)})
    return make_core(handler, auth=auth, **kwargs)


def leaks(text: str) -> list[str]:
    """Every form of a credential found in ``text``."""
    found = []
    for secret in (SECRET, ODD, "k3y/with+odd&chars=!", NON_ASCII):
        forms = {
            secret,
            json.dumps(secret)[1:-1],
            json.dumps(secret, ensure_ascii=False)[1:-1],
            json.dumps(secret)[1:-1].replace("/", "\\/"),
            quote(secret, safe=""),
            quote(secret),
            quote_plus(secret),
        }
        found.extend(form for form in forms if form in text)
    return found


def echo_everything(request: httpx.Request) -> str:
    return f"you sent {request.headers['x-api-key']} and {request.headers['authorization']}"


# --- reprs -------------------------------------------------------------------------------


def test_reprs_never_show_credentials() -> None:
    secret = Secret(SECRET)
    auth = HeaderAuth({"X-Api-Key": secret})
    core = odd_core(lambda r: ok())
    client = DemoClient(
        auth=HeaderAuth({"X-Api-Key": Secret(SECRET), "Authorization": Secret(ODD)})
    )
    texts = [
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        repr(auth),
        str(auth),
        repr(core),
        str(core),
        repr(core.redact),
        repr(client),
        repr(client.with_options(timeout=1)),
        repr(vars(core)),
        repr(Auth()),
    ]
    for text in texts:
        assert not leaks(text), text
    assert repr(auth) == "HeaderAuth(headers=['X-Api-Key'])"
    assert str(secret) == "**********"


def test_secret_behaviour() -> None:
    secret = Secret(SECRET)
    assert secret.get_secret_value() == SECRET
    assert secret == Secret(SECRET)
    assert secret != Secret("other")
    assert secret != SECRET
    assert hash(secret) == hash(Secret(SECRET))
    assert secret
    assert not Secret("")
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(secret)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(HeaderAuth({"X-Api-Key": secret}))


def test_redactor_masks_every_form_and_ignores_tiny_values() -> None:
    redact = Redactor([SECRET, ODD, NON_ASCII, "abc"])
    text = " | ".join(
        [
            SECRET,
            *(
                form
                for secret in (ODD, NON_ASCII)
                for form in (
                    json.dumps(secret),
                    json.dumps(secret, ensure_ascii=False),
                    json.dumps(secret).replace("/", "\\/"),
                    quote(secret, safe=""),
                    quote(secret),
                    quote_plus(secret),
                )
            ),
            "abc stays",
        ]
    )
    scrubbed = redact(text)
    assert not leaks(scrubbed), scrubbed
    assert "abc stays" in scrubbed
    assert repr(redact).startswith("Redactor(")
    assert Redactor()("nothing to do") == "nothing to do"


# --- logs --------------------------------------------------------------------------------


async def test_debug_logs_with_bodies_never_show_credentials(caplog, no_sleep) -> None:
    caplog.set_level(logging.DEBUG, logger="qondor_invoicing")

    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={"echo": echo_everything(request), "body": request.content.decode()},
            headers={"x-request-id": "r-1"},
        )

    handler = Recorder(
        httpx.Response(503, text=f"down {SECRET}"),
        httpx.ConnectError(f"cannot connect with {SECRET}"),
        echo,
    )
    core = odd_core(handler, log_bodies=True, sleep=no_sleep)
    await core.request(
        "POST",
        "oauth/token",
        json_body={"client_secret": SECRET, "refresh": ODD},
        params={"token": SECRET, "other": ODD},
        safe_to_repeat=True,
    )
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) >= 6
    for message in messages:
        assert not leaks(message), message
    joined = "\n".join(messages)
    # The logs do carry what people need to debug.
    assert "POST https://api.example.test/v1/oauth/token?token=**********" in joined
    assert "(attempt 3" in joined
    assert "request body:" in joined
    assert "response body:" in joined
    assert "-> 200" in joined
    assert "request id r-1" in joined


async def test_bodies_are_not_logged_unless_asked(caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="qondor_invoicing")
    core = make_core(Recorder(ok({"data": "payload-marker"})))
    await core.request("POST", "x", json_body={"in": "request-marker"})
    joined = "\n".join(r.getMessage() for r in caplog.records)
    assert "-> 200" in joined
    assert "payload-marker" not in joined
    assert "request-marker" not in joined


async def test_multipart_bodies_can_be_logged(caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="qondor_invoicing")
    handler = Recorder(ok())
    core = make_core(handler, log_bodies=True)
    await core.request(
        "POST", "bulk", data={"k": SECRET}, files={"file": ("a.pdf", b"%PDF", "application/pdf")}
    )
    assert handler.requests[0].read().count(b"%PDF") == 1
    joined = "\n".join(r.getMessage() for r in caplog.records)
    assert "request body:" in joined
    assert not leaks(joined)


# --- exceptions -------------------------------------------------------------------------


def exception_text(error: BaseException) -> str:
    parts = [str(error), repr(error), repr(vars(error))]
    body = getattr(error, "body", None)
    if body is not None:
        parts.append(repr(body))
        summary = getattr(body, "summary", None)
        if summary is not None:
            parts.append(summary())
    return "\n".join(parts)


def json_echo(request: httpx.Request) -> httpx.Response:
    payload = {
        "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
        "title": f"Invalid key {request.headers['x-api-key']}",
        "status": 400,
        "errors": {"Authorization": [request.headers["authorization"]]},
        "traceId": "00-abc",
    }
    return httpx.Response(400, json=payload)


def escaped_json_echo(request: httpx.Request) -> httpx.Response:
    # Escapes "/" and non-ASCII like some servers do, which hides the credential from a
    # plain substring search of the raw text.
    text = json.dumps({"message": echo_everything(request), "statusCode": 401})
    return httpx.Response(
        401, content=text.replace("/", "\\/").encode(), headers={"content-type": "text/json"}
    )


def unicode_escaped_echo(request: httpx.Request) -> httpx.Response:
    escaped = "".join(f"\\u{ord(c):04x}" for c in ODD)
    return httpx.Response(
        400, content=('{"errors": [{"detail": "bad: ' + escaped + '"}]}').encode()
    )


def url_encoded_echo(request: httpx.Request) -> httpx.Response:
    return httpx.Response(403, text=f"denied for {quote_plus(ODD)} and {quote(ODD)}")


@pytest.mark.parametrize(
    "handler",
    [
        lambda r: httpx.Response(400, text=echo_everything(r)),
        lambda r: httpx.Response(401, json={"statusCode": 401, "message": echo_everything(r)}),
        lambda r: httpx.Response(
            422, json={"errors": [{"code": ODD, "detail": echo_everything(r)}]}
        ),
        json_echo,
        escaped_json_echo,
        unicode_escaped_echo,
        url_encoded_echo,
        lambda r: httpx.Response(200, html=f"<html>{echo_everything(r)}</html>"),
        lambda r: httpx.Response(302, headers={"Location": "https://sso.example/login"}),
    ],
)
async def test_echoed_credentials_never_reach_exception_text(handler) -> None:
    core = odd_core(Recorder(handler), retry_policy=RetryPolicy.disabled())
    with pytest.raises(APIError) as info:
        await core.request("GET", "things", params={"key": SECRET})
    text = exception_text(info.value)
    assert not leaks(text), text
    assert "https://api.example.test/v1/things?key=**********" in str(info.value)


async def test_connection_error_text_is_scrubbed() -> None:
    core = odd_core(
        Recorder(httpx.ConnectError(f"proxy refused {ODD}")), retry_policy=RetryPolicy.disabled()
    )
    with pytest.raises(APIError) as info:
        await core.request("GET", "things")
    assert not leaks(exception_text(info.value))
    assert "proxy refused **********" in str(info.value)


# --- credentials that change ---------------------------------------------------------


class RotatingAuth(Auth):
    def __init__(self) -> None:
        self.token = "old-token-1111111111"

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def refresh(self) -> bool:
        self.token = "new-token-2222222222"
        return True

    def secrets(self) -> list[str]:
        return [self.token]


async def test_rotated_credentials_are_redacted_in_every_copy() -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        token = request.headers["authorization"].removeprefix("Bearer ")
        if token.startswith("old"):
            return httpx.Response(401, text=f"expired {token}")
        return httpx.Response(400, text=f"bad request from {token}, once {'old-token-1111111111'}")

    auth = RotatingAuth()
    core = make_core(Recorder(echo), auth=auth, retry_policy=RetryPolicy.disabled())
    copy = core.copy(timeout=3)
    with pytest.raises(APIError) as info:
        await core.request("GET", "x")
    assert "new-token" not in str(info.value)
    assert "old-token" not in str(info.value)
    # The copy made before the rotation knows the new token too.
    with pytest.raises(APIError) as info:
        await copy.request("GET", "x")
    assert "new-token" not in str(info.value), str(info.value)
    assert "old-token" not in str(info.value)


async def test_bearer_and_login_secret_parts_are_redacted() -> None:
    auth = HeaderAuth(
        {
            "Authorization": Secret("Bearer tok-abcdefghijkl"),
            "X-Qonto": Secret("my-org:sk-0123456789"),
        }
    )
    core = make_core(
        Recorder(lambda r: httpx.Response(400, text="bad tok-abcdefghijkl / sk-0123456789")),
        auth=auth,
        retry_policy=RetryPolicy.disabled(),
    )
    with pytest.raises(APIError) as info:
        await core.request("GET", "x")
    assert "tok-abcdefghijkl" not in str(info.value)
    assert "sk-0123456789" not in str(info.value)


# --- what comes back: status line, headers, request ids, Location ---------------------------


def echo_in_headers(status: int, **extra: str):
    """An answer echoing the credentials in its reason phrase, request id and other headers."""

    def handler(request: httpx.Request) -> httpx.Response:
        echoed = f"{request.headers['x-api-key']} {quote(request.headers['authorization'])}"
        headers = {
            "x-request-id": f"req {request.headers['x-api-key']}",
            "x-debug": echoed,
            "retry-after": "0",
            **{k.replace("_", "-"): v.format(echoed=echoed) for k, v in extra.items()},
        }
        return httpx.Response(
            status,
            headers=headers,
            text=f"denied {echoed}",
            extensions={"reason_phrase": f"Nope {echoed}".encode()},
        )

    return handler


def every_trace(error: BaseException) -> str:
    """Everything an error shows or keeps: text, attributes, notes, pickle, headers."""
    headers = getattr(error, "headers", {})
    parts = [
        exception_text(error),
        repr(error.args),
        repr(getattr(error, "__notes__", [])),
        repr(list(headers.items())),
        str(pickle.loads(pickle.dumps(error)).__dict__),
        pickle.dumps(error).decode("latin-1"),
    ]
    return "\n".join(parts)


@pytest.mark.parametrize(
    ("status", "extra"),
    [
        (400, {}),
        (429, {}),
        (503, {}),
        (307, {"Location": "https://evil.example/steal?k={echoed}"}),
        (302, {"Location": "https://sso.example/{echoed}"}),
    ],
)
async def test_credentials_echoed_in_the_status_line_and_headers_are_masked(
    status: int, extra: dict[str, str], caplog: pytest.LogCaptureFixture, no_sleep: Any
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: ours, httpx's status line, httpcore's
    core = odd_core(Recorder(echo_in_headers(status, **extra)), sleep=no_sleep)
    with pytest.raises(APIError) as info:
        await core.request("GET", "things")
    error = info.value
    assert not leaks(every_trace(error)), every_trace(error)
    assert error.request_id == "req **********"  # type: ignore[attr-defined]
    assert "Nope **********" in str(error)
    assert error.headers["x-debug"] == "********** **********"  # type: ignore[attr-defined]
    if status in (302, 307):
        assert error.location.startswith("https://")  # type: ignore[attr-defined]
        assert "**********" in error.location  # type: ignore[attr-defined]
    logs = "\n".join(r.getMessage() for r in caplog.records)
    assert "HTTP Request: GET" in logs  # httpx's own line, reason phrase included
    assert "request id req **********" in logs
    assert not leaks(logs), logs


async def test_a_request_id_echoing_a_credential_is_masked_on_success(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    core = make_core(Recorder(lambda r: ok(headers={"x-request-id": f"id-{SECRET}"})))
    response = await core.request("GET", "x")
    assert response.request_id == "id-**********"
    assert SECRET not in "\n".join(r.getMessage() for r in caplog.records)
