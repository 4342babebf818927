"""Races between separate processes ("containers") against one DynamoDB that
applies each request atomically (a moto server handling one request at a time).

Each racer process imports the app and calls it through `chalice.test.Client`;
all racers of a round start together on a Barrier. The server and the program
are shared by every scenario, so each round uses members of its own.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import uuid
from dataclasses import dataclass

import pytest

from devtools.serial_moto import SerialMotoProcess
from tests.race import racers

RACERS = 8
READY_TIMEOUT = 180.0
ROUND_TIMEOUT = 120.0

# One program for the whole server. Arithmetic below uses: 1 point per 10 won
# (base_rate 0.1), no signup bonus (balances start at 0), cash redemptions from
# 100 points, transfers allowed for the only tier.
PROGRAM = {
    "currency": "KRW",
    "base_rate": "0.1",
    "signup_bonus": 0,
    "redemption": {"min_points": 100},
    "transfer": {"allowed_tiers": ["basic"], "min_points": 1},
    "tiers": [{"name": "basic", "min_spend": 0, "earn_multiplier": "1", "expiry_days": None}],
}


# -- harness -----------------------------------------------------------------
@contextlib.contextmanager
def pointed_at(endpoint: str):
    """Point this (test) process's boto3 clients at the server, then restore."""
    from chalicelib import runtime

    saved = {name: os.environ.get(name) for name in ("AWS_ENDPOINT_URL",)}
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    runtime.reset()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        runtime.reset()


@dataclass
class Server:
    endpoint: str
    keys: dict


class RacerPool:
    """RACERS warm racer processes sharing one Barrier; `race` gives each one task."""

    def __init__(self, size: int, server: Server):
        context = multiprocessing.get_context("spawn")
        self.size = size
        self.barrier = context.Barrier(size)
        self.processes = []
        self.conns = []
        for n in range(size):
            conn, child = context.Pipe()
            process = context.Process(
                target=racers.racer_main,
                args=(server.endpoint, server.keys, self.barrier, child),
                daemon=True,
                name=f"racer-{n}",
            )
            process.start()
            child.close()
            self.processes.append(process)
            self.conns.append(conn)
        for conn in self.conns:
            assert conn.poll(READY_TIMEOUT), "a racer process did not start"
            status, detail = conn.recv()
            assert status == "ready", detail

    def race(self, tasks: list[dict]) -> list[list]:
        """Run task i in racer i, all released together; returns each racer's responses."""
        assert len(tasks) == self.size
        for conn, task in zip(self.conns, tasks, strict=False):
            conn.send(task)
        results = []
        for conn in self.conns:
            assert conn.poll(ROUND_TIMEOUT), "a racer did not finish its task"
            status, value = conn.recv()
            assert status == "ok", value
            results.append(value)
        return results

    def close(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.send(None)
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
        for conn in self.conns:
            conn.close()


@pytest.fixture(scope="session")
def race_server():
    server = SerialMotoProcess().start()
    try:
        with pointed_at(server.endpoint):
            from chalicelib import local

            local.create_resources()
            keys = {
                "admin": local.create_api_key("admin", "race-hq"),
                "storefront": local.create_api_key("storefront", "race-pos"),
            }
            status, body = racers.Http(keys).put("/program", PROGRAM, key="admin")
            assert status == 200, body
        yield Server(server.endpoint, keys)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def pool(race_server):
    racer_pool = RacerPool(RACERS, race_server)
    try:
        yield racer_pool
    finally:
        racer_pool.close()


@pytest.fixture
def shop(race_server):
    """The test process's own client on the shared server (setup and checks)."""
    with pointed_at(race_server.endpoint):
        yield racers.Http(race_server.keys)


# -- helpers -----------------------------------------------------------------
def fresh_id(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


def post(path: str, body: dict, **extra) -> dict:
    return {"method": "POST", "path": path, "body": body, **extra}


def create_member(shop, member_id: str) -> None:
    status, body = shop.post("/members", {"member_id": member_id, "name": member_id})
    assert status == 201, body
    assert body["balance"] == 0  # signup_bonus 0


def fund(shop, member_id: str, points: int) -> dict:
    status, body = shop.post(
        f"/members/{member_id}/adjustments", {"points": points, "reason": "opening balance"}, key="admin"
    )
    assert status == 201, body
    return body


def balance(shop, member_id: str) -> int:
    status, body = shop.get(f"/members/{member_id}")
    assert status == 200, body
    return body["balance"]


def ledger(shop, member_id: str) -> list[dict]:
    """Every transaction of the member, following the cursor through small pages."""
    items: list[dict] = []
    cursor = None
    while True:
        path = f"/members/{member_id}/transactions?limit=3"
        if cursor:
            path += f"&cursor={cursor}"
        status, page = shop.get(path)
        assert status == 200, page
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    ids = [tx["transaction_id"] for tx in items]
    assert len(ids) == len(set(ids)), "a transaction was listed twice"
    return items


def stats(shop) -> dict:
    status, body = shop.get("/stats", key="admin")
    assert status == 200, body
    return body


def error_code(response) -> str | None:
    return ((response[1] or {}).get("error") or {}).get("code")


def is_error(response, status: int, code: str) -> bool:
    return response[0] == status and error_code(response) == code


# -- scenario 1 and 5: many redeems of one member ----------------------------
REDEEM_START = 2000
REDEEM_POINTS = 300
REDEEMS_PER_RACER = 2
# 8 racers x 2 redeems x 300 = 4800 asked of 2000: at most floor(2000 / 300) = 6 can succeed.
MAX_REDEEMS = REDEEM_START // REDEEM_POINTS


@dataclass
class RedeemRound:
    member_id: str
    responses: list
    successes: list
    final_balance: int
    entries: list

    @property
    def redeemed(self) -> int:
        return REDEEM_POINTS * len(self.successes)

    @property
    def overdrawn(self) -> bool:
        return self.final_balance < 0 or self.redeemed > REDEEM_START


def redeem_round(pool, shop, *, read_then_write: bool = False) -> RedeemRound:
    member_id = fresh_id("redeem")
    create_member(shop, member_id)
    fund(shop, member_id, REDEEM_START)
    task = {
        "requests": [post(f"/members/{member_id}/redeem", {"points": REDEEM_POINTS})] * REDEEMS_PER_RACER,
        "unconditional_profile_put": read_then_write,
    }
    responses = [r for racer in pool.race([task] * RACERS) for r in racer]
    successes = [r[1] for r in responses if r[0] == 201]
    return RedeemRound(member_id, responses, successes, balance(shop, member_id), ledger(shop, member_id))


def test_concurrent_redeems_never_overdraw(pool, shop):
    for _ in range(3):
        race = redeem_round(pool, shop)
        assert len(race.responses) == RACERS * REDEEMS_PER_RACER
        for response in race.responses:
            assert (
                response[0] == 201
                or is_error(response, 422, "INSUFFICIENT_POINTS")
                or is_error(response, 503, "CONCURRENT_UPDATE")
            ), response
        assert race.final_balance >= 0
        assert race.redeemed <= REDEEM_START
        assert race.final_balance == REDEEM_START - race.redeemed
        if any(is_error(r, 422, "INSUFFICIENT_POINTS") for r in race.responses):
            # refused on a fresh read: fewer than 300 left, i.e. all 6 possible redeems went through
            assert len(race.successes) == MAX_REDEEMS
            assert race.final_balance == REDEEM_START - MAX_REDEEMS * REDEEM_POINTS  # 200
        # no lost update: each success saw the balance the previous one left
        assert sorted(tx["balance_after"] for tx in race.successes) == [
            REDEEM_START - REDEEM_POINTS * k for k in range(len(race.successes), 0, -1)
        ]
        assert all(tx["points"] == -REDEEM_POINTS for tx in race.successes)
        # the ledger: the opening adjustment plus exactly the successful redeems
        assert sum(tx["points"] for tx in race.entries) == race.final_balance
        redeems = {tx["transaction_id"] for tx in race.entries if tx["type"] == "redeem"}
        assert redeems == {tx["transaction_id"] for tx in race.successes}
        assert len(race.entries) == 1 + len(race.successes)


DISCRIMINATION_ROUNDS = 3


def test_read_then_write_redeem_is_caught_overdrawing(pool, shop):
    """The same race with a profile Put that ignores the version read must
    overdraw: proof that the harness sees lost updates when they happen."""
    rounds = [redeem_round(pool, shop, read_then_write=True) for _ in range(DISCRIMINATION_ROUNDS)]
    overdrawn = [r for r in rounds if r.overdrawn]
    summary = [(len(r.successes), r.final_balance) for r in rounds]
    assert overdrawn, f"no overdraw in {DISCRIMINATION_ROUNDS} rounds (successes, balance): {summary}"
    for race in overdrawn:
        # more was handed out than the member ever had, and the books no longer add up
        assert race.redeemed > REDEEM_START or race.final_balance < 0
        assert sum(tx["points"] for tx in race.entries) != race.final_balance


# -- scenario 2: everything at once on one member ------------------------------
def test_mixed_race_keeps_ledger_and_stats_consistent(pool, shop):
    for _ in range(2):
        before = stats(shop)
        sender, recipient = fresh_id("mixed-a"), fresh_id("mixed-b")
        create_member(shop, sender)
        create_member(shop, recipient)
        status, earn = shop.post(f"/members/{sender}/earn", {"order_id": "order-1", "amount": 10000})
        assert status == 201, earn
        assert earn["points"] == 1000  # 10000 x 0.1
        opening = fund(shop, sender, 1000)
        status, first_redeem = shop.post(f"/members/{sender}/redeem", {"points": 500})
        assert status == 201, first_redeem
        assert balance(shop, sender) == 1500  # 1000 + 1000 - 500

        base = f"/members/{sender}"
        tasks = [
            {"requests": [post(f"{base}/transactions/{earn['transaction_id']}/reversal", {})]},
            {"requests": [post(f"{base}/transactions/{first_redeem['transaction_id']}/reversal", {})]},
            {"requests": [post(f"{base}/transfers", {"to_member_id": recipient, "points": 400})]},
        ] + [{"requests": [post(f"{base}/redeem", {"points": 300})]}] * (RACERS - 3)
        (refund,), (cancel,), (transfer,), *redeems = pool.race(tasks)
        redeems = [r for (r,) in redeems]

        busy = lambda r: is_error(r, 503, "CONCURRENT_UPDATE")  # noqa: E731
        short = lambda r: is_error(r, 422, "INSUFFICIENT_POINTS")  # noqa: E731
        assert refund[0] == 201 or busy(refund), refund
        assert cancel[0] == 201 or busy(cancel), cancel
        assert transfer[0] == 201 or short(transfer) or busy(transfer), transfer
        for r in redeems:
            assert r[0] == 201 or short(r) or busy(r), r

        taken = 0
        if refund[0] == 201:
            # a full refund claws back floor(1000 x 10000 / 10000) = 1000, as far as the balance allows
            taken = -refund[1]["points"]
            assert taken >= 0
            assert taken + refund[1]["unrecovered_points"] == 1000
        restored = 500 if cancel[0] == 201 else 0
        if cancel[0] == 201:
            assert cancel[1]["points"] == 500
        sent = 400 if transfer[0] == 201 else 0
        redeemed = 300 * sum(1 for r in redeems if r[0] == 201)

        sender_balance = balance(shop, sender)
        recipient_balance = balance(shop, recipient)
        assert sender_balance >= 0
        assert sender_balance == 1500 + restored - taken - sent - redeemed
        assert recipient_balance == sent

        sender_entries = ledger(shop, sender)
        recipient_entries = ledger(shop, recipient)
        assert sum(tx["points"] for tx in sender_entries) == sender_balance
        assert sum(tx["points"] for tx in recipient_entries) == recipient_balance
        # the setup (earn, adjustment, redeem) plus one transaction per successful request
        winners = [r[1]["transaction_id"] for r in [refund, cancel, *redeems] if r[0] == 201]
        if transfer[0] == 201:
            winners.append(transfer[1]["transfer_out"]["transaction_id"])
        setup = [earn["transaction_id"], opening["transaction_id"], first_redeem["transaction_id"]]
        assert sorted(tx["transaction_id"] for tx in sender_entries) == sorted(setup + winners)
        assert len(recipient_entries) == (1 if sent else 0)

        after = stats(shop)
        delta = {
            k: after[k] - before[k]
            for k in (
                "members",
                "points_earned",
                "points_redeemed",
                "points_expired",
                "points_adjusted",
                "points_reversed",
                "points_outstanding",
                "liability",
            )
        }
        assert delta["points_outstanding"] == sender_balance + recipient_balance
        assert delta["liability"] == delta["points_outstanding"]  # point_value 1
        assert delta["members"] == 2
        assert delta["points_earned"] == 1000
        assert delta["points_adjusted"] == 1000
        assert delta["points_redeemed"] == 500 + redeemed
        assert delta["points_reversed"] == restored - taken
        assert delta["points_expired"] == 0


# -- scenario 3: one Idempotency-Key, eight senders -----------------------------
def test_same_idempotency_key_from_many_processes_creates_one_transaction(pool, shop):
    for _ in range(3):
        member_id = fresh_id("idem")
        create_member(shop, member_id)
        fund(shop, member_id, 5000)
        key = str(uuid.uuid4())
        request = post(f"/members/{member_id}/redeem", {"points": 700}, idem=key)
        responses = [r for (r,) in pool.race([{"requests": [request]}] * RACERS)]

        created = [r[1] for r in responses if r[0] == 201]
        for r in responses:
            assert r[0] == 201 or is_error(r, 503, "CONCURRENT_UPDATE"), r
        assert created, responses
        assert all(body == created[0] for body in created), created
        assert created[0]["points"] == -700
        assert balance(shop, member_id) == 4300  # 5000 - 700, once
        redeems = [tx for tx in ledger(shop, member_id) if tx["type"] == "redeem"]
        assert [tx["transaction_id"] for tx in redeems] == [created[0]["transaction_id"]]
        # and a later replay still answers the same
        assert shop.post(f"/members/{member_id}/redeem", {"points": 700}, idem=key) == [201, created[0]]


# -- scenario 4: one order, eight keys --------------------------------------------
def test_same_order_from_many_processes_earns_once(pool, shop):
    for _ in range(3):
        member_id = fresh_id("order")
        create_member(shop, member_id)
        request = post(f"/members/{member_id}/earn", {"order_id": "pos-77", "amount": 12345})
        responses = [r for (r,) in pool.race([{"requests": [request]}] * RACERS)]

        created = [r[1] for r in responses if r[0] == 201]
        assert len(created) == 1, responses
        assert created[0]["points"] == 1234  # floor(12345 x 0.1)
        duplicates = [r for r in responses if is_error(r, 409, "DUPLICATE_ORDER")]
        assert len(duplicates) == RACERS - 1, responses
        earns = [tx for tx in ledger(shop, member_id) if tx["type"] == "earn"]
        assert [tx["transaction_id"] for tx in earns] == [created[0]["transaction_id"]]
        assert balance(shop, member_id) == 1234


# -- scenario 6: one coupon, eight counters ---------------------------------------
def coupon_round(pool, shop, *, unconditional: bool = False):
    member_id = fresh_id("coupon")
    create_member(shop, member_id)
    status, coupon = shop.post(f"/members/{member_id}/coupons", {"template_id": "race-off"}, key="admin")
    assert status == 201, coupon
    before = stats(shop)
    tasks = [
        {
            "requests": [
                post(
                    f"/coupons/{coupon['code']}/redemption",
                    {"member_id": member_id, "order_id": f"order-{n}", "order_amount": 10000},
                )
            ],
            "unconditional_coupon_use": unconditional,
        }
        for n in range(RACERS)
    ]
    responses = [r for (r,) in pool.race(tasks)]
    used = stats(shop)["coupons_used"] - before["coupons_used"]
    return member_id, coupon, responses, used


@pytest.fixture
def coupon_template(shop):
    status, body = shop.post(
        "/coupon-templates",
        {"template_id": "race-off", "name": "1,000 off", "discount": {"type": "amount", "amount": 1000}},
        key="admin",
    )
    assert status in (201, 409), body  # the server is shared by the module: made once


def test_one_coupon_used_by_many_processes_is_used_once(pool, shop, coupon_template):
    for _ in range(3):
        member_id, coupon, responses, used = coupon_round(pool, shop)
        successes = [r[1] for r in responses if r[0] == 201]
        assert len(successes) == 1, responses
        for r in responses:
            assert r[0] == 201 or is_error(r, 422, "COUPON_NOT_USABLE"), r
        assert len([r for r in responses if r[0] == 422]) == RACERS - 1
        assert used == 1
        status, listed = shop.get(f"/members/{member_id}/coupons")
        [stored] = listed["items"]
        assert (stored["status"], stored["order_id"]) == ("used", successes[0]["order_id"])
        assert stored["discount_amount"] == 1000
        status, member = shop.get(f"/members/{member_id}")
        assert member["coupons_available"] == 0


def test_unconditional_coupon_use_is_caught_using_twice(pool, shop, coupon_template):
    """The same race without the status condition must use the coupon more than
    once: proof that the harness sees double uses when they happen."""
    rounds = [coupon_round(pool, shop, unconditional=True) for _ in range(DISCRIMINATION_ROUNDS)]
    summary = [(sum(1 for r in responses if r[0] == 201), used) for _, _, responses, used in rounds]
    assert any(successes > 1 for successes, _ in summary), f"no double use in {summary}"
    for successes, used in summary:
        assert used == successes  # every success counted: coupons_used moves past one


# -- scenario: a campaign's bonus, eight earns at once (§22) ----------------------
def test_a_campaign_bonus_is_given_once_to_eight_concurrent_earns(pool, shop):
    """A bonus arm's points go on the member's first qualifying earn only: eight
    earns from eight processes at once all count, one carries the bonus line (the
    bonus is recorded on the profile under its version, in the earn's transaction)."""
    from chalicelib import local

    member_id = fresh_id("bonus")
    create_member(shop, member_id)
    campaign_id = fresh_id("camp")
    body = {
        "campaign_id": campaign_id,
        "name": "Race bonus",
        "starts_at": "2020-01-01T00:00:00Z",
        "ends_at": "2099-01-01T00:00:00Z",
        "arms": [{"name": "bonus", "weight": 100, "reward": {"type": "bonus", "points": 500}}],
        "notify": False,
    }
    status, created = shop.post("/campaigns", body, key="admin")
    assert status == 201, created
    local.run_job("launch_campaigns")  # members enrolled later (other rounds) are not in its audience
    status, arms = shop.get(f"/members/{member_id}/campaigns", key="admin")
    assert arms == {"items": [{"campaign_id": campaign_id, "arm": "bonus"}]}, arms
    tasks = [
        {"requests": [post(f"/members/{member_id}/earn", {"order_id": f"o-{n}", "amount": 1000})]}
        for n in range(RACERS)
    ]
    responses = [r for (r,) in pool.race(tasks)]
    assert all(r[0] == 201 for r in responses), responses
    rule = f"campaign:{campaign_id}"
    bonuses = [r[1] for r in responses if any(line["rule"] == rule for line in r[1]["breakdown"])]
    assert len(bonuses) == 1, responses
    assert balance(shop, member_id) == RACERS * 100 + 500  # floor(1000 x 0.1) each, and the bonus once
