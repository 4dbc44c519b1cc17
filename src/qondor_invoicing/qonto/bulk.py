"""Bulk creation of supplier invoices from files: inputs, chunking, keys and results.

``POST /v2/supplier_invoices/bulk`` takes ``multipart/form-data`` with, per invoice, a
``supplier_invoices[][file]`` part followed by its ``supplier_invoices[][idempotency_key]``,
at most 20 invoices and 15 MB per request, and answers 200 with the created invoices and
per-item errors side by side. This module turns any number of files into such requests and
pairs every input with its outcome.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from .._convert import structure
from .._digits import ascii_int
from .._http import APIResponse, HTTPCore, NotGiven, TimeoutTypes
from .._http.error_body import qonto_error_message, qonto_error_source
from .._http.response import stamp, stamp_each
from .._render import text_table
from .._request_id import RequestIdSlot
from ..errors import (
    APIError,
    APIStatusError,
    AuthenticationError,
    PermissionDeniedError,
    ResponseValidationError,
    UnexpectedRedirectError,
)
from ._bulk_inputs import (
    IDEMPOTENCY_NAMESPACE,
    MAX_REQUEST_BYTES,
    BulkItemError,
    FileInput,
    Prepared,
    SupplierInvoiceUpload,
    multipart_size,
    parts_size,
    prepare,
    top_level_parts,
    validate_inputs,
    validate_keys,
    validate_meta,
    validate_source,
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
        position = ascii_int(segment)
        if position is not None:
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
