"""Enrolment (§3, §15 referral rule) and erasure, through the ledger's commands."""

from __future__ import annotations

import pytest

from chalicelib.errors import (
    IdempotencyKeyReusedError,
    MemberExistsError,
    NotFoundError,
    ReferralNotAllowedError,
    ValidationError,
)
from chalicelib.ledger.member_changes import Outcome


def test_enrol_grants_the_signup_bonus_and_welcomes(shop):
    result = shop.enrol("m1", email="Kim@Example.com")
    assert result.outcome is Outcome.CREATED
    assert result.body["member_id"] == "m1"
    assert result.body["balance"] == 1000
    assert result.body["lifetime_points"] == 1000
    assert result.body["tier"] == "basic"
    assert [(t["type"], t["points"], t["reason"]) for t in shop.history("m1")] == [("bonus", 1000, "signup")]
    assert shop.notifications("m1") == ["welcome"]
    assert [m["member_id"] for m in shop.published if "notification_id" in m] == ["m1"]
    stats = shop.stats()
    assert (stats["members"], stats["members_by_tier"], stats["points_earned"]) == (
        1,
        {"basic": 1, "silver": 0, "gold": 0},
        1000,
    )


def test_enrol_without_signup_bonus_records_no_zero_bonus(shop):
    shop.program(signup_bonus=0)
    shop.enrol("m1")
    assert shop.history("m1") == []
    assert shop.balance("m1") == 0


def test_an_existing_member_id_is_refused_and_changes_nothing(shop):
    shop.enrol("m1")
    before = shop.snapshot()
    with pytest.raises(MemberExistsError):
        shop.enrol("m1", name="Someone else")
    assert shop.snapshot() == before


def test_enrol_replay_answers_the_first_response_and_creates_nothing(shop):
    first = shop.enrol("m1", key="same")
    before = shop.snapshot()
    again = shop.enrol("m1", key="same")
    assert (again.outcome, again.body) == (first.outcome, first.body)
    assert shop.snapshot() == before


def test_same_key_with_another_body_is_refused(shop):
    shop.enrol("m1", key="same")
    with pytest.raises(IdempotencyKeyReusedError):
        shop.enrol("m2", key="same")
    with pytest.raises(NotFoundError):
        shop.member("m2")


def test_unknown_referral_code_is_a_validation_error(shop):
    with pytest.raises(ValidationError):
        shop.enrol("m2", referral_code="NOPE42")
    with pytest.raises(NotFoundError):
        shop.member("m2")


def test_referral_bonus_pays_both_members_on_the_first_earn_only(shop):
    code = shop.enrol("ref").body["referral_code"]
    shop.enrol("new", referral_code=code.lower())
    assert shop.balance("new") == 1000  # signup only, until the first earn
    shop.earn("new", "o1", 10_000)
    assert shop.balance("new") == 1000 + 100 + 1000
    assert shop.balance("ref") == 1000 + 1000
    assert [(t["type"], t["reason"]) for t in shop.history("ref")] == [("bonus", "signup"), ("bonus", "referral:new")]
    shop.earn("new", "o2", 10_000)
    assert shop.balance("ref") == 2000
    assert shop.balance("new") == 2200


def test_an_erased_referrer_gets_nothing(shop):
    code = shop.enrol("ref").body["referral_code"]
    shop.enrol("new", referral_code=code)
    shop.erase("ref")
    shop.enrol("ref")  # the id enrolled again is another member
    shop.earn("new", "o1", 10_000)
    assert shop.balance("new") == 2100
    assert shop.balance("ref") == 1000


@pytest.mark.parametrize("fields", [{"email": "KIM@example.com"}, {"phone": "010-1234-5678"}])
def test_a_code_of_ones_own_is_refused(shop, fields):
    code = shop.enrol("me", email="kim@example.com", phone="01012345678").body["referral_code"]
    before = shop.snapshot()
    with pytest.raises(ReferralNotAllowedError):
        shop.enrol("me-again", referral_code=code, **fields)
    assert shop.snapshot() == before


def test_erase_forfeits_the_balance_and_the_member_is_gone(shop):
    shop.enrol("m1", key="enrol-m1", email="kim@example.com")
    shop.earn("m1", "o1", 50_000)
    shop.erase("m1")
    with pytest.raises(NotFoundError):
        shop.member("m1")
    entries = sorted(shop.entries("m1"), key=lambda t: t["transaction_id"])
    assert [(t["type"], t["points"]) for t in entries] == [("bonus", 1000), ("earn", 500), ("expire", -1500)]
    assert sum(t["points"] for t in entries) == 0
    stats = shop.stats()
    assert (stats["members"], stats["points_expired"], stats["points_outstanding"]) == (0, 1500, 0)
    # the stored enrolment reply no longer holds the personal data, and a replay is 404
    assert "kim@example.com" not in "".join(shop.snapshot())
    with pytest.raises(NotFoundError):
        shop.enrol("m1", key="enrol-m1", email="kim@example.com")
    with pytest.raises(NotFoundError):
        shop.erase("m1")


def test_an_erased_id_enrols_again_as_a_new_member(shop):
    shop.enrol("m1")
    shop.earn("m1", "o1", 50_000)
    shop.erase("m1")
    again = shop.enrol("m1")
    assert again.body["balance"] == 1000
    assert [t["type"] for t in shop.history("m1")] == ["bonus"]
    shop.earn("m1", "o1", 20_000)  # the order id of the erased member does not count
    assert shop.balance("m1") == 1200
    assert shop.stats()["members"] == 1
