"""Checked by mypy --strict in tests/test_typing.py (not collected by pytest)."""

from collections.abc import Collection
from decimal import Decimal

from qondor_invoicing import (
    DEFAULT_VALIDATORS,
    APIResponse,
    Customer,
    Invoice,
    InvoiceLine,
    Problem,
    QondorClient,
    QondorSyncClient,
    QontoClient,
    QontoSyncClient,
    Reconciler,
    SupplierInvoice,
)
from qondor_invoicing.qonto import Page
from qondor_invoicing.reconcile import Validator


class MyFinance:
    async def has_article(self, code: str) -> bool:
        return True

    async def vat_rates(self, category: str | None) -> Collection[Decimal] | None:
        return None

    async def find_customer(self, customer: Customer) -> str | None:
        return None

    async def account_for(self, line: InvoiceLine) -> str | None:
        return None

    async def book(self, invoice: Invoice, *, idempotency_key: str) -> str:
        return "x"

    def projects(self) -> set[str]:
        return set()


def project_known(invoice: Invoice, finance: MyFinance) -> list[Problem]:
    if invoice.project_number not in finance.projects():
        return [Problem(message="unknown project", check="project")]
    return []


check: Validator[MyFinance] = project_known
reconciler = Reconciler(
    QondorClient(api_key="k"), finance=MyFinance(), validators=(*DEFAULT_VALIDATORS, project_known)
)

# The sync clients have the async clients' parameters and results.
sync = QondorSyncClient(api_key="k", rate_limit=2.0)
invoice: Invoice = sync.invoices.get(12345)
wrong = sync.invoices.get("12345")  # error: str is not an int

# Raw-response variants: the same parameters, the response with the model.
raw: APIResponse[Invoice] = sync.invoices.with_raw_response.get(12345)
raw_invoice: Invoice = raw.parse()
first_page: APIResponse[Page[SupplierInvoice]] = QontoSyncClient(
    access_token="t"
).supplier_invoices.with_raw_response.list(per_page=10)


async def raw_async(qondor: QondorClient, qonto: QontoClient) -> None:
    got: APIResponse[Invoice] = await qondor.invoices.with_raw_response.set_as_failed(
        1, failure_message="no"
    )
    listed: APIResponse[
        Page[SupplierInvoice]
    ] = await qonto.supplier_invoices.with_raw_response.list()
    retries: int = got.retries_taken + listed.retries_taken
    print(retries, got.request_id, got.headers.get("x"), got.elapsed)
