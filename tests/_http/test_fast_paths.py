"""The request loop's shortcuts give what the general code they skip gives."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
from _kit import SECRET, make_core
from hypothesis import given
from hypothesis import strategies as st

from qondor_invoicing._http.decode import decode_json
from qondor_invoicing._http.response import AnswerHeaders

_REQUEST_ID_HEADERS = (
    "x-request-id",
    "request-id",
    "x-ms-request-id",
    "apim-request-id",
    "x-correlation-id",
)
_NAMES = st.sampled_from(
    [
        *_REQUEST_ID_HEADERS,
        *(name.upper() for name in _REQUEST_ID_HEADERS),
        "Content-Length",
        "content-length",
        "Content-Type",
        "CONTENT-ENCODING",
        "content-encoding",
        "set-cookie",
        "date",
    ]
)
_VALUES = st.one_of(
    st.just(""),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=8),
    st.text(st.characters(min_codepoint=0xA0, max_codepoint=0x2FF), max_size=4),
)


def _slow_request_id(headers: httpx.Headers) -> str | None:
    # The reading it replaces: the first of the names with a non-empty value, joined.
    present = {k for k, v in headers.multi_items() if v}
    for name in _REQUEST_ID_HEADERS:
        if name in present:
            value: str = headers[name]
            return value
    return None


@given(st.lists(st.tuples(_NAMES, _VALUES), max_size=8))
def test_answer_headers_read_what_headers_get_reads(items: list[tuple[str, str]]) -> None:
    raw = [(name.encode(), value.encode("utf-8")) for name, value in items]
    headers = httpx.Headers(raw)
    answer = AnswerHeaders(headers)
    assert answer.content_length == headers.get("content-length", "")
    assert answer.content_type == headers.get("content-type", "")
    assert answer.content_encoding == headers.get("content-encoding")
    assert (answer.content_encoding is None) == ("content-encoding" not in headers)
    assert answer.request_id == _slow_request_id(headers)


def test_answer_headers_of_an_answer_without_them() -> None:
    answer = AnswerHeaders(httpx.Headers({"date": "today"}))
    assert (answer.content_length, answer.content_type) == ("", "")
    assert (answer.content_encoding, answer.request_id) == (None, None)


@given(
    st.one_of(
        st.binary(max_size=8),
        st.tuples(st.sampled_from([b"{", b"["]), st.binary(max_size=6)).map(b"".join),
    )
)
def test_utf8_shortcut_agrees_with_detect_encoding(content: bytes) -> None:
    # decode_success decodes a body starting with "{" or "[" and no NUL second as UTF-8.
    if content[:1] in (b"{", b"[") and content[1:2] != b"\x00":
        assert json.detect_encoding(content) == "utf-8"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"]
)
async def test_json_in_any_unicode_encoding_is_decoded(encoding: str) -> None:
    document: dict[str, Any] = {"id": "\u00fc-1", "amount": 1.5, "lines": []}
    body = json.dumps(document, ensure_ascii=False).encode(encoding)

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    core = make_core(answer)
    try:
        response = await core.request("GET", "x")
    finally:
        await core.aclose()
    assert response.data == {"id": "\u00fc-1", "amount": Decimal("1.5"), "lines": []}
    assert response.text == body.decode(json.detect_encoding(body))


@pytest.mark.anyio
async def test_the_own_pool_keeps_no_cookie_a_server_sets() -> None:
    sent: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("cookie"))
        return httpx.Response(200, json={}, headers={"set-cookie": "affinity=abc; Path=/"})

    core = make_core(answer)
    try:
        await core.request("GET", "x")
        await core.request("GET", "x")
        assert sent == [None, None]
        # A cookie set by hand is still sent.
        core.http_client.cookies.set("mine", "1", domain="api.example.test")
        await core.request("GET", "x")
        assert sent[-1] == "mine=1"
    finally:
        await core.aclose()


@pytest.mark.anyio
async def test_an_injected_client_keeps_its_own_cookie_jar() -> None:
    sent: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("cookie"))
        return httpx.Response(200, json={}, headers={"set-cookie": "affinity=abc; Path=/"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http_client:
        core = make_core(None, http_client=http_client)
        await core.request("GET", "x")
        await core.request("GET", "x")
    assert sent == [None, "affinity=abc"]


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)


@given(
    _JSON_VALUES,
    st.text(" \t\n\r\u00a0\u2028", max_size=2),
    st.sampled_from(["", " ", "\n", "1", "x", "{}", "\u00a0"]),
    st.sampled_from(["", "1.50", "1e3"]),
)
def test_decode_json_agrees_with_the_decoder(
    value: Any, before: str, after: str, number: str
) -> None:
    document = json.dumps(value)
    if number:
        document = f"[{document}, {number}]"
    text = before + document + after
    expected: Any
    try:
        expected = json.JSONDecoder(parse_float=Decimal).decode(text)
    except ValueError as exc:
        expected = type(exc)
    try:
        got: Any = decode_json(text)
    except ValueError as exc:
        got = type(exc)
    assert got == expected


_HEADER_NAMES = st.sampled_from(
    ["Authorization", "X-Api-Key", "x-api-key", "User-Agent", "accept", "Accept", "Host", "X-A"]
)
_HEADER_VALUES = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=6)
# The ``headers`` option refuses what HTTP/1.1 refuses on the wire: surrounding whitespace.
_OPTION_VALUES = _HEADER_VALUES.filter(lambda value: value == value.strip(" "))


@pytest.mark.anyio
@given(
    st.dictionaries(_HEADER_NAMES, _OPTION_VALUES, max_size=4),
    st.dictionaries(_HEADER_NAMES, _HEADER_VALUES, max_size=3),
)
async def test_headers_sent_are_those_build_request_merges(
    options_headers: dict[str, str], call_headers: dict[str, str]
) -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    core = make_core(answer, headers=options_headers)
    try:
        await core.request("GET", "x", headers=call_headers)
        # What build_request makes of the same headers (the order differs only where a
        # name replaces one httpx sets itself).
        merged = {**options_headers, "X-Api-Key": SECRET, **call_headers}
        expected = core.http_client.build_request("GET", sent[0].url, headers=merged).headers
    finally:
        await core.aclose()
    got = sent[0].headers
    assert sorted(got.multi_items()) == sorted(expected.multi_items())
    defaults = {"host", "user-agent", "accept", "accept-encoding", "connection"}
    if not {name.lower() for name in merged} & defaults:
        assert got.multi_items() == expected.multi_items()


@pytest.mark.anyio
@pytest.mark.parametrize(("value", "error"), [("\u00e9", UnicodeEncodeError), (1, TypeError)])
async def test_a_header_httpx_refuses_is_refused_as_before(value: Any, error: type) -> None:
    core = make_core(lambda request: httpx.Response(200, json={}))
    try:
        with pytest.raises(error):
            await core.request("GET", "x", headers={"X-B": value})
    finally:
        await core.aclose()
