"""Preparing a bulk upload: the inputs (`SupplierInvoiceUpload`, `FileInput`), reading
files, idempotency keys, request-wide form fields and each input's multipart parts, sized
against Qonto's request limit.

`bulk.py` sends the prepared inputs in requests and pairs every input with its outcome.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import httpx

from ..errors import (
    InvalidInputError,
)

MAX_REQUEST_BYTES = 15_000_000
"""Qonto's documented 15 MB limit of one bulk request, counted as the whole multipart body
(decimal megabytes, the smaller reading)."""

IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1d3c5e-8a4b-5b7e-9c2d-0e4f6a8b1c3d")
"""Namespace of the idempotency keys derived from file contents (UUID version 5)."""

_FILE_FIELD = "supplier_invoices[][file]"
_ATTACHMENT_FIELD = "supplier_invoices[][attachment_id]"
_KEY_FIELD = "supplier_invoices[][idempotency_key]"
_SOURCES = frozenset(
    {
        "pay_by_invoice",
        "supplier_invoices",
        "integration",
        "transaction_attachment",
        "generic_upload",
    }
)


@attrs.frozen(kw_only=True)
class SupplierInvoiceUpload:
    """One invoice to create: a file (name, bytes, type) or an already uploaded attachment.

    Give exactly one of ``content`` (with ``filename``) or ``attachment_id``.

    Attributes:
        filename: The file name Qonto shows.
        content: The file's bytes (PDF, PNG or JPEG).
        content_type: Its MIME type; guessed from ``filename`` when ``None``.
        attachment_id: An attachment already stored in Qonto, instead of a file.
        idempotency_key: Your own idempotency key. By default one is derived from the
            content (or attachment id), so the same file always gets the same key, across
            retries and across runs.
    """

    filename: str | None = None
    content: bytes | None = attrs.field(default=None, repr=False)
    content_type: str | None = None
    attachment_id: str | None = None
    idempotency_key: str | None = None

    def __attrs_post_init__(self) -> None:
        if (self.content is None) == (self.attachment_id is None):
            raise InvalidInputError(
                "files", "an upload needs exactly one of content= or attachment_id="
            )
        if self.content is not None and not self.filename:
            raise InvalidInputError("files", "an upload with content= needs a filename=")
        if self.idempotency_key is not None:
            _check_key(self.idempotency_key)


FileInput = Path | tuple[str, bytes] | tuple[str, bytes, str] | SupplierInvoiceUpload
"""What `bulk_create` accepts per invoice: a `Path`, ``(filename, bytes)``,
``(filename, bytes, content_type)`` or a `SupplierInvoiceUpload`."""


@attrs.frozen(kw_only=True)
class BulkItemError:
    """Why one input did not produce an invoice.

    Attributes:
        code: Qonto's code (``invalid``, ``required``, ``limit_reached``,
            ``internal_server_error``, ...) or one of this library's:
            ``file_too_large`` (over the request limit; not sent), ``file_unreadable``,
            ``empty_file``, ``request_failed`` (the whole request failed; see
            ``exception``), ``not_sent`` (an earlier request failed in a way every request
            would), ``unpaired_error`` (the answer holds errors naming no file and this
            file got no invoice: one of them may be its; ``detail`` lists them) and
            ``missing_result`` (the answer mentioned neither an invoice nor an error for
            it, and held no unpaired error; retrying is safe thanks to the idempotency
            key).
        detail: The message.
        pointer: Qonto's JSON pointer to the item, if any.
        exception: The exception behind ``request_failed`` / ``not_sent``.
    """

    code: str
    detail: str
    pointer: str | None = None
    exception: BaseException | None = attrs.field(default=None, eq=False, repr=False)


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not key or len(key) > 255:
        raise InvalidInputError(
            "idempotency_key", "must be a non-empty string of at most 255 characters", value=key
        )
    if any(ch.isspace() or ord(ch) < 0x20 for ch in key):
        raise InvalidInputError(
            "idempotency_key", "must not contain whitespace or control characters", value=key
        )
    return key


def content_key(content: bytes) -> str:
    """The idempotency key derived from a file's content (UUID5 of its SHA-256)."""
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, "sha256:" + hashlib.sha256(content).hexdigest()))


def _guess_type(filename: str) -> str:
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"


@attrs.define(kw_only=True, eq=False)
class Prepared:
    """An input ready to send (or already failed), with its multipart parts."""

    index: int
    filename: str | None
    key: str
    parts: list[tuple[str, Any]] = attrs.field(factory=list)
    size: int = 0
    error: BulkItemError | None = None


def validate_source(source: str | None) -> str | None:
    """Check the top-level ``source`` form field (Qonto's request enum)."""
    if source is None:
        return None
    if source not in _SOURCES:
        raise InvalidInputError(
            "source", f"must be one of {', '.join(sorted(_SOURCES))}", value=source
        )
    return source


def validate_meta(meta: Mapping[str, Any] | None) -> str | None:
    """Return ``meta`` as the JSON string the form field carries."""
    if meta is None:
        return None
    if not isinstance(meta, Mapping):
        raise InvalidInputError("meta", "must be a mapping", value=meta)
    try:
        return json.dumps(dict(meta), separators=(",", ":"), sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError("meta", f"must be JSON-serialisable: {exc}") from None


def top_level_parts(
    source: str | None, meta_json: str | None, skip_attachment_matcher: bool
) -> list[tuple[str, Any]]:
    """The request-wide form fields, as multipart parts."""
    parts: list[tuple[str, Any]] = []
    if source is not None:
        parts.append(("source", (None, source.encode())))
    if meta_json is not None:
        parts.append(("meta", (None, meta_json.encode())))
    if skip_attachment_matcher:
        parts.append(("skip_attachment_matcher", (None, b"true")))
    return parts


def multipart_size(parts: Sequence[tuple[str, Any]]) -> int:
    """The exact size of a multipart body made of ``parts`` (as httpx encodes it)."""
    request = httpx.Request("POST", "https://size.invalid/", files=list(parts))
    return int(request.headers["content-length"])


_EMPTY_SIZE: int | None = None


def parts_size(parts: Sequence[tuple[str, Any]]) -> int:
    """What ``parts`` add to a multipart body (the body is additive over its parts)."""
    global _EMPTY_SIZE
    if _EMPTY_SIZE is None:
        _EMPTY_SIZE = multipart_size([("x", (None, b""))])
    return multipart_size([*parts, ("x", (None, b""))]) - _EMPTY_SIZE


def _normalise(index: int, item: Any) -> SupplierInvoiceUpload | Path:
    if isinstance(item, (SupplierInvoiceUpload, Path)):
        return item
    if isinstance(item, tuple) and len(item) in (2, 3):
        filename, content = item[0], item[1]
        content_type = item[2] if len(item) == 3 else None
        if not isinstance(filename, str) or not filename:
            raise InvalidInputError(f"files[{index}]", "the file name must be a non-empty str")
        if not isinstance(content, (bytes, bytearray, memoryview)):
            raise InvalidInputError(f"files[{index}]", "the content must be bytes")
        if content_type is not None and not isinstance(content_type, str):
            raise InvalidInputError(f"files[{index}]", "the content type must be a str")
        return SupplierInvoiceUpload(
            filename=filename, content=bytes(content), content_type=content_type
        )
    if isinstance(item, str):
        raise InvalidInputError(
            f"files[{index}]", "pass a pathlib.Path, not a str (a str could be a file's content)"
        )
    raise InvalidInputError(
        f"files[{index}]",
        "expected a Path, (filename, bytes), (filename, bytes, content_type) or "
        f"SupplierInvoiceUpload, not {type(item).__name__}",
    )


def validate_inputs(files: Iterable[FileInput]) -> list[SupplierInvoiceUpload | Path]:
    """Check the shape of every input before anything is read or sent."""
    if isinstance(files, (str, bytes, Path, tuple, SupplierInvoiceUpload)):
        raise InvalidInputError("files", "pass a list of files, not a single file")
    return [_normalise(i, item) for i, item in enumerate(files)]


def validate_keys(
    inputs: Sequence[SupplierInvoiceUpload | Path], keys: Sequence[str | None] | None
) -> list[str | None]:
    """Check the caller's idempotency keys: one per input (``None``: derive it)."""
    if keys is None:
        return [None] * len(inputs)
    if isinstance(keys, str) or not isinstance(keys, Sequence):
        raise InvalidInputError("idempotency_keys", "must be a sequence of str or None")
    if len(keys) != len(inputs):
        raise InvalidInputError(
            "idempotency_keys", f"has {len(keys)} keys for {len(inputs)} files", value=len(keys)
        )
    for i, (item, key) in enumerate(zip(inputs, keys, strict=True)):
        if key is None:
            continue
        _check_key(key)
        own = item.idempotency_key if isinstance(item, SupplierInvoiceUpload) else None
        if own is not None and own != key:
            raise InvalidInputError(
                f"idempotency_keys[{i}]", "differs from the key of the upload it belongs to"
            )
    return list(keys)


def prepare(
    index: int, item: SupplierInvoiceUpload | Path, budget: int, key: str | None = None
) -> Prepared:
    """Read one input and build its parts; oversize or unreadable inputs become errors.

    Args:
        index: The input's position.
        item: The input.
        budget: The most bytes its parts may take (the request limit minus the request-wide
            fields).
        key: The caller's idempotency key for it, if any.
    """
    if isinstance(item, Path):
        filename = item.name
        try:
            size = item.stat().st_size
            if size > budget:
                return _failed(index, filename, "file_too_large", _too_large(size, budget))
            content = item.read_bytes()
        except OSError as exc:
            return _failed(index, filename, "file_unreadable", f"cannot read {item}: {exc}")
        upload = SupplierInvoiceUpload(filename=filename, content=content, idempotency_key=key)
    else:
        upload = item if key is None else attrs.evolve(item, idempotency_key=key)
    if upload.attachment_id is not None:
        key = upload.idempotency_key or str(
            uuid.uuid5(IDEMPOTENCY_NAMESPACE, "attachment:" + upload.attachment_id)
        )
        parts: list[tuple[str, Any]] = [
            (_ATTACHMENT_FIELD, (None, upload.attachment_id.encode())),
            (_KEY_FIELD, (None, key.encode())),
        ]
        return Prepared(index=index, filename=None, key=key, parts=parts, size=parts_size(parts))
    assert upload.content is not None
    assert upload.filename is not None
    content = upload.content
    key = upload.idempotency_key or content_key(content)
    if not content:
        return Prepared(
            index=index,
            filename=upload.filename,
            key=key,
            error=BulkItemError(code="empty_file", detail="the file is empty; nothing was sent"),
        )
    content_type = upload.content_type or _guess_type(upload.filename)
    parts = [
        (_FILE_FIELD, (upload.filename, content, content_type)),
        (_KEY_FIELD, (None, key.encode())),
    ]
    size = parts_size(parts)
    if size > budget:
        return Prepared(
            index=index,
            filename=upload.filename,
            key=key,
            error=BulkItemError(code="file_too_large", detail=_too_large(size, budget)),
        )
    return Prepared(index=index, filename=upload.filename, key=key, parts=parts, size=size)


def _too_large(size: int, budget: int) -> str:
    return (
        f"{size} bytes exceed what one bulk request can carry ({budget} bytes of Qonto's "
        f"{MAX_REQUEST_BYTES}-byte limit); nothing was sent"
    )


def _failed(index: int, filename: str, code: str, detail: str) -> Prepared:
    # No content was read, so the key cannot come from it; it is never sent either.
    key = str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"unsent:{index}:{filename}"))
    return Prepared(
        index=index, filename=filename, key=key, error=BulkItemError(code=code, detail=detail)
    )
