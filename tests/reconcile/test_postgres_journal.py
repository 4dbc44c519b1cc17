"""PostgresJournal on a real PostgreSQL server: the invariants, and what only a server adds.

Every test of ``test_journal.py`` that takes the ``journal`` fixture runs here too, on a
`PostgresJournal` (collected again in this module, so they pick up this module's fixtures):
the protocol's invariants are checked by the same test bodies on every backend.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import date, datetime, timezone
from typing import Any

import anyio
import pytest
import test_journal

from qondor_invoicing.errors import ConfigurationError
from qondor_invoicing.qondor import InvoiceAction, InvoiceKind, InvoiceState, QondorClient
from qondor_invoicing.qonto import QontoClient
from qondor_invoicing.reconcile import (
    InMemoryFinanceSystem,
    Journal,
    JournalAction,
    JournalError,
    JournalEventKind,
    JournalOutcome,
    LeaseLostError,
    PostgresJournal,
    ReconcilePolicy,
    Reconciler,
)
from qondor_invoicing.reconcile import postgres as pg_module
from qondor_invoicing.testing import FakeQondor, FakeQonto

psycopg = pytest.importorskip("psycopg", reason="needs psycopg (the postgres extra)")
from psycopg import sql  # noqa: E402
from psycopg.conninfo import make_conninfo  # noqa: E402

pytest_plugins = ["conftest_pg"]
pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def journal(pg_dsn: str, pg_schema: str, clock: Clock) -> AsyncIterator[Journal]:
    async with PostgresJournal(pg_dsn, schema=pg_schema, clock=clock) as j:
        yield j


# The backend-independent tests, run on PostgreSQL.
for _name, _test in inspect.getmembers(test_journal, inspect.isfunction):
    if _name.startswith("test_") and "journal" in inspect.signature(_test).parameters:
        globals()[_name] = _test
del _name, _test


def _connect(dsn: str) -> psycopg.Connection[Any]:
    return psycopg.connect(dsn, autocommit=True)


# -- the server's clock ----------------------------------------------------------------------


async def test_leases_use_the_server_clock(pg_dsn: str, pg_schema: str) -> None:
    # Two workers, no clock given: both use the server's, so their own clocks never matter.
    async with (
        PostgresJournal(pg_dsn, schema=pg_schema) as a,
        PostgresJournal(pg_dsn, schema=pg_schema) as b,
    ):
        before = datetime.now(timezone.utc)
        assert await a.claim("1", "w1", 0.5)
        await a.record_intent("1", JournalAction.BOOK, owner="w1", invoice_id=1)
        assert not await b.claim("1", "w2", 0.5)
        with _connect(pg_dsn) as conn:
            (expires,) = conn.execute(  # type: ignore[misc]
                sql.SQL("SELECT expires_at FROM {}.claims").format(sql.Identifier(pg_schema))
            ).fetchone()
        assert 0.3 < (expires - before).total_seconds() < 5
        await anyio.sleep(0.6)
        assert await b.claim("1", "w2", 10)
        history = await b.history("1")
        assert [e.kind for e in history] == [JournalEventKind.INTENT, JournalEventKind.TAKEOVER]
        assert history[1].detail == "lease of 'w1' expired (token 1 -> 2)"
        assert history[1].at.tzinfo is timezone.utc
        with pytest.raises(LeaseLostError, match="held by 'w2'"):
            await a.record_reference("1", "FIN-1", owner="w1")
        entry = await b.record_intent("1", JournalAction.BOOK, owner="w2", invoice_id=1)
        assert entry.attempts == 2
        assert entry.updated_at is not None
        assert abs((entry.updated_at - datetime.now(timezone.utc)).total_seconds()) < 60


# -- serialisation across connections and processes ----------------------------------------


@pytest.mark.parametrize("isolation", ["default", "serializable", "repeatable read"])
async def test_one_claim_winner_across_pools(pg_dsn: str, pg_schema: str, isolation: str) -> None:
    # Three journals = three pools of connections, as three processes would have; the
    # server's default isolation does not matter (the journal sets its own).
    dsn = pg_dsn
    if isolation != "default":
        setting = isolation.replace(" ", "\\ ")
        dsn = make_conninfo(pg_dsn, options=f"-c default_transaction_isolation={setting}")
    journals = [PostgresJournal(dsn, schema=pg_schema, pool_size=4) for _ in range(3)]
    winners: dict[str, list[str]] = {}

    async def worker(journal: PostgresJournal, name: str, key: str) -> None:
        if await journal.claim(key, name, 60):
            winners.setdefault(key, []).append(name)

    try:
        async with anyio.create_task_group() as tg:
            for key in ("a", "b", "c"):
                for i in range(24):
                    tg.start_soon(worker, journals[i % 3], f"w{i}", key)
        assert sorted(winners) == ["a", "b", "c"]
        assert all(len(names) == 1 for names in winners.values()), winners
    finally:
        for journal in journals:
            await journal.aclose()


async def test_concurrent_writes_on_one_payment_lose_nothing(
    pg_dsn: str, pg_schema: str, clock: Clock
) -> None:
    # Each write reads the entry, applies the rule and writes it back: without the per-payment
    # lock, two such transactions at once would both read attempts=n and write n+1.
    a = PostgresJournal(pg_dsn, schema=pg_schema, pool_size=4, clock=clock)
    b = PostgresJournal(pg_dsn, schema=pg_schema, pool_size=4, clock=clock)
    b.incarnation = a.incarnation  # one holder writing through two pools
    try:
        assert await a.claim("1", "w", 60)

        async def intent(journal: PostgresJournal) -> None:
            await journal.record_intent("1", JournalAction.BOOK, owner="w", invoice_id=1)

        async with anyio.create_task_group() as tg:
            for i in range(40):
                tg.start_soon(intent, (a, b)[i % 2])
        entry = await a.get("1")
        assert entry is not None
        assert entry.attempts == 40
        assert len(await b.history("1")) == 40
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_stuck_call_blocks_only_its_payment_and_only_for_lock_timeout(
    pg_dsn: str, pg_schema: str, clock: Clock
) -> None:
    async with PostgresJournal(pg_dsn, schema=pg_schema, clock=clock, lock_timeout=0.5) as j:
        assert await j.claim("1", "w1", 60)
        settings = await j._run(
            lambda: j._db.execute(
                "SELECT current_setting('lock_timeout'), "
                "current_setting('idle_in_transaction_session_timeout')"
            ).fetchone()
        )
        assert settings == ("500ms", "500ms")
        # Another session (a worker cut off in the middle of a call) holds payment 1's lock.
        with psycopg.connect(pg_dsn) as stuck:
            stuck.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext('1'))",
                (pg_module._lock_space(pg_schema),),
            )
            with anyio.fail_after(10):
                assert await j.claim("2", "w1", 60)  # other payments do not wait
                started = anyio.current_time()
                with pytest.raises(JournalError, match="lock timeout"):
                    await j.record_intent("1", JournalAction.BOOK, owner="w1", invoice_id=1)
                assert 0.4 < anyio.current_time() - started < 5
            stuck.rollback()
        assert await j.get("1") is None  # nothing half-written
        entry = await j.record_intent("1", JournalAction.BOOK, owner="w1", invoice_id=1)
        assert entry.attempts == 1


# -- schema --------------------------------------------------------------------------------


async def test_schema_created_on_first_use_by_many_workers_at_once(
    pg_dsn: str, pg_schema: str
) -> None:
    journals = [PostgresJournal(pg_dsn, schema=pg_schema) for _ in range(6)]
    try:
        async with anyio.create_task_group() as tg:
            for journal in journals:
                tg.start_soon(journal.unfinished)
    finally:
        for journal in journals:
            await journal.aclose()
    with _connect(pg_dsn) as conn:
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (pg_schema,),
            )
        }
        version = conn.execute(
            sql.SQL("SELECT value FROM {}.meta WHERE key = 'schema_version'").format(
                sql.Identifier(pg_schema)
            )
        ).fetchone()
    assert tables == {"meta", "payments", "claims", "events"}
    assert version == (str(pg_module.SCHEMA_VERSION),)


async def test_existing_empty_schema_is_used(pg_dsn: str, pg_schema: str, clock: Clock) -> None:
    # A DBA may create the schema and grant it, without the CREATE privilege on the database.
    with _connect(pg_dsn) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(pg_schema)))
    async with PostgresJournal(pg_dsn, schema=pg_schema, clock=clock) as j:
        assert await j.claim("1", "w1", 60)
        await j.record_intent("1", JournalAction.BOOK, owner="w1", invoice_id=1)
    # Reopened: the data is there, nothing is migrated again.
    async with PostgresJournal(pg_dsn, schema=pg_schema, clock=clock) as j:
        (entry,) = await j.unfinished()
        assert entry.intent is JournalAction.BOOK
        assert not await j.claim("1", "w2", 60)  # claims survive: the lease is what counts


async def test_newer_schema_is_refused(pg_dsn: str, pg_schema: str) -> None:
    async with PostgresJournal(pg_dsn, schema=pg_schema) as j:
        await j.get("1")
    with _connect(pg_dsn) as conn:
        conn.execute(
            sql.SQL("UPDATE {}.meta SET value = '99' WHERE key = 'schema_version'").format(
                sql.Identifier(pg_schema)
            )
        )
    j = PostgresJournal(pg_dsn, schema=pg_schema)
    with pytest.raises(JournalError, match=r"newer version .*schema 99"):
        await j.get("1")
    await j.aclose()


async def test_schemas_keep_journals_apart(pg_dsn: str, pg_schema: str, clock: Clock) -> None:
    other = pg_schema + "_b"
    try:
        async with (
            PostgresJournal(pg_dsn, schema=pg_schema, clock=clock) as a,
            PostgresJournal(pg_dsn, schema=other, clock=clock) as b,
        ):
            assert await a.claim("1", "w1", 60)
            assert await b.claim("1", "w2", 60)
            await a.record_intent("1", JournalAction.BOOK, owner="w1", invoice_id=1)
            assert await b.get("1") is None
            assert await b.unfinished() == []
    finally:
        with _connect(pg_dsn) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(other)))


async def test_rows_are_readable_in_sql(pg_dsn: str, pg_schema: str, clock: Clock) -> None:
    # Operators query the journal directly; the columns are typed, not encoded.
    async with PostgresJournal(pg_dsn, schema=pg_schema, clock=clock) as j:
        await j.claim("1", "w1", 60)
        await j.record_intent("1", JournalAction.BOOK, owner="w1", invoice_id=1)
        await j.record_reference("1", "FIN-1", owner="w1")
        await j.record_outcome("1", JournalOutcome.PROCESSED, owner="w1", invoice_id=1)
        await j.record_intent(
            "1",
            JournalAction.SETTLE,
            owner="w1",
            invoice_id=1,
            paid_date=date(2024, 2, 10),
            evidence="si-1",
        )
    with _connect(pg_dsn) as conn:
        row = conn.execute(
            sql.SQL(
                "SELECT invoice_id, intent, outcome, external_reference, paid_date, updated_at "
                "FROM {}.payments"
            ).format(sql.Identifier(pg_schema))
        ).fetchone()
        assert row is not None
        assert row[:5] == (1, "settle", "processed", "FIN-1", date(2024, 2, 10))
        assert row[5] == datetime.fromtimestamp(clock.now, tz=timezone.utc)
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                sql.SQL("UPDATE {}.payments SET intent = 'bogus'").format(sql.Identifier(pg_schema))
            )


# -- connections, errors, credentials --------------------------------------------------------


async def test_dropped_connections_are_replaced(pg_dsn: str, pg_schema: str) -> None:
    async with PostgresJournal(pg_dsn, schema=pg_schema, application_name="qondor-test-drop") as j:
        await j.claim("1", "w1", 60)
        with _connect(pg_dsn) as conn:
            killed = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'qondor-test-drop'"
            ).fetchone()
        assert killed == (1,)
        # The call on the dead connection runs again on a new one.
        assert await j.claim("1", "w1", 60)
        assert j.reconnects == 1
        assert await j.claim("1", "w1", 60)
        assert j.reconnects == 1


async def test_persistent_unavailability_is_a_clean_journal_error(pg_dsn: str) -> None:
    dsn = "host=127.0.0.1 port=1 user=u password=hunter2 dbname=x connect_timeout=1"
    journal = PostgresJournal(dsn, reconnect_timeout=0.3)
    with pytest.raises(JournalError, match="stayed unavailable") as caught:
        await journal.get("1")
    assert "hunter2" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None
    await journal.aclose()


async def test_credentials_never_shown() -> None:
    journal = PostgresJournal("postgresql://reconciler:hunter2@db.internal:6432/finance")
    assert repr(journal) == (
        "PostgresJournal('host=db.internal port=6432 dbname=finance', schema='qondor_journal')"
    )
    await journal.aclose()
    with pytest.raises(ConfigurationError) as bad:
        PostgresJournal("host=x password='hunter2")
    assert "hunter2" not in str(bad.value)
    down = PostgresJournal("host=/nonexistent/qondor password=hunter2 connect_timeout=1")
    with pytest.raises(JournalError, match="cannot connect") as info:
        await down.get("1")
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(down)
    await down.aclose()


async def test_closed(pg_dsn: str, pg_schema: str) -> None:
    j = PostgresJournal(pg_dsn, schema=pg_schema)
    await j.get("1")
    await j.aclose()
    await j.aclose()
    with pytest.raises(JournalError, match="is closed"):
        await j.get("1")


def test_arguments_checked() -> None:
    with pytest.raises(ConfigurationError, match="schema"):
        PostgresJournal("", schema='x"; DROP TABLE y; --')
    with pytest.raises(ConfigurationError, match="schema"):
        PostgresJournal("", schema="Upper")
    with pytest.raises(ConfigurationError, match="pool_size"):
        PostgresJournal("", pool_size=0)
    with pytest.raises(ConfigurationError, match="connect_timeout"):
        PostgresJournal("", connect_timeout=0)
    with pytest.raises(ConfigurationError, match="lock_timeout"):
        PostgresJournal("", lock_timeout=-1)
    # Types and values that failed later, or waited without bound.
    with pytest.raises(ConfigurationError, match="conninfo must be a connection string"):
        PostgresJournal(5)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="pool_size"):
        PostgresJournal("", pool_size=1.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="reconnect_timeout"):
        PostgresJournal("", reconnect_timeout=float("inf"))
    with pytest.raises(ConfigurationError, match="connect_timeout"):
        PostgresJournal("", connect_timeout=True)


def test_lock_space_is_a_signed_int4() -> None:
    for schema in ("qondor_journal", "a", "office_42", "x" * 63):
        value = pg_module._lock_space(schema)
        assert -(2**31) <= value < 2**31


# -- the reconciler, unchanged, on PostgreSQL ------------------------------------------------


async def _no_sleep(seconds: float) -> None:
    return None


async def test_two_reconcilers_share_the_work(pg_dsn: str, pg_schema: str) -> None:
    """Two workers (two journals, as two processes would have) book, fail and settle.

    Every payment is handled by exactly one of them: one booking each, one state change each
    in Qondor, and the journal knows every outcome.
    """
    fake = FakeQondor(rate_limit=None)
    fake.seed(120, random_seed=8)
    qonto_fake = FakeQonto(rate_limit=None)
    async with QondorClient(
        api_key="test-key", transport=fake.transport, rate_limit=None, sleep=_no_sleep
    ) as qondor:
        queue = await qondor.invoices.list_unprocessed()
        finance = InMemoryFinanceSystem.accepting(queue)
    # Make every tenth payment invalid (not card payments: those are never failed).
    invalid = {
        i.id
        for n, i in enumerate(queue)
        if n % 10 == 0 and i.kind is not InvoiceKind.CREDIT_CARD_PAYMENT and i.lines
    }
    for invoice in queue:
        if invoice.id in invalid:
            fake.invoices[invoice.id].payload["lines"][0]["articleCode"] = f"GONE-{invoice.id}"

    policy = ReconcilePolicy(lease_seconds=30)
    async with (
        QondorClient(
            api_key="test-key", transport=fake.transport, rate_limit=None, sleep=_no_sleep
        ) as qondor,
        QontoClient(access_token="test-token", transport=qonto_fake.transport) as qonto,
        PostgresJournal(pg_dsn, schema=pg_schema) as ja,
        PostgresJournal(pg_dsn, schema=pg_schema) as jb,
    ):
        workers = [
            Reconciler(qondor, finance=finance, qonto=qonto, journal=j, owner=name, policy=policy)
            for j, name in ((ja, "worker-a"), (jb, "worker-b"))
        ]

        async def drain(reconciler: Reconciler) -> None:
            for _ in range(30):
                plan = await reconciler.plan()
                if not plan.steps:
                    return
                await reconciler.apply(plan)
            raise AssertionError("the queue did not drain")

        async with anyio.create_task_group() as tg:
            for reconciler in workers:
                tg.start_soon(drain, reconciler)

        # Qonto pays some of the bookings (the default matcher: invoice number = reference).
        by_id = {i.id: i for i in queue}
        paid = {
            i
            for i in sorted(finance.bookings)[::4]
            if by_id[i].kind is not InvoiceKind.CREDIT_CARD_PAYMENT
        }
        for invoice_id in paid:
            total = by_id[invoice_id].total()
            assert total is not None
            qonto_fake.add_supplier_invoice(
                invoice_number=finance.bookings[invoice_id].reference,
                status="paid",
                payment_date="2024-02-10",
                total_amount={"value": str(total.amount), "currency": total.currency},
                is_credit_note=by_id[invoice_id].kind is InvoiceKind.CREDIT_NOTE,
            )
        async with anyio.create_task_group() as tg:
            for reconciler in workers:
                tg.start_soon(drain, reconciler)
        assert await ja.unfinished() == []
        outcomes = {e.invoice_id: e.outcome for e in await jb.entries()}

    assert paid
    assert fake.refused_requests == []
    assert set(finance.book_calls.values()) == {1}
    for invoice_id in by_id:
        stored = fake.invoices[invoice_id]
        actions = [t.action for t in stored.history]
        if invoice_id in invalid:
            assert actions == [InvoiceAction.SET_AS_FAILED]
            assert outcomes[invoice_id] is JournalOutcome.FAILED
        elif invoice_id in paid:
            assert actions == [InvoiceAction.SET_AS_PROCESSED, InvoiceAction.SET_AS_PAID]
            assert stored.state is InvoiceState.PAID
            assert outcomes[invoice_id] is JournalOutcome.PAID
        else:
            assert actions == [InvoiceAction.SET_AS_PROCESSED], invoice_id
            assert stored.external_reference == finance.bookings[invoice_id].reference
            assert outcomes[invoice_id] is JournalOutcome.PROCESSED
    # Both workers did part of the work.
    with _connect(pg_dsn) as conn:
        owners = conn.execute(
            sql.SQL(
                "SELECT owner, count(*) FROM {}.events WHERE kind = 'outcome' GROUP BY 1"
            ).format(sql.Identifier(pg_schema))
        ).fetchall()
    assert {o for o, _ in owners} == {"worker-a", "worker-b"}, owners


# -- without a server, without psycopg ---------------------------------------------------------


def test_no_server_is_a_skip_outside_ci_and_a_failure_in_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import conftest_pg

    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no PostgreSQL server: initdb missing"):
        conftest_pg.unavailable("initdb missing")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI needs a PostgreSQL server"):
        conftest_pg.unavailable("initdb missing")
    monkeypatch.setattr(conftest_pg, "find_bin", lambda name: None)
    with pytest.raises(conftest_pg.ServerUnavailable, match="initdb/pg_ctl were not found"):
        conftest_pg.TempPostgres()


def test_without_psycopg_the_package_imports_and_the_journal_explains(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "import qondor_invoicing, qondor_invoicing.reconcile as r\n"
        "try:\n"
        "    r.PostgresJournal('')\n"
        "except qondor_invoicing.ConfigurationError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == (
        "PostgresJournal and PostgresRateLimiter need psycopg 3: "
        "pip install 'qondor-invoicing[postgres]'"
    )


async def test_processes_are_incarnations(pg_dsn: str, pg_schema: str, clock: Clock) -> None:
    async with (
        PostgresJournal(pg_dsn, schema=pg_schema, clock=clock) as a,
        PostgresJournal(pg_dsn, schema=pg_schema, clock=clock) as b,
    ):
        await test_journal.check_incarnations(a, b, clock)


async def test_version_1_schema_is_migrated(pg_dsn: str, pg_schema: str, clock: Clock) -> None:
    s = sql.Identifier(pg_schema)
    with _connect(pg_dsn) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(s))
        conn.execute(sql.SQL("CREATE TABLE {}.meta (key text PRIMARY KEY, value text)").format(s))
        for statement in pg_module._MIGRATIONS[0]:
            conn.execute(statement.replace("{s}", f'"{pg_schema}"'))
        conn.execute(sql.SQL("INSERT INTO {}.meta VALUES ('schema_version', '1')").format(s))
        conn.execute(
            sql.SQL("INSERT INTO {}.claims VALUES ('1', 'w', to_timestamp(%s))").format(s),
            (clock.now + 10,),
        )
    async with PostgresJournal(pg_dsn, schema=pg_schema, clock=clock) as j:
        assert await j.claim("1", "w", 10) is None  # an old process's claim: not ours
        clock.now += 11
        lease = await j.claim("1", "w", 10)
        assert lease is not None
        assert lease.token == 1
    with _connect(pg_dsn) as conn:
        row = conn.execute(
            sql.SQL("SELECT value FROM {}.meta WHERE key = 'schema_version'").format(s)
        ).fetchone()
        assert row == (str(pg_module.SCHEMA_VERSION),)
