"""Transport core shared by both clients (private: import public names from the package)."""

from .auth import Auth, HeaderAuth
from .client import BaseClient, Resource
from .core import (
    DEFAULT_TIMEOUT,
    NOT_GIVEN,
    APIResponse,
    HTTPCore,
    NotGiven,
    Redactor,
    TimeoutTypes,
    logger,
)
from .limits import RateLimiter
from .retry import DEFAULT_RETRYABLE_STATUSES, RetryPolicy, parse_retry_after

__all__ = [
    "DEFAULT_RETRYABLE_STATUSES",
    "DEFAULT_TIMEOUT",
    "NOT_GIVEN",
    "APIResponse",
    "Auth",
    "BaseClient",
    "HTTPCore",
    "HeaderAuth",
    "NotGiven",
    "RateLimiter",
    "Redactor",
    "Resource",
    "RetryPolicy",
    "TimeoutTypes",
    "logger",
    "parse_retry_after",
]
