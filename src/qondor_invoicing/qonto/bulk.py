"""Bulk creation of supplier invoices from files: inputs, chunking, keys and results.

``POST /v2/supplier_invoices/bulk`` takes ``multipart/form-data`` with, per invoice, a
``supplier_invoices[][file]`` part followed by its ``supplier_invoices[][idempotency_key]``,
at most 20 invoices and 15 MB per request, and answers 200 with the created invoices and
per-item errors side by side. This module turns any number of files into such requests and
pairs every input with its outcome.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import httpx

from .._convert import structure
from .._http import APIResponse, HTTPCore, NotGiven, TimeoutTypes
from .._http.error_body import qonto_error_message, qonto_error_source
from .._http.response import stamp, stamp_each
from .._render import text_table
from .._request_id import RequestIdSlot
from ..errors import (
    APIError,
    APIStatusError,
    AuthenticationError,
    InvalidInputError,
    PermissionDeniedError,
    ResponseValidationError,
    UnexpectedRedirectError,
)
from .filters import _flag
from .models import SupplierInvoice, converter

__all__ = [
    "IDEMPOTENCY_NAMESPACE",
    "MAX_FILES_PER_REQUEST",
    "MAX_REQUEST_BYTES",
    "BulkCreateResult",
    "BulkItemError",
    "BulkItemResult",
    "FileInput",
    "SupplierInvoiceUpload",
]

MAX_FILES_PER_REQUEST = 20
"""Qonto refuses more than 20 invoices in one bulk request (error ``limit_reached``)."""

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


@attrs.frozen(kw_only=True)
class BulkItemResult:
    """The outcome for one input of `bulk_create`.

    Attributes:
        index: Position of the input in the sequence given to `bulk_create`.
        filename: The file name (``None`` for an attachment id).
        idempotency_key: The key sent with it.
        invoice: The created (or, for a repeated key, previously created) invoice.
        error: Why no invoice was created.
        duplicate_of: Index of an earlier input with the same key in this call; the item
            was not sent again and shares that input's outcome.
    """

    index: int
    filename: str | None
    idempotency_key: str
    invoice: SupplierInvoice | None = None
    error: BulkItemError | None = None
    duplicate_of: int | None = None

    @property
    def ok(self) -> bool:
        """Whether an invoice exists for this input."""
        return self.invoice is not None


@attrs.frozen(kw_only=True)
class BulkCreateResult(RequestIdSlot):
    """Every input of `bulk_create` paired with its invoice or its error.

    Attributes:
        items: One result per input, in input order.
        requests: How many bulk requests were sent.
        unmatched_invoices: Invoices in an answer that could not be paired with an input.
        unmatched_errors: Errors in an answer that could not be paired with an input.
    """

    items: tuple[BulkItemResult, ...]
    requests: int = 0
    unmatched_invoices: tuple[SupplierInvoice, ...] = ()
    unmatched_errors: tuple[BulkItemError, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether every input produced an invoice."""
        return all(item.ok for item in self.items) and not self.unmatched_errors

    @property
    def created(self) -> tuple[SupplierInvoice, ...]:
        """The invoices, in input order (once per invoice)."""
        seen: set[str] = set()
        result = []
        for item in self.items:
            if item.invoice is not None and item.invoice.id not in seen:
                seen.add(item.invoice.id)
                result.append(item.invoice)
        return tuple(result)

    @property
    def duplicates(self) -> tuple[BulkItemResult, ...]:
        """Inputs not sent because an earlier input of the call had the same key (the same
        content, unless you gave keys): each shares that input's outcome."""
        return tuple(item for item in self.items if item.duplicate_of is not None)

    @property
    def failed(self) -> tuple[BulkItemResult, ...]:
        """The inputs that did not produce an invoice."""
        return tuple(item for item in self.items if not item.ok)

    def __iter__(self) -> Iterator[BulkItemResult]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __str__(self) -> str:
        rows = [
            (
                item.index,
                item.filename or "",
                item.invoice.id if item.invoice else "",
                (
                    f"duplicate of #{item.duplicate_of}, not sent; "
                    if item.duplicate_of is not None
                    else ""
                )
                + (f"{item.error.code}: {item.error.detail}" if item.error else ""),
            )
            for item in self.items
        ]
        head = f"{len(self.created)} created, {len(self.failed)} failed, {self.requests} requests"
        if self.duplicates:
            head += f", {len(self.duplicates)} duplicate(s) not sent"
        return head + "\n" + text_table(("#", "file", "invoice", "error"), rows)


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


_POINTER_SEGMENTS = re.compile(r"[^/\[\].]+")
_KEY_SEGMENTS = frozenset({"idempotency_key", "idempotency_keys"})


def pointer_target(
    pointer: str, chunk: Sequence[Prepared], by_key: Mapping[str, Prepared]
) -> Prepared | None:
    """The input of ``chunk`` an error pointer names, or ``None``.

    Every spelling seen or plausible is understood: a JSON pointer (``/data/0/file``,
    ``/data/0``, ``/files/0``, ``/supplier_invoices/0/file``), the form-field spelling
    (``data[0]``, ``supplier_invoices[0][file]``) and the idempotency key
    (``/supplier_invoices/idempotency_key/<key>``, or the key alone). A position counts
    from the first file of the request.
    """
    if pointer in by_key:
        return by_key[pointer]
    segments = _POINTER_SEGMENTS.findall(pointer)
    for i, segment in enumerate(segments):
        if segment in _KEY_SEGMENTS and i + 1 < len(segments):
            return by_key.get(segments[i + 1])
    for segment in segments:
        if segment.isdigit():
            position = int(segment)
            return chunk[position] if position < len(chunk) else None
    return None


def _error_from(data: Any) -> BulkItemError:
    if not isinstance(data, Mapping):
        return BulkItemError(code="unknown", detail=str(data))
    pointer, parameter = qonto_error_source(data)
    return BulkItemError(
        code=str(data.get("code") or "unknown"),
        detail=qonto_error_message(data),
        pointer=pointer or parameter,
    )


def pair(
    chunk: Sequence[Prepared],
    invoices: Sequence[SupplierInvoice],
    raw_errors: Sequence[Any],
) -> tuple[dict[int, SupplierInvoice | BulkItemError], list[SupplierInvoice], list[BulkItemError]]:
    """Pair a chunk's inputs with the invoices and errors of its answer.

    Errors are paired by the input their pointer names (see `pointer_target`); invoices by
    an ``idempotency_key`` field if the server echoes one, then by file name when it is
    unique, then in order (the server answers in request order) unless errors naming no
    file make the order meaningless. Inputs left without an outcome while such errors
    exist get an ``unpaired_error`` error listing them: one of them may be theirs.

    Returns:
        The outcome per input index, the invoices and the errors left unpaired.
    """
    by_key = {p.key: p for p in chunk}
    outcome: dict[int, SupplierInvoice | BulkItemError] = {}
    unmatched_errors: list[BulkItemError] = []
    for raw in raw_errors:
        error = _error_from(raw)
        target = pointer_target(error.pointer, chunk, by_key) if error.pointer else None
        if target is not None and target.index not in outcome:
            outcome[target.index] = error
        else:
            unmatched_errors.append(error)

    waiting = [p for p in chunk if p.index not in outcome]
    left: list[SupplierInvoice] = []
    for invoice in invoices:
        echoed = invoice.extra.get("idempotency_key")
        target = by_key.get(echoed) if isinstance(echoed, str) else None
        if target is not None and target.index not in outcome:
            outcome[target.index] = invoice
            waiting.remove(target)
        else:
            left.append(invoice)

    if left and waiting:
        names = [p.filename for p in waiting]
        still: list[SupplierInvoice] = []
        for invoice in left:
            if invoice.file_name and names.count(invoice.file_name) == 1:
                target = waiting[names.index(invoice.file_name)]
                outcome[target.index] = invoice
                waiting.remove(target)
                names = [p.filename for p in waiting]
            else:
                still.append(invoice)
        left = still

    if len(unmatched_errors) == len(waiting) == 1 and not left:
        outcome[waiting.pop().index] = unmatched_errors.pop()
    if not unmatched_errors:
        while left and waiting:
            outcome[waiting.pop(0).index] = left.pop(0)
    elif waiting:
        # Which file each error concerns is unknown: every waiting file may have failed.
        listed = "; ".join(
            f"{e.code}: {e.detail}" if e.detail else e.code for e in unmatched_errors
        )
        created = f", and {len(left)} invoice(s) were created for some of them" if left else ""
        for p in waiting:
            outcome[p.index] = BulkItemError(
                code="unpaired_error",
                detail=f"the answer reports {len(unmatched_errors)} error(s) without saying "
                f"which of {len(waiting)} file(s) they concern{created}; this file may have "
                f"failed with: {listed}",
                pointer=unmatched_errors[0].pointer if len(unmatched_errors) == 1 else None,
            )
        waiting = []
    return outcome, left, unmatched_errors


# -- sending ------------------------------------------------------------------------------


async def create(
    core: HTTPCore,
    files: Iterable[FileInput],
    *,
    source: str | None,
    meta: Mapping[str, Any] | None,
    skip_attachment_matcher: bool,
    timeout: TimeoutTypes | NotGiven,
    idempotency_keys: Sequence[str | None] | None = None,
) -> BulkCreateResult:
    """Send ``files`` in as few bulk requests as the limits allow and pair every input with
    its outcome (what ``supplier_invoices.bulk_create`` does; see there)."""
    inputs = validate_inputs(files)
    keys = validate_keys(inputs, idempotency_keys)
    common = top_level_parts(
        validate_source(source),
        validate_meta(meta),
        _flag("skip_attachment_matcher", skip_attachment_matcher) == "true",
    )
    common_size = parts_size(common) + multipart_size([("x", (None, b""))])
    budget = MAX_REQUEST_BYTES - common_size

    outcome: dict[int, BulkItemResult] = {}
    first_by_key: dict[str, int] = {}
    duplicates: list[Prepared] = []
    unmatched_invoices: list[SupplierInvoice] = []
    unmatched_errors: list[BulkItemError] = []
    requests = 0
    last: APIResponse[Any] | None = None
    fatal: APIError | None = None
    chunk: list[Prepared] = []
    chunk_size = 0

    async def flush() -> None:
        nonlocal requests, last, fatal, chunk, chunk_size
        if not chunk:
            return
        sending, chunk, chunk_size = chunk, [], 0
        if fatal is not None:
            for p in sending:
                outcome[p.index] = _item(p, _not_sent(fatal))
            return
        requests += 1
        parts = [*common, *(part for p in sending for part in p.parts)]
        try:
            # Safe to repeat: every item carries its idempotency key, so the server
            # answers a repeated item with the invoice it already created.
            response = await core.request(
                "POST",
                "supplier_invoices/bulk",
                files=parts,
                timeout=timeout,
                safe_to_repeat=True,
            )
            invoices, errors = _parse_bulk(response)
            last = response
        except APIError as exc:
            if _stops_everything(exc):
                fatal = exc
            error = BulkItemError(code="request_failed", detail=str(exc), exception=exc)
            for p in sending:
                outcome[p.index] = _item(p, error)
            return
        paired, left_invoices, left_errors = pair(sending, invoices, errors)
        unmatched_invoices.extend(left_invoices)
        unmatched_errors.extend(left_errors)
        for p in sending:
            result = paired.get(p.index)
            if result is None:
                result = BulkItemError(
                    code="missing_result",
                    detail="the answer lists neither an invoice nor an error for this "
                    "file; sending it again is safe (same idempotency key)",
                )
            outcome[p.index] = _item(p, result)

    for index, item in enumerate(inputs):
        prepared = prepare(index, item, budget, keys[index])
        if prepared.error is not None:
            outcome[index] = _item(prepared, prepared.error)
            continue
        if prepared.key in first_by_key:
            prepared.parts = []  # not sent: do not hold its content until the end
            duplicates.append(prepared)
            continue
        first_by_key[prepared.key] = index
        if chunk and (len(chunk) >= MAX_FILES_PER_REQUEST or chunk_size + prepared.size > budget):
            await flush()
        chunk.append(prepared)
        chunk_size += prepared.size
    await flush()

    for p in duplicates:
        first = outcome[first_by_key[p.key]]
        outcome[p.index] = BulkItemResult(
            index=p.index,
            filename=p.filename,
            idempotency_key=p.key,
            invoice=first.invoice,
            error=first.error,
            duplicate_of=first.index,
        )
    result = BulkCreateResult(
        items=tuple(outcome[i] for i in range(len(inputs))),
        requests=requests,
        unmatched_invoices=tuple(unmatched_invoices),
        unmatched_errors=tuple(unmatched_errors),
    )
    # Each created invoice carries its own request's id; the result, the last answer's.
    return stamp(result, last) if last is not None else result


def _parse_bulk(response: APIResponse[Any]) -> tuple[Sequence[SupplierInvoice], Sequence[Any]]:
    data = response.data
    if not isinstance(data, Mapping):
        raise ResponseValidationError(
            f"response from {response.method} {response.url} is not a bulk result",
            errors=["expected an object @ $"],
            body=response.text,
            method=response.method,
            url=response.url,
            status_code=response.status_code,
        )
    raw_invoices = data.get("supplier_invoices") or []
    raw_errors = data.get("errors") or []
    invoices = structure(
        converter,
        raw_invoices,
        tuple[SupplierInvoice, ...],
        body=response.text,
        method=response.method,
        url=response.url,
        what="list of SupplierInvoice",
    )
    stamp_each(invoices, response)
    if not isinstance(raw_errors, list):
        raw_errors = [raw_errors]
    return invoices, raw_errors


def _stops_everything(exc: APIError) -> bool:
    # Failures every later request would meet too: do not send the rest.
    return isinstance(
        exc,
        (
            AuthenticationError,
            PermissionDeniedError,
            UnexpectedRedirectError,
            ResponseValidationError,
        ),
    ) or (isinstance(exc, APIStatusError) and exc.status_code == 429)


def _not_sent(exc: APIError) -> BulkItemError:
    return BulkItemError(
        code="not_sent",
        detail=f"not sent: an earlier bulk request failed with {type(exc).__name__}: {exc}",
        exception=exc,
    )


def _item(p: Prepared, result: SupplierInvoice | BulkItemError) -> BulkItemResult:
    if isinstance(result, SupplierInvoice):
        return BulkItemResult(
            index=p.index, filename=p.filename, idempotency_key=p.key, invoice=result
        )
    return BulkItemResult(index=p.index, filename=p.filename, idempotency_key=p.key, error=result)
