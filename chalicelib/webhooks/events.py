"""Webhook events (contract §24): what happened, recorded in the change's own transaction.

A change that records events writes ONE item more in its TransactWriteItems,
`EVENTS#<first event id> / EVENTS`, holding every event of that change
(`[{"event_id", "type", "created_at", "data"}]`), written once
(`attribute_not_exists`: an id that repeats makes the change decide again). There
is no second write path: an event exists exactly when its change was committed.

Until the events are fanned out to the webhooks that subscribe to them
(chalicelib/webhooks/delivery.py), the item sits in the sparse `webhook-due` index
(`webhook_due` = `EVENTS#<shard>`, `due_at` = when it happened): after the commit a
pointer goes to the webhook queue at once, and the dispatcher finds anything whose
pointer was lost.

`data` carries ids, points and amounts, never a name, email, phone or birthday:
a transaction as the API shows it (an adjustment's free-text `reason` left out:
an operator may have typed anything there), a coupon, a tier move, an id.

This module is loaded by the API (every change may record events): the standard
library and the repository's keys only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Optional, Protocol

from chalicelib.domain.calendar import parse_instant
from chalicelib.domain.ids import new_id
from chalicelib.ledger.views import COUPON_FIELDS as PUBLIC_COUPON_FIELDS
from chalicelib.ledger.views import PUBLIC_TX_FIELDS
from chalicelib.storage.repository import events_key
from chalicelib.storage.store import STALE, Commit

EVENT_TYPES = (
    "member.enrolled",
    "member.erased",
    "points.earned",
    "points.redeemed",
    "points.expired",
    "points.adjusted",
    "transaction.reversed",
    "tier.changed",
    "coupon.issued",
    "coupon.used",
    "member.dormant",
    "campaign.launched",
)
# the transaction types whose recording is an event, and which
TRANSACTION_EVENTS = {
    "earn": "points.earned",
    "bonus": "points.earned",
    "activity": "points.earned",
    "redeem": "points.redeemed",
    "expire": "points.expired",
    "adjust": "points.adjusted",
    "reversal": "transaction.reversed",
}
# in the `webhook-due` index until fanned out (see delivery.py)
DUE_KEY = "webhook_due"
DUE_AT = "due_at"
EVENT_SHARDS = 4
KEPT = dt.timedelta(days=30)  # events and deliveries are kept this long (TTL `expires_at`)
# free text an operator types: never in a payload
FREE_TEXT = {"adjust": ("reason",)}
# a payload shows a transaction and a coupon as the API answers them (less free text)
TRANSACTION_FIELDS = PUBLIC_TX_FIELDS
COUPON_FIELDS = PUBLIC_COUPON_FIELDS


class UnknownEventTypeError(ValueError):
    pass


def event(type_: str, data: dict, created_at: str, event_id: Optional[str] = None) -> dict:
    if type_ not in EVENT_TYPES:
        raise UnknownEventTypeError(f"unknown webhook event type {type_!r}")
    return {"event_id": event_id or new_id(), "type": type_, "created_at": created_at, "data": data}


def transaction_data(tx: dict) -> dict:
    """`{"member_id", "transaction"}` for `points.*` and `transaction.reversed`."""
    hidden = FREE_TEXT.get(tx.get("type", ""), ())
    shown = {k: tx[k] for k in TRANSACTION_FIELDS if tx.get(k) is not None and k not in hidden}
    shown["storefront"] = tx.get("storefront")
    return {"member_id": tx["member_id"], "transaction": shown}


def coupon_data(coupon: dict) -> dict:
    """`{"member_id", "coupon"}` for `coupon.*`."""
    return {"member_id": coupon["member_id"], "coupon": {k: coupon.get(k) for k in COUPON_FIELDS}}


def event_shard(event_id: str) -> str:
    return str(int(hashlib.sha256(event_id.encode()).hexdigest(), 16) % EVENT_SHARDS)


def events_item(events: list[dict]) -> dict:
    """The one item that holds a change's events (written with the change)."""
    first = events[0]
    pk, sk = events_key(first["event_id"])
    created = parse_instant(first["created_at"])
    return {
        "pk": pk,
        "sk": sk,
        "events": events,
        "created_at": first["created_at"],
        DUE_KEY: f"EVENTS#{event_shard(first['event_id'])}",
        DUE_AT: first["created_at"],
        "expires_at": int((created + KEPT).timestamp()),
    }


class Recorder(Protocol):
    """What records events: a member change's Unit (chalicelib/ledger/member_changes.py)."""

    def event(self, type_: str, data: dict) -> dict: ...


def record_event(target: Recorder | Commit, type_: str, data: dict, created_at: Optional[str] = None) -> dict:
    """Record one webhook event in the transaction about to be committed.

    `target` is a member change's `Unit` (the event joins the change's events item,
    and its pointer is queued after the commit), or any `Commit` (a campaign's launch:
    an events item of its own is added to that commit, written once; the dispatcher,
    `send_due_webhooks`, fans it out within a minute and a half, or at once when the
    caller, after committing, hands the returned event's `events_pk` to
    `runtime.services().webhook_queue.announce`).
    `created_at` (for a Commit) defaults to now. Returns the event."""
    if not isinstance(target, Commit):
        return target.event(type_, data)
    from chalicelib import clock
    from chalicelib.domain.calendar import format_instant

    made = event(type_, data, created_at or format_instant(clock.now()))
    item = events_item([made])
    target.put_new(item, STALE)
    return {**made, "events_pk": item["pk"]}
