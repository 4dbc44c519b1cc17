"""The exception tree and error-body parsing for each shape both APIs use."""

from __future__ import annotations

import json
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

import qondor_invoicing as qi
from qondor_invoicing._http.error_body import ErrorBody, ErrorDetail, parse_error_body
from qondor_invoicing.errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    IllegalTransitionError,
    InternalServerError,
    InvalidInputError,
    InvoicingError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    UnexpectedRedirectError,
    UnprocessableEntityError,
    status_error_class,
)

# Two ProblemDetails variants Qondor's own SDK tests show: model binding (with traceId) and
# FluentValidation business rules (without). Keys in `errors` are PascalCase.
MODEL_BINDING = {
    "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
    "title": "One or more validation errors occurred.",
    "status": 400,
    "errors": {
        "ProjectId": ["The value 'abc' is not valid for ProjectId."],
        "LocationCode": ["The LocationCode field is required.", "Too long."],
    },
    "traceId": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
}
FLUENT = {
    "type": "https://tools.ietf.org/html/rfc7231#section-6.5.1",
    "title": "One or more validation errors occurred.",
    "status": 400,
    "errors": {"Name": ["'Name' must not be empty."], "OfficeId": "must be positive"},
}
PLAIN_PROBLEM = {
    "type": "about:blank",
    "title": "Not Found",
    "status": 404,
    "detail": "Invoice 12345 does not exist",
    "instance": "/Invoicing/v1/Invoice/12345",
}
APIM = {"statusCode": 401, "message": "Access denied due to invalid subscription key."}
QONTO = {
    "errors": [
        {
            "code": "not_in_list",
            "detail": "status must be one of: to_review, paid",
            "source": {"parameter": "status"},
        },
        {
            "code": "invalid",
            "detail": "payment_date is in the future",
            "source": {"pointer": "/supplier_invoice/payment_date"},
        },
        {"code": "internal_server_error", "detail": "oops"},
    ]
}


def test_tree() -> None:
    assert issubclass(ConfigurationError, InvoicingError)
    assert issubclass(ConfigurationError, ValueError)
    assert issubclass(InvalidInputError, ValueError)
    assert issubclass(IllegalTransitionError, InvoicingError)
    assert not issubclass(IllegalTransitionError, APIError)
    assert issubclass(APITimeoutError, APIConnectionError)
    assert issubclass(APIConnectionError, APIError)
    assert issubclass(ResponseValidationError, APIError)
    assert not issubclass(ResponseValidationError, APIStatusError)
    for cls in (
        UnexpectedRedirectError,
        BadRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        ConflictError,
        UnprocessableEntityError,
        RateLimitError,
        InternalServerError,
    ):
        assert issubclass(cls, APIStatusError)
        assert getattr(qi, cls.__name__) is cls


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (301, UnexpectedRedirectError),
        (302, UnexpectedRedirectError),
        (307, UnexpectedRedirectError),
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (503, InternalServerError),
        (599, InternalServerError),
        (405, APIStatusError),
        (410, APIStatusError),
        (418, APIStatusError),
    ],
)
def test_status_error_class(status: int, cls: type[APIStatusError]) -> None:
    assert status_error_class(status) is cls


def test_problem_details_model_binding_variant() -> None:
    body = parse_error_body(json.dumps(MODEL_BINDING), "application/problem+json")
    assert body.format == "problem_details"
    assert body.title == "One or more validation errors occurred."
    assert body.trace_id == MODEL_BINDING["traceId"]
    assert body.details == (
        ErrorDetail(message="The value 'abc' is not valid for ProjectId.", field="ProjectId"),
        ErrorDetail(message="The LocationCode field is required.", field="LocationCode"),
        ErrorDetail(message="Too long.", field="LocationCode"),
    )
    assert body.data == MODEL_BINDING
    assert body.summary() == (
        "One or more validation errors occurred.; ProjectId: The value 'abc' is not valid for "
        "ProjectId.; LocationCode: The LocationCode field is required.; LocationCode: Too long."
    )


def test_problem_details_fluent_variant() -> None:
    body = parse_error_body(json.dumps(FLUENT), "application/json")
    assert body.format == "problem_details"
    assert body.trace_id is None
    assert [(d.field, d.message) for d in body.details] == [
        ("Name", "'Name' must not be empty."),
        ("OfficeId", "must be positive"),
    ]


def test_problem_details_with_detail_only() -> None:
    body = parse_error_body(json.dumps(PLAIN_PROBLEM))
    assert body.format == "problem_details"
    assert body.title == "Not Found"
    assert body.details == (ErrorDetail(message="Invoice 12345 does not exist"),)
    assert body.summary() == "Not Found; Invoice 12345 does not exist"


def test_validation_problem_details_without_title() -> None:
    data = {"status": 400, "errors": {"PaidDate": ["The PaidDate field is required."]}}
    body = parse_error_body(json.dumps(data))
    assert body.format == "problem_details"
    assert body.details == (
        ErrorDetail(message="The PaidDate field is required.", field="PaidDate"),
    )


def test_apim_body() -> None:
    body = parse_error_body(json.dumps(APIM))
    assert body.format == "apim"
    assert body.title == APIM["message"]
    assert body.summary() == APIM["message"]
    assert body.details == ()


def test_qonto_body_with_pointer_and_parameter() -> None:
    body = parse_error_body(json.dumps(QONTO))
    assert body.format == "qonto"
    assert body.details == (
        ErrorDetail(
            message="status must be one of: to_review, paid", field="status", code="not_in_list"
        ),
        ErrorDetail(
            message="payment_date is in the future",
            field="/supplier_invoice/payment_date",
            code="invalid",
        ),
        ErrorDetail(message="oops", code="internal_server_error"),
    )
    assert "status: status must be one of" in body.summary()
    assert "internal_server_error: oops" in body.summary()


def test_qonto_body_keeps_a_top_level_message() -> None:
    body = parse_error_body(json.dumps({"message": "Unauthorized", "errors": []}))
    assert body.title == "Unauthorized"
    assert body.summary() == "Unauthorized"


def test_qonto_errors_that_are_not_objects() -> None:
    body = parse_error_body(json.dumps({"errors": ["plain message", 3]}))
    assert body.format == "qonto"
    assert [d.message for d in body.details] == ["plain message", "3"]


def test_flat_code_and_message() -> None:
    body = parse_error_body(json.dumps({"code": "sca_not_enrolled", "message": "Enrol first"}))
    assert body.format == "json"
    assert body.title == "Enrol first"
    assert body.details == (ErrorDetail(message="Enrol first", code="sca_not_enrolled"),)


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("Bad Request", "text"),
        ("<html><body><h1>502 Bad Gateway</h1></body></html>", "text"),
        ("", "empty"),
        ("   \n", "empty"),
        ("[1, 2]", "json"),
        ('"just a string"', "json"),
        ('{"unexpected": true}', "json"),
    ],
)
def test_other_bodies_keep_their_text(text: str, fmt: str) -> None:
    body = parse_error_body(text)
    assert body.format == fmt
    assert body.raw == text
    if fmt == "text":
        assert body.summary().startswith(text[:10])


def test_summary_is_one_line_and_bounded() -> None:
    body = parse_error_body("line one\n\n   line two " + "x" * 500)
    summary = body.summary()
    assert "\n" not in summary
    assert summary.startswith("line one line two")
    assert summary.endswith("...")
    assert len(summary) <= 203


@given(st.text())
def test_any_text_parses(text: str) -> None:
    body = parse_error_body(text)
    assert body.raw == text
    assert isinstance(body.summary(), str)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)
SHAPED = st.fixed_dictionaries(
    {},
    optional={
        "errors": JSON,
        "title": JSON,
        "type": JSON,
        "status": JSON,
        "traceId": JSON,
        "detail": JSON,
        "statusCode": JSON,
        "message": JSON,
        "code": JSON,
    },
)


@given(st.one_of(JSON, SHAPED))
def test_any_json_parses(data: object) -> None:
    text = json.dumps(data)
    body = parse_error_body(text, "application/json")
    assert body.raw == text
    assert isinstance(body.summary(), str)
    assert all(isinstance(d.message, str) for d in body.details)


def test_redact_scrubs_raw_text_and_decoded_values() -> None:
    secret = "s3cr3t/token+value"
    text = json.dumps({"statusCode": 401, "message": f"bad key {secret}"})
    escaped = text.replace("/", "\\/")  # some servers escape slashes
    for raw in (text, escaped):
        body = parse_error_body(raw, redact=lambda s: s.replace(secret, "***"))
        assert secret not in body.raw
        assert secret not in repr(body)
        assert secret not in body.summary()
        assert secret not in json.dumps(body.data)


def test_status_error_attributes() -> None:
    body = parse_error_body(json.dumps(APIM))
    error = AuthenticationError(
        "GET https://x/y -> 401 Unauthorized",
        status_code=401,
        method="GET",
        url="https://x/y",
        request_id="abc",
        body=body,
        headers={"x-request-id": "abc"},
    )
    assert (error.status_code, error.method, error.url, error.request_id) == (
        401,
        "GET",
        "https://x/y",
        "abc",
    )
    assert error.body is body
    assert error.headers == {"x-request-id": "abc"}
    assert error.headers["X-Request-ID"] == "abc"  # case-insensitive, like HTTP
    assert error.message == str(error)
    bare = APIStatusError("x", status_code=418)
    assert bare.body == ErrorBody(format="empty")
    assert bare.request_id is None


@pytest.mark.parametrize(
    "error",
    [
        APIError("boom", method="GET", url="https://x"),
        APIConnectionError("down", method="GET", url="https://x", request_sent=False),
        APITimeoutError("slow", method="PUT", url="https://x", request_sent=True),
        ResponseValidationError(
            "bad", errors=["e @ $.a"], body="<html>", status_code=200, content_type="text/html"
        ),
        BadRequestError("bad", status_code=400, body=parse_error_body(json.dumps(FLUENT))),
        RateLimitError("slow down", status_code=429, retry_after=2.5, headers={"a": "b"}),
        UnexpectedRedirectError("moved", status_code=302, location="https://elsewhere"),
        InternalServerError("oops", status_code=503, request_id="r1"),
        InvalidInputError("paid_date", "must not be in the future", value="2999-01-01"),
        ConfigurationError("no api key"),
    ],
)
def test_errors_pickle_with_their_attributes(error: Exception) -> None:
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is type(error)
    assert str(clone) == str(error)
    assert clone.args == error.args
    assert vars(clone).keys() == vars(error).keys()
    for key, value in vars(error).items():
        if key == "headers":
            assert dict(vars(clone)[key]) == dict(value)
        else:
            assert vars(clone)[key] == value, key


def test_invalid_input_error() -> None:
    error = InvalidInputError("failure_message", "must not be empty", value="")
    assert str(error) == "failure_message: must not be empty"
    assert error.field == "failure_message"
    assert error.value == ""


def test_response_validation_error_lists_its_problems() -> None:
    error = ResponseValidationError("response is not a valid Invoice", errors=["a @ $.x", "b"])
    assert str(error) == "response is not a valid Invoice: a @ $.x; b"
    assert error.errors == ("a @ $.x", "b")
    assert str(ResponseValidationError("plain")) == "plain"
