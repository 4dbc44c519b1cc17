"""Checked by mypy --strict in tests/test_typing.py (not collected by pytest)."""

from collections.abc import Collection
from decimal import Decimal

from qondor_invoicing import (
    DEFAULT_VALIDATORS,
    Customer,
    Invoice,
    InvoiceLine,
    Problem,
    QondorClient,
    QondorSyncClient,
    Reconciler,
)
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

    async def book(self, invoice: Invoice) -> str:
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
