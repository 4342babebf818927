"""A realistic local shop: members of a Korean café and a few months of their
purchases, made through the app's own routes (in-process, Chalice's test
client), so every balance, lot, tier, stats counter and notification is the
app's own.

Time is simulated: members join over the last four months and buy between
joining and now (the app's clock is moved to each event, so `occurred_at`,
quarters and expiries are those of the day it happened). Deterministic for a
given count and `rng_seed`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import uuid
from collections.abc import Callable
from typing import Any, Optional

FAMILY = [
    "김",
    "이",
    "박",
    "최",
    "정",
    "강",
    "조",
    "윤",
    "장",
    "임",
    "한",
    "오",
    "서",
    "신",
    "권",
    "황",
    "안",
    "송",
    "류",
    "전",
    "홍",
    "문",
    "양",
    "손",
    "배",
]
GIVEN = [
    "민준",
    "서연",
    "지윤",
    "도윤",
    "하은",
    "서준",
    "지호",
    "수아",
    "예준",
    "지우",
    "하준",
    "서윤",
    "주원",
    "민서",
    "지민",
    "채원",
    "현우",
    "다은",
    "건우",
    "예은",
    "유진",
    "시우",
    "소율",
    "은우",
    "지안",
    "태윤",
    "하린",
    "준서",
    "가은",
    "승민",
    "나연",
    "동현",
]

# (sku, category, price in won); "new-arrivals" is the demo program's double-points category
MENU = [
    ("americano", "coffee", 4500),
    ("cafe-latte", "coffee", 5000),
    ("vanilla-latte", "coffee", 5500),
    ("cold-brew", "coffee", 5000),
    ("flat-white", "coffee", 5300),
    ("strawberry-latte", "new-arrivals", 6500),
    ("hojicha-latte", "new-arrivals", 6000),
    ("black-sesame-cream", "new-arrivals", 6800),
    ("yuja-tea", "tea", 5500),
    ("earl-grey", "tea", 5000),
    ("omija-ade", "tea", 6000),
    ("croissant", "bakery", 3800),
    ("salt-bread", "bakery", 3500),
    ("scone", "bakery", 3900),
    ("cheesecake", "dessert", 6500),
    ("tiramisu", "dessert", 7000),
    ("whole-cake", "dessert", 38000),
    ("house-beans-1kg", "beans", 29000),
]

DAY = dt.timedelta(days=1)
HISTORY_DAYS = 270  # members join over the last nine months
LAPSE_SHARE = 0.35  # members who stop coming within weeks of joining (some become dormant)
ADJUSTMENTS = [
    (1500, "음료 제조 오류 보상"),
    (500, "설문 참여 적립 누락분"),
]
SUSPENSION_REASON = "같은 카드로 여러 회원에게 반복 적립 (확인 중)"


CAMPAIGN_STARTS_DAYS_AGO = 210
CAMPAIGN_DAYS = 60


def _campaign(starts_at: dt.datetime) -> dict:
    """The seed's campaign (§22): every member, control 50 / double points 50."""
    return {
        "campaign_id": "double-points-trial",
        "name": "포인트 2배 실험",
        "segment_id": None,
        "starts_at": starts_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ends_at": (starts_at + dt.timedelta(days=CAMPAIGN_DAYS)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "arms": [
            {"name": "control", "weight": 50, "reward": None},
            {"name": "double", "weight": 50, "reward": {"type": "multiplier", "multiplier": "2"}},
        ],
        "notify": True,
    }


class SeedError(RuntimeError):
    pass


class _Clock:
    def __init__(self, start: dt.datetime):
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now


def _plan(count: int, now: dt.datetime, rng: random.Random) -> list[tuple]:
    """Every planned event (time, member index, order, kind, detail), in time order:
    enrolments, visits (each an order: coupons, points and refunds are decided when
    it happens, from the member's balance then), a few admin adjustments and one
    suspension."""
    events: list[tuple] = []
    joined_at: list[dt.datetime] = []
    for n in range(count):
        joined = now - dt.timedelta(seconds=rng.randint(2 * 86400, HISTORY_DAYS * 86400))
        joined_at.append(joined)
        events.append((joined, n, 0, "enrol", {}))
        regular = rng.random()
        visits = 1 + int(regular * regular * 9)  # most come once or twice, a few weekly
        last = now
        if rng.random() < LAPSE_SHARE:  # stops coming within weeks of joining
            last = min(now, joined + dt.timedelta(seconds=rng.randint(3600, 45 * 86400)))
        span = int((last - joined).total_seconds())
        for v in range(visits):
            at = joined + dt.timedelta(seconds=rng.randint(min(600, span // 2), max(span - 60, span // 2)))
            events.append((at, n, 1 + v, "order", {"visit": v}))
    if count >= 2:
        for k, (points, reason) in enumerate(ADJUSTMENTS):
            n = rng.randrange(count)
            at = joined_at[n] + (now - joined_at[n]) * rng.uniform(0.2, 0.9)
            events.append((at, n, 100 + k, "adjust", {"points": points, "reason": reason}))
        n = rng.randrange(count)
        at = max(joined_at[n] + DAY / 2, now - dt.timedelta(days=rng.randint(1, 10)))
        events.append((min(at, now - dt.timedelta(minutes=5)), n, 200, "suspend", {"reason": SUSPENSION_REASON}))
    # §22: an A/B test early in the nine months, to every member enrolled by then: half
    # the audience earns double points for 60 days, half (the control) does not
    events.append((now - dt.timedelta(days=CAMPAIGN_STARTS_DAYS_AGO), -1, 0, "campaign", {}))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    return events


def _member(n: int, rng: random.Random, today: dt.date, referrers: list[str]) -> dict:
    name = rng.choice(FAMILY) + rng.choice(GIVEN)
    body: dict = {"member_id": f"m{n + 1:06d}", "name": name}
    if rng.random() < 0.7:
        body["email"] = f"m{n + 1:06d}@example.com"
    if rng.random() < 0.5:
        body["phone"] = f"+8210{rng.randint(10000000, 99999999)}"
    if rng.random() < 0.6:
        born = dt.date(rng.randint(1965, 2005), 1, 1) + dt.timedelta(days=rng.randint(0, 364))
        if rng.random() < 0.01:  # a few birthdays today, so the birthday job has work
            born = born.replace(month=today.month, day=min(today.day, 28))
        body["birthday"] = born.isoformat()
    if referrers and rng.random() < 0.1:
        body["referral_code"] = rng.choice(referrers)
    return body


def _purchase(rng: random.Random) -> tuple[int, list[dict]]:
    lines: list[dict[str, Any]] = []
    for _ in range(rng.choice([1, 1, 2, 2, 3, 4])):
        sku, category, price = rng.choice(MENU[:16] if rng.random() < 0.95 else MENU)
        quantity = 1 if price > 20000 else rng.choice([1, 1, 1, 2, 3])
        lines.append({"sku": sku, "category": category, "amount": price * quantity})
    if rng.random() < 0.02:  # a catering order now and then
        lines.append({"sku": "catering", "category": "catering", "amount": rng.randint(10, 40) * 10000})
    return sum(line["amount"] for line in lines), lines


def _paid_items(items: list[dict], paid: int) -> list[dict]:
    """The order's lines once `paid` is what is left to pay (a coupon's discount or
    points taken off the last lines first), so they add up to at most `paid`."""
    left, kept = paid, []
    for line in items:
        if left <= 0:
            break
        amount = min(line["amount"], left)
        kept.append({**line, "amount": amount})
        left -= amount
    return kept


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


class _Customer:
    """What the seed knows of one member: the balance of the app's latest answer
    (a floor: a referral bonus paid on someone else's earn is not seen), the
    coupons they hold and their orders."""

    def __init__(self, member_id: str, balance: int, welcome_until: Optional[dt.datetime]):
        self.member_id = member_id
        self.balance = balance
        self.welcome_until = welcome_until  # shows the signup coupon on an order before this
        self.coupons: list[dict] = []  # bought coupons not used yet
        self.suspended = False


@contextlib.contextmanager
def in_process_calls():
    """The app's AWS calls go straight to this process's moto backends (moto's
    in-process mock, keeping their data) instead of over HTTP to the embedded
    server: the same backends, without the HTTP round trip. Only while nothing
    else calls moto (before the service starts serving)."""
    from moto import mock_aws

    from chalicelib import runtime

    endpoint = os.environ.pop("AWS_ENDPOINT_URL", None)
    mock = mock_aws()
    mock.start(reset=False)
    runtime.reset()
    try:
        yield
    finally:
        mock.stop(remove_data=False)
        if endpoint is not None:
            os.environ["AWS_ENDPOINT_URL"] = endpoint
        runtime.reset()


class _Shop:
    """The seed's storefront and head office: every call goes through the app's
    routes, and every answer is checked."""

    def __init__(self, client, clock: _Clock, storefront_key: str, admin_key: str):
        self.client = client
        self.clock = clock
        self.storefront = {"Content-Type": "application/json", "Authorization": f"Bearer {storefront_key}"}
        self.admin = {"Content-Type": "application/json", "Authorization": f"Bearer {admin_key}"}
        self.requests = 0

    def call(self, method: str, path: str, body: Optional[dict] = None, *, admin: bool = False, expect=(200, 201)):
        headers = self.admin if admin else self.storefront
        if method == "POST":
            headers = {**headers, "Idempotency-Key": str(uuid.uuid4())}
        self.requests += 1
        response = getattr(self.client.http, method.lower())(
            path, headers=headers, body=json.dumps(body, ensure_ascii=False) if body is not None else None
        )
        if response.status_code not in expect:
            raise SeedError(f"{method} {path} -> {response.status_code}: {response.body[:300]!r}")
        return response.status_code, json.loads(response.body) if response.body else None

    def later(self, seconds: int) -> None:
        """The next step of the same visit, a little later on the shop's clock."""
        self.clock.now += dt.timedelta(seconds=seconds)


class _Rules:
    """What the shop's program and coupon templates allow (read through the API)."""

    def __init__(self, shop: _Shop):
        _, program = shop.call("GET", "/program", admin=True)
        _, templates = shop.call("GET", "/coupon-templates?limit=100")
        by_id = {t["template_id"]: t for t in templates.get("items", [])}
        self.min_points = int((program.get("redemption") or {}).get("min_points") or 1)
        signup = (program.get("auto_coupons") or {}).get("signup")
        self.welcome = by_id.get(signup) if signup else None
        for_sale = sorted((t for t in by_id.values() if t.get("points_cost")), key=lambda t: t["points_cost"])
        latte = by_id.get("latte-1000")
        self.for_sale = latte if latte and latte.get("points_cost") else (for_sale[0] if for_sale else None)


def seed(
    app, count: int, rng_seed: int = 14, progress: Optional[Callable[..., None]] = None, admin_key: Optional[str] = None
) -> int:
    """Enrol `count` members and nine months of their visits through `app`: purchases,
    points paid on orders (now and then cancelled), coupons bought and used (a few
    released when the order was cancelled), refunds, two adjustments and one
    suspension; about a third stop coming, so the oldest of them are dormant today.
    Returns the members made. Without `admin_key` the seed makes its own admin key."""
    import heapq

    from chalice.test import Client

    from chalicelib import clock as clock_module
    from chalicelib import local

    rng = random.Random(rng_seed)
    real_now = clock_module.now
    now = real_now()
    clock = _Clock(now)
    shop = _Shop(
        Client(app),
        clock,
        local.create_api_key("storefront", "seed"),
        admin_key or local.create_api_key("admin", "seed"),
    )
    made, orders = 0, 0
    referrers: list[str] = []
    customers: dict[int, _Customer] = {}
    rules = _Rules(shop)
    clock_module.now = clock
    events = _plan(count, now, rng)
    heapq.heapify(events)
    extra = 1000  # order keys of events added on the way (refunds)
    try:
        handled = 0
        while events:
            at, n, _, kind, detail = heapq.heappop(events)
            clock.now = at.replace(microsecond=0)
            handled += 1
            if kind == "enrol":
                customer = _enrol(shop, n, rng, now.date(), referrers, rules)
                customers[n] = customer
                made += 1
            elif kind == "campaign":
                shop.call("POST", "/campaigns", _campaign(clock.now), admin=True)
                local.run_job("launch_campaigns")  # as the hourly schedule would, at its start
            elif n not in customers or customers[n].suspended:
                continue  # a suspended member is not served (the till would get 422 MEMBER_SUSPENDED)
            elif kind == "order":
                orders += 1
                refund = _order(shop, customers[n], f"POS-{orders:07d}", rng, rules)
                if refund is not None:
                    refund_at = min(clock.now + dt.timedelta(seconds=rng.randint(3600, 10 * 86400)), now - DAY / 24)
                    if refund_at > clock.now:
                        extra += 1
                        heapq.heappush(events, (refund_at, n, extra, "refund", refund))
            elif kind == "refund":
                _, reversal = shop.call(
                    "POST",
                    f"/members/{customers[n].member_id}/transactions/{detail['transaction_id']}/reversal",
                    {"amount": detail["amount"]},
                )
                customers[n].balance = reversal["balance_after"]
            elif kind == "adjust":
                _, adjusted = shop.call("POST", f"/members/{customers[n].member_id}/adjustments", detail, admin=True)
                customers[n].balance = adjusted["balance_after"]
            elif kind == "suspend":
                shop.call("POST", f"/members/{customers[n].member_id}/suspension", detail, admin=True)
                customers[n].suspended = True
            if progress and handled % 2000 == 0:
                progress("seed: %d requests, %d members of %d", shop.requests, made, count)
    finally:
        clock_module.now = real_now
        from devtools import moto_patches

        moto_patches.compact()
    return made  # the notifications stay queued: the service's worker delivers them


def _enrol(shop: _Shop, n: int, rng: random.Random, today: dt.date, referrers: list[str], rules: _Rules) -> _Customer:
    body = _member(n, rng, today, referrers)
    status, reply = shop.call("POST", "/members", body, expect=(201, 404, 422) if "referral_code" in body else (201,))
    if status != 201:  # the code's owner shares the new member's phone (§15): enrolled without it
        body.pop("referral_code")
        _, reply = shop.call("POST", "/members", body)
    if reply.get("referral_code"):
        referrers.append(reply["referral_code"])
    welcome_until = None
    if rules.welcome is not None and rng.random() < 0.5:  # keeps the welcome coupon for a visit
        welcome_until = shop.clock.now + DAY * rules.welcome.get("valid_days", 30)
    return _Customer(reply["member_id"], reply["balance"], welcome_until)


def _order(shop: _Shop, customer: _Customer, order_id: str, rng: random.Random, rules: _Rules) -> Optional[dict]:
    """One visit: maybe a coupon shown, maybe points paid, the purchase earned on what
    was paid, maybe a coupon bought with points. Returns a refund to make later, if any."""
    amount, items = _purchase(rng)
    member = customer.member_id
    paid = amount
    coupon = _coupon_for(shop, customer, amount, rng, rules)
    if coupon is not None:
        _, used = shop.call(
            "POST",
            f"/coupons/{coupon['code']}/redemption",
            {"member_id": member, "order_id": order_id, "order_amount": amount},
        )
        if rng.random() < 0.08:  # the order is cancelled at the till: the coupon comes back
            shop.later(rng.randint(30, 300))
            shop.call("POST", f"/coupons/{coupon['code']}/release", {"member_id": member})
            return None
        if coupon in customer.coupons:
            customer.coupons.remove(coupon)
        paid -= used["discount_amount"]
    if customer.balance >= rules.min_points and paid >= rules.min_points and rng.random() < 0.15:
        top = min(customer.balance, paid, 10000)
        points = rng.randint(rules.min_points // 100, top // 100) * 100
        _, redeemed = shop.call("POST", f"/members/{member}/redeem", {"points": points, "order_id": order_id})
        customer.balance = redeemed["balance_after"]
        if rng.random() < 0.08:  # points taken back off the order: the guest pays it all by card
            shop.later(rng.randint(30, 300))
            _, restored = shop.call("POST", f"/members/{member}/transactions/{redeemed['transaction_id']}/reversal", {})
            customer.balance = restored["balance_after"]
        else:
            paid -= points
    refund = None
    if paid > 0:
        shop.later(1)
        _, earned = shop.call(
            "POST", f"/members/{member}/earn", {"order_id": order_id, "amount": paid, "items": _paid_items(items, paid)}
        )
        customer.balance = earned["balance_after"]
        if rng.random() < 0.04:  # returned later: all of it, or one line of it
            refund = {"transaction_id": earned["transaction_id"], "amount": paid}
            if rng.random() < 0.6:
                refund["amount"] = min(paid, rng.choice(items)["amount"])
    offer = rules.for_sale
    if offer and not customer.coupons and customer.balance >= offer["points_cost"] and rng.random() < 0.2:
        shop.later(rng.randint(5, 60))
        _, bought = shop.call("POST", f"/members/{member}/coupons", {"template_id": offer["template_id"]})
        customer.balance -= offer["points_cost"]
        customer.coupons.append(bought)
    return refund


def _coupon_for(shop: _Shop, customer: _Customer, amount: int, rng: random.Random, rules: _Rules) -> Optional[dict]:
    """A coupon the member shows on an order of `amount`, if any: a bought one (most
    of the time), or the signup coupon for those who keep it for their next visit."""
    now = shop.clock.now
    customer.coupons = [c for c in customer.coupons if _instant(c["expires_at"]) > now]
    for coupon in customer.coupons:
        if amount >= coupon["min_order_amount"] and rng.random() < 0.7:
            return coupon
    welcome = rules.welcome
    if welcome is None or customer.welcome_until is None:
        return None
    if now < customer.welcome_until and amount >= welcome["min_order_amount"]:
        customer.welcome_until = None
        _, page = shop.call("GET", f"/members/{customer.member_id}/coupons?status=available")
        signup = [c for c in page["items"] if c["template_id"] == welcome["template_id"] and c["source"] == "signup"]
        if signup:
            return signup[0]
    return None
