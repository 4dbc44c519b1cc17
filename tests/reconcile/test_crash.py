"""Crash test: SIGKILL a reconciler process at random points, 30 times, then finish.

The fake is served over HTTP by this process, so its state survives every kill; the journal
and the finance system's bookings live in one SQLite file, so they survive too. Each kill
lands while the worker waits for the answer to its Nth request (N drawn at random), which
is then applied or not, so where the kills land does not depend on the machine's speed.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from qondor_invoicing.qondor import InvoiceAction, InvoiceKind, InvoiceState
from qondor_invoicing.testing import FakeQondor

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX"),
]

WORKER = Path(__file__).with_name("_crash_worker.py")
PAYMENTS = 120
KILLS = 30


def _line(code: str) -> dict[str, object]:
    return {
        "description": code,
        "articleCode": code,
        "articleCategory": "Conference",
        "quantity": 1,
        "unitPrice": 100.0,
        "amountExclVat": 100.0,
        "vatRate": 25,
        "vatAmount": 25.0,
        "amountInclVat": 125.0,
        "accountCode": "3000",
    }


class _KillSwitch:
    """Wraps the fake's ``handle``: holds the Nth request until the test has killed the worker.

    Released, the held request is applied (its answer goes to a dead process) or dropped
    unapplied, as armed.
    """

    def __init__(self, fake: FakeQondor) -> None:
        self._handle = fake.handle
        self._lock = threading.Lock()
        self._count = 0
        self._at: int | None = None
        self._apply = False
        self.reached = threading.Event()
        self.released = threading.Event()

    def arm(self, at: int | None, *, apply: bool = False) -> None:
        with self._lock:
            self._count, self._at, self._apply = 0, at, apply
            self.reached.clear()
            self.released.clear()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self._count += 1
            hold, apply = self._count == self._at, self._apply
        if hold:
            self.reached.set()
            self.released.wait()
            if not apply:
                raise httpx.ConnectError("dropped by the crash test", request=request)
        return self._handle(request)


def _start(url: str, db: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, str(WORKER), url, str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_sigkill_at_random_points(tmp_path: Path) -> None:
    rng = random.Random(5)
    fake = FakeQondor(rate_limit=None)
    switch = _KillSwitch(fake)
    fake.handle = switch  # type: ignore[method-assign]
    valid: list[int] = []
    invalid: dict[int, str] = {}
    for n in range(PAYMENTS):
        if n % 8 == 0:
            code = f"GONE-{n}"
            invalid[fake.add_invoice(lines=[_line(code)])] = (
                f"Article code '{code}' not found in finance system"
            )
        else:
            kind = (InvoiceKind.INVOICE_SPECIFICATION, InvoiceKind.CREDIT_CARD_PAYMENT)[n % 2]
            valid.append(fake.add_invoice(kind=kind, lines=[_line("CONF-DAY")]))
    db = tmp_path / "reconcile.db"
    started = time.monotonic()
    killed_mid_work = 0
    with fake.serve() as url:
        for _ in range(KILLS):
            switch.arm(rng.randint(1, 10), apply=rng.random() < 0.5)
            proc = _start(url, db)
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready", proc.stderr
            # Wait for the worker to send its Nth request, or to finish first.
            while not switch.reached.wait(0.01) and proc.poll() is None:
                pass
            if switch.reached.is_set():
                proc.send_signal(signal.SIGKILL)
                killed_mid_work += 1
            proc.wait(timeout=120)
            switch.released.set()
            assert proc.returncode in (-signal.SIGKILL, 0), proc.returncode
            proc.stdout.close()
            assert proc.stderr is not None
            proc.stderr.close()
        switch.arm(None)
        # Then run to completion (twice: the second run must find nothing to do).
        for attempt in range(2):
            proc = _start(url, db)
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            if attempt == 1:
                assert "Report: nothing" in out, out
    elapsed = time.monotonic() - started

    # The first run has every payment to do, far more than 10 requests: it is always killed.
    assert killed_mid_work >= 1, killed_mid_work
    assert fake.refused_requests == []
    conn = sqlite3.connect(db)
    bookings = dict(conn.execute("SELECT invoice_id, reference FROM fin_bookings").fetchall())
    booking_rows = Counter(i for (i,) in conn.execute("SELECT invoice_id FROM fin_bookings"))
    calls = conn.execute("SELECT invoice_id, reference_recorded FROM fin_calls").fetchall()
    journal = {
        int(key): (intent, outcome, reference)
        for key, intent, outcome, reference in conn.execute(
            "SELECT payment_key, intent, outcome, external_reference FROM payments"
        )
    }
    conn.close()

    # No double booking: one booking per valid payment, and book() was never called for a
    # payment whose reference the journal already held.
    assert set(bookings) == set(valid)
    assert all(n == 1 for n in booking_rows.values())
    assert [c for c in calls if c[1] is not None] == []
    assert {i for i, _ in calls} == set(valid)
    # No lost reference: Qondor, the journal and the finance system agree.
    for invoice_id in valid:
        stored = fake.invoices[invoice_id]
        assert stored.state is InvoiceState.PROCESSED
        assert stored.external_reference == bookings[invoice_id]
        assert [t.action for t in stored.history] == [InvoiceAction.SET_AS_PROCESSED]
        assert journal[invoice_id] == (None, "processed", bookings[invoice_id])
    for invoice_id, message in invalid.items():
        stored = fake.invoices[invoice_id]
        assert stored.state is InvoiceState.FAILED
        assert stored.failure_message == message
        assert [t.action for t in stored.history] == [InvoiceAction.SET_AS_FAILED]
        assert journal[invoice_id] == (None, "failed", None)
    extra_calls = len(calls) - len(valid)
    print(
        f"crash: {KILLS} kills ({killed_mid_work} mid-work), {len(calls)} book calls for "
        f"{len(valid)} bookings ({extra_calls} repeated after a kill), {elapsed:.1f} s"
    )
