"""Malformed and refused requests (contract §1 errors, §2-§5 and §8 validation).

One table: every row is a request the contract says must be refused, with the
status and error code it names. Each row also proves that the refusal changed
nothing (§1: "A rejected request changes nothing") by comparing a snapshot of
everything the API shows before and after the request.

State set up for every row (clock frozen at 2027-01-15T03:00:00Z, demo program):
- m1: signup bonus 1000; earn o1 of 1,000,000 won -> 1,000,000 x 0.01 = 10000
  (tier before the purchase 새싹, multiplier 1, adds 0; grand-opening ended
  2027-01-08); the quarter's spend 1,000,000 makes m1 숲, the one tier allowed
  to transfer. Activity review rv-1 -> 100. Redeem 1000 (order c1).
  Balance 1000 + 10000 + 100 - 1000 = 10100.
- m2: signup bonus 1000, tier 새싹. Balance 1000.
- rewards: latte (500 points, stock 5), cake (5000 points, unlimited) and
  mug (300 points, stock 0).
- coupon template off3000 (3000 off orders of at least 10,000, not for sale);
  m1 holds one such coupon (given), available.
"""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest

from tests.conftest import DEMO_PROGRAM, Api, FrozenClock

NOW = "2027-01-15T03:00:00Z"
SETUP_EARN_KEY = "setup-earn-o1"
PROBE_MEMBERS = ("m1", "m2", "new-1", "ghost")
LONG = "x" * 201  # strings over 200 chars -> 400
LONG_ID = "a" * 65  # ids are 1-64 chars of [A-Za-z0-9_.-]
OVER = 10**12 + 1  # |points| at most 10^12


def parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def program(**changes) -> dict:
    """The demo program with some top-level fields replaced."""
    config = copy.deepcopy(DEMO_PROGRAM)
    config.update(changes)
    return config


def tiers(*edits: tuple[int, str, object]) -> list[dict]:
    """The demo tiers with (index, field, value) edits."""
    result = copy.deepcopy(DEMO_PROGRAM["tiers"])
    for index, field, value in edits:
        result[index][field] = value
    return result


def promotion(**changes) -> list[dict]:
    promo = {
        "name": "spring",
        "multiplier": "2",
        "starts_at": "2027-03-01T00:00:00Z",
        "ends_at": "2027-03-08T00:00:00Z",
        "categories": None,
    }
    promo.update(changes)
    return [promo]


EARN = {"order_id": "o9", "amount": 5000}
NEW_MEMBER = {"member_id": "new-1", "name": "Lee"}
TEMPLATE = {"template_id": "t9", "name": "T", "discount": {"type": "amount", "amount": 3000}}
USE = {"member_id": "m1", "order_id": "x1", "order_amount": 10000}


def row(id_, method, path, body, key, status, code, idem="auto", headers=None):
    return pytest.param(method, path, body, key, status, code, idem, headers, id=id_)


ROWS = [
    # -- malformed JSON / non-object JSON ------------------------------------
    row(
        "earn-json-truncated",
        "POST",
        "/members/m1/earn",
        '{"order_id": "o9", "amount": 5000',
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "earn-json-list",
        "POST",
        "/members/m1/earn",
        '[{"order_id": "o9", "amount": 5000}]',
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row("earn-json-string", "POST", "/members/m1/earn", '"o9"', "storefront", 400, "VALIDATION_ERROR"),
    row("earn-json-empty-body", "POST", "/members/m1/earn", "", "storefront", 400, "VALIDATION_ERROR"),
    row(
        "members-json-form-encoded",
        "POST",
        "/members",
        "member_id=new-1&name=Lee",
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row("redeem-json-nan", "POST", "/members/m1/redeem", '{"points": NaN}', "storefront", 400, "VALIDATION_ERROR"),
    row(
        "adjust-json-trailing-comma",
        "POST",
        "/members/m1/adjustments",
        '{"points": 10, "reason": "goodwill",}',
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row("rewards-json-null", "POST", "/rewards", "null", "admin", 400, "VALIDATION_ERROR"),
    row("program-json-truncated", "PUT", "/program", '{"base_rate": "0.02"', "admin", 400, "VALIDATION_ERROR"),
    row("program-json-list", "PUT", "/program", "[]", "admin", 400, "VALIDATION_ERROR"),
    # -- PUT /program (§2) ---------------------------------------------------
    row("program-base-rate-number", "PUT", "/program", program(base_rate=0.02), "admin", 400, "VALIDATION_ERROR"),
    row(
        "program-multiplier-number",
        "PUT",
        "/program",
        program(tiers=tiers((1, "earn_multiplier", 1.2))),
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "program-category-multiplier-number",
        "PUT",
        "/program",
        program(category_multipliers={"new-arrivals": 2}),
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row("program-base-rate-not-decimal", "PUT", "/program", program(base_rate="abc"), "admin", 400, "VALIDATION_ERROR"),
    row("program-base-rate-negative", "PUT", "/program", program(base_rate="-0.01"), "admin", 400, "VALIDATION_ERROR"),
    row(
        "program-category-multiplier-negative",
        "PUT",
        "/program",
        program(category_multipliers={"new-arrivals": "-2"}),
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row("program-signup-bonus-negative", "PUT", "/program", program(signup_bonus=-1), "admin", 400, "VALIDATION_ERROR"),
    row(
        "program-signup-bonus-float", "PUT", "/program", program(signup_bonus=1000.0), "admin", 400, "VALIDATION_ERROR"
    ),
    row("program-signup-bonus-bool", "PUT", "/program", program(signup_bonus=True), "admin", 400, "VALIDATION_ERROR"),
    row("program-expiry-days-negative", "PUT", "/program", program(expiry_days=-365), "admin", 400, "VALIDATION_ERROR"),
    row(
        "program-min-points-negative",
        "PUT",
        "/program",
        program(redemption={"min_points": -1}),
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row("program-tiers-empty", "PUT", "/program", program(tiers=[]), "admin", 400, "VALIDATION_ERROR"),
    row(
        "program-tiers-unsorted",
        "PUT",
        "/program",
        program(tiers=[DEMO_PROGRAM["tiers"][i] for i in (0, 2, 1, 3)]),
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "program-first-tier-not-zero",
        "PUT",
        "/program",
        program(tiers=tiers((0, "min_spend", 1000))),
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "program-tier-min-spend-float",
        "PUT",
        "/program",
        program(tiers=tiers((1, "min_spend", 300000.0))),
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "program-tier-name-too-long",
        "PUT",
        "/program",
        program(tiers=tiers((3, "name", LONG))),
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "program-unknown-timezone",
        "PUT",
        "/program",
        program(timezone="Mars/Olympus_Mons"),
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "program-promotion-ends-before-starts",
        "PUT",
        "/program",
        program(promotions=promotion(ends_at="2027-02-28T00:00:00Z")),
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "program-promotion-ends-at-starts",
        "PUT",
        "/program",
        program(promotions=promotion(ends_at="2027-03-01T00:00:00Z")),
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "program-promotion-impossible-date",
        "PUT",
        "/program",
        program(promotions=promotion(ends_at="2027-02-30T00:00:00Z")),
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "program-promotion-not-iso",
        "PUT",
        "/program",
        program(promotions=promotion(starts_at="March 1st 2027")),
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "program-promotion-fractional-second",
        "PUT",
        "/program",
        program(promotions=promotion(starts_at="2027-03-01T00:00:00.500Z")),
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "program-promotion-no-timezone",
        "PUT",
        "/program",
        program(promotions=promotion(starts_at="2027-03-01T00:00:00")),
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row("program-unknown-field", "PUT", "/program", program(loyalty_tax="0.1"), "admin", 400, "VALIDATION_ERROR"),
    row("program-storefront-key", "PUT", "/program", program(base_rate="0.02"), "storefront", 403, "FORBIDDEN"),
    # -- POST /members (§3) ----------------------------------------------------
    row("members-missing-name", "POST", "/members", {"member_id": "new-1"}, "storefront", 400, "VALIDATION_ERROR"),
    row(
        "members-name-number",
        "POST",
        "/members",
        {"member_id": "new-1", "name": 42},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "members-name-too-long",
        "POST",
        "/members",
        {"member_id": "new-1", "name": LONG},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "members-id-bad-chars",
        "POST",
        "/members",
        {"member_id": "new 1/x", "name": "Lee"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "members-id-hangul",
        "POST",
        "/members",
        {"member_id": "회원1", "name": "Lee"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "members-id-too-long",
        "POST",
        "/members",
        {"member_id": LONG_ID, "name": "Lee"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "members-id-empty", "POST", "/members", {"member_id": "", "name": "Lee"}, "storefront", 400, "VALIDATION_ERROR"
    ),
    row(
        "members-id-number",
        "POST",
        "/members",
        {"member_id": 12345, "name": "Lee"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "members-birthday-impossible",
        "POST",
        "/members",
        {**NEW_MEMBER, "birthday": "1990-02-30"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "members-birthday-not-iso",
        "POST",
        "/members",
        {**NEW_MEMBER, "birthday": "30/01/1990"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "members-birthday-compact",
        "POST",
        "/members",
        {**NEW_MEMBER, "birthday": "19900130"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "members-birthday-in-the-future",
        "POST",
        "/members",
        {**NEW_MEMBER, "birthday": "2999-01-01"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "members-birthday-tomorrow-everywhere",
        "POST",
        "/members",
        {**NEW_MEMBER, "birthday": "2027-01-16"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "members-birthday-before-1900",
        "POST",
        "/members",
        {**NEW_MEMBER, "birthday": "1899-12-31"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "members-birthday-week-date",
        "POST",
        "/members",
        {**NEW_MEMBER, "birthday": "1990-W05-2"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "members-unknown-referral-code",
        "POST",
        "/members",
        {**NEW_MEMBER, "referral_code": "ZZZZZZ"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "members-unknown-field", "POST", "/members", {**NEW_MEMBER, "tier": "숲"}, "storefront", 400, "VALIDATION_ERROR"
    ),
    row("members-exists", "POST", "/members", {"member_id": "m1", "name": "Other"}, "storefront", 409, "MEMBER_EXISTS"),
    row("members-no-idempotency-key", "POST", "/members", NEW_MEMBER, "storefront", 400, "VALIDATION_ERROR", idem=None),
    row(
        "members-idempotency-key-too-long",
        "POST",
        "/members",
        NEW_MEMBER,
        "storefront",
        400,
        "VALIDATION_ERROR",
        idem="k" * 65,
    ),
    row("members-no-api-key", "POST", "/members", NEW_MEMBER, None, 401, "UNAUTHORIZED"),
    # -- POST /members/{id}/earn (§4) -----------------------------------------
    row("earn-missing-order-id", "POST", "/members/m1/earn", {"amount": 5000}, "storefront", 400, "VALIDATION_ERROR"),
    row("earn-missing-amount", "POST", "/members/m1/earn", {"order_id": "o9"}, "storefront", 400, "VALIDATION_ERROR"),
    row(
        "earn-amount-string",
        "POST",
        "/members/m1/earn",
        {"order_id": "o9", "amount": "5000"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "earn-amount-whole-float",
        "POST",
        "/members/m1/earn",
        {"order_id": "o9", "amount": 5000.0},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "earn-amount-fraction",
        "POST",
        "/members/m1/earn",
        {"order_id": "o9", "amount": 5000.5},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "earn-amount-bool",
        "POST",
        "/members/m1/earn",
        {"order_id": "o9", "amount": True},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "earn-amount-zero",
        "POST",
        "/members/m1/earn",
        {"order_id": "o9", "amount": 0},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "earn-amount-negative",
        "POST",
        "/members/m1/earn",
        {"order_id": "o9", "amount": -5000},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "earn-order-id-number",
        "POST",
        "/members/m1/earn",
        {"order_id": 9, "amount": 5000},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "earn-order-id-too-long",
        "POST",
        "/members/m1/earn",
        {"order_id": LONG, "amount": 5000},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "earn-unknown-field", "POST", "/members/m1/earn", {**EARN, "points": 50}, "storefront", 400, "VALIDATION_ERROR"
    ),
    row(
        "earn-items-not-list",
        "POST",
        "/members/m1/earn",
        {**EARN, "items": {"sku": "a", "category": "c", "amount": 100}},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "earn-item-amount-zero",
        "POST",
        "/members/m1/earn",
        {**EARN, "items": [{"sku": "a", "category": "c", "amount": 0}]},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "earn-item-missing-category",
        "POST",
        "/members/m1/earn",
        {**EARN, "items": [{"sku": "a", "amount": 100}]},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "earn-item-sku-too-long",
        "POST",
        "/members/m1/earn",
        {**EARN, "items": [{"sku": LONG, "category": "c", "amount": 100}]},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    # items 3000 + 2001 = 5001 > amount 5000
    row(
        "earn-items-exceed-amount",
        "POST",
        "/members/m1/earn",
        {
            **EARN,
            "items": [
                {"sku": "a", "category": "new-arrivals", "amount": 3000},
                {"sku": "b", "category": "drinks", "amount": 2001},
            ],
        },
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    # now is 2027-01-15T03:00:00Z: one second later is the future
    row(
        "earn-occurred-in-future",
        "POST",
        "/members/m1/earn",
        {**EARN, "occurred_at": "2027-01-15T03:00:01Z"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    # 90 days back from 2027-01-15T03:00Z: 14 (Jan) + 31 (Dec) + 30 (Nov) + 15 (Oct 31 -> 17)
    # = 90 -> 2026-10-17T03:00:00Z is the limit; one second earlier is out
    row(
        "earn-occurred-over-90-days-back",
        "POST",
        "/members/m1/earn",
        {**EARN, "occurred_at": "2026-10-17T02:59:59Z"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "earn-occurred-impossible-date",
        "POST",
        "/members/m1/earn",
        {**EARN, "occurred_at": "2026-11-31T10:00:00Z"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "earn-occurred-no-timezone",
        "POST",
        "/members/m1/earn",
        {**EARN, "occurred_at": "2027-01-10T10:00:00"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "earn-occurred-date-only",
        "POST",
        "/members/m1/earn",
        {**EARN, "occurred_at": "2027-01-10"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "earn-occurred-not-iso",
        "POST",
        "/members/m1/earn",
        {**EARN, "occurred_at": "10 Jan 2027 10:00 UTC"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "earn-occurred-number",
        "POST",
        "/members/m1/earn",
        {**EARN, "occurred_at": 1799550000},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row("earn-unknown-member", "POST", "/members/ghost/earn", EARN, "storefront", 404, "NOT_FOUND"),
    row(
        "earn-duplicate-order",
        "POST",
        "/members/m1/earn",
        {"order_id": "o1", "amount": 5000},
        "storefront",
        409,
        "DUPLICATE_ORDER",
    ),
    row(
        "earn-idempotency-key-reused",
        "POST",
        "/members/m1/earn",
        EARN,
        "storefront",
        409,
        "IDEMPOTENCY_KEY_REUSED",
        idem=SETUP_EARN_KEY,
    ),
    row("earn-no-idempotency-key", "POST", "/members/m1/earn", EARN, "storefront", 400, "VALIDATION_ERROR", idem=None),
    row("earn-empty-idempotency-key", "POST", "/members/m1/earn", EARN, "storefront", 400, "VALIDATION_ERROR", idem=""),
    # -- POST /members/{id}/activities (§4) ------------------------------------
    row(
        "activity-unknown-type",
        "POST",
        "/members/m1/activities",
        {"type": "tweet", "reference_id": "t-1"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "activity-missing-reference",
        "POST",
        "/members/m1/activities",
        {"type": "review"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "activity-reference-too-long",
        "POST",
        "/members/m1/activities",
        {"type": "review", "reference_id": LONG},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "activity-type-number",
        "POST",
        "/members/m1/activities",
        {"type": 1, "reference_id": "rv-2"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "activity-unknown-member",
        "POST",
        "/members/ghost/activities",
        {"type": "review", "reference_id": "rv-2"},
        "storefront",
        404,
        "NOT_FOUND",
    ),
    row(
        "activity-duplicate",
        "POST",
        "/members/m1/activities",
        {"type": "review", "reference_id": "rv-1"},
        "storefront",
        409,
        "DUPLICATE_ACTIVITY",
    ),
    row(
        "activity-no-idempotency-key",
        "POST",
        "/members/m1/activities",
        {"type": "review", "reference_id": "rv-2"},
        "storefront",
        400,
        "VALIDATION_ERROR",
        idem=None,
    ),
    # -- POST /members/{id}/redeem (§4, §5) -------------------------------------
    row(
        "redeem-missing-points", "POST", "/members/m1/redeem", {"order_id": "c9"}, "storefront", 400, "VALIDATION_ERROR"
    ),
    row("redeem-points-zero", "POST", "/members/m1/redeem", {"points": 0}, "storefront", 400, "VALIDATION_ERROR"),
    row(
        "redeem-points-negative", "POST", "/members/m1/redeem", {"points": -1000}, "storefront", 400, "VALIDATION_ERROR"
    ),
    row(
        "redeem-points-whole-float",
        "POST",
        "/members/m1/redeem",
        {"points": 1000.0},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "redeem-points-fraction",
        "POST",
        "/members/m1/redeem",
        {"points": 1000.5},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row("redeem-points-bool", "POST", "/members/m1/redeem", {"points": True}, "storefront", 400, "VALIDATION_ERROR"),
    row(
        "redeem-points-string", "POST", "/members/m1/redeem", {"points": "1000"}, "storefront", 400, "VALIDATION_ERROR"
    ),
    row(
        "redeem-points-over-1e12", "POST", "/members/m1/redeem", {"points": OVER}, "storefront", 400, "VALIDATION_ERROR"
    ),
    row(
        "redeem-reward-id-number", "POST", "/members/m1/redeem", {"reward_id": 7}, "storefront", 400, "VALIDATION_ERROR"
    ),
    # latte costs 500 points: any other `points` is refused
    row(
        "redeem-reward-points-mismatch",
        "POST",
        "/members/m1/redeem",
        {"reward_id": "latte", "points": 400},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "redeem-unknown-reward",
        "POST",
        "/members/m1/redeem",
        {"reward_id": "croissant"},
        "storefront",
        404,
        "NOT_FOUND",
    ),
    row("redeem-unknown-member", "POST", "/members/ghost/redeem", {"points": 1000}, "storefront", 404, "NOT_FOUND"),
    # m1 holds 10100 points; min_points is 1000
    row(
        "redeem-below-minimum",
        "POST",
        "/members/m1/redeem",
        {"points": 999},
        "storefront",
        422,
        "BELOW_MINIMUM_REDEMPTION",
    ),
    row(
        "redeem-insufficient", "POST", "/members/m1/redeem", {"points": 10101}, "storefront", 422, "INSUFFICIENT_POINTS"
    ),
    # m2 holds 1000 points; cake costs 5000
    row(
        "redeem-reward-insufficient",
        "POST",
        "/members/m2/redeem",
        {"reward_id": "cake"},
        "storefront",
        422,
        "INSUFFICIENT_POINTS",
    ),
    # mug: stock 0, 300 points, m1 could pay
    row("redeem-out-of-stock", "POST", "/members/m1/redeem", {"reward_id": "mug"}, "storefront", 422, "OUT_OF_STOCK"),
    row(
        "redeem-no-idempotency-key",
        "POST",
        "/members/m1/redeem",
        {"points": 1000},
        "storefront",
        400,
        "VALIDATION_ERROR",
        idem=None,
    ),
    # -- POST /members/{id}/transactions/{tx}/reversal (§4) ------------------
    row(
        "reversal-amount-zero",
        "POST",
        "/members/m1/transactions/{earn_tx}/reversal",
        {"amount": 0},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "reversal-amount-fraction",
        "POST",
        "/members/m1/transactions/{earn_tx}/reversal",
        {"amount": 100.5},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "reversal-amount-string",
        "POST",
        "/members/m1/transactions/{earn_tx}/reversal",
        {"amount": "100"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "reversal-points-negative",
        "POST",
        "/members/m1/transactions/{redeem_tx}/reversal",
        {"points": -100},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "reversal-points-over-1e12",
        "POST",
        "/members/m1/transactions/{redeem_tx}/reversal",
        {"points": OVER},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "reversal-unknown-field",
        "POST",
        "/members/m1/transactions/{earn_tx}/reversal",
        {"amount": 100, "reason": "refund"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "reversal-unknown-transaction",
        "POST",
        "/members/m1/transactions/01JZZZZZZZZZZZZZZZZZZZZZZZ/reversal",
        {},
        "storefront",
        404,
        "NOT_FOUND",
    ),
    # m1's earn does not belong to m2
    row(
        "reversal-other-members-transaction",
        "POST",
        "/members/m2/transactions/{earn_tx}/reversal",
        {},
        "storefront",
        404,
        "NOT_FOUND",
    ),
    row(
        "reversal-unknown-member",
        "POST",
        "/members/ghost/transactions/{earn_tx}/reversal",
        {},
        "storefront",
        404,
        "NOT_FOUND",
    ),
    row(
        "reversal-of-bonus",
        "POST",
        "/members/m1/transactions/{bonus_tx}/reversal",
        {},
        "storefront",
        422,
        "REVERSAL_NOT_ALLOWED",
    ),
    row(
        "reversal-of-activity",
        "POST",
        "/members/m1/transactions/{activity_tx}/reversal",
        {},
        "storefront",
        422,
        "REVERSAL_NOT_ALLOWED",
    ),
    # the order was 1,000,000 won
    row(
        "reversal-refund-beyond-order",
        "POST",
        "/members/m1/transactions/{earn_tx}/reversal",
        {"amount": 1_000_001},
        "storefront",
        422,
        "REVERSAL_NOT_ALLOWED",
    ),
    # 1000 points were redeemed
    row(
        "reversal-restore-beyond-redeemed",
        "POST",
        "/members/m1/transactions/{redeem_tx}/reversal",
        {"points": 1001},
        "storefront",
        422,
        "REVERSAL_NOT_ALLOWED",
    ),
    row(
        "reversal-no-idempotency-key",
        "POST",
        "/members/m1/transactions/{earn_tx}/reversal",
        {"amount": 1000},
        "storefront",
        400,
        "VALIDATION_ERROR",
        idem=None,
    ),
    # -- POST /members/{id}/transfers (§4) -------------------------------------
    # m1 (숲, 10100 points) may transfer; min_points is 1000
    row(
        "transfer-missing-recipient",
        "POST",
        "/members/m1/transfers",
        {"points": 1000},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "transfer-recipient-number",
        "POST",
        "/members/m1/transfers",
        {"to_member_id": 2, "points": 1000},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "transfer-recipient-too-long",
        "POST",
        "/members/m1/transfers",
        {"to_member_id": LONG, "points": 1000},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "transfer-points-zero",
        "POST",
        "/members/m1/transfers",
        {"to_member_id": "m2", "points": 0},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "transfer-points-negative",
        "POST",
        "/members/m1/transfers",
        {"to_member_id": "m2", "points": -1000},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "transfer-points-whole-float",
        "POST",
        "/members/m1/transfers",
        {"to_member_id": "m2", "points": 1000.0},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "transfer-points-over-1e12",
        "POST",
        "/members/m1/transfers",
        {"to_member_id": "m2", "points": OVER},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "transfer-unknown-sender",
        "POST",
        "/members/ghost/transfers",
        {"to_member_id": "m2", "points": 1000},
        "storefront",
        404,
        "NOT_FOUND",
    ),
    row(
        "transfer-unknown-recipient",
        "POST",
        "/members/m1/transfers",
        {"to_member_id": "ghost", "points": 1000},
        "storefront",
        404,
        "NOT_FOUND",
    ),
    row(
        "transfer-to-self",
        "POST",
        "/members/m1/transfers",
        {"to_member_id": "m1", "points": 1000},
        "storefront",
        422,
        "TRANSFER_NOT_ALLOWED",
    ),
    # m2 is 새싹 and holds exactly the 1000 it would send
    row(
        "transfer-tier-not-allowed",
        "POST",
        "/members/m2/transfers",
        {"to_member_id": "m1", "points": 1000},
        "storefront",
        422,
        "TRANSFER_NOT_ALLOWED",
    ),
    row(
        "transfer-below-minimum",
        "POST",
        "/members/m1/transfers",
        {"to_member_id": "m2", "points": 999},
        "storefront",
        422,
        "TRANSFER_NOT_ALLOWED",
    ),
    row(
        "transfer-insufficient",
        "POST",
        "/members/m1/transfers",
        {"to_member_id": "m2", "points": 10101},
        "storefront",
        422,
        "INSUFFICIENT_POINTS",
    ),
    row(
        "transfer-no-idempotency-key",
        "POST",
        "/members/m1/transfers",
        {"to_member_id": "m2", "points": 1000},
        "storefront",
        400,
        "VALIDATION_ERROR",
        idem=None,
    ),
    # -- POST /members/{id}/adjustments (§4, admin) --------------------------
    row("adjust-missing-reason", "POST", "/members/m1/adjustments", {"points": 100}, "admin", 400, "VALIDATION_ERROR"),
    row(
        "adjust-reason-too-long",
        "POST",
        "/members/m1/adjustments",
        {"points": 100, "reason": LONG},
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "adjust-points-zero",
        "POST",
        "/members/m1/adjustments",
        {"points": 0, "reason": "x"},
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "adjust-points-fraction",
        "POST",
        "/members/m1/adjustments",
        {"points": 10.5, "reason": "x"},
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "adjust-points-whole-float",
        "POST",
        "/members/m1/adjustments",
        {"points": 10.0, "reason": "x"},
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "adjust-points-bool",
        "POST",
        "/members/m1/adjustments",
        {"points": True, "reason": "x"},
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "adjust-points-over-1e12",
        "POST",
        "/members/m1/adjustments",
        {"points": OVER, "reason": "x"},
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "adjust-points-under-minus-1e12",
        "POST",
        "/members/m1/adjustments",
        {"points": -OVER, "reason": "x"},
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "adjust-unknown-member",
        "POST",
        "/members/ghost/adjustments",
        {"points": 100, "reason": "x"},
        "admin",
        404,
        "NOT_FOUND",
    ),
    # m1 holds 10100
    row(
        "adjust-insufficient",
        "POST",
        "/members/m1/adjustments",
        {"points": -10101, "reason": "correction"},
        "admin",
        422,
        "INSUFFICIENT_POINTS",
    ),
    row(
        "adjust-storefront-key",
        "POST",
        "/members/m1/adjustments",
        {"points": 100, "reason": "x"},
        "storefront",
        403,
        "FORBIDDEN",
    ),
    row(
        "adjust-no-idempotency-key",
        "POST",
        "/members/m1/adjustments",
        {"points": 100, "reason": "x"},
        "admin",
        400,
        "VALIDATION_ERROR",
        idem=None,
    ),
    # -- POST /rewards (§5, admin) ---------------------------------------------
    row(
        "reward-missing-points-cost",
        "POST",
        "/rewards",
        {"reward_id": "scone", "name": "Scone"},
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "reward-points-cost-negative",
        "POST",
        "/rewards",
        {"reward_id": "scone", "name": "Scone", "points_cost": -800},
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "reward-points-cost-string",
        "POST",
        "/rewards",
        {"reward_id": "scone", "name": "Scone", "points_cost": "800"},
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "reward-points-cost-whole-float",
        "POST",
        "/rewards",
        {"reward_id": "scone", "name": "Scone", "points_cost": 800.0},
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "reward-points-cost-over-1e12",
        "POST",
        "/rewards",
        {"reward_id": "scone", "name": "Scone", "points_cost": OVER},
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "reward-stock-negative",
        "POST",
        "/rewards",
        {"reward_id": "scone", "name": "Scone", "points_cost": 800, "stock": -1},
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "reward-stock-fraction",
        "POST",
        "/rewards",
        {"reward_id": "scone", "name": "Scone", "points_cost": 800, "stock": 2.5},
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "reward-id-number",
        "POST",
        "/rewards",
        {"reward_id": 17, "name": "Scone", "points_cost": 800},
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "reward-id-too-long",
        "POST",
        "/rewards",
        {"reward_id": LONG, "name": "Scone", "points_cost": 800},
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "reward-name-too-long",
        "POST",
        "/rewards",
        {"reward_id": "scone", "name": LONG, "points_cost": 800},
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "reward-unknown-field",
        "POST",
        "/rewards",
        {"reward_id": "scone", "name": "Scone", "points_cost": 800, "price": 5000},
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "reward-exists",
        "POST",
        "/rewards",
        {"reward_id": "latte", "name": "Latte again", "points_cost": 100},
        "admin",
        409,
        "REWARD_EXISTS",
    ),
    row(
        "reward-storefront-key",
        "POST",
        "/rewards",
        {"reward_id": "scone", "name": "Scone", "points_cost": 800},
        "storefront",
        403,
        "FORBIDDEN",
    ),
    # -- edges found by fuzzing ----------------------------------------------------
    # an offset carries the first or last representable instant out of range (was a 500)
    row(
        "earn-occurred-year-1-with-offset",
        "POST",
        "/members/m1/earn",
        {**EARN, "occurred_at": "0001-01-01T00:00:00+01:00"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "earn-occurred-year-9999-with-offset",
        "POST",
        "/members/m1/earn",
        {**EARN, "occurred_at": "9999-12-31T23:59:59-01:00"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "earn-occurred-year-below-1000",
        "POST",
        "/members/m1/earn",
        {**EARN, "occurred_at": "0999-06-01T00:00:00Z"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "earn-occurred-year-9999",
        "POST",
        "/members/m1/earn",
        {**EARN, "occurred_at": "9999-12-31T23:59:59Z"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "program-promotion-starts-year-1-with-offset",
        "PUT",
        "/program",
        program(promotions=promotion(starts_at="0001-01-01T00:00:00+01:00")),
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "program-promotion-ends-year-9999-with-offset",
        "PUT",
        "/program",
        program(promotions=promotion(ends_at="9999-12-31T23:59:59-01:00")),
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    # a key twice: ambiguous between a proxy, a log and Dangol (the last one would win)
    row(
        "redeem-duplicate-key",
        "POST",
        "/members/m1/redeem",
        '{"points": 1000, "points": 999999999}',
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "members-duplicate-key-nested",
        "PUT",
        "/program",
        '{"redemption": {"min_points": 1, "min_points": 2}}',
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "reversal-duplicate-key",
        "POST",
        "/members/m1/transactions/{earn_tx}/reversal",
        '{"amount": 100, "amount": 1000000}',
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    # emails through a maintained validator (email-validator)
    row(
        "members-email-nul-byte",
        "POST",
        "/members",
        {**NEW_MEMBER, "email": "lee\u0000@example.com"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "members-email-two-ats",
        "POST",
        "/members",
        {**NEW_MEMBER, "email": "lee@@example.com"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "members-email-no-domain-dot",
        "POST",
        "/members",
        {**NEW_MEMBER, "email": "lee@localhost"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "members-email-newline",
        "POST",
        "/members",
        {**NEW_MEMBER, "email": "lee@example.com\nBcc: x@example.com"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    # a GET with a Content-Type other than JSON: the key is checked, not the media type
    row(
        "get-text-plain-no-key",
        "GET",
        "/members/m1",
        None,
        None,
        401,
        "UNAUTHORIZED",
        headers={"Content-Type": "text/plain"},
    ),
    row(
        "get-text-plain-storefront-on-admin-route",
        "GET",
        "/stats",
        None,
        "storefront",
        403,
        "FORBIDDEN",
        headers={"Content-Type": "text/plain"},
    ),
    # paths and methods that are no route
    row("unknown-path", "GET", "/membres/m1", None, "storefront", 404, "NOT_FOUND"),
    row("unknown-path-post", "POST", "/members/m1/earnings", EARN, "storefront", 404, "NOT_FOUND"),
    row("wrong-method", "PUT", "/members/m1", {"name": "x"}, "storefront", 405, "METHOD_NOT_ALLOWED"),
    row("wrong-method-put-earn", "PUT", "/members/m1/earn", EARN, "storefront", 405, "METHOD_NOT_ALLOWED"),
    # -- coupon templates (§11, admin) ------------------------------------------
    *[
        row(f"template-{name}", "POST", "/coupon-templates", {**TEMPLATE, **change}, "admin", 400, "VALIDATION_ERROR")
        for name, change in [
            ("discount-type-unknown", {"discount": {"type": "free", "amount": 100}}),
            ("discount-missing", {"discount": None}),
            ("percent-0", {"discount": {"type": "percent", "percent": 0}}),
            ("percent-101", {"discount": {"type": "percent", "percent": 101}}),
            ("percent-string", {"discount": {"type": "percent", "percent": "10"}}),
            ("percent-fraction", {"discount": {"type": "percent", "percent": 10.5}}),
            ("percent-with-amount", {"discount": {"type": "percent", "percent": 10, "amount": 100}}),
            ("percent-max-amount-negative", {"discount": {"type": "percent", "percent": 10, "max_amount": -1}}),
            ("percent-max-amount-0", {"discount": {"type": "percent", "percent": 10, "max_amount": 0}}),
            ("amount-negative", {"discount": {"type": "amount", "amount": -3000}}),
            ("amount-0", {"discount": {"type": "amount", "amount": 0}}),
            ("amount-over-limit", {"discount": {"type": "amount", "amount": OVER}}),
            ("amount-unknown-field", {"discount": {"type": "amount", "amount": 100, "percent": 5}}),
            ("min-order-negative", {"min_order_amount": -1}),
            ("valid-days-0", {"valid_days": 0}),
            ("valid-days-negative", {"valid_days": -30}),
            ("valid-days-string", {"valid_days": "30"}),
            ("points-cost-negative", {"points_cost": -800}),
            ("points-cost-0", {"points_cost": 0}),
            ("unknown-field", {"stock": 5}),
            ("id-empty", {"template_id": ""}),  # template_id is like a reward_id: 1-200 characters
            ("id-too-long", {"template_id": LONG}),
            ("id-number", {"template_id": 9}),
            ("name-empty", {"name": ""}),
            ("name-too-long", {"name": LONG}),
        ]
    ],
    row(
        "template-missing-discount",
        "POST",
        "/coupon-templates",
        {"template_id": "t9", "name": "T"},
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "template-exists",
        "POST",
        "/coupon-templates",
        {**TEMPLATE, "template_id": "off3000"},
        "admin",
        409,
        "TEMPLATE_EXISTS",
    ),
    row("template-storefront-key", "POST", "/coupon-templates", TEMPLATE, "storefront", 403, "FORBIDDEN"),
    # -- coupons: issue, use, release (§11) ----------------------------------------
    row("issue-empty", "POST", "/members/m1/coupons", {}, "admin", 400, "VALIDATION_ERROR"),
    row("issue-template-number", "POST", "/members/m1/coupons", {"template_id": 5}, "admin", 400, "VALIDATION_ERROR"),
    row(
        "issue-unknown-field",
        "POST",
        "/members/m1/coupons",
        {"template_id": "off3000", "count": 2},
        "admin",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "issue-no-idempotency-key",
        "POST",
        "/members/m1/coupons",
        {"template_id": "off3000"},
        "admin",
        400,
        "VALIDATION_ERROR",
        idem=None,
    ),
    row("issue-unknown-template", "POST", "/members/m1/coupons", {"template_id": "nope"}, "admin", 404, "NOT_FOUND"),
    row(
        "issue-unknown-member", "POST", "/members/ghost/coupons", {"template_id": "off3000"}, "admin", 404, "NOT_FOUND"
    ),
    row(
        "buy-not-for-sale",
        "POST",
        "/members/m1/coupons",
        {"template_id": "off3000"},
        "storefront",
        422,
        "COUPON_NOT_FOR_SALE",
    ),
    *[
        row(f"use-{name}", "POST", "/coupons/{coupon_code}/redemption", body, "storefront", 400, "VALIDATION_ERROR")
        for name, body in [
            ("empty", {}),
            ("order-amount-missing", {"member_id": "m1", "order_id": "x"}),
            ("order-amount-0", {**USE, "order_amount": 0}),
            ("order-amount-negative", {**USE, "order_amount": -10000}),
            ("order-amount-string", {**USE, "order_amount": "10000"}),
            ("order-amount-fraction", {**USE, "order_amount": 10000.5}),
            ("order-amount-over", {**USE, "order_amount": OVER}),
            ("order-id-empty", {**USE, "order_id": ""}),
            ("order-id-too-long", {**USE, "order_id": LONG}),
            ("member-id-bad", {**USE, "member_id": LONG_ID}),
            ("unknown-field", {**USE, "discount_amount": 5000}),
        ]
    ],
    row(
        "use-no-idempotency-key",
        "POST",
        "/coupons/{coupon_code}/redemption",
        USE,
        "storefront",
        400,
        "VALIDATION_ERROR",
        idem=None,
    ),
    row("use-unknown-code", "POST", "/coupons/NOSUCHCODE/redemption", USE, "storefront", 404, "NOT_FOUND"),
    row(
        "use-other-members-code",
        "POST",
        "/coupons/{coupon_code}/redemption",
        {**USE, "member_id": "m2"},
        "storefront",
        404,
        "NOT_FOUND",
    ),
    row(
        "use-below-minimum",
        "POST",
        "/coupons/{coupon_code}/redemption",
        {**USE, "order_amount": 9999},
        "storefront",
        422,
        "COUPON_NOT_USABLE",
    ),
    row("release-empty", "POST", "/coupons/{coupon_code}/release", {}, "storefront", 400, "VALIDATION_ERROR"),
    row(
        "release-unknown-field",
        "POST",
        "/coupons/{coupon_code}/release",
        {"member_id": "m1", "order_id": "x"},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "release-member-number",
        "POST",
        "/coupons/{coupon_code}/release",
        {"member_id": 1},
        "storefront",
        400,
        "VALIDATION_ERROR",
    ),
    row(
        "release-not-used",
        "POST",
        "/coupons/{coupon_code}/release",
        {"member_id": "m1"},
        "storefront",
        422,
        "COUPON_NOT_USABLE",
    ),
    row(
        "coupons-list-bad-status", "GET", "/members/m1/coupons?status=lost", None, "storefront", 400, "VALIDATION_ERROR"
    ),
    # -- suspension (§15, admin) ---------------------------------------------------
    *[
        row(f"suspension-{name}", "POST", "/members/m1/suspension", body, "admin", 400, "VALIDATION_ERROR")
        for name, body in [
            ("empty", {}),
            ("reason-empty", {"reason": ""}),
            ("reason-too-long", {"reason": LONG}),
            ("reason-number", {"reason": 7}),
            ("unknown-field", {"reason": "x", "until": NOW}),
            ("list", [{"reason": "x"}]),
        ]
    ],
    row(
        "suspension-no-idempotency-key",
        "POST",
        "/members/m1/suspension",
        {"reason": "x"},
        "admin",
        400,
        "VALIDATION_ERROR",
        idem=None,
    ),
    row("suspension-storefront-key", "POST", "/members/m1/suspension", {"reason": "x"}, "storefront", 403, "FORBIDDEN"),
    row("suspension-unknown-member", "POST", "/members/ghost/suspension", {"reason": "x"}, "admin", 404, "NOT_FOUND"),
    # -- PATCH /members/{id} ---------------------------------------------------------
    *[
        row(f"patch-{name}", "PATCH", "/members/m1", body, "storefront", 400, "VALIDATION_ERROR")
        for name, body in [
            ("name-empty", {"name": ""}),
            ("name-null", {"name": None}),
            ("name-too-long", {"name": LONG}),
            ("email-bad", {"email": "kim@@example.com"}),
            ("phone-letters", {"phone": "call me"}),
            ("birthday-bad", {"birthday": "1990-02-30"}),
            ("locale-bad", {"locale": "fr"}),
            ("unknown-field", {"tier": "숲"}),
            ("member-id", {"member_id": "m9"}),
            ("list", [{"name": "x"}]),
            ("json-truncated", '{"name": "x"'),
        ]
    ],
    row("patch-unknown-member", "PATCH", "/members/ghost", {"name": "x"}, "storefront", 404, "NOT_FOUND"),
    # -- GET /stats/daily (§16) ----------------------------------------------------------
    *[
        row(f"daily-{name}", "GET", f"/stats/daily?{query}", None, "admin", 400, "VALIDATION_ERROR")
        for name, query in [
            ("missing", ""),
            ("to-missing", "from=2027-01-01"),
            ("from-missing", "to=2027-01-01"),
            ("bad-month", "from=2027-13-01&to=2027-12-31"),
            ("bad-day", "from=2027-02-30&to=2027-03-01"),
            ("not-a-date", "from=yesterday&to=2027-01-01"),
            ("instant", "from=2027-01-01T00:00:00Z&to=2027-01-02"),
            ("from-after-to", "from=2027-01-02&to=2027-01-01"),
            ("367-days", "from=2027-01-01&to=2028-01-02"),
        ]
    ],
    row(
        "daily-storefront-key",
        "GET",
        "/stats/daily?from=2027-01-01&to=2027-01-02",
        None,
        "storefront",
        403,
        "FORBIDDEN",
    ),
    # -- GET /members? (§10) ---------------------------------------------------------
    *[
        row(f"lookup-{name}", "GET", f"/members?{query}", None, "admin", 400, "VALIDATION_ERROR")
        for name, query in [
            ("none", ""),
            ("phone-and-email", "phone=010&email=kim@example.com"),
            ("phone-and-tier", "phone=010&tier=숲"),
            ("phone-no-digits", "phone=abc"),
            ("phone-empty", "phone="),
            ("email-empty", "email="),
            ("tier-unknown", "tier=gold"),
            ("unknown-criterion", "name=Kim"),
            ("cursor-garbage", "email=kim@example.com&cursor=garbage"),
            ("limit-0", "email=kim@example.com&limit=0"),
            ("limit-101", "email=kim@example.com&limit=101"),
            ("email-too-long", f"email={LONG}"),
        ]
    ],
    row("lookup-tier-storefront-key", "GET", "/members?tier=숲", None, "storefront", 403, "FORBIDDEN"),
    # v3 (§21): a segment is dormant or one of POST /segments; any other is unknown
    row("lookup-segment-unknown", "GET", "/members?segment=vip", None, "admin", 404, "NOT_FOUND"),
    # -- program v2 fields (§2, §11, §12, §14, §15) -------------------------------------------
    *[
        row(f"program-v2-{name}", "PUT", "/program", program(**change), "admin", 400, "VALIDATION_ERROR")
        for name, change in [
            ("max-earns-negative", {"limits": {"max_earns_per_day": -1, "max_earn_points_per_day": None}}),
            ("max-points-negative", {"limits": {"max_earns_per_day": None, "max_earn_points_per_day": -100}}),
            ("max-earns-string", {"limits": {"max_earns_per_day": "20", "max_earn_points_per_day": None}}),
            ("limits-unknown-field", {"limits": {"max_earns_per_day": 1, "per_week": 5}}),
            ("frequency-rate-number", {"frequency_bonus": {"min_purchases": 3, "extra_rate": 0.02}}),
            ("frequency-rate-text", {"frequency_bonus": {"min_purchases": 3, "extra_rate": "two percent"}}),
            ("frequency-rate-negative", {"frequency_bonus": {"min_purchases": 3, "extra_rate": "-0.02"}}),
            ("frequency-min-purchases-0", {"frequency_bonus": {"min_purchases": 0, "extra_rate": "0.02"}}),
            ("frequency-missing-rate", {"frequency_bonus": {"min_purchases": 3}}),
            ("dormancy-after-days-0", {"dormancy": {"after_days": 0}}),
            ("dormancy-after-days-negative", {"dormancy": {"after_days": -180}}),
            (
                "auto-coupons-unknown-template",
                {"auto_coupons": {"signup": "nope", "birthday": None, "tier_up": {}, "win_back": None}},
            ),
            (
                "auto-coupons-unknown-tier",
                {"auto_coupons": {"signup": None, "birthday": None, "tier_up": {"gold": "off3000"}, "win_back": None}},
            ),
            ("auto-coupons-unknown-field", {"auto_coupons": {"signup": None, "anniversary": "off3000"}}),
        ]
    ],
    # -- DELETE /members/{id} (§3, admin) --------------------------------------
    row("delete-unknown-member", "DELETE", "/members/ghost", None, "admin", 404, "NOT_FOUND"),
    row("delete-storefront-key", "DELETE", "/members/m1", None, "storefront", 403, "FORBIDDEN"),
    row("delete-no-api-key", "DELETE", "/members/m1", None, None, 401, "UNAUTHORIZED"),
]


# -- setup and snapshot -------------------------------------------------------
# Building the set-up state takes a dozen requests and a fresh moto costs more
# than a row, so the state is built once and its raw table items kept. Every
# row runs in moto again with that module's data (started without a reset, and
# stopped without removing data so other tests still get a clean moto of their
# own): before the row the table is compared with the kept items and, should
# anything differ (a request that changed something, or another test's moto
# reset in between), put back item for item. The state is then the same, item
# for item, so the API snapshot taken right after the build is every row's
# "before" snapshot; the test takes the "after" one itself.
def build(api) -> dict:
    """The demo program, two members with history, three rewards (see module docstring)."""
    api.program(DEMO_PROGRAM)
    api.member("m1", email="kim@example.com")
    api.member("m2")
    earned = api.post("/members/m1/earn", {"order_id": "o1", "amount": 1_000_000}, idem=SETUP_EARN_KEY)
    assert earned.status == 201 and earned.json["points"] == 10000, earned
    assert earned.json["tier"] == "숲", earned
    activity = api.post("/members/m1/activities", {"type": "review", "reference_id": "rv-1"})
    assert activity.status == 201 and activity.json["points"] == 100, activity
    redeemed = api.post("/members/m1/redeem", {"points": 1000, "order_id": "c1"})
    assert redeemed.status == 201 and redeemed.json["points"] == -1000, redeemed
    for reward in (
        {"reward_id": "latte", "name": "Latte", "points_cost": 500, "stock": 5},
        {"reward_id": "cake", "name": "Cake", "points_cost": 5000},
        {"reward_id": "mug", "name": "Mug", "points_cost": 300, "stock": 0},
    ):
        created = api.post("/rewards", reward, key="admin")
        assert created.status == 201, created
    template = {
        "template_id": "off3000",
        "name": "3,000 off",
        "discount": {"type": "amount", "amount": 3000},
        "min_order_amount": 10000,
    }
    assert api.post("/coupon-templates", template, key="admin").status == 201
    coupon = api.post("/members/m1/coupons", {"template_id": "off3000"}, key="admin")
    assert coupon.status == 201, coupon
    m1_history = api.get("/members/m1/transactions?limit=100").json["items"]
    bonus = [tx for tx in m1_history if tx["type"] == "bonus"]
    assert len(bonus) == 1, m1_history
    assert api.balance("m1") == 10100 and api.balance("m2") == 1000
    return {
        "earn_tx": earned.json["transaction_id"],
        "activity_tx": activity.json["transaction_id"],
        "redeem_tx": redeemed.json["transaction_id"],
        "bonus_tx": bonus[0]["transaction_id"],
        "coupon_code": coupon.json["code"],
    }


def table_items() -> dict:
    """Every item of the app's table, raw, by (pk, sk)."""
    from chalicelib import aws, settings

    dynamodb, items, start = aws.client("dynamodb"), {}, None
    while True:
        page = dynamodb.scan(TableName=settings.load().table_name, **({"ExclusiveStartKey": start} if start else {}))
        for item in page["Items"]:
            items[(item["pk"]["S"], item["sk"]["S"])] = item
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def restore(saved: dict) -> None:
    """Make the app's table hold exactly `saved` (creating it if moto was reset)."""
    from botocore.exceptions import ClientError

    from chalicelib import aws, local, settings

    try:
        current = table_items()
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        local.create_resources()
        current = {}
    if current == saved:
        return
    dynamodb, table = aws.client("dynamodb"), settings.load().table_name
    for key, item in current.items():
        if key not in saved:
            dynamodb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
    for key, item in saved.items():
        if current.get(key) != item:
            dynamodb.put_item(TableName=table, Item=item)
    assert table_items() == saved


@pytest.fixture(scope="module")
def set_up():
    from chalice.test import Client
    from moto import mock_aws

    import app as app_module
    from chalicelib import clock as clock_module
    from chalicelib import local, runtime

    moto = mock_aws()
    moto.start()
    try:
        runtime.reset()
        local.create_resources()
        keys = (local.create_api_key("admin", "hq"), local.create_api_key("storefront", "pos-1"))
        with pytest.MonkeyPatch.context() as patch, Client(app_module.app) as client:
            patch.setattr(clock_module, "now", FrozenClock(parse(NOW)))
            api = Api(client, *keys)
            ids = build(api)
            before = snapshot(api)
        saved = table_items()
    finally:
        moto.stop(remove_data=False)
    yield keys, ids, saved, before
    with mock_aws():  # starting resets moto's data, stopping removes it
        runtime.reset()


@pytest.fixture
def world(set_up, clock):
    from chalice.test import Client
    from moto import mock_aws

    import app as app_module

    keys, ids, saved, before = set_up
    assert clock() == parse(NOW)
    moto = mock_aws()
    moto.start(reset=False)
    try:
        restore(saved)
        with Client(app_module.app) as client:
            yield Api(client, *keys), ids, before, saved
    finally:
        moto.stop(remove_data=False)


def pages(api, path: str, key: str) -> list:
    """Every item of a paged list, following next_cursor."""
    items, cursor = [], None
    while True:
        response = api.get(path + "?limit=100" + (f"&cursor={cursor}" if cursor else ""), key=key)
        assert response.status == 200, response
        items.extend(response.json["items"])
        cursor = response.json["next_cursor"]
        if not cursor:
            return items


def snapshot(api) -> dict:
    """Everything the API shows that a refused request could have changed."""
    state = {
        "program": api.get("/program", key="admin").json,
        "stats": api.get("/stats", key="admin").json,
        "rewards": pages(api, "/rewards", "storefront"),
    }
    for member_id in PROBE_MEMBERS:
        member = api.get(f"/members/{member_id}")
        state[member_id] = {"status": member.status, "body": member.json}
        if member.status == 200:
            state[member_id]["transactions"] = pages(api, f"/members/{member_id}/transactions", "storefront")
    return state


# -- the table ------------------------------------------------------------------
@pytest.mark.parametrize("method,path,body,key,status,code,idem,headers", ROWS)
def test_bad_request_is_refused_and_changes_nothing(world, method, path, body, key, status, code, idem, headers):
    api, ids, before, saved = world
    assert before["m1"]["status"] == 200 and before["new-1"]["status"] == 404
    kwargs = {"key": key, "idem": idem if method == "POST" else None, "headers": headers}
    if isinstance(body, str):
        kwargs["raw"] = body
    response = api.call(method, path.format(**ids), body, **kwargs)

    assert response.status == status, response
    error_body = json.loads(response.body)
    # §1: {"error": {"code": "<CODE>", "message": "<human text>"}}
    assert isinstance(error_body, dict) and set(error_body) == {"error"}, response
    error = error_body["error"]
    assert isinstance(error, dict) and {"code", "message"} <= set(error), response
    assert error["code"] == code, response
    assert isinstance(error["message"], str) and error["message"].strip(), response

    assert snapshot(api) == before
    assert table_items() == saved  # not one stored item written, changed or removed
