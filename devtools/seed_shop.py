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


class SeedError(RuntimeError):
    pass


class _Clock:
    def __init__(self, start: dt.datetime):
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now


def _plan(count: int, now: dt.datetime, rng: random.Random) -> list[tuple]:
    """Every event (time, order, kind, member index, detail), in time order."""
    events: list[tuple] = []
    for n in range(count):
        joined = now - dt.timedelta(seconds=rng.randint(2 * 86400, 120 * 86400))
        events.append((joined, n, 0, "enrol", {}))
        regular = rng.random()
        visits = 1 + int(regular * regular * 9)  # most come once or twice, a few weekly
        for v in range(visits):
            at = joined + dt.timedelta(seconds=rng.randint(600, int((now - joined).total_seconds()) - 60))
            events.append((at, n, 1 + v, "earn", {"visit": v}))
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


def seed(
    app, count: int, rng_seed: int = 14, progress: Optional[Callable[..., None]] = None, admin_key: Optional[str] = None
) -> int:
    """Enrol `count` members and their purchases through `app`; returns members made."""
    from chalice.test import Client

    from chalicelib import clock as clock_module
    from chalicelib import local

    rng = random.Random(rng_seed)
    real_now = clock_module.now
    now = real_now()
    key = local.create_api_key("storefront", "seed")
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    clock = _Clock(now)
    clock_module.now = clock
    made, orders = 0, 0
    referrers: list[str] = []
    ids: dict[int, str] = {}
    try:
        client = Client(app)
        events = _plan(count, now, rng)
        for i, (at, n, _, kind, _detail) in enumerate(events):
            clock.now = at.replace(microsecond=0)
            if kind == "enrol":
                body = _member(n, rng, now.date(), referrers)
                path = "/members"
            else:
                if n not in ids:
                    continue
                amount, items = _purchase(rng)
                orders += 1
                body = {"order_id": f"POS-{orders:07d}", "amount": amount, "items": items}
                path = f"/members/{ids[n]}/earn"
            response = client.http.post(
                path,
                headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                body=json.dumps(body, ensure_ascii=False),
            )
            if response.status_code in (404, 422) and "referral_code" in body:  # e.g. a shared phone
                body.pop("referral_code", None)
                response = client.http.post(
                    path,
                    headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                    body=json.dumps(body, ensure_ascii=False),
                )
            if response.status_code != 201:
                raise SeedError(f"POST {path} -> {response.status_code}: {response.body[:300]!r}")
            if kind == "enrol":
                made += 1
                reply = json.loads(response.body)
                ids[n] = reply["member_id"]
                if reply.get("referral_code"):
                    referrers.append(reply["referral_code"])
            if progress and (i + 1) % 2000 == 0:
                progress("seed: %d of %d requests (%d members)", i + 1, len(events), made)
    finally:
        clock_module.now = real_now
        from devtools import moto_patches

        moto_patches.compact()
    return made  # the notifications stay queued: the service's worker delivers them
