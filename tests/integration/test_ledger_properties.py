"""Random sequences of point operations through the API keep the ledger consistent.

After every step, for every member: the balance equals the sum of `points` over
all its transactions (every history page), never goes below zero, equals the
newest transaction's `balance_after`, and each transaction's `balance_after` is
the running sum up to it; `/stats` `points_outstanding` equals the sum of the
balances (contract §4, §8). Operations the contract rejects must be rejected
with the right code and change nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tests.conftest import Api, FrozenClock

MEMBERS = ("m0", "m1", "m2")
TIER_NAMES = ["새싹", "열매", "나무", "숲"]
PROGRAM = {
    "currency": "KRW",
    "timezone": "Asia/Seoul",
    "base_rate": "0.01",
    "category_multipliers": {"new-arrivals": "2"},
    "promotions": [
        {
            "name": "grand-opening",
            "multiplier": "2",
            "starts_at": "2027-01-01T00:00:00Z",
            "ends_at": "2027-01-08T00:00:00Z",
            "categories": None,
        },
    ],
    "signup_bonus": 1000,
    "referral": {"referrer_points": 1000, "referee_points": 1000},
    "expiry_days": 30,
    "redemption": {"min_points": 500},
    "transfer": {"allowed_tiers": TIER_NAMES, "min_points": 100},
    "tiers": [
        {"name": "새싹", "min_spend": 0, "earn_multiplier": "1", "expiry_days": None},
        {"name": "열매", "min_spend": 30000, "earn_multiplier": "1.2", "expiry_days": None},
        {"name": "나무", "min_spend": 60000, "earn_multiplier": "1.5", "expiry_days": 45},
        {"name": "숲", "min_spend": 100000, "earn_multiplier": "2", "expiry_days": 60},
    ],
}
START = dt.datetime(2027, 1, 3, 3, 0, 0, tzinfo=dt.UTC)
HISTORY_PAGE = 10  # small pages, so that history is read across several pages

members = st.sampled_from(MEMBERS)


class LedgerMachine(RuleBasedStateMachine):
    """Three members (m1 joined with m0's referral code) on a fresh moto per example."""

    # -- setup / teardown ------------------------------------------------
    @initialize()
    def start(self):
        from chalice.test import Client
        from moto import mock_aws

        import app as app_module
        from chalicelib import clock as clock_module
        from chalicelib import local, runtime

        self.mock = mock_aws()
        self.mock.start()
        self.real_now = clock_module.now
        self.clock = FrozenClock(START)
        clock_module.now = self.clock
        runtime.reset()
        local.create_resources()
        admin = local.create_api_key("admin", "hq")
        storefront = local.create_api_key("storefront", "pos-1")
        self.client = Client(app_module.app)
        self.api = Api(self.client, admin, storefront)
        self.api.program(PROGRAM)
        m0 = self.api.member("m0", email="m0@example.com")
        self.api.member("m1", referral_code=m0["referral_code"])
        self.api.member("m2", phone="+821012345678")
        self.referral_pending = True  # m1's first earn pays the referral bonus
        self.orders = 0
        self.earns: list[dict] = []  # {"member", "tx", "amount", "points", "refunded", "clawed"}
        self.redeems: list[dict] = []  # {"member", "tx", "points", "restored"}
        self.last_post = None
        # 1000 signup bonus each
        self.expected = {m: 1000 for m in MEMBERS}
        self.balances = dict(self.expected)

    def teardown(self):
        from chalicelib import clock as clock_module
        from chalicelib import runtime

        if hasattr(self, "real_now"):
            clock_module.now = self.real_now
        if hasattr(self, "mock"):
            runtime.reset()
            self.mock.stop()

    # -- helpers ---------------------------------------------------------
    def post(self, path: str, body: dict, key: str = "storefront"):
        idem = str(uuid.uuid4())
        response = self.api.post(path, body, key=key, idem=idem)
        assert response.status < 500, response
        if response.status < 300:
            self.last_post = (path, body, key, idem, response)
        return response

    def expect_rejected(self, response, *codes: str):
        assert response.status in (400, 404, 409, 422), response
        event(f"rejected {response.error}")
        assert response.error in codes, response
        # a rejected request changes nothing
        self.expected = dict(self.balances)

    def history(self, member: str) -> list[dict]:
        items: list[dict] = []
        cursor = None
        while True:
            path = f"/members/{member}/transactions?limit={HISTORY_PAGE}"
            if cursor:
                path += f"&cursor={cursor}"
            page = self.api.get(path)
            assert page.status == 200, page
            assert len(page.json["items"]) <= HISTORY_PAGE
            items.extend(page.json["items"])
            cursor = page.json["next_cursor"]
            if cursor is None:
                return items

    # -- operations ------------------------------------------------------
    @rule(
        member=members,
        amount=st.integers(1, 60000),
        new_arrivals=st.integers(0, 100),
        back_days=st.none() | st.integers(0, 10),
    )
    def earn(self, member, amount, new_arrivals, back_days):
        self.orders += 1
        body: dict = {"order_id": f"o{self.orders}", "amount": amount}
        if new_arrivals:
            part = amount * new_arrivals // 100
            if part:
                body["items"] = [{"sku": "s1", "category": "new-arrivals", "amount": part}]
        if back_days is not None:
            occurred = self.clock.now - dt.timedelta(days=back_days)
            body["occurred_at"] = occurred.strftime("%Y-%m-%dT%H:%M:%SZ")
        response = self.post(f"/members/{member}/earn", body)
        assert response.status == 201, response
        tx = response.json
        assert tx["type"] == "earn" and tx["points"] >= 0
        assert tx["points"] == sum(line["points"] for line in tx.get("breakdown", []))
        self.expected = dict(self.balances)
        self.expected[member] += tx["points"]
        if member == "m1" and self.referral_pending:
            self.referral_pending = False
            self.expected["m1"] += 1000  # referee bonus
            self.expected["m0"] += 1000  # referrer bonus
        self.earns.append(
            {
                "member": member,
                "tx": tx["transaction_id"],
                "amount": amount,
                "points": tx["points"],
                "refunded": 0,
                "clawed": 0,
            }
        )

    @rule(member=members, data=st.data())
    def redeem(self, member, data):
        # mostly within reach of the balance, sometimes beyond it
        points = data.draw(st.integers(1, self.balances[member] + 300), label="points")
        response = self.post(f"/members/{member}/redeem", {"points": points})
        if points < 500:
            return self.expect_rejected(response, "BELOW_MINIMUM_REDEMPTION", "INSUFFICIENT_POINTS")
        if points > self.balances[member]:
            return self.expect_rejected(response, "INSUFFICIENT_POINTS")
        assert response.status == 201, response
        assert response.json["points"] == -points
        assert response.json["cash_value"] == points  # point_value 1
        self.expected = dict(self.balances)
        self.expected[member] -= points
        self.redeems.append({"member": member, "tx": response.json["transaction_id"], "points": points, "restored": 0})

    @precondition(lambda self: self.earns)
    @rule(data=st.data(), full=st.booleans())
    def refund(self, data, full):
        earn = data.draw(st.sampled_from(self.earns), label="earn")
        member = earn["member"]
        body = {} if full else {"amount": data.draw(st.integers(1, earn["amount"]), label="amount")}
        response = self.post(f"/members/{member}/transactions/{earn['tx']}/reversal", body)
        remaining = earn["amount"] - earn["refunded"]
        amount = remaining if full else body["amount"]
        if remaining == 0 or amount > remaining:
            return self.expect_rejected(response, "REVERSAL_NOT_ALLOWED")
        assert response.status == 201, response
        refunded = earn["refunded"] + amount
        # running floor of the refunded share, less what earlier refunds clawed back
        due = earn["points"] * refunded // earn["amount"] - earn["clawed"]
        taken = min(due, self.balances[member])
        assert response.json["type"] == "reversal"
        assert response.json["points"] == -taken, (response.json, due, self.balances[member])
        assert response.json["unrecovered_points"] == due - taken
        event("refund " + ("partly unrecovered" if due > taken else "recovered"))
        earn["refunded"], earn["clawed"] = refunded, earn["clawed"] + due
        self.expected = dict(self.balances)
        self.expected[member] -= taken

    @precondition(lambda self: self.redeems)
    @rule(data=st.data(), full=st.booleans())
    def cancel_redeem(self, data, full):
        redeem = data.draw(st.sampled_from(self.redeems), label="redeem")
        member = redeem["member"]
        body = {} if full else {"points": data.draw(st.integers(1, redeem["points"] + 10), label="points")}
        response = self.post(f"/members/{member}/transactions/{redeem['tx']}/reversal", body)
        remaining = redeem["points"] - redeem["restored"]
        points = remaining if full else body["points"]
        if remaining == 0 or points > remaining:
            return self.expect_rejected(response, "REVERSAL_NOT_ALLOWED")
        assert response.status == 201, response
        assert response.json["type"] == "reversal" and response.json["points"] == points
        event("redemption cancelled")
        redeem["restored"] += points
        self.expected = dict(self.balances)
        self.expected[member] += points

    @rule(sender=members, recipient=members, data=st.data())
    def transfer(self, sender, recipient, data):
        points = data.draw(st.integers(1, self.balances[sender] + 300), label="points")
        response = self.post(f"/members/{sender}/transfers", {"to_member_id": recipient, "points": points})
        if sender == recipient or points < 100:
            return self.expect_rejected(response, "TRANSFER_NOT_ALLOWED", "INSUFFICIENT_POINTS")
        if points > self.balances[sender]:
            return self.expect_rejected(response, "INSUFFICIENT_POINTS")
        assert response.status == 201, response
        out, into = response.json["transfer_out"], response.json["transfer_in"]
        assert (out["type"], out["points"], out["member_id"]) == ("transfer_out", -points, sender)
        assert (into["type"], into["points"], into["member_id"]) == ("transfer_in", points, recipient)
        self.expected = dict(self.balances)
        event("transfer")
        self.expected[sender] -= points
        self.expected[recipient] += points

    @rule(member=members, data=st.data(), credit=st.booleans())
    def adjust(self, member, data, credit):
        if credit:
            points = data.draw(st.integers(1, 3000), label="points")
        else:
            points = -data.draw(st.integers(1, self.balances[member] + 300), label="points")
        response = self.post(f"/members/{member}/adjustments", {"points": points, "reason": "property"}, key="admin")
        if -points > self.balances[member]:
            return self.expect_rejected(response, "INSUFFICIENT_POINTS")
        assert response.status == 201, response
        assert response.json["type"] == "adjust" and response.json["points"] == points
        self.expected = dict(self.balances)
        self.expected[member] += points

    @rule(days=st.integers(0, 40), hours=st.integers(0, 23))
    def expire(self, days, hours):
        from chalicelib import local

        self.clock.advance(days=days, hours=hours)
        local.run_job("expire_points")
        local.run_job("recompute_tiers")
        now = self.clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")
        dropped = False
        for m in MEMBERS:
            view = self.api.get(f"/members/{m}").json
            # nothing at or past its expiry is left
            assert all(lot["expires_at"] > now for lot in view["expiring"]), view
            assert view["balance"] <= self.balances[m]
            dropped = dropped or view["balance"] < self.balances[m]
        event("points expired" if dropped else "nothing expired")
        # a second run in the same instant changes nothing
        before = self.api.get("/stats", key="admin").json
        local.run_job("expire_points")
        assert self.api.get("/stats", key="admin").json == before
        self.expected = None  # checked by the invariants below

    @precondition(lambda self: self.last_post is not None)
    @rule()
    def replay(self):
        path, body, key, idem, first = self.last_post
        again = self.api.post(path, body, key=key, idem=idem)
        assert (again.status, again.json) == (first.status, first.json)
        self.expected = dict(self.balances)

    # -- invariants ------------------------------------------------------
    @invariant()
    def ledger_is_consistent(self):
        if not hasattr(self, "api"):
            return
        balances = {}
        tiers = Counter()
        for m in MEMBERS:
            view = self.api.get(f"/members/{m}")
            assert view.status == 200, view
            balance = view.json["balance"]
            tiers[view.json["tier"]] += 1
            assert balance >= 0
            history = self.history(m)
            assert len({tx["transaction_id"] for tx in history}) == len(history)
            assert all(tx["member_id"] == m for tx in history)
            assert balance == sum(tx["points"] for tx in history), (m, balance, history)
            assert history and balance == history[0]["balance_after"]
            running = 0
            for tx in reversed(history):  # oldest first
                running += tx["points"]
                assert tx["balance_after"] == running, (m, tx)
                assert tx["balance_after"] >= 0
            assert [tx["created_at"] for tx in history] == sorted((tx["created_at"] for tx in history), reverse=True)
            balances[m] = balance
        if self.expected is not None:
            assert balances == self.expected
        self.balances = balances
        self.expected = dict(balances)
        stats = self.api.get("/stats", key="admin")
        assert stats.status == 200, stats
        assert stats.json["points_outstanding"] == sum(balances.values())
        assert stats.json["liability"] == sum(balances.values())
        assert stats.json["members"] == len(MEMBERS)
        assert stats.json["members_by_tier"] == {name: tiers[name] for name in TIER_NAMES}


LedgerMachine.TestCase.settings = settings(
    max_examples=10,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLedgerProperties = LedgerMachine.TestCase
