"""The journal's rules over a storage layer, shared by every backend."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Collection, Sequence
from datetime import date, datetime, timedelta, timezone
from types import TracebackType
from typing import Any, TypeVar

import anyio.to_thread
import attrs

from ...errors import InvalidInputError
from ._entry import JournalAction, JournalEntry, JournalEvent, JournalEventKind, JournalOutcome
from ._errors import JournalConflictError, LeaseLostError
from ._lease import Lease, _Claim


def _now(clock: Callable[[], float]) -> datetime:
    return datetime.fromtimestamp(clock(), tz=timezone.utc)


_J = TypeVar("_J", bound="_StoredJournal")


class _StoredJournal:
    """The journal's rules over a storage layer; subclasses provide storage and a runner.

    Every public method runs one synchronous ``_do_*`` function through ``_run`` inside
    ``_atomic()``: the storage layer makes that one transaction.

    Each journal object is one **incarnation**: a random id stored with every claim it
    grants, next to the owner's name. A claim is held by an owner *and* an incarnation, so a
    process restarted with the same owner name (a new journal object) does not inherit the
    old process's claims, nor the old process its successor's.
    """

    def __init__(self, *, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.incarnation: str = secrets.token_hex(6)

    # -- storage layer (subclasses) --------------------------------------------------------

    async def _run(self, fn: Callable[[], Any]) -> Any:
        raise NotImplementedError

    def _atomic(self) -> contextlib.AbstractContextManager[None]:
        raise NotImplementedError

    def _get_claim(self, payment_key: str) -> _Claim | None:
        raise NotImplementedError

    def _set_claim(self, payment_key: str, claim: _Claim) -> None:
        raise NotImplementedError

    def _delete_claim(self, payment_key: str, claim: _Claim) -> None:
        """Delete the payment's claim if it is still ``claim`` (same holder and token)."""
        raise NotImplementedError

    def _next_token(self) -> int:
        """A fencing token greater than every one this journal's storage handed out."""
        raise NotImplementedError

    def _load(self, payment_key: str) -> JournalEntry | None:
        raise NotImplementedError

    def _store(self, entry: JournalEntry) -> None:
        raise NotImplementedError

    def _append(self, event: JournalEvent) -> None:
        raise NotImplementedError

    def _select(self, *, unfinished: bool, outcome: JournalOutcome | None) -> list[JournalEntry]:
        raise NotImplementedError

    def _events(self, payment_key: str) -> list[JournalEvent]:
        raise NotImplementedError

    def _prune(self, cutoff: datetime) -> int:
        """Delete events before ``cutoff``; clear the messages of entries closed before it."""
        raise NotImplementedError

    # -- the rules -------------------------------------------------------------------------

    def _fence(self, payment_key: str, owner: str, token: int | None) -> _Claim:
        """The claim, if ``owner`` holds it in this incarnation (under ``token`` if given)."""
        claim = self._get_claim(payment_key)
        if claim is None:
            raise LeaseLostError(payment_key, owner, None)
        if claim.owner != owner or claim.incarnation != self.incarnation:
            holder = claim.owner
            detail = None
            if holder == owner:
                detail = f"does not hold the claim (held by another process named {owner!r})"
            raise LeaseLostError(payment_key, owner, holder, detail=detail)
        if token is not None and claim.token != token:
            raise LeaseLostError(
                payment_key,
                owner,
                claim.owner,
                detail=f"holds token {token}, no longer current (now {claim.token})",
            )
        return claim

    def _require(self, payment_key: str) -> JournalEntry:
        entry = self._load(payment_key)
        if entry is None:
            raise JournalConflictError(payment_key, "the journal has never seen this payment")
        return entry

    def _do_claim(self, payment_key: str, owner: str, lease_seconds: float) -> Lease | None:
        with self._atomic():
            now = self._clock()
            held = self._get_claim(payment_key)
            mine = held is not None and (held.owner, held.incarnation) == (owner, self.incarnation)
            if held is not None and not mine and held.expires_at > now:
                return None
            token = held.token if held is not None and mine else self._next_token()
            if held is not None and not mine:
                self._append(
                    JournalEvent(
                        payment_key=payment_key,
                        at=_now(self._clock),
                        kind=JournalEventKind.TAKEOVER,
                        owner=owner,
                        detail=f"lease of {held.owner!r} expired (token {held.token} -> {token})",
                    )
                )
            self._set_claim(
                payment_key, _Claim(owner, self.incarnation, token, now + lease_seconds)
            )
            return Lease(
                payment_key=payment_key, owner=owner, token=token, expires_at=now + lease_seconds
            )

    def _do_renew(self, lease: Lease, lease_seconds: float) -> Lease:
        with self._atomic():
            claim = self._fence(lease.payment_key, lease.owner, lease.token)
            expires_at = self._clock() + lease_seconds
            self._set_claim(lease.payment_key, attrs.evolve(claim, expires_at=expires_at))
            return attrs.evolve(lease, expires_at=expires_at)

    def _do_check(self, lease: Lease, margin: float) -> Lease:
        with self._atomic():
            claim = self._fence(lease.payment_key, lease.owner, lease.token)
            left = claim.expires_at - self._clock()
            if left < margin:
                raise LeaseLostError(
                    lease.payment_key,
                    lease.owner,
                    claim.owner,
                    detail=(
                        f"has {max(left, 0.0):.3g} s of its lease left, less than the safety "
                        f"margin of {margin:.3g} s"
                    ),
                )
            return attrs.evolve(lease, expires_at=claim.expires_at)

    def _do_release(self, payment_key: str, owner: str, token: int | None) -> None:
        with self._atomic():
            claim = self._get_claim(payment_key)
            if (
                claim is not None
                and (claim.owner, claim.incarnation) == (owner, self.incarnation)
                and (token is None or claim.token == token)
            ):
                self._delete_claim(payment_key, claim)

    def _do_orphan(self, payment_key: str, reference: str, owner: str, detail: str) -> None:
        with self._atomic():
            self._append(
                JournalEvent(
                    payment_key=payment_key,
                    at=_now(self._clock),
                    kind=JournalEventKind.ORPHAN,
                    owner=owner,
                    action=JournalAction.BOOK,
                    detail=f"{reference}: {detail}",
                )
            )

    def _write(
        self,
        payment_key: str,
        owner: str,
        token: int | None,
        change: Callable[[datetime], JournalEntry],
        event: Callable[[JournalEntry, datetime], JournalEvent],
    ) -> JournalEntry:
        """One fenced write: the entry as ``change`` makes it, and its event, atomically."""
        with self._atomic():
            self._fence(payment_key, owner, token)
            at = _now(self._clock)
            entry = change(at)
            self._store(entry)
            self._append(event(entry, at))
            return entry

    def _load_or_new(self, payment_key: str, invoice_id: int) -> JournalEntry:
        return self._load(payment_key) or JournalEntry.new(payment_key, invoice_id)

    def _do_intent(
        self,
        payment_key: str,
        action: JournalAction,
        owner: str,
        token: int | None,
        invoice_id: int,
        kwargs: dict[str, Any],
    ) -> JournalEntry:
        return self._write(
            payment_key,
            owner,
            token,
            lambda at: self._load_or_new(payment_key, invoice_id).with_intent(
                action, at=at, **kwargs
            ),
            lambda entry, at: _intent_event(entry, owner, at),
        )

    def _do_reference(
        self, payment_key: str, reference: str, owner: str, token: int | None
    ) -> JournalEntry:
        return self._write(
            payment_key,
            owner,
            token,
            lambda at: self._require(payment_key).with_reference(reference, at=at),
            lambda entry, at: JournalEvent(
                payment_key=payment_key,
                at=at,
                kind=JournalEventKind.REFERENCE,
                owner=owner,
                action=JournalAction.BOOK,
                detail=reference,
            ),
        )

    def _do_outcome(
        self,
        payment_key: str,
        outcome: JournalOutcome,
        owner: str,
        token: int | None,
        invoice_id: int,
        external_reference: str | None,
        paid_date: date | None,
        detail: str | None,
    ) -> JournalEntry:
        return self._write(
            payment_key,
            owner,
            token,
            lambda at: self._load_or_new(payment_key, invoice_id).with_outcome(
                outcome, at=at, external_reference=external_reference, paid_date=paid_date
            ),
            lambda entry, at: JournalEvent(
                payment_key=payment_key,
                at=at,
                kind=JournalEventKind.OUTCOME,
                owner=owner,
                outcome=outcome,
                detail=detail,
            ),
        )

    def _do_error(
        self, payment_key: str, message: str, owner: str, token: int | None
    ) -> JournalEntry:
        return self._write(
            payment_key,
            owner,
            token,
            lambda at: self._require(payment_key).with_error(message, at=at),
            lambda entry, at: JournalEvent(
                payment_key=payment_key,
                at=at,
                kind=JournalEventKind.ERROR,
                owner=owner,
                action=entry.intent,
                detail=message,
            ),
        )

    def _do_prune(self, older_than: timedelta) -> int:
        with self._atomic():
            return self._prune(_now(self._clock) - older_than)

    # -- the protocol ----------------------------------------------------------------------

    async def claim(self, payment_key: str, owner: str, lease_seconds: float) -> Lease | None:
        """See `Journal.claim`."""
        _check_lease_seconds(lease_seconds)
        result: Lease | None = await self._run(
            lambda: self._do_claim(payment_key, owner, lease_seconds)
        )
        return result

    async def renew(self, lease: Lease, lease_seconds: float) -> Lease:
        """See `Journal.renew`."""
        _check_lease_seconds(lease_seconds)
        result: Lease = await self._run(lambda: self._do_renew(lease, lease_seconds))
        return result

    async def check(self, lease: Lease, *, margin: float = 0.0) -> Lease:
        """See `Journal.check`."""
        result: Lease = await self._run(lambda: self._do_check(lease, margin))
        return result

    async def release(self, payment_key: str, owner: str, *, token: int | None = None) -> None:
        """See `Journal.release`."""
        await self._run(lambda: self._do_release(payment_key, owner, token))

    async def record_orphan(
        self, payment_key: str, external_reference: str, *, owner: str, detail: str
    ) -> None:
        """See `Journal.record_orphan`."""
        await self._run(lambda: self._do_orphan(payment_key, external_reference, owner, detail))

    async def lookup(
        self, payment_keys: Collection[str], owner: str
    ) -> tuple[dict[str, JournalEntry], set[str]]:
        """The entries of ``payment_keys`` the journal knows, and those another worker holds.

        For the reconciler's plan, in one call right after it lists the queue (the shorter
        the time between the two, the fewer payments finished meanwhile by another worker
        look queued): it skips the held ones (another live worker plans, reads and changes
        them) without reading them from Qondor. A snapshot: claims change right after.

        Returns:
            ``(entries by key, keys held by another owner with an unexpired lease)``.
        """
        result: tuple[dict[str, JournalEntry], set[str]] = await self._run(
            lambda: self._lookup(payment_keys, owner)
        )
        return result

    def _lookup(
        self, payment_keys: Collection[str], owner: str
    ) -> tuple[dict[str, JournalEntry], set[str]]:
        now = self._clock()
        entries: dict[str, JournalEntry] = {}
        held = set()
        for key in payment_keys:
            entry = self._load(key)
            if entry is not None:
                entries[key] = entry
            claim = self._get_claim(key)
            if (
                claim is not None
                and (claim.owner, claim.incarnation) != (owner, self.incarnation)
                and claim.expires_at > now
            ):
                held.add(key)
        return entries, held

    async def get(self, payment_key: str) -> JournalEntry | None:
        """See `Journal.get`."""
        result: JournalEntry | None = await self._run(lambda: self._load(payment_key))
        return result

    async def record_intent(
        self,
        payment_key: str,
        action: JournalAction,
        *,
        owner: str,
        invoice_id: int,
        kind: str | None = None,
        failure_message: str | None = None,
        paid_date: date | None = None,
        evidence: str | None = None,
        token: int | None = None,
    ) -> JournalEntry:
        """See `Journal.record_intent`."""
        kwargs = {
            "kind": kind,
            "failure_message": failure_message,
            "paid_date": paid_date,
            "evidence": evidence,
        }
        result: JournalEntry = await self._run(
            lambda: self._do_intent(payment_key, action, owner, token, invoice_id, kwargs)
        )
        return result

    async def record_reference(
        self, payment_key: str, external_reference: str, *, owner: str, token: int | None = None
    ) -> JournalEntry:
        """See `Journal.record_reference`."""
        result: JournalEntry = await self._run(
            lambda: self._do_reference(payment_key, external_reference, owner, token)
        )
        return result

    async def record_outcome(
        self,
        payment_key: str,
        outcome: JournalOutcome,
        *,
        owner: str,
        invoice_id: int,
        external_reference: str | None = None,
        paid_date: date | None = None,
        detail: str | None = None,
        token: int | None = None,
    ) -> JournalEntry:
        """See `Journal.record_outcome`."""
        result: JournalEntry = await self._run(
            lambda: self._do_outcome(
                payment_key,
                outcome,
                owner,
                token,
                invoice_id,
                external_reference,
                paid_date,
                detail,
            )
        )
        return result

    async def record_error(
        self, payment_key: str, message: str, *, owner: str, token: int | None = None
    ) -> JournalEntry:
        """See `Journal.record_error`."""
        result: JournalEntry = await self._run(
            lambda: self._do_error(payment_key, message, owner, token)
        )
        return result

    async def unfinished(self) -> Sequence[JournalEntry]:
        """See `Journal.unfinished`."""
        result: list[JournalEntry] = await self._run(
            lambda: self._select(unfinished=True, outcome=None)
        )
        return result

    async def entries(self, *, outcome: JournalOutcome | None = None) -> Sequence[JournalEntry]:
        """See `Journal.entries`."""
        result: list[JournalEntry] = await self._run(
            lambda: self._select(unfinished=False, outcome=outcome)
        )
        return result

    async def history(self, payment_key: str) -> Sequence[JournalEvent]:
        """See `Journal.history`."""
        result: list[JournalEvent] = await self._run(lambda: self._events(payment_key))
        return result

    async def prune(self, *, older_than: timedelta) -> int:
        """Forget the personal data the journal keeps beyond ``older_than``.

        Failure messages and error texts name customers (a Qondor ``failureMessage``, a
        server's error), and the audit trail repeats them. This deletes every history event
        written more than ``older_than`` ago, and clears ``failure_message`` and
        ``last_error`` of every entry closed (no open intent) and last changed more than
        ``older_than`` ago. What the reconciler needs to stay safe is kept: entries with an
        open intent are untouched, and every entry keeps its outcome and the finance
        system's reference. Times are the journal's clock (the server's, for PostgreSQL).

        Run it on a schedule (e.g. daily, with the retention period your data protection
        policy sets); it is safe while reconcilers run.

        Args:
            older_than: How long personal data is kept, e.g. ``timedelta(days=90)``.

        Returns:
            How many records were deleted or cleared (events plus entries).

        Raises:
            InvalidInputError: ``older_than`` is not a ``timedelta``, or is negative.
        """
        if not isinstance(older_than, timedelta):
            raise InvalidInputError(
                "older_than",
                f"must be a datetime.timedelta (e.g. timedelta(days=90)), not "
                f"{type(older_than).__name__}",
                value=older_than,
            )
        if older_than < timedelta(0):
            # A negative age would reach into the future: everything closed, today's too.
            raise InvalidInputError(
                "older_than", f"must not be negative, not {older_than!r}", value=older_than
            )
        return int(await self._run(lambda: self._do_prune(older_than)))

    async def __aenter__(self: _J) -> _J:
        await self._run(lambda: None)  # opens the storage now, so errors surface here
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Release the journal's resources. Idempotent."""
        await anyio.to_thread.run_sync(self.close)

    def close(self) -> None:
        """Release the journal's resources (blocking). Idempotent."""


def _intent_event(entry: JournalEntry, owner: str, at: datetime) -> JournalEvent:
    assert entry.intent is not None
    detail: str | None = None
    if entry.intent is JournalAction.FAIL:
        detail = entry.failure_message
    elif entry.intent is JournalAction.SETTLE:
        paid = entry.paid_date.isoformat() if entry.paid_date else "?"
        detail = f"paid {paid}, evidence {entry.evidence}"
    elif entry.external_reference:
        detail = f"resuming with reference {entry.external_reference}"
    return JournalEvent(
        payment_key=entry.payment_key,
        at=at,
        kind=JournalEventKind.INTENT,
        owner=owner,
        action=entry.intent,
        detail=detail,
    )


def _check_lease_seconds(lease_seconds: float) -> None:
    if not lease_seconds > 0:
        raise ValueError(f"lease_seconds must be > 0, not {lease_seconds!r}")


def _updated_key(entry: JournalEntry) -> tuple[datetime, str]:
    return (entry.updated_at or datetime.min.replace(tzinfo=timezone.utc), entry.payment_key)
