"""What the request loop logs: request and response bodies (opt-in), and httpx's and
httpcore's own records with every live client's credentials masked."""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Final, Protocol

import httpx

__all__ = ["BODY_LOG_LIMIT", "body_for_log", "clip_body", "transport_log_redaction"]

BODY_LOG_LIMIT: Final = 4000
"""The most characters of a body logged."""
# The loggers of httpx and httpcore (a filter applies to its own logger's records only).
_TRANSPORT_LOGGERS: Final = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


class _Redacts(Protocol):
    def redact(self, text: str) -> str: ...


class _TransportLogRedaction(logging.Filter):
    """Masks every live client's credentials in httpx's and httpcore's log records.

    httpx logs each answer's status line at INFO (reason phrase included) and httpcore logs
    every response header at DEBUG: a server echoing a credential there would get it into
    the application's logs. Their records pass through here before any handler sees them.
    """

    def __init__(self) -> None:
        super().__init__()
        self._cores: weakref.WeakSet[_Redacts] = weakref.WeakSet()
        self._lock = threading.Lock()

    def add(self, core: _Redacts) -> None:
        with self._lock:
            self._cores.add(core)

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            cores = list(self._cores)
        if cores:
            message = clean = record.getMessage()
            for core in cores:
                clean = core.redact(clean)
            if clean != message:
                record.msg, record.args = clean, ()
        return True


transport_log_redaction: Final = _TransportLogRedaction()
"""The filter on httpx's and httpcore's loggers; each client core adds itself."""
for _name in _TRANSPORT_LOGGERS:
    logging.getLogger(_name).addFilter(transport_log_redaction)


def body_for_log(request: httpx.Request) -> bytes:
    try:
        return request.content
    except httpx.RequestNotRead:
        # A streamed body (multipart uploads): reading it here would consume the stream.
        kind = request.headers.get("content-type", "streamed").split(";")[0]
        length = request.headers.get("content-length", "unknown")
        return f"<{kind} body of {length} bytes, not logged>".encode()


def clip_body(text: str) -> str:
    """``text`` cut to `BODY_LOG_LIMIT` characters, saying how long it was."""
    if len(text) > BODY_LOG_LIMIT:
        return text[:BODY_LOG_LIMIT] + f"... ({len(text)} chars)"
    return text
