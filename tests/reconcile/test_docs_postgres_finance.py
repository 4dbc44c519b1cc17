"""The worked PostgreSQL finance system of docs/workers.md runs and conforms."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["conftest_pg"]

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "postgres_finance.py"


def test_the_docs_postgres_finance_example_conforms(pg_dsn: str, pg_schema: str) -> None:
    import psycopg

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{pg_schema}"')
    dsn = f"{pg_dsn} options='-csearch_path={pg_schema}'"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QONDOR_", "QONTO_"))}
    env["FINANCE_DSN"] = dsn
    env["PYTHONPATH"] = str(ROOT / "src")
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", str(EXAMPLE)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    # Concurrent calls each draw a number before the conflict is seen: the one booking
    # may have any of them (a sequence does not give numbers back).
    match = re.search(r"conforms; booked once as (FIN-\d+)", done.stdout)
    assert match is not None, done.stdout
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT reference FROM bookings").fetchall()
    assert rows == [(match[1],)]
