"""How the request loop maps answers to exceptions, for every body shape and status class."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest
from _kit import BASE_URL, Recorder, make_core, ok

from qondor_invoicing import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    RetryPolicy,
    UnexpectedRedirectError,
    UnprocessableEntityError,
)

pytestmark = pytest.mark.anyio

URL = f"{BASE_URL}/Invoicing/v1/Invoice/SetAsPaid"
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
PROBLEM = {
    "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
    "title": "One or more validation errors occurred.",
    "status": 400,
    "errors": {"PaidDate": ["The PaidDate field is required."]},
    "traceId": TRACE,
}


async def fail_with(response: httpx.Response, method: str = "PUT") -> APIStatusError:
    core = make_core(Recorder(response), retry_policy=RetryPolicy.disabled())
    with pytest.raises(APIStatusError) as info:
        await core.request(method, "Invoicing/v1/Invoice/SetAsPaid")
    return info.value


@pytest.mark.parametrize(
    ("code", "cls", "reason"),
    [
        (400, BadRequestError, "Bad Request"),
        (401, AuthenticationError, "Unauthorized"),
        (403, PermissionDeniedError, "Forbidden"),
        (404, NotFoundError, "Not Found"),
        (405, APIStatusError, "Method Not Allowed"),
        (409, ConflictError, "Conflict"),
        (410, APIStatusError, "Gone"),
        (422, UnprocessableEntityError, "Unprocessable Entity"),
        (429, RateLimitError, "Too Many Requests"),
        (500, InternalServerError, "Internal Server Error"),
        (502, InternalServerError, "Bad Gateway"),
        (503, InternalServerError, "Service Unavailable"),
        (504, InternalServerError, "Gateway Timeout"),
    ],
)
async def test_each_status_class(code: int, cls: type[APIStatusError], reason: str) -> None:
    error = await fail_with(httpx.Response(code, text=""))
    assert type(error) is cls
    assert error.status_code == code
    assert error.method == "PUT"
    assert error.url == URL
    assert str(error) == f"PUT {URL} -> {code} {reason}"
    assert error.body.format == "empty"


async def test_problem_details_with_trace_id_as_request_id() -> None:
    error = await fail_with(
        httpx.Response(400, json=PROBLEM, headers={"content-type": "application/problem+json"})
    )
    assert isinstance(error, BadRequestError)
    assert error.body.format == "problem_details"
    assert error.body.details[0].field == "PaidDate"
    assert error.request_id == TRACE
    assert str(error) == (
        f"PUT {URL} -> 400 Bad Request: One or more validation errors occurred.; "
        f"PaidDate: The PaidDate field is required. (request id {TRACE})"
    )


async def test_request_id_header_wins_over_trace_id() -> None:
    error = await fail_with(httpx.Response(400, json=PROBLEM, headers={"x-request-id": "hdr-1"}))
    assert error.request_id == "hdr-1"
    assert error.body.trace_id == TRACE


async def test_problem_details_business_rule_variant() -> None:
    body = {
        "type": "https://tools.ietf.org/html/rfc7231#section-6.5.1",
        "title": "One or more validation errors occurred.",
        "status": 400,
        "errors": {"ExternalReference": ["'External Reference' must not be empty."]},
    }
    error = await fail_with(httpx.Response(400, json=body))
    assert error.request_id is None
    assert error.body.details[0].field == "ExternalReference"
    assert "ExternalReference: 'External Reference' must not be empty." in str(error)
    assert "request id" not in str(error)


async def test_apim_body() -> None:
    body = {"statusCode": 401, "message": "Access denied due to invalid subscription key."}
    error = await fail_with(httpx.Response(401, json=body, headers={"apim-request-id": "ap-9"}))
    assert isinstance(error, AuthenticationError)
    assert error.body.format == "apim"
    assert error.request_id == "ap-9"
    assert str(error) == (
        f"PUT {URL} -> 401 Unauthorized: Access denied due to invalid subscription key. "
        "(request id ap-9)"
    )


async def test_qonto_body() -> None:
    body = {
        "errors": [
            {"code": "invalid", "detail": "can't be blank", "source": {"pointer": "/x/y"}},
            {"code": "not_in_list", "detail": "bad status", "source": {"parameter": "status"}},
        ]
    }
    error = await fail_with(httpx.Response(422, json=body, headers={"x-request-id": "q-1"}))
    assert isinstance(error, UnprocessableEntityError)
    assert error.body.format == "qonto"
    assert [(d.field, d.code) for d in error.body.details] == [
        ("/x/y", "invalid"),
        ("status", "not_in_list"),
    ]
    assert "/x/y: can't be blank; status: bad status" in str(error)


async def test_plain_text_body() -> None:
    error = await fail_with(
        httpx.Response(400, text="Bad Request", headers={"content-type": "text/plain"})
    )
    assert error.body.format == "text"
    assert error.body.raw == "Bad Request"
    assert str(error).endswith("-> 400 Bad Request: Bad Request")


async def test_html_error_page() -> None:
    html = "<html><body><h1>502 Bad Gateway</h1>\n<p>nginx</p></body></html>"
    error = await fail_with(httpx.Response(502, html=html), method="GET")
    assert error.body.format == "text"
    assert error.body.raw == html
    assert "502 Bad Gateway" in str(error)


async def test_rate_limit_error_retry_after() -> None:
    error = await fail_with(httpx.Response(429, headers={"Retry-After": "12"}))
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 12.0
    error = await fail_with(httpx.Response(429))
    assert isinstance(error, RateLimitError)
    assert error.retry_after is None


@pytest.mark.parametrize(
    "header",
    ["x-request-id", "request-id", "x-ms-request-id", "apim-request-id", "x-correlation-id"],
)
async def test_request_id_headers_are_captured(header: str) -> None:
    error = await fail_with(httpx.Response(404, headers={header: "rid-42"}))
    assert error.request_id == "rid-42"
    assert "(request id rid-42)" in str(error)
    core = make_core(Recorder(ok(headers={header: "rid-43"})))
    assert (await core.request("GET", "x")).request_id == "rid-43"


async def test_error_keeps_the_response_headers() -> None:
    error = await fail_with(httpx.Response(409, headers={"etag": "v2"}))
    assert error.headers["etag"] == "v2"


# --- redirects -----------------------------------------------------------------------


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
async def test_redirect_is_an_error_naming_location_and_not_followed(code: int) -> None:
    handler = Recorder(
        httpx.Response(code, headers={"Location": "https://login.example.com/sso?x=1"}), ok()
    )
    core = make_core(handler)
    with pytest.raises(UnexpectedRedirectError) as info:
        await core.request("GET", "supplier_invoices")
    error = info.value
    assert error.location == "https://login.example.com/sso?x=1"
    assert error.status_code == code
    assert "redirect to https://login.example.com/sso?x=1 not followed" in str(error)
    assert str(error).startswith(f"GET {BASE_URL}/supplier_invoices -> {code}")
    assert handler.calls == 1
    assert [str(r.url) for r in handler.requests] == [f"{BASE_URL}/supplier_invoices"]


async def test_redirect_without_location() -> None:
    error = await fail_with(httpx.Response(302))
    assert isinstance(error, UnexpectedRedirectError)
    assert error.location is None
    assert "(no Location)" in str(error)


# --- 2xx bodies that are not JSON ------------------------------------------------------


async def test_html_200_is_a_response_validation_error() -> None:
    page = "<!DOCTYPE html><html><head><title>OneLogin</title></head><body>Sign in</body></html>"
    core = make_core(Recorder(httpx.Response(200, html=page)), non_json_hint="Set a token.")
    with pytest.raises(ResponseValidationError) as info:
        await core.request("GET", "supplier_invoices")
    error = info.value
    assert error.status_code == 200
    assert error.content_type == "text/html; charset=utf-8"
    assert error.body == page
    assert error.method == "GET"
    assert error.url == f"{BASE_URL}/supplier_invoices"
    assert str(error) == (
        f"GET {BASE_URL}/supplier_invoices answered 200 with text/html; charset=utf-8 where "
        "JSON was expected. Set a token."
    )


@pytest.mark.parametrize(
    ("content", "content_type", "named"),
    [
        (b"OK", "text/plain", "text/plain"),
        (b"<html>sign in</html>", "", "an unknown content type"),
        (b"{not json", "application/json", "a body that is not valid JSON (application/json)"),
        (b"\xff\xfe\x00garbage", "application/octet-stream", "application/octet-stream"),
        (b"<?xml version='1.0'?><a/>", "application/xml", "application/xml"),
        (b'{"a": 1}', "text/html", "text/html"),
    ],
)
async def test_non_json_2xx_names_its_content_type(
    content: bytes, content_type: str, named: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    core = make_core(Recorder(httpx.Response(200, content=content, headers=headers)))
    with pytest.raises(ResponseValidationError) as info:
        await core.request("GET", "x")
    assert named in str(info.value)
    assert info.value.content_type == content_type
    assert info.value.body == content.decode("utf-8", errors="replace")


async def test_empty_2xx() -> None:
    core = make_core(Recorder(httpx.Response(200, content=b"")))
    with pytest.raises(ResponseValidationError, match="empty body"):
        await core.request("GET", "x")
    core = make_core(Recorder(httpx.Response(204)))
    response = await core.request("PUT", "x", allow_empty=True)
    assert response.data is None
    assert response.status_code == 204
    core = make_core(Recorder(httpx.Response(200, content=b"  \n")))
    assert (await core.request("PUT", "x", allow_empty=True)).data is None


async def test_success_response_fields() -> None:
    body = {"id": 1, "amount": "22.10"}
    core = make_core(Recorder(httpx.Response(201, json=body, headers={"x-request-id": "r-1"})))
    response = await core.request("POST", "things", json_body={"a": 1}, params={"q": "z"})
    assert response.status_code == 201
    assert response.data == body
    assert response.text == '{"id":1,"amount":"22.10"}'
    assert response.request_id == "r-1"
    assert response.method == "POST"
    assert response.url == f"{BASE_URL}/things?q=z"
    assert response.attempts == 1
    assert response.elapsed >= 0
    assert response.headers["x-request-id"] == "r-1"
    assert "22.10" not in repr(response.headers)  # headers and text stay out of the repr
    assert "text=" not in repr(response)


@pytest.mark.parametrize(
    "value", [[1, 2], "text", 3, True, None, {"nested": {"a": [1.5, None]}}, 1e308]
)
async def test_any_json_2xx_is_returned(value: object) -> None:
    content = json.dumps(value).encode()
    core = make_core(Recorder(httpx.Response(200, content=content)))
    # Numbers with a fraction or an exponent are decoded as Decimal (exact), never floats.
    assert (await core.request("GET", "x")).data == json.loads(content, parse_float=Decimal)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/v1/things",
        "https://api.example.test.evil.example.com/v1/things",
        "http://api.example.test/v1/things",
        "https://api.example.test:8443/v1/things",
    ],
)
async def test_absolute_url_on_another_origin_is_refused(url: str) -> None:
    handler = Recorder(ok())
    core = make_core(handler)
    with pytest.raises(
        InvalidInputError, match=r"absolute URLs must be on https://api\.example\.test/"
    ):
        await core.request("GET", url)
    assert handler.calls == 0


async def test_unsupported_scheme_fails_once_without_retrying(no_sleep) -> None:
    core = make_core(Recorder(httpx.UnsupportedProtocol("ftp")), sleep=no_sleep)
    with pytest.raises(APIConnectionError) as info:
        await core.request("GET", "x")
    assert info.value.request_sent is False
    assert no_sleep.calls == []


async def test_absolute_url_and_leading_slash() -> None:
    handler = Recorder(ok())
    core = make_core(handler)
    await core.request("GET", "/a/b")
    await core.request("GET", "a/b")
    await core.request("GET", f"{BASE_URL}/c")
    await core.request("GET", "HTTPS://API.example.test/v1/d")
    assert [str(r.url) for r in handler.requests] == [
        f"{BASE_URL}/a/b",
        f"{BASE_URL}/a/b",
        f"{BASE_URL}/c",
        f"{BASE_URL}/d",
    ]


async def test_request_composition() -> None:
    handler = Recorder(ok())
    core = make_core(handler, headers={"X-Client": "sdk", "X-Api-Key": "overridden?"})
    await core.request(
        "post",
        "upload",
        data={"idempotency_key": "k1"},
        files={"file": ("a.pdf", b"%PDF-1.4", "application/pdf")},
        headers={"X-Extra": "1"},
    )
    request = handler.requests[0]
    assert request.method == "POST"
    assert request.headers["x-client"] == "sdk"
    assert request.headers["x-extra"] == "1"
    # Credentials from the auth win over static headers.
    assert request.headers["x-api-key"] != "overridden?"
    assert request.headers["content-type"].startswith("multipart/form-data")
    body = request.read()
    assert b"%PDF-1.4" in body
    assert b"k1" in body


async def test_a_servers_words_in_an_error_are_printable_and_encodable() -> None:
    # "\ud800" in JSON decodes to a lone surrogate: printing or logging the error to UTF-8
    # would fail; ESC would drive the terminal. Both are shown as escapes.
    body = b'{"errors": [{"code": "invalid", "detail": "bad \\ud800 thing \\u001b[31mred"}]}'
    core = make_core(
        lambda r: httpx.Response(422, content=body, headers={"content-type": "application/json"})
    )
    with pytest.raises(APIStatusError) as caught:
        await core.request("GET", "x")
    text = str(caught.value)
    text.encode("utf-8")
    assert "\x1b" not in text
    assert "\\ud800 thing \\x1b[31mred" in text
