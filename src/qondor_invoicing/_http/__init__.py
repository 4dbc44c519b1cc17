"""Transport core shared by both clients (private: import public names from the package)."""

from ._types import DEFAULT_TIMEOUT, NOT_GIVEN, NotGiven, Sleep, TimeoutTypes
from .auth import Auth, HeaderAuth
from .client import BaseClient, Resource
from .core import DEADLINE_FACTOR, HTTPCore, logger
from .limits import Limiter, RateLimiter
from .options import DEFAULT_MAX_RESPONSE_BYTES
from .redact import Redactor
from .response import APIResponse
from .retry import DEFAULT_RETRYABLE_STATUSES, RetryPolicy, parse_retry_after

__all__ = [
    "DEADLINE_FACTOR",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_RETRYABLE_STATUSES",
    "DEFAULT_TIMEOUT",
    "NOT_GIVEN",
    "APIResponse",
    "Auth",
    "BaseClient",
    "HTTPCore",
    "HeaderAuth",
    "NotGiven",
    "Limiter",
    "RateLimiter",
    "Redactor",
    "Resource",
    "RetryPolicy",
    "Sleep",
    "TimeoutTypes",
    "logger",
    "parse_retry_after",
]
