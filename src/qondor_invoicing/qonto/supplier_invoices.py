"""`SupplierInvoices`: the supplier-invoice endpoints of `QontoClient`
(``qonto.supplier_invoices``): list (auto-paginated), retrieve, bulk create from files, and
the state changes (mark as paid, unmark as paid, reject), each judged by its evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Final

from .._convert import structure
from .._http import (
    NOT_GIVEN,
    APIResponse,
    HTTPCore,
    NotGiven,
    Resource,
    TimeoutTypes,
)
from .._http.changes import Verdict, send_confirmed
from .._http.raw import RawResponses, raw_response
from .._http.response import stamp, stamp_each
from ..errors import (
    InvalidInputError,
    ResponseValidationError,
)
from . import bulk as _bulk
from .filters import (
    DocumentTypeFilter,
    DueDateFilter,
    InvoiceRef,
    PayableAmountFilter,
    QueryField,
    RelativeDateFilter,
    StatusFilter,
    _text,
    list_params,
    path_id,
)
from .models import SupplierInvoice, SupplierInvoiceAction, SupplierInvoiceStatus, converter
from .pagination import AsyncPaginator, Page, parse_meta

if TYPE_CHECKING:
    from .client import QontoClient

__all__ = ["SupplierInvoices", "SupplierInvoicesWithRawResponse"]


def _unwrap(data: Any, key: str) -> Any:
    # Decoded JSON is a dict: the ABC checks only for other mappings.
    if (type(data) is dict or isinstance(data, Mapping)) and "id" not in data:
        inner = data.get(key)
        if type(inner) is dict or isinstance(inner, Mapping):
            return inner
    return data


class SupplierInvoices(Resource):
    """The supplier-invoice endpoints: ``qonto.supplier_invoices``."""

    _client: QontoClient

    @property
    def _core(self) -> HTTPCore:
        return self._client._core

    @property
    def with_raw_response(self) -> SupplierInvoicesWithRawResponse:
        """The same methods, returning the `APIResponse` (status, headers, elapsed time,
        retries taken, request id) with the model: ``(await ....get(id)).parse()``;
        ``list()`` returns its first page's."""
        return SupplierInvoicesWithRawResponse(self)

    def list(
        self,
        *,
        status: StatusFilter | None = None,
        due_date: DueDateFilter | Iterable[DueDateFilter] | None = None,
        attachment_id: str | Iterable[str] | None = None,
        created_at_from: datetime | None = None,
        created_at_to: datetime | None = None,
        updated_at_from: datetime | None = None,
        updated_at_to: datetime | None = None,
        payment_date: RelativeDateFilter | None = None,
        issue_date: RelativeDateFilter | None = None,
        issue_date_from: date | None = None,
        missing_data: bool | None = None,
        matched_transactions: bool | None = None,
        document_type: DocumentTypeFilter | Iterable[DocumentTypeFilter] | None = None,
        approver_id: str | Iterable[str] | None = None,
        exclude_credit_notes: bool | None = None,
        payable_amount: PayableAmountFilter | None = None,
        query: str | None = None,
        query_fields: Iterable[QueryField] | None = None,
        sort_by: str | None = None,
        per_page: int = 100,
        max_pages: int | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
    ) -> AsyncPaginator[SupplierInvoice]:
        """List supplier invoices: ``await`` for the first page, ``async for`` for all.

        Every filter is optional; the arguments are checked here, before anything is sent.
        Several values of one filter are sent as ``filter[name][]`` (see
        `ARRAY_FILTER_SUFFIX`).

        Args:
            status: One status or several (``filter[status][]``).
            due_date: ``past_and_today``, ``future`` or ``missing_date``; one
                (``filter[due_date]``) or several.
            attachment_id: One attachment id (``filter[attachment_id]``) or several
                (``filter[attachment_id][]``).
            created_at_from: Created at or after (timezone-aware).
            created_at_to: Created at or before (timezone-aware).
            updated_at_from: Updated at or after (timezone-aware): the sync pattern.
            updated_at_to: Updated at or before (timezone-aware).
            payment_date: Relative period: ``today``, ``yesterday``, ``this_week``,
                ``past_week``, ``this_month``, ``past_month``.
            issue_date: Relative period, as ``payment_date``.
            issue_date_from: Issued on or after this date.
            missing_data: Only invoices with (``True``) or without missing data.
            matched_transactions: Only invoices with (``True``) or without a matched
                transaction.
            document_type: ``duplicates`` or ``non_financial_documents``; one or several.
            approver_id: Approver ids (``filter[approver_id][]``).
            exclude_credit_notes: Leave out supplier credit notes.
            payable_amount: ``"lte:100.00:EUR"`` / ``"gte:..."`` or ``("lte", Money(...))``.
            query: Full-text search.
            query_fields: Where ``query`` searches: ``supplier_name``, ``amount``,
                ``file_name``, ``invoice_number``.
            sort_by: ``"<property>:asc"`` or ``"<property>:desc"``; property one of
                `SORT_PROPERTIES`.
            per_page: Page size, 1 to 100 (always sent: Qonto's default for this endpoint
                is not documented consistently).
            max_pages: Most pages one iteration reads; when that many were read and the
                last announced another, iteration raises `PaginationError`
                (``reason="max_pages"``). ``None``: no limit.
            timeout: Timeout of each page request.

        Returns:
            The paginator.

        Raises:
            InvalidInputError: A filter value is refused (raised here, not on iteration).
        """
        if max_pages is not None and (
            isinstance(max_pages, bool) or not isinstance(max_pages, int) or max_pages < 1
        ):
            raise InvalidInputError("max_pages", "must be an integer >= 1 or None", value=max_pages)
        params = list_params(
            status=status,
            due_date=due_date,
            attachment_id=attachment_id,
            created_at_from=created_at_from,
            created_at_to=created_at_to,
            updated_at_from=updated_at_from,
            updated_at_to=updated_at_to,
            payment_date=payment_date,
            issue_date=issue_date,
            issue_date_from=issue_date_from,
            missing_data=missing_data,
            matched_transactions=matched_transactions,
            document_type=document_type,
            approver_id=approver_id,
            exclude_credit_notes=exclude_credit_notes,
            payable_amount=payable_amount,
            query=query,
            query_fields=query_fields,
            sort_by=sort_by,
        )
        if isinstance(per_page, bool) or not isinstance(per_page, int) or not 1 <= per_page <= 100:
            raise InvalidInputError("per_page", "must be an integer from 1 to 100", value=per_page)

        async def fetch(page: int) -> Page[SupplierInvoice]:
            query_params = [*params, ("page", str(page)), ("per_page", str(per_page))]
            response = await self._core.request(
                "GET", "supplier_invoices", params=query_params, timeout=timeout
            )
            return _parse_page(response, page, per_page)

        return AsyncPaginator(fetch, key=_invoice_key, max_pages=max_pages)

    async def get(
        self, invoice: InvoiceRef, *, timeout: TimeoutTypes | NotGiven = NOT_GIVEN
    ) -> SupplierInvoice:
        """Retrieve one supplier invoice (``GET /v2/supplier_invoices/{id}``).

        Args:
            invoice: The id (or a model, to read it again).
            timeout: Timeout for this call.

        Returns:
            The invoice.

        Raises:
            InvalidInputError: The id is not a safe path segment; nothing was sent.
            NotFoundError: No such invoice.
        """
        quoted = path_id(invoice)
        response = await self._core.request("GET", f"supplier_invoices/{quoted}", timeout=timeout)
        result = self._parse_invoice(response, "supplier_invoice")
        self._check_same(invoice, result, response)
        return result

    async def mark_as_paid(
        self,
        invoice: InvoiceRef,
        *,
        payment_date: date,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
    ) -> SupplierInvoice:
        """Record that an invoice was paid outside Qonto (bookkeeping only).

        Allowed from to_review, to_approve, pending, awaiting_payment, to_pay and archived;
        on an invoice that is already paid it succeeds and changes nothing. A bare id is
        read first (one GET) so that the rule can be checked.

        Args:
            invoice: The invoice, or its id.
            payment_date: The day it was paid (a `date`, not a `datetime` or string).
            timeout: Timeout of each request.

        Returns:
            The updated invoice (status paid).

        Raises:
            IllegalTransitionError: Its status does not allow it; nothing was sent.
            InvalidInputError: A bad id or payment date; nothing was sent.
            APIError: The request failed (after an ambiguous failure the invoice is read
                again and the change re-sent only if it did not happen).
        """
        if not isinstance(payment_date, date) or isinstance(payment_date, datetime):
            raise InvalidInputError(
                "payment_date",
                f"must be a datetime.date, not {type(payment_date).__name__}",
                value=payment_date,
            )
        body = {"supplier_invoice": {"payment_date": payment_date.isoformat()}}
        return await self._change(
            SupplierInvoiceAction.MARK_AS_PAID,
            invoice,
            body,
            done=lambda si: si.status == SupplierInvoiceStatus.PAID,
            timeout=timeout,
        )

    async def unmark_as_paid(
        self, invoice: InvoiceRef, *, timeout: TimeoutTypes | NotGiven = NOT_GIVEN
    ) -> SupplierInvoice:
        """Revert a paid invoice to to_review (its payment date is cleared).

        Args:
            invoice: The invoice, or its id (read first).
            timeout: Timeout of each request.

        Returns:
            The updated invoice (status to_review).

        Raises:
            IllegalTransitionError: It is not paid; nothing was sent.
            InvalidInputError: A bad id; nothing was sent.
            APIError: The request failed.
        """
        return await self._change(
            SupplierInvoiceAction.UNMARK_AS_PAID,
            invoice,
            None,
            done=lambda si: si.status == SupplierInvoiceStatus.TO_REVIEW,
            timeout=timeout,
        )

    async def reject(
        self,
        invoice: InvoiceRef,
        *,
        declined_note: str,
        declined_reason_code: str | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
    ) -> SupplierInvoice:
        """Reject an invoice (irreversible through the API).

        Allowed from to_review, to_approve and awaiting_payment. Rejecting a French
        e-invoice without ``declined_reason_code`` is refused by Qonto (422) since
        2026-09-01.

        Args:
            invoice: The invoice, or its id (read first).
            declined_note: Why, in words (required, non-empty).
            declined_reason_code: An AFNOR reason code, e.g. ``"DOUBLON"``.
            timeout: Timeout of each request.

        Returns:
            The updated invoice (status rejected).

        Raises:
            IllegalTransitionError: Its status does not allow it; nothing was sent.
            InvalidInputError: A bad id, note or code; nothing was sent.
            APIError: The request failed.
        """
        if not isinstance(declined_note, str) or not declined_note.strip():
            raise InvalidInputError(
                "declined_note", "must be a non-empty string", value=declined_note
            )
        payload: dict[str, str] = {"declined_note": declined_note}
        if declined_reason_code is not None:
            payload["declined_reason_code"] = _text("declined_reason_code", declined_reason_code)
        return await self._change(
            SupplierInvoiceAction.REJECT,
            invoice,
            {"supplier_invoice": payload},
            done=lambda si: si.status == SupplierInvoiceStatus.REJECTED,
            timeout=timeout,
        )

    async def bulk_create(
        self,
        files: Iterable[_bulk.FileInput],
        *,
        source: str | None = None,
        meta: Mapping[str, Any] | None = None,
        skip_attachment_matcher: bool = False,
        idempotency_keys: Sequence[str | None] | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
    ) -> _bulk.BulkCreateResult:
        """Create supplier invoices from files (``POST /v2/supplier_invoices/bulk``).

        The files are sent in as many requests as needed, each with at most 20 files and
        15 MB. Every file carries an idempotency key (derived from its content unless you
        give one in a `SupplierInvoiceUpload`) that stays the same when a request is
        retried, so a retry after a lost response creates nothing twice. Qonto answers 200
        even when some files fail; the result pairs every input with its invoice or error.

        Only one chunk's files are held in memory at a time.

        Args:
            files: `Path`, ``(filename, bytes)``, ``(filename, bytes, content_type)`` or
                `SupplierInvoiceUpload` items.
            source: The request's ``source``: ``pay_by_invoice``, ``supplier_invoices``,
                ``integration``, ``transaction_attachment`` or ``generic_upload``.
            meta: Integration metadata, e.g. ``{"integration_type": "dropbox"}``
                (sent as a JSON string).
            skip_attachment_matcher: Do not match the invoices to transactions.
            idempotency_keys: Your own key per input, in the order of ``files`` (``None``
                entries keep the derived key). Inputs sharing a key are sent once (the
                later ones are reported as `BulkCreateResult.duplicates`): give distinct
                keys to upload the same file twice on purpose.
            timeout: Timeout of each request.

        Returns:
            The pairing of every input with its created invoice or its error.

        Raises:
            InvalidInputError: An input of the wrong shape, or a bad ``source`` / ``meta``;
                nothing was sent. (Files that are too large or unreadable are error
                items, not exceptions.)
        """
        return await _bulk.create(
            self._core,
            files,
            source=source,
            meta=meta,
            skip_attachment_matcher=skip_attachment_matcher,
            timeout=timeout,
            idempotency_keys=idempotency_keys,
        )

    # -- internals ---------------------------------------------------------------------

    def _parse_invoice(self, response: APIResponse[Any], envelope: str) -> SupplierInvoice:
        data = _unwrap(response.data, envelope)
        invoice = structure(
            converter,
            data,
            SupplierInvoice,
            body=response.text,
            method=response.method,
            url=response.url,
        )
        return stamp(invoice, response)

    @staticmethod
    def _check_same(
        requested: InvoiceRef, got: SupplierInvoice, response: APIResponse[Any]
    ) -> None:
        wanted = requested.id if isinstance(requested, SupplierInvoice) else str(requested)
        if got.id.lower() != wanted.lower():
            raise ResponseValidationError(
                f"{response.method} {response.url} answered with invoice {got.id!r} "
                f"instead of {wanted!r}",
                body=response.text,
                method=response.method,
                url=response.url,
                status_code=response.status_code,
            )

    async def _change(
        self,
        action: SupplierInvoiceAction,
        invoice: InvoiceRef,
        body: Any,
        *,
        done: Callable[[SupplierInvoice], bool],
        timeout: TimeoutTypes | NotGiven,
    ) -> SupplierInvoice:
        quoted = path_id(invoice)
        rules = self._client.rules
        current = (
            invoice
            if isinstance(invoice, SupplierInvoice)
            else await self.get(invoice, timeout=timeout)
        )
        rules.check(action, current.status, invoice_id=current.id)
        path = f"supplier_invoices/{quoted}/{action.value}"
        core = self._core

        # Every attempt and re-read addresses the invoice as first known (``current``).
        async def send(_: SupplierInvoice) -> SupplierInvoice:
            # Qonto documents the invoice in its new status as the answer: anything else
            # (no body, not JSON, another invoice, another status) is a doubt to settle.
            response = await core.request(
                "POST", path, json_body=body, timeout=timeout, safe_to_repeat=False
            )
            try:
                result = self._parse_invoice(response, "supplier_invoice")
                self._check_same(current, result, response)
            except ResponseValidationError as exc:
                if exc.status_code is None:
                    exc.status_code = response.status_code
                raise
            if not done(result):
                raise ResponseValidationError(
                    f"{response.method} {response.url} answered {response.status_code} with "
                    f"supplier invoice {result.id} in status {result.status!r}; whether "
                    f"{action.value} was applied is not shown",
                    body=response.text,
                    method=response.method,
                    url=response.url,
                    status_code=response.status_code,
                    content_type=response.headers.get("content-type"),
                )
            return result

        def judge(_: SupplierInvoice, now: SupplierInvoice) -> Verdict:
            if done(now):
                return Verdict.APPLIED
            if rules.refusal(action, now.status) is not None:
                return Verdict.REFUSED  # moved elsewhere meanwhile: a resend would be refused
            return Verdict.NOT_APPLIED

        return await send_confirmed(
            current=current,
            send=send,
            reread=lambda _: self.get(current.id, timeout=timeout),
            judge=judge,
            refusal=lambda _, error: error,
            policy=core.retry_policy,
            sleep=core.sleep,
            describe=f"qonto: {action.value} for supplier invoice {current.id}",
        )


class SupplierInvoicesWithRawResponse(RawResponses[SupplierInvoices]):
    """``qonto.supplier_invoices.with_raw_response``: each method, returning `APIResponse`.

    ``list()`` returns the first page's response (``parse()`` is the `Page`).
    """

    list: Final = raw_response(SupplierInvoices.list)
    get: Final = raw_response(SupplierInvoices.get)
    mark_as_paid: Final = raw_response(SupplierInvoices.mark_as_paid)
    unmark_as_paid: Final = raw_response(SupplierInvoices.unmark_as_paid)
    reject: Final = raw_response(SupplierInvoices.reject)
    bulk_create: Final = raw_response(SupplierInvoices.bulk_create)


def _invoice_key(invoice: SupplierInvoice) -> str:
    return invoice.id


def _parse_page(response: APIResponse[Any], page: int, per_page: int) -> Page[SupplierInvoice]:
    data = response.data

    def invalid(problem: str) -> ResponseValidationError:
        return ResponseValidationError(
            f"response from {response.method} {response.url} is not a supplier invoice list",
            errors=[problem],
            body=response.text,
            method=response.method,
            url=response.url,
            status_code=response.status_code,
        )

    if not isinstance(data, Mapping) or not isinstance(data.get("supplier_invoices"), list):
        raise invalid("expected an object with a 'supplier_invoices' list @ $")
    try:
        meta = parse_meta(data.get("meta"))
    except (ValueError, TypeError) as exc:
        raise invalid(f"{exc} @ $.meta") from None
    raw_items = data["supplier_invoices"]
    if data.get("meta") is None and len(raw_items) >= per_page:
        # Without meta a full page cannot say whether more follow: stopping could lose data.
        raise invalid("a full page without 'meta' @ $.meta")
    items = structure(
        converter,
        raw_items,
        tuple[SupplierInvoice, ...],
        body=response.text,
        method=response.method,
        url=response.url,
        what="list of SupplierInvoice",
    )
    stamp_each(items, response)
    return stamp(Page(items=items, meta=meta, page=page), response)
