"""Pending points (§25): an earn's points are not spendable until occurred_at +
pending_days, through the ledger's commands over the in-memory table. Every
figure is worked out by hand from memory_shop.PROGRAM (base rate 1%, signup
bonus 1000 unless set to 0, basic tier below 100,000 of spend)."""

from __future__ import annotations

import datetime as dt

import pydantic
import pytest

from chalicelib.domain.calendar import format_instant
from chalicelib.domain.program import Program
from chalicelib.domain.wallet import MAX_PENDING_LOTS
from chalicelib.errors import InsufficientPointsError, LimitExceededError
from chalicelib.jobs.plans import JobSteps

from .conftest import NOW

DAY = dt.timedelta(days=1)
AVAILABLE = NOW + 14 * DAY  # 2027-05-24T03:00:00Z


def at(moment: dt.datetime) -> str:
    return format_instant(moment)


@pytest.fixture
def member(shop):
    shop.program(pending_days=14)
    shop.enrol("m1")  # 1000 signup points, spendable at once
    return "m1"


def test_an_earn_is_pending_until_its_return_window_closes(shop, member):
    body = shop.earn(member, "o1", 50_000).body  # 500 points
    assert (body["points"], body["balance_after"], body["available_at"]) == (500, 1000, at(AVAILABLE))
    view = shop.member(member)
    assert (view["balance"], view["pending_points"], view["lifetime_points"]) == (1000, 500, 1500)
    assert view["pending"] == [{"points": 500, "available_at": at(AVAILABLE)}]
    assert view["quarter_spend"] == 50_000  # spend counts at once
    history = shop.history(member)
    assert history[-1]["available_at"] == at(AVAILABLE)


def test_pending_points_are_listed_soonest_available_first(shop, member):
    shop.earn(member, "o1", 50_000)  # 500, available NOW + 14 days
    shop.clock.advance(hours=1)
    shop.earn(member, "o2", 20_000, occurred_at=at(NOW - 2 * DAY))  # 200, available NOW + 12 days
    assert shop.member(member)["pending"] == [
        {"points": 200, "available_at": at(NOW + 12 * DAY)},
        {"points": 500, "available_at": at(AVAILABLE)},
    ]


def test_tiers_count_the_spend_of_a_pending_earn_at_once(shop, member):
    body = shop.earn(member, "o1", 120_000).body  # crosses silver (100,000)
    assert body["tier"] == "silver"
    assert shop.member(member)["tier"] == "silver"
    # the next earn gets silver's multiplier, though the first earn's points are pending
    assert shop.earn(member, "o2", 10_000).body["points"] == 150


def test_a_redeem_never_draws_pending_points_and_may_from_available_at_without_a_job(shop, member):
    shop.earn(member, "o1", 100_000)  # 1000 pending
    with pytest.raises(InsufficientPointsError):
        shop.redeem(member, 1_001)
    shop.clock.at = AVAILABLE - dt.timedelta(seconds=1)
    assert shop.member(member)["balance"] == 1000
    with pytest.raises(InsufficientPointsError):
        shop.redeem(member, 1_001)
    shop.clock.at = AVAILABLE  # nothing has run, nothing was written
    before = shop.snapshot()
    view = shop.member(member)
    assert (view["balance"], view["pending_points"], view["pending"]) == (2000, 0, [])
    assert shop.snapshot() == before
    body = shop.redeem(member, 2_000).body
    assert (body["points"], body["balance_after"]) == (-2000, 0)


def test_an_earn_answers_the_spendable_balance_as_balance_after(shop, member):
    shop.earn(member, "o1", 100_000)  # 1000 pending until AVAILABLE
    shop.clock.at = AVAILABLE
    # the first earn's points became spendable; the new one's are pending
    assert shop.earn(member, "o2", 10_000).body["balance_after"] == 2000


def test_a_refund_takes_from_its_earns_pending_points_first(shop, member):
    earn = shop.earn(member, "o1", 100_000).body  # 1000 pending
    body = shop.reverse(member, earn["transaction_id"], amount=30_000).body
    # floor(1000 * 30,000 / 100,000) = 300, all from the pending lot
    assert (body["points"], body["unrecovered_points"], body["balance_after"]) == (-300, 0, 1000)
    view = shop.member(member)
    assert (view["balance"], view["pending_points"]) == (1000, 700)
    assert view["pending"] == [{"points": 700, "available_at": at(AVAILABLE)}]
    shop.clock.at = AVAILABLE
    assert shop.member(member)["balance"] == 1700
    body = shop.reverse(member, earn["transaction_id"]).body  # the rest: 700 from its own lot
    assert (body["points"], body["balance_after"]) == (-700, 1000)


def test_a_refund_after_available_at_takes_its_earns_own_lot_first(shop, member):
    earn = shop.earn(member, "o1", 100_000).body  # 1000, expires AVAILABLE + 365 days
    shop.clock.at = AVAILABLE
    # 2000 spendable: the signup lot (expiring NOW + 365 days) goes first, then 500 of the earn's
    shop.redeem(member, 1_500)
    body = shop.reverse(member, earn["transaction_id"]).body
    # 1000 due: the 500 left in the earn's lot, nothing else to take
    assert (body["points"], body["unrecovered_points"], body["balance_after"]) == (-500, 500, 0)


def test_a_refund_of_an_earn_that_came_due_takes_from_it_before_the_balance(shop, member):
    earn = shop.earn(member, "o1", 100_000).body
    shop.adjust(member, 300)  # expires NOW + 365 days: before the earn's lot
    shop.clock.at = AVAILABLE + DAY
    body = shop.reverse(member, earn["transaction_id"], amount=50_000).body  # 500 due
    assert (body["points"], body["balance_after"]) == (-500, 1800)
    # the soonest-expiring lots are intact: 1300 of signup and adjustment, then 500 of the earn
    assert shop.redeem(member, 1_300).body["balance_after"] == 500


def test_points_expire_expiry_days_after_they_became_available(shop):
    shop.program(pending_days=14, signup_bonus=0)
    shop.enrol("m2")
    shop.earn("m2", "o1", 50_000)  # 500
    steps = JobSteps(shop.ledger)
    expires_at = AVAILABLE + 365 * DAY
    shop.clock.at = expires_at - dt.timedelta(seconds=1)
    assert steps.expire_member("m2", {}) is False
    assert shop.balance("m2") == 500
    shop.clock.at = expires_at
    assert steps.expire_member("m2", {}) is True
    assert shop.balance("m2") == 0
    assert shop.history("m2")[-1]["points"] == -500


def test_expiring_lists_no_pending_lot(shop):
    shop.program(pending_days=14, expiry_days=10, signup_bonus=0)
    shop.enrol("m3")
    shop.earn("m3", "o1", 50_000)  # expires NOW + 24 days: within 30, but pending
    assert shop.member("m3")["expiring"] == []
    shop.clock.at = AVAILABLE
    assert shop.member("m3")["expiring"] == [{"points": 500, "expires_at": at(NOW + 24 * DAY)}]


def test_an_erasure_forfeits_pending_points_as_expired(shop, member):
    shop.earn(member, "o1", 50_000)  # 500 pending
    shop.erase(member)
    stats = shop.stats()
    assert (stats["points_expired"], stats["points_outstanding"], stats["points_pending"]) == (1500, 0, 0)


def test_stats_count_pending_points_by_the_time_of_the_read(shop, member):
    shop.earn(member, "o1", 50_000)  # 500, available AVAILABLE
    shop.clock.advance(hours=1)
    shop.enrol("m2")
    earn = shop.earn("m2", "o2", 20_000).body  # 200, available AVAILABLE + 1 hour
    stats = shop.stats()
    assert (stats["points_pending"], stats["points_outstanding"]) == (700, 2700)
    shop.reverse("m2", earn["transaction_id"], amount=10_000)  # 100 of m2's pending points
    assert shop.stats()["points_pending"] == 600
    shop.clock.at = AVAILABLE - dt.timedelta(seconds=1)  # the same day as both
    assert shop.stats()["points_pending"] == 600
    shop.clock.at = AVAILABLE
    assert shop.stats()["points_pending"] == 100
    shop.clock.at = AVAILABLE + dt.timedelta(hours=1)
    assert shop.stats()["points_pending"] == 0
    assert shop.stats()["points_outstanding"] == 2600


def test_pending_days_zero_credits_at_once(shop):
    shop.enrol("m4")
    body = shop.earn("m4", "o1", 50_000, occurred_at=at(NOW - DAY)).body
    assert (body["balance_after"], body["available_at"]) == (1500, at(NOW - DAY))
    view = shop.member("m4")
    assert (view["balance"], view["pending_points"], view["pending"]) == (1500, 0, [])
    assert shop.stats()["points_pending"] == 0


def test_an_earn_older_than_the_window_is_spendable_at_once(shop, member):
    body = shop.earn(member, "o1", 50_000, occurred_at=at(NOW - 20 * DAY)).body
    assert (body["balance_after"], body["available_at"]) == (1500, at(NOW - 6 * DAY))
    assert shop.member(member)["pending_points"] == 0


def test_a_member_has_a_bounded_number_of_pending_lots(shop, member):
    for n in range(MAX_PENDING_LOTS):
        shop.earn(member, f"o{n}", 1_000)
    before = shop.snapshot()
    with pytest.raises(LimitExceededError):
        shop.earn(member, "one-too-many", 1_000)
    assert shop.snapshot() == before
    shop.clock.at = AVAILABLE  # they came due: the next earn makes them lots of the runs
    shop.earn(member, "one-more", 1_000)
    view = shop.member(member)
    assert (view["balance"], view["pending_points"]) == (1000 + 10 * MAX_PENDING_LOTS, 10)


@pytest.mark.parametrize("bad", [-1, 366, "14", 1.5, True, None])
def test_pending_days_is_a_whole_number_of_days_up_to_a_year(bad):
    with pytest.raises(pydantic.ValidationError):
        Program.model_validate({"pending_days": bad})
    assert Program.model_validate({"pending_days": 365}).pending_days == 365


def test_a_stats_shard_keeps_only_the_days_still_to_come(clock):
    from devtools.memory_ledger import memory_ledger, memory_settings

    from .memory_shop import Shop

    shop = Shop(memory_ledger(memory_settings(stats_shards=1)), clock)
    shop.program(pending_days=14)
    shop.enrol("m1")
    shop.earn("m1", "o1", 50_000)  # pending@2027-05-24
    shop.clock.at = AVAILABLE + DAY
    shop.earn("m1", "o2", 50_000)  # pending@2027-06-08; the past day goes
    shard = shop.store.get("STATS#000", "STATS")
    days = sorted(name for name in shard if name.startswith("pending@"))
    assert days == ["pending@2027-06-08"]
    assert shop.stats()["points_pending"] == 500
    # by hour, minute and second of the day, each in a small item of its own
    two_days_later = int(dt.datetime(2027, 6, 10, tzinfo=dt.UTC).timestamp())
    hours = shop.store.get("STATS#000", "PENDING#2027-06-08")
    minutes = shop.store.get("STATS#000", "PENDING#2027-06-08T03")
    seconds = shop.store.get("STATS#000", "PENDING#2027-06-08T03:00")
    assert (hours["03"], hours["expires_at"]) == (500, two_days_later)
    assert (minutes["00"], minutes["expires_at"]) == (500, two_days_later)
    assert (seconds["00"], seconds["expires_at"]) == (500, two_days_later)


def test_a_purchase_refunded_whole_while_pending_leaves_nothing_pending(shop, member):
    earn = shop.earn(member, "o1", 100_000).body
    shop.reverse(member, earn["transaction_id"], amount=40_000)  # 400 of 1000
    body = shop.reverse(member, earn["transaction_id"]).body  # the other 600
    assert (body["points"], body["balance_after"]) == (-600, 1000)
    view = shop.member(member)
    assert (view["balance"], view["pending_points"], view["pending"]) == (1000, 0, [])
    assert shop.stats()["points_pending"] == 0
    # the refunded purchase no longer takes one of the member's pending places
    for n in range(MAX_PENDING_LOTS):
        shop.earn(member, f"p{n}", 1_000)


def test_the_profile_keeps_the_spendable_balance_of_its_last_change_for_the_analytics(shop, member):
    from chalicelib.analytics.facts import member_row

    shop.earn(member, "o1", 50_000)  # 500 pending
    shop.clock.at = AVAILABLE
    shop.earn(member, "o2", 50_000)  # the first 500 came due (still on the profile), the new 500 pending
    profile = shop.store.get("MEMBER#m1", "PROFILE")
    assert (profile["balance"], profile["spendable_balance"]) == (1000, 1500)
    assert member_row(profile, "1", "Asia/Seoul")["balance"] == 1500 == shop.balance(member)


def test_a_transfer_that_makes_every_pending_lot_a_lot_stays_one_transaction(shop, member):
    # the cap's worst case: 50 pending lots come due at once and a transfer of
    # everything turns them into lot items and hands 51 expiries over (the
    # in-memory table refuses a transaction of more than 100 actions, as DynamoDB)
    shop.enrol("m2")
    for n in range(MAX_PENDING_LOTS):
        shop.clock.at = NOW + dt.timedelta(minutes=n)
        shop.earn(member, f"o{n}", 10_000)  # 100 points or more (the tier rises with the spend)
    shop.clock.at = NOW + 15 * DAY
    view = shop.member(member)
    assert (view["pending_points"], view["tier"]) == (0, "gold")
    body = shop.transfer(member, "m2", view["balance"]).body
    assert body["transfer_out"]["balance_after"] == 0
    assert shop.balance("m2") == 1000 + view["balance"]
