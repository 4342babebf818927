"""A member with 20,000 live lots: every operation is one transaction within
DynamoDB's limits and exactly to the contract (§4: soonest-expiring first;
a cancel restores into the lots with their expiry; a transfer keeps them).

The lots are written straight into the table (an adjustment of their sum on
the ledger), then everything else goes through the API."""

from __future__ import annotations

import datetime as dt
import json
import os

from chalicelib.domain.calendar import format_instant
from tests.checks import earn, history, redeem, stats

# On stock moto (DANGOL_STOCK_MOTO=1) every TransactWriteItems copies the whole
# table, so there the same checks run on 1,000 lots.
LOTS = int(os.environ.get("DANGOL_TEST_LOTS") or (1000 if os.environ.get("DANGOL_STOCK_MOTO") else 20000))
PROGRAM = {
    "transfer": {"allowed_tiers": ["basic"], "min_points": 1},
    "redemption": {"min_points": 1},
    "signup_bonus": 1000,
}
NOW = dt.datetime(2027, 1, 15, 3, 0, 0, tzinfo=dt.UTC)


class Calls:
    def __init__(self):
        from chalicelib import aws

        self.client = aws.client("dynamodb")
        self.seen: list[tuple[str, int, int]] = []  # (operation, actions, request bytes)
        self.client.meta.events.register("before-call.dynamodb", self._record)

    def _record(self, model, params, **_):
        body = params.get("body") or b"{}"
        actions = len(json.loads(body).get("TransactItems", [])) if model.name == "TransactWriteItems" else 0
        self.seen.append((model.name, actions, len(body)))

    def take(self):
        seen, self.seen = self.seen, []
        return seen

    def close(self):
        self.client.meta.events.unregister("before-call.dynamodb", self._record)


def bulk_lots(member_id: str) -> tuple[list[tuple[str, int]], int]:
    """20,000 lots in the member's space, expiring every 43 minutes from 10 days on."""
    from chalicelib.runtime import services
    from devtools.bulk_lots import add_lots

    return add_lots(services().store, member_id, LOTS, NOW)


def expiring_of(lots, now, extra=()):
    horizon = format_instant(now + dt.timedelta(days=30))
    now_text = format_instant(now)
    found = [{"points": p, "expires_at": k.split("#")[0]} for k, p in lots if now_text < k.split("#")[0] <= horizon]
    return found + list(extra)


def consistent(api, *member_ids):
    balances = 0
    for member_id in member_ids:
        balance = api.balance(member_id)
        assert balance == sum(tx["points"] for tx in history(api, member_id)) >= 0
        balances += balance
    assert stats(api)["points_outstanding"] == balances


def one_transaction(calls):
    writes = [
        c for c in calls if c[0] in ("TransactWriteItems", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem")
    ]
    assert [c[0] for c in writes] == ["TransactWriteItems"], calls
    assert writes[0][1] <= 100 and writes[0][2] < 4 * 1024 * 1024, writes
    return writes[0]


def test_twenty_thousand_lots_every_operation_in_one_transaction(api, clock):
    api.program(PROGRAM)
    api.member("big")
    api.member("friend")
    lots, total = bulk_lots("big")
    calls = Calls()
    try:
        view = api.get("/members/big").json
        assert view["balance"] == total + 1000
        assert view["expiring"] == expiring_of(lots, NOW)
        reads = calls.take()
        assert [c[0] for c in reads if c[0] != "GetItem"] == ["BatchGetItem", "Query"], reads

        bought = earn(api, "big", "o-1", 10000)  # a lot of its own, 100 points
        one_transaction(calls.take())
        balance = total + 1000 + 100

        spent = redeem(api, "big", balance)  # every lot at once
        one_transaction(calls.take())
        assert api.balance("big") == 0
        calls.take()

        back = api.post(f"/members/big/transactions/{spent['transaction_id']}/reversal", {})
        assert back.status == 201 and back.json["points"] == balance, back
        one_transaction(calls.take())
        assert api.get("/members/big").json["expiring"] == expiring_of(lots, NOW)
        assert api.balance("big") == balance
        calls.take()

        refund = api.post(f"/members/big/transactions/{bought['transaction_id']}/reversal", {})
        assert refund.status == 201 and refund.json["points"] == -100, refund
        one_transaction(calls.take())
        assert api.get("/members/big").json["expiring"] == expiring_of(lots, NOW)
        balance -= 100

        given = api.post("/members/big/transfers", {"to_member_id": "friend", "points": balance})
        assert given.status == 201, given
        one_transaction(calls.take())
        friend = api.get("/members/friend").json
        assert friend["balance"] == balance + 1000
        assert friend["expiring"] == expiring_of(lots, NOW)
        assert api.balance("big") == 0
        consistent(api, "big", "friend")
        calls.take()

        clock.advance(days=100)
        later = NOW + dt.timedelta(days=100)
        due = sum(p for k, p in lots if k.split("#")[0] <= format_instant(later))
        from chalicelib import local

        local.run_job("expire_points")
        expired = [tx for tx in history(api, "friend") if tx["type"] == "expire"]
        assert [tx["points"] for tx in expired] == [-due]
        assert api.get("/members/friend").json["expiring"] == expiring_of(lots, later)
        consistent(api, "big", "friend")
    finally:
        calls.close()
