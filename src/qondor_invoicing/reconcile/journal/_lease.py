"""`Lease`: a worker's claim on one payment, with its fencing token."""

from __future__ import annotations

import attrs


@attrs.frozen(kw_only=True)
class Lease:
    """A claim on one payment, as `Journal.claim` granted it (or `Journal.renew` extended it).

    The **fencing token** is what makes a claim safe between processes: every claim that is
    newly granted (not renewed) takes a token strictly greater than every token granted
    before on the journal, so a worker whose claim was taken over holds a token that is no
    longer current, and every fenced call it makes is refused. Pass the lease's token to the
    ``record_*`` calls (``token=lease.token``) and call `Journal.check` before each side
    effect.

    Attributes:
        payment_key: The payment.
        owner: The worker's name.
        token: The fencing token of this claim.
        expires_at: When the lease ends unless renewed, on the journal's clock (epoch
            seconds; the database server's clock for `PostgresJournal`).
    """

    payment_key: str
    owner: str
    token: int
    expires_at: float


@attrs.frozen
class _Claim:
    """A claim as stored: its holder (owner and journal incarnation), token and expiry."""

    owner: str
    incarnation: str
    token: int
    expires_at: float
