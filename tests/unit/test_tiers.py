"""Tiers from quarterly spend (contract §6) and the calendar helpers behind them."""

from __future__ import annotations

import datetime as dt

import pytest

from chalicelib.domain.calendar import (
    birthday_keys_for,
    format_instant,
    local_date,
    parse_instant,
    quarter_of,
    quarter_start,
    shift_quarter,
)
from chalicelib.domain.program import Program
from chalicelib.domain.tiers import pruned_spend, qualifying_spend, tier_at, tier_review_at

TIERS = [
    {"name": "basic", "min_spend": 0},
    {"name": "silver", "min_spend": 100_000},
    {"name": "gold", "min_spend": 300_000},
]
SEOUL = Program.model_validate({"timezone": "Asia/Seoul", "tiers": TIERS})
UTC_PROGRAM = Program.model_validate({"timezone": "UTC", "tiers": TIERS})


def at(text: str) -> dt.datetime:
    return parse_instant(text)


# -- calendar ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("moment", "timezone", "quarter"),
    [
        ("2027-01-01T00:00:00Z", "UTC", "2027Q1"),
        ("2027-03-31T23:59:59Z", "UTC", "2027Q1"),
        ("2027-04-01T00:00:00Z", "UTC", "2027Q2"),
        # 2027-03-31T15:00Z is 2027-04-01 00:00 in Seoul (UTC+9)
        ("2027-03-31T14:59:59Z", "Asia/Seoul", "2027Q1"),
        ("2027-03-31T15:00:00Z", "Asia/Seoul", "2027Q2"),
        ("2027-03-31T15:00:00Z", "UTC", "2027Q1"),
        # new year in Seoul is still the old year in UTC
        ("2026-12-31T15:00:00Z", "Asia/Seoul", "2027Q1"),
        ("2026-12-31T15:00:00Z", "UTC", "2026Q4"),
        ("2027-09-30T23:00:00Z", "America/New_York", "2027Q3"),
        ("2027-10-01T03:59:59Z", "America/New_York", "2027Q3"),  # EDT, UTC−4
        ("2027-10-01T04:00:00Z", "America/New_York", "2027Q4"),
    ],
)
def test_quarter_of_is_taken_in_the_given_timezone(moment, timezone, quarter):
    assert quarter_of(at(moment), timezone) == quarter


@pytest.mark.parametrize(
    ("quarter", "by", "expected"),
    [
        ("2027Q1", 0, "2027Q1"),
        ("2027Q1", 1, "2027Q2"),
        ("2027Q4", 1, "2028Q1"),
        ("2027Q1", -1, "2026Q4"),
        ("2027Q2", -5, "2026Q1"),
        ("2027Q3", 6, "2029Q1"),
        ("2027Q1", -4, "2026Q1"),
    ],
)
def test_shift_quarter(quarter, by, expected):
    assert shift_quarter(quarter, by) == expected


@pytest.mark.parametrize(
    ("quarter", "timezone", "instant"),
    [
        ("2027Q1", "UTC", "2027-01-01T00:00:00Z"),
        ("2027Q1", "Asia/Seoul", "2026-12-31T15:00:00Z"),  # 00:00 KST = 15:00Z the day before
        ("2027Q2", "Asia/Seoul", "2027-03-31T15:00:00Z"),
        ("2027Q3", "Asia/Seoul", "2027-06-30T15:00:00Z"),
        ("2027Q4", "America/New_York", "2027-10-01T04:00:00Z"),  # EDT
        ("2028Q1", "America/New_York", "2028-01-01T05:00:00Z"),  # EST
    ],
)
def test_quarter_start_is_local_midnight_as_utc(quarter, timezone, instant):
    assert format_instant(quarter_start(quarter, timezone)) == instant


def test_quarter_start_lies_in_its_own_quarter_and_just_after_the_previous():
    for timezone in ("UTC", "Asia/Seoul", "America/New_York"):
        for quarter in ("2027Q1", "2027Q2", "2027Q3", "2027Q4"):
            start = quarter_start(quarter, timezone)
            assert quarter_of(start, timezone) == quarter
            assert quarter_of(start - dt.timedelta(seconds=1), timezone) == shift_quarter(quarter, -1)


def test_local_date_uses_the_timezone():
    moment = at("2027-02-27T15:30:00Z")
    assert local_date(moment, "Asia/Seoul") == dt.date(2027, 2, 28)
    assert local_date(moment, "UTC") == dt.date(2027, 2, 27)


@pytest.mark.parametrize(
    ("day", "keys"),
    [
        (dt.date(2027, 3, 1), ["03-01"]),
        (dt.date(2027, 12, 31), ["12-31"]),
        # common year: 29 February birthdays are celebrated on 28 February
        (dt.date(2027, 2, 28), ["02-28", "02-29"]),
        (dt.date(2100, 2, 28), ["02-28", "02-29"]),  # 2100 is not a leap year
        # leap year: 29 February has its own day
        (dt.date(2028, 2, 28), ["02-28"]),
        (dt.date(2028, 2, 29), ["02-29"]),
        (dt.date(2000, 2, 28), ["02-28"]),  # 2000 is a leap year
        (dt.date(2027, 3, 1), ["03-01"]),
    ],
)
def test_birthday_keys_for(day, keys):
    assert sorted(birthday_keys_for(day)) == sorted(keys)


def test_instants_format_as_utc_with_z():
    assert format_instant(parse_instant("2027-01-31T18:00:00+09:00")) == "2027-01-31T09:00:00Z"
    assert format_instant(parse_instant("2027-01-31T09:00:00.789Z")) == "2027-01-31T09:00:00Z"
    for bad in ("2027-01-31T09:00:00", "2027-01-31", "yesterday", "2027-13-01T00:00:00Z"):
        with pytest.raises(ValueError):
            parse_instant(bad)


# -- tier_at -----------------------------------------------------------------
def test_tier_is_the_highest_tier_reached_by_spend():
    assert SEOUL.tier_for_spend(0) == "basic"
    assert SEOUL.tier_for_spend(99_999) == "basic"
    assert SEOUL.tier_for_spend(100_000) == "silver"
    assert SEOUL.tier_for_spend(299_999) == "silver"
    assert SEOUL.tier_for_spend(300_000) == "gold"
    assert SEOUL.tier_for_spend(10**12) == "gold"


def test_tier_counts_the_current_quarter():
    spend = {"2027Q1": 150_000}
    assert tier_at(SEOUL, spend, at("2027-02-01T00:00:00Z")) == "silver"


def test_tier_lasts_through_the_following_quarter():
    spend = {"2027Q1": 150_000}
    # 2027Q2: previous quarter 2027Q1 had 150000 → silver
    assert tier_at(SEOUL, spend, at("2027-05-15T00:00:00Z")) == "silver"
    # 2027Q3: neither Q3 nor Q2 has spend → basic
    assert tier_at(SEOUL, spend, at("2027-07-15T00:00:00Z")) == "basic"


def test_tier_takes_the_larger_of_current_and_previous_quarter():
    spend = {"2027Q1": 350_000, "2027Q2": 120_000}
    # max(120000, 350000) = 350000 → gold
    assert tier_at(SEOUL, spend, at("2027-05-15T00:00:00Z")) == "gold"
    assert qualifying_spend(spend, "2027Q2") == 350_000
    # Q3: max(0, 120000) → silver
    assert tier_at(SEOUL, spend, at("2027-08-15T00:00:00Z")) == "silver"
    # older quarters do not count: Q1 spend seen from Q3 is gone
    assert qualifying_spend(spend, "2027Q3") == 120_000


def test_tier_quarter_turns_at_midnight_in_the_program_timezone():
    spend = {"2026Q4": 350_000}
    # 2027-03-31T14:59:59Z is still Q1 in Seoul: previous quarter 2026Q4 → gold
    assert tier_at(SEOUL, spend, at("2027-03-31T14:59:59Z")) == "gold"
    # 2027-03-31T15:00:00Z is 2027-04-01 00:00 in Seoul: Q2, previous Q1 had nothing
    assert tier_at(SEOUL, spend, at("2027-03-31T15:00:00Z")) == "basic"
    # in a UTC program the same instant is still Q1 → gold
    assert tier_at(UTC_PROGRAM, spend, at("2027-03-31T15:00:00Z")) == "gold"
    assert tier_at(UTC_PROGRAM, spend, at("2027-04-01T00:00:00Z")) == "basic"


# -- tier_review_at ----------------------------------------------------------
def test_base_tier_needs_no_review():
    assert tier_review_at(SEOUL, {}, "basic", at("2027-02-01T00:00:00Z")) is None


def test_tier_held_by_current_spend_is_reviewed_two_quarters_on():
    spend = {"2027Q1": 350_000}
    # held by 2027Q1 spend: it counts through 2027Q2, so the review is at 2027Q3 start
    # 2027Q3 starts 2027-07-01 00:00 KST = 2027-06-30T15:00:00Z
    assert tier_review_at(SEOUL, spend, "gold", at("2027-02-01T00:00:00Z")) == "2027-06-30T15:00:00Z"
    assert tier_review_at(UTC_PROGRAM, spend, "gold", at("2027-02-01T00:00:00Z")) == "2027-07-01T00:00:00Z"


def test_tier_held_only_by_previous_spend_is_reviewed_next_quarter():
    spend = {"2027Q1": 350_000, "2027Q2": 120_000}
    # in Q2 gold is held by Q1 spend only: review at Q3 start
    assert tier_review_at(SEOUL, spend, "gold", at("2027-05-01T00:00:00Z")) == "2027-06-30T15:00:00Z"
    # silver is held by Q2 spend itself: review at Q4 start = 2027-09-30T15:00:00Z
    assert tier_review_at(SEOUL, spend, "silver", at("2027-05-01T00:00:00Z")) == "2027-09-30T15:00:00Z"


def test_tier_review_quarter_is_taken_in_the_program_timezone():
    spend = {"2027Q1": 350_000}
    moment = at("2027-03-31T16:00:00Z")  # 2027Q2 in Seoul, still 2027Q1 in UTC
    # Seoul: gold is held by the previous quarter only → review at 2027Q3 start (KST)
    assert tier_review_at(SEOUL, spend, "gold", moment) == "2027-06-30T15:00:00Z"
    # UTC: gold is held by the current quarter → review at 2027Q3 start (UTC)
    assert tier_review_at(UTC_PROGRAM, spend, "gold", moment) == "2027-07-01T00:00:00Z"


def test_tier_review_is_when_tier_at_first_changes():
    spend = {"2027Q1": 350_000}
    now = at("2027-02-01T00:00:00Z")
    review = parse_instant(tier_review_at(SEOUL, spend, "gold", now))
    assert tier_at(SEOUL, spend, review - dt.timedelta(seconds=1)) == "gold"
    assert tier_at(SEOUL, spend, review) == "basic"


# -- pruned_spend ------------------------------------------------------------
def test_pruned_spend_keeps_the_last_four_quarters():
    spend = {"2026Q1": 1, "2026Q2": 2, "2026Q3": 3, "2026Q4": 4, "2027Q1": 5, "2027Q2": 6}
    now = at("2027-05-01T00:00:00Z")  # 2027Q2
    # kept: 2026Q3 .. 2027Q2 (current and the three before)
    assert pruned_spend(spend, now, "Asia/Seoul") == {"2026Q3": 3, "2026Q4": 4, "2027Q1": 5, "2027Q2": 6}
    assert len(spend) == 6  # the input is not changed


def test_pruned_spend_always_keeps_what_tiers_need():
    spend = {"2026Q4": 350_000, "2027Q1": 120_000}
    now = at("2027-02-01T00:00:00Z")
    pruned = pruned_spend(spend, now, "Asia/Seoul")
    assert pruned == spend
    assert tier_at(SEOUL, pruned, now) == tier_at(SEOUL, spend, now) == "gold"


def test_pruned_spend_quarter_is_taken_in_the_timezone():
    spend = {"2026Q2": 7, "2026Q3": 8}
    moment = at("2027-03-31T15:00:00Z")  # 2027Q2 in Seoul, 2027Q1 in UTC
    assert pruned_spend(spend, moment, "Asia/Seoul") == {"2026Q3": 8}
    assert pruned_spend(spend, moment, "UTC") == {"2026Q2": 7, "2026Q3": 8}
