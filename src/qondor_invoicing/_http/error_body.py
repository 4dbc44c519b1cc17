"""Error response bodies: ASP.NET ProblemDetails (Qondor), Azure API Management and Qonto.

`parse_error_body` turns the body of a non-2xx answer into an `ErrorBody`, the value of
`APIStatusError.body`; the raw text is always kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import attrs

from .decode import decode_json

__all__ = [
    "ErrorBody",
    "ErrorDetail",
    "ErrorFormat",
    "parse_error_body",
    "qonto_error_message",
    "qonto_error_source",
]


@attrs.frozen(kw_only=True)
class ErrorDetail:
    """One problem reported in an error body.

    Attributes:
        message: The human-readable message.
        field: The field or parameter it concerns (as the API spells it), if any.
        code: A machine-readable code (Qonto), if any.
    """

    message: str
    field: str | None = None
    code: str | None = None


ErrorFormat = Literal["problem_details", "apim", "qonto", "json", "text", "empty"]


@attrs.frozen(kw_only=True)
class ErrorBody:
    """An error response body, parsed where its shape is known.

    Attributes:
        format: Which shape was recognised: ASP.NET ``problem_details`` (Qondor), Azure
            API Management ``apim`` (``{statusCode, message}``), ``qonto``
            (``{"errors": [{code, detail, source}]}``), other ``json``, ``text`` or
            ``empty``.
        title: The headline message, if the body has one.
        details: Every individual problem the body lists.
        trace_id: A server trace id found in the body (ProblemDetails ``traceId``, Qonto's
            ``trace_id``, at the top level or in ``meta``).
        raw: The body as text, exactly as received (nothing is lost).
        data: The decoded JSON value, when the body was JSON.
    """

    format: ErrorFormat
    title: str | None = None
    details: tuple[ErrorDetail, ...] = ()
    trace_id: str | None = None
    raw: str = ""
    data: Any = None

    def summary(self) -> str:
        """Return a one-line description of the body."""
        parts: list[str] = []
        if self.title:
            parts.append(self.title)
        for d in self.details:
            label = d.field or d.code
            parts.append(f"{label}: {d.message}" if label else d.message)
        if not parts and self.raw:
            text = " ".join(self.raw.split())
            parts.append(text[:200] + ("..." if len(text) > 200 else ""))
        return "; ".join(parts)


def parse_error_body(
    text: str,
    content_type: str | None = None,
    *,
    redact: Callable[[str], str] | None = None,
) -> ErrorBody:
    """Parse an error response body into an `ErrorBody`, keeping the raw text.

    Args:
        text: The response body.
        content_type: The response's ``Content-Type`` header, if any.
        redact: Scrubs credentials out of text. Applied to the raw body and to every
            string decoded from it, so that a credential the server echoes back never
            survives, even when JSON escaping hid it from a search of the raw text.

    Returns:
        The parsed body. Unknown shapes keep their decoded JSON in ``data``; non-JSON
        bodies are kept as ``text``.
    """
    if redact is not None:
        text = redact(text)
    if not text.strip():
        return ErrorBody(format="empty", raw=text)
    try:
        data = decode_json(text)
        if redact is not None:
            data = _scrub(data, redact)
    except (ValueError, RecursionError):
        # Not JSON, or nested too deeply to decode or scrub: kept as (redacted) text.
        return ErrorBody(format="text", raw=text)
    if isinstance(data, Mapping):
        return _parse_mapping(data, text)
    return ErrorBody(format="json", raw=text, data=data)


def qonto_error_source(item: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The ``source`` of one item of Qonto's ``errors`` list: ``(pointer, parameter)``."""
    source = item.get("source")
    if not isinstance(source, Mapping):
        return None, None
    pointer, parameter = source.get("pointer"), source.get("parameter")
    return (
        str(pointer) if pointer else None,
        str(parameter) if parameter else None,
    )


def qonto_error_message(item: Mapping[str, Any]) -> str:
    """The message of one item of Qonto's ``errors`` list."""
    return str(item.get("detail") or item.get("message") or item.get("title") or "")


def _scrub(value: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(k): _scrub(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, redact) for v in value]
    return value


def _trace_id(data: Mapping[str, Any]) -> str | None:
    meta = data.get("meta")
    for place in (data, meta if isinstance(meta, Mapping) else {}):
        for name in ("trace_id", "traceId"):
            value = place.get(name)
            if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
                return str(value)
    return None


def _parse_mapping(data: Mapping[str, Any], text: str) -> ErrorBody:
    errors = data.get("errors")
    trace_id = _trace_id(data)
    # Qonto: {"errors": [{"code", "detail", "source": {"pointer"|"parameter"}}]}
    if isinstance(errors, Sequence) and not isinstance(errors, str):
        details = []
        for item in errors:
            if not isinstance(item, Mapping):
                details.append(ErrorDetail(message=str(item)))
                continue
            pointer, parameter = qonto_error_source(item)
            details.append(
                ErrorDetail(
                    message=qonto_error_message(item),
                    field=parameter or pointer,
                    code=str(item["code"]) if item.get("code") is not None else None,
                )
            )
        message = data.get("message")
        return ErrorBody(
            format="qonto",
            title=str(message) if message else None,
            details=tuple(details),
            trace_id=trace_id,
            raw=text,
            data=data,
        )
    # ASP.NET Core (Validation)ProblemDetails: type/title/status/traceId/errors{Field: [msg]}
    if ("title" in data or isinstance(errors, Mapping)) and (
        "type" in data or "status" in data or "traceId" in data
    ):
        details = []
        if isinstance(errors, Mapping):
            for field, messages in errors.items():
                if isinstance(messages, Sequence) and not isinstance(messages, str):
                    details.extend(ErrorDetail(message=str(m), field=str(field)) for m in messages)
                else:
                    details.append(ErrorDetail(message=str(messages), field=str(field)))
        detail = data.get("detail")
        if detail and not details:
            details.append(ErrorDetail(message=str(detail)))
        title = data.get("title")
        return ErrorBody(
            format="problem_details",
            title=str(title) if title is not None else None,
            details=tuple(details),
            trace_id=trace_id,
            raw=text,
            data=data,
        )
    # Azure API Management: {"statusCode": 401, "message": "Access denied ..."}
    if "statusCode" in data and "message" in data:
        return ErrorBody(
            format="apim", title=str(data["message"]), trace_id=trace_id, raw=text, data=data
        )
    # Flat {"code", "message"} (seen on some Qonto endpoints) or {"message"}
    message = data.get("message") or data.get("error_description") or data.get("error")
    if message is not None:
        code = data.get("code")
        return ErrorBody(
            format="json",
            title=str(message),
            details=(ErrorDetail(message=str(message), code=str(code)),) if code else (),
            trace_id=trace_id,
            raw=text,
            data=data,
        )
    return ErrorBody(format="json", trace_id=trace_id, raw=text, data=data)
