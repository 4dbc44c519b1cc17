"""Credentials as request headers, kept out of every repr, log line and exception."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .._secret import Secret
from ..errors import ConfigurationError

__all__ = ["Auth", "HeaderAuth", "check_credential"]


def check_credential(name: str, value: object) -> str:
    """Return ``value`` if it can travel in an HTTP header, else refuse it without showing it.

    A credential must be a non-empty string of printable ASCII without spaces (``!`` to
    ``~``): a non-ASCII character or a byte-order mark would fail deep inside the HTTP
    library with an error quoting the whole value, and a NUL, CR or LF could inject a header.

    Args:
        name: What to name in the error (``"api_key"``, ``"the QONTO_LOGIN variable"``).
        value: The credential.

    Raises:
        ConfigurationError: The value is refused; the error never contains it (nor any
            part of it).
    """
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a string, not {type(value).__name__}")
    if not value:
        raise ConfigurationError(f"{name} is empty")
    for position, char in enumerate(value, 1):
        if not "!" <= char <= "~":
            raise ConfigurationError(
                f"{name} contains {_describe(char)} at position {position}; "
                "a credential is printable ASCII without spaces (check how it was copied)"
            )
    return value


def _describe(char: str) -> str:
    if char == "\ufeff":
        return "a byte-order mark"
    if char in "\r\n":
        return "a line break"
    if char == "\x00":
        return "a NUL character"
    if char.isspace():
        return "whitespace"
    if ord(char) < 0x20 or ord(char) == 0x7F:
        return "a control character"
    return "a non-ASCII character"


class Auth:
    """How a client authenticates. Subclass to supply refreshable credentials."""

    async def headers(self) -> Mapping[str, str]:
        """Return the headers that carry the credentials for the next request."""
        return {}

    async def refresh(self) -> bool:
        """Obtain new credentials after a 401. Return ``True`` if the request may be retried."""
        return False

    def secrets(self) -> Sequence[str]:
        """Return every credential value, so that it can be scrubbed from text."""
        return ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<redacted>)"


class HeaderAuth(Auth):
    """Static credentials sent as headers (API keys, static bearer tokens)."""

    def __init__(self, headers: Mapping[str, Secret]) -> None:
        self._headers = dict(headers)
        secrets: list[str] = []
        for value in self._headers.values():
            raw = value.get_secret_value()
            secrets.append(raw)
            # The credential inside a scheme ("Bearer <token>") or after a login
            # ("<login>:<secret-key>", Qonto's API key), in case a server echoes only it.
            _, space, token = raw.partition(" ")
            if space and token:
                secrets.append(token)
            _, colon, key = raw.rpartition(":")
            if colon and key:
                secrets.append(key)
        self._secrets = tuple(secrets)

    async def headers(self) -> Mapping[str, str]:
        return {name: value.get_secret_value() for name, value in self._headers.items()}

    def secrets(self) -> Sequence[str]:
        return self._secrets

    def __repr__(self) -> str:
        return f"HeaderAuth(headers={sorted(self._headers)!r})"
