"""Parsing of the ``multipart/form-data`` bodies the Qonto fake's bulk route receives."""

from __future__ import annotations

import re

import attrs

__all__ = ["Part", "parse_multipart"]


@attrs.frozen
class Part:
    """One part of a multipart body."""

    name: str
    filename: str | None
    content_type: str | None
    content: bytes


def _header_param(disposition: str, name: str) -> str | None:
    match = re.search(rf';\s*{name}="((?:[^"\\]|\\.)*)"', disposition)
    return match.group(1) if match else None


def parse_multipart(content_type: str, body: bytes) -> list[Part] | None:
    """The parts of a ``multipart/form-data`` body, or ``None`` when it is not one."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.lower().startswith("multipart/form-data") or match is None:
        return None
    delimiter = b"--" + match.group(1).encode()
    parts: list[Part] = []
    for segment in body.split(delimiter)[1:]:
        if segment.startswith(b"--"):
            break
        if segment.startswith(b"\r\n"):
            segment = segment[2:]
        head, sep, content = segment.partition(b"\r\n\r\n")
        if not sep:
            return None
        if content.endswith(b"\r\n"):
            content = content[:-2]
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = _header_param(disposition, "name")
        if name is None:
            return None
        parts.append(
            Part(
                name=name,
                filename=_header_param(disposition, "filename"),
                content_type=headers.get("content-type"),
                content=content,
            )
        )
    return parts
