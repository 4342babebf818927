"""§16 under random operations: after any sequence of enrolments, earns,
redemptions, refunds, cancelled redemptions, adjustments, expiry runs,
erasures, coupon purchases, uses and releases, with the clock moved across
hours, Seoul midnight, days and months, `/stats/daily` holds, day by day
(program timezone), exactly the figures of what was recorded that day, and
the sum of each field over all days equals its `/stats` total.

The expected figures are rebuilt independently: points from the members'
histories (an erased member's history as it was before the erasure, plus the
forfeit as expired that day), the other fields from the requests that
succeeded.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter, defaultdict

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tests.conftest import Api, FrozenClock

MEMBERS = ("m0", "m1", "m2")
SEOUL = dt.timezone(dt.timedelta(hours=9))
PROGRAM = {
    "timezone": "Asia/Seoul",
    "signup_bonus": 1000,
    "base_rate": "0.05",
    "expiry_days": 20,
    "redemption": {"min_points": 1},
}
TEMPLATE = {
    "template_id": "latte",
    "name": "Latte",
    "points_cost": 100,
    "discount": {"type": "amount", "amount": 1000},
    "valid_days": 30,
}
START = dt.datetime(2027, 1, 30, 3, 0, 0, tzinfo=dt.UTC)
TOTALS = ("points_earned", "points_redeemed", "points_expired", "coupons_used")

members = st.sampled_from(MEMBERS)


def seoul_day(instant: str) -> str:
    moment = dt.datetime.fromisoformat(instant.replace("Z", "+00:00"))
    return moment.astimezone(SEOUL).date().isoformat()


class DailyFiguresMachine(RuleBasedStateMachine):
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
        self.api = Api(
            Client(app_module.app), local.create_api_key("admin", "hq"), local.create_api_key("storefront", "pos-1")
        )
        self.api.program(PROGRAM)
        assert self.api.post("/coupon-templates", TEMPLATE, key="admin").status == 201
        self.live: set[str] = set()
        self.erased_points: dict[str, Counter] = defaultdict(Counter)  # day -> points figures of erased members
        self.counted: dict[str, Counter] = defaultdict(Counter)  # day -> figures from successful requests
        self.earns: list[dict] = []
        self.redeems: list[dict] = []
        self.coupons: list[dict] = []
        self.orders = 0
        self.erasures = 0
        for member in MEMBERS:
            self.enrol(member)

    def teardown(self):
        from chalicelib import clock as clock_module
        from chalicelib import runtime

        if hasattr(self, "real_now"):
            clock_module.now = self.real_now
        if hasattr(self, "mock"):
            runtime.reset()
            self.mock.stop()

    # -- helpers ---------------------------------------------------------
    @property
    def today(self) -> str:
        return self.clock.now.astimezone(SEOUL).date().isoformat()

    def post(self, path: str, body: dict, key: str = "storefront"):
        response = self.api.post(path, body, key=key, idem=str(uuid.uuid4()))
        assert response.status < 500, response
        return response

    def history(self, member: str) -> list[dict]:
        items, cursor = [], None
        while True:
            response = self.api.get(
                f"/members/{member}/transactions?limit=100" + (f"&cursor={cursor}" if cursor else "")
            )
            assert response.status == 200, response
            items += response.json["items"]
            cursor = response.json["next_cursor"]
            if not cursor:
                return items

    @staticmethod
    def points_by_day(history: list[dict]) -> dict[str, Counter]:
        days: dict[str, Counter] = defaultdict(Counter)
        for tx in history:
            day = days[seoul_day(tx["created_at"])]
            if tx["type"] in ("earn", "bonus", "activity"):
                day["points_earned"] += tx["points"]
            elif tx["type"] == "redeem":
                day["points_redeemed"] -= tx["points"]
            elif tx["type"] == "expire":
                day["points_expired"] -= tx["points"]
        return days

    # -- operations ------------------------------------------------------
    @rule(member=members)
    def enrol(self, member):
        response = self.post("/members", {"member_id": member, "name": member.upper()})
        if member in self.live:
            assert response.status == 409, response
            return
        assert response.status == 201, response
        self.live.add(member)
        self.counted[self.today]["members_joined"] += 1

    @rule(member=members, amount=st.integers(1, 60000))
    def earn(self, member, amount):
        self.orders += 1
        response = self.post(f"/members/{member}/earn", {"order_id": f"o{self.orders}", "amount": amount})
        if member not in self.live:
            assert response.status == 404, response
            return
        assert response.status == 201, response
        self.counted[self.today]["earns"] += 1
        self.counted[self.today]["purchase_amount"] += amount
        self.earns.append({"member": member, "tx": response.json["transaction_id"], "amount": amount, "refunded": 0})

    @rule(member=members, points=st.integers(1, 3000))
    def redeem(self, member, points):
        response = self.post(f"/members/{member}/redeem", {"points": points})
        if response.status == 201:
            self.redeems.append({"member": member, "tx": response.json["transaction_id"]})

    @precondition(lambda self: self.earns)
    @rule(data=st.data(), full=st.booleans())
    def refund(self, data, full):
        earn = data.draw(st.sampled_from(self.earns), label="earn")
        remaining = earn["amount"] - earn["refunded"]
        body = {} if full else {"amount": data.draw(st.integers(1, earn["amount"]), label="amount")}
        response = self.post(f"/members/{earn['member']}/transactions/{earn['tx']}/reversal", body)
        if response.status == 201:
            amount = remaining if full else body["amount"]
            earn["refunded"] += amount
            self.counted[self.today]["purchase_amount"] -= amount
            event("refund")

    @precondition(lambda self: self.redeems)
    @rule(data=st.data())
    def cancel_redeem(self, data):
        redeem = data.draw(st.sampled_from(self.redeems), label="redeem")
        self.post(f"/members/{redeem['member']}/transactions/{redeem['tx']}/reversal", {})

    @rule(member=members, points=st.integers(-2000, 2000).filter(bool))
    def adjust(self, member, points):
        self.post(f"/members/{member}/adjustments", {"points": points, "reason": "property"}, key="admin")

    @rule()
    def expire(self):
        from chalicelib import local

        local.run_job("expire_points")

    @rule(member=members, buy=st.booleans())
    def get_coupon(self, member, buy):
        response = self.post(
            f"/members/{member}/coupons", {"template_id": "latte"}, key="storefront" if buy else "admin"
        )
        if response.status == 201:
            self.coupons.append(response.json)

    @precondition(lambda self: self.coupons)
    @rule(data=st.data(), amount=st.integers(0, 5000))
    def use_coupon(self, data, amount):
        coupon = data.draw(st.sampled_from(self.coupons), label="coupon")
        self.orders += 1
        response = self.post(
            f"/coupons/{coupon['code']}/redemption",
            {"member_id": coupon["member_id"], "order_id": f"c{self.orders}", "order_amount": amount},
        )
        if response.status == 201:
            self.counted[self.today]["coupons_used"] += 1
            event("coupon used")

    @precondition(lambda self: self.coupons)
    @rule(data=st.data())
    def release_coupon(self, data):
        coupon = data.draw(st.sampled_from(self.coupons), label="coupon")
        response = self.post(f"/coupons/{coupon['code']}/release", {"member_id": coupon["member_id"]})
        if response.status == 200:
            self.counted[self.today]["coupons_used"] -= 1
            event("coupon released")

    @rule(member=members)
    def erase(self, member):
        if member not in self.live:
            assert self.api.delete(f"/members/{member}", key="admin").status == 404
            return
        history = self.history(member)
        balance = self.api.get(f"/members/{member}").json["balance"]
        assert self.api.delete(f"/members/{member}", key="admin").status == 204
        for day, figures in self.points_by_day(history).items():
            self.erased_points[day].update(figures)
        self.erased_points[self.today]["points_expired"] += balance  # the forfeit counts as expired
        self.live.discard(member)
        self.erasures += 1
        self.earns = [e for e in self.earns if e["member"] != member]
        self.redeems = [r for r in self.redeems if r["member"] != member]
        self.coupons = [c for c in self.coupons if c["member_id"] != member]
        event("erased with a balance" if balance else "erased")

    @rule(
        how=st.sampled_from(["minutes", "to seoul midnight", "over seoul midnight", "days", "month"]),
        amount=st.integers(1, 20),
    )
    def travel(self, how, amount):
        now = self.clock.now
        if how == "minutes":
            self.clock.advance(minutes=7 * amount)
        elif how == "to seoul midnight":  # a second before midnight in Seoul (15:00 UTC)
            target = now.replace(hour=14, minute=59, second=59)
            self.clock.now = target if target > now else target + dt.timedelta(days=1)
        elif how == "over seoul midnight":
            self.clock.advance(seconds=1 if now.strftime("%H:%M:%S") == "14:59:59" else 3600 * 12)
        elif how == "days":
            self.clock.advance(days=amount)
        else:
            self.clock.advance(days=31)
        event(f"travel {how}")

    # -- invariants ------------------------------------------------------
    def daily(self) -> list[dict]:
        first = START.astimezone(SEOUL).date()
        last = self.clock.now.astimezone(SEOUL).date()
        items = []
        while first <= last:
            upto = min(last, first + dt.timedelta(days=365))
            response = self.api.get(f"/stats/daily?from={first}&to={upto}", key="admin")
            assert response.status == 200, response
            items += response.json["items"]
            first = upto + dt.timedelta(days=1)
        return items

    @invariant()
    def daily_figures_hold(self):
        if not hasattr(self, "api"):
            return
        expected: dict[str, Counter] = defaultdict(Counter)
        for day, figures in self.counted.items():
            expected[day].update(figures)
        for day, figures in self.erased_points.items():
            expected[day].update(figures)
        for member in self.live:
            for day, figures in self.points_by_day(self.history(member)).items():
                expected[day].update(figures)
        items = self.daily()
        fields = ("members_joined", "earns", "purchase_amount", *TOTALS)
        assert [i["date"] for i in items] == sorted({i["date"] for i in items})
        for item in items:
            want = expected.get(item["date"], Counter())
            assert {f: item[f] for f in fields} == {f: want[f] for f in fields}, item["date"]
        assert not {d for d, f in expected.items() if any(f.values())} - {i["date"] for i in items}
        stats = self.api.get("/stats", key="admin").json
        for name in TOTALS:
            assert sum(i[name] for i in items) == stats[name], name
        # members has no daily twin: the members joined less those erased are the live ones
        assert sum(i["members_joined"] for i in items) - self.erasures == stats["members"] == len(self.live)


DailyFiguresMachine.TestCase.settings = settings(
    max_examples=8,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestDailyFigures = DailyFiguresMachine.TestCase
