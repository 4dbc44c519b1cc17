"""The environment variables the library reads, read in one place (the CLI reads the same).

| variable | read by |
|---|---|
| ``QONDOR_API_KEY`` | `QondorClient` without ``api_key`` |
| ``QONDOR_ENVIRONMENT`` | `QondorClient` without ``environment`` / ``base_url`` |
| ``QONDOR_BASE_URL`` | `QondorClient` without ``environment`` / ``base_url`` |
| ``QONTO_ACCESS_TOKEN``, ``QONTO_LOGIN``, ``QONTO_SECRET_KEY`` | `QontoClient` (no credentials) |
| ``QONTO_STAGING_TOKEN`` | `QontoClient` without ``staging_token`` |
| ``QONTO_BASE_URL`` | `QontoClient` without ``base_url`` |
| ``QONDOR_INVOICING_LOG`` | on import: ``debug`` or ``info`` logs the library at that level |

docs/configuration.md has the same table for users.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Final

__all__ = [
    "LOG",
    "QONDOR_API_KEY",
    "QONDOR_BASE_URL",
    "QONDOR_ENVIRONMENT",
    "QONTO_ACCESS_TOKEN",
    "QONTO_BASE_URL",
    "QONTO_LOGIN",
    "QONTO_SECRET_KEY",
    "QONTO_STAGING_TOKEN",
    "read",
    "setup_logging",
]

QONDOR_API_KEY: Final = "QONDOR_API_KEY"
QONDOR_ENVIRONMENT: Final = "QONDOR_ENVIRONMENT"
QONDOR_BASE_URL: Final = "QONDOR_BASE_URL"
QONTO_ACCESS_TOKEN: Final = "QONTO_ACCESS_TOKEN"
QONTO_LOGIN: Final = "QONTO_LOGIN"
QONTO_SECRET_KEY: Final = "QONTO_SECRET_KEY"
QONTO_STAGING_TOKEN: Final = "QONTO_STAGING_TOKEN"
QONTO_BASE_URL: Final = "QONTO_BASE_URL"
LOG: Final = "QONDOR_INVOICING_LOG"

_LEVELS: Final = {"debug": logging.DEBUG, "info": logging.INFO}


def read(
    name: str, environ: Mapping[str, str] | None = None, *, keep_empty: bool = False
) -> str | None:
    """Return the variable ``name``, or ``None`` when it is unset (or empty).

    Args:
        name: The variable.
        environ: The environment to read (default ``os.environ``).
        keep_empty: Return an empty value as ``""`` (to report it) instead of ``None``.
    """
    value = (os.environ if environ is None else environ).get(name)
    return value if value or (keep_empty and value is not None) else None


def setup_logging(environ: Mapping[str, str] | None = None) -> logging.Logger:
    """Apply ``QONDOR_INVOICING_LOG``: ``debug`` or ``info`` sets the level of the
    ``qondor_invoicing`` logger and, unless it has a handler already, logs to stderr.

    Any other value (or none) leaves logging to the application. Credentials are scrubbed
    from every line the library logs, whatever the level.

    Returns:
        The library's logger.
    """
    logger = logging.getLogger("qondor_invoicing")
    value = read(LOG, environ)
    level = _LEVELS.get(value.strip().lower()) if value else None
    if level is None:
        return logger
    logger.setLevel(level)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("[%(asctime)s - %(name)s:%(lineno)d - %(levelname)s] %(message)s")
        )
        logger.addHandler(handler)
    return logger
