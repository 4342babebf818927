"""§22 campaign results over hand-made facts: the query's per-arm counts (dates clipped to the
campaign and as_of, refunds netted, campaign lines as recorded, campaign coupons used less
released) and the answer the refresh stores."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlglot

from chalicelib.analytics import campaign_results, sql

from .analytics_facts import FactsEngine, day, noon_utc

AS_OF = dt.datetime(2027, 5, 10, 3, 0, 0, tzinfo=dt.UTC)  # 12:00 in Seoul: as_of's date 2027-05-10
AS_OF_TEXT = "2027-05-10T03:00:00Z"
TZ = "Asia/Seoul"

SPRING = {
    "campaign_id": "spring",
    "starts_at": "2027-04-30T15:00:00Z",  # 2027-05-01 00:00 in Seoul
    "ends_at": "2027-05-20T00:00:00Z",  # after as_of: the dates end with as_of's date, 2027-05-10
    "arms": [
        {"name": "double", "weight": 40, "reward": {"type": "multiplier", "multiplier": "2"}},
        {"name": "control", "weight": 30, "reward": None},
        {"name": "gift", "weight": 30, "reward": {"type": "coupon", "template_id": "t1"}},
    ],
}
WINTER = {
    "campaign_id": "winter",
    "starts_at": "2027-05-01T03:00:00Z",
    "ends_at": "2027-05-05T10:00:00Z",  # 19:00 on 2027-05-05 in Seoul: the dates end 2027-05-05
    "arms": [{"name": "only", "weight": 100, "reward": {"type": "bonus", "points": 500, "min_amount": 0}}],
}
LATER = {
    "campaign_id": "later",
    "starts_at": "2027-06-01T00:00:00Z",
    "ends_at": "2027-07-01T00:00:00Z",
    "arms": [
        {"name": "control", "weight": 50, "reward": None},
        {"name": "double", "weight": 50, "reward": {"type": "multiplier", "multiplier": "2"}},
    ],
}


class CampaignFacts(FactsEngine):
    def assign(self, campaign_id: str, member_id: str, arm: str, generation: int = 0) -> None:
        self.connection.execute(
            "INSERT INTO campaign_members VALUES (?, ?, ?, ?, ?)",
            [campaign_id, member_id, generation, arm, noon_utc("2027-05-01")],
        )

    def earn(self, member_id: str, occurred: str, amount: int, lines=(), *, created=None, refunded=0) -> str:
        tx = self.purchase(member_id, occurred, amount, created=created)
        for line, (rule, points) in enumerate([("base", amount // 100), *lines]):
            self.connection.execute(
                "INSERT INTO breakdown_lines VALUES (?, ?, ?, ?, ?, ?, ?)",
                [tx, member_id, 0, day(occurred), line, rule, points],
            )
        if refunded:
            self.refund(tx, refunded, on=occurred)
        return tx

    def campaign_coupon(self, coupon_id: str, campaign_id: str, member_id: str) -> None:
        self.connection.execute(
            "INSERT INTO campaign_coupons VALUES (?, ?, ?, ?)", [coupon_id, campaign_id, member_id, 0]
        )
        self.coupon(coupon_id, member_id, "issued", "2027-05-01")


def shop() -> CampaignFacts:
    facts = CampaignFacts()
    for member_id in "ABCDEFGHI":
        facts.member(member_id, "2027-01-05")
    for member_id in "ABC":
        facts.assign("spring", member_id, "control")
    for member_id in "DE":
        facts.assign("spring", member_id, "double")
    for member_id in "FG":
        facts.assign("spring", member_id, "gift")
    facts.assign("winter", "H", "only")
    # control
    facts.earn("A", "2027-04-30", 1000)  # the day before spring's first date
    facts.earn("A", "2027-05-02", 2000)
    facts.earn("B", "2027-05-11", 5000, created="2027-05-11")  # after as_of
    # double: refunds netted, lines as recorded (before the clawback), other campaigns' lines not
    facts.earn("D", "2027-05-03", 4000, [("campaign:spring", 40)], refunded=1000)
    facts.earn("D", "2027-05-09", 1000, [("campaign:spring", 10), ("campaign:winter", 99)])
    facts.earn("E", "2027-05-10", 3000, [("campaign:spring", 30)], refunded=3000)  # net 0, still a purchase
    # gift: its coupon used; another's used then released; a coupon of no campaign
    facts.earn("F", "2027-05-04", 5000)
    facts.campaign_coupon("c1", "spring", "F")
    facts.coupon("c1", "F", "used", "2027-05-04")
    facts.campaign_coupon("c3", "spring", "G")
    facts.coupon("c3", "G", "used", "2027-05-05")
    facts.coupon("c3", "G", "released", "2027-05-06")
    facts.coupon("c9", "F", "issued", "2027-05-01")
    facts.coupon("c9", "F", "used", "2027-05-07")
    facts.erase("G", on="2027-05-08")  # an erased audience member still counts (anonymous numbers)
    # winter: the dates end with ends_at's date
    facts.earn("H", "2027-05-01", 700, [("campaign:winter", 500)])
    facts.earn("H", "2027-05-05", 800)
    facts.earn("H", "2027-05-06", 900)
    # not in any audience
    facts.earn("I", "2027-05-03", 9000, [("campaign:spring", 90)])
    return facts


def test_the_dates_run_from_starts_at_to_the_earlier_of_ends_at_and_as_of():
    as_of_date = dt.date(2027, 5, 10)
    assert campaign_results.campaign_dates(SPRING, TZ, as_of_date) == (dt.date(2027, 5, 1), as_of_date)
    assert campaign_results.campaign_dates(WINTER, TZ, as_of_date) == (dt.date(2027, 5, 1), dt.date(2027, 5, 5))
    first, last = campaign_results.campaign_dates(LATER, TZ, as_of_date)
    assert first > last  # not started: no dates


def test_each_arm_counts_its_audience_and_their_purchases_in_the_dates():
    answers = campaign_results.compute(shop(), [SPRING, WINTER, LATER], TZ, AS_OF_TEXT, AS_OF, dt.date(2027, 5, 10))
    spring = answers["spring"]
    assert spring["campaign_id"] == "spring" and spring["as_of"] == AS_OF_TEXT
    assert spring["arms"] == [
        {
            "name": "double",
            "members": 2,
            "purchasers": 2,
            "purchases": 3,
            "purchase_amount": 4000,  # (4000 − 1000) + 1000 + (3000 − 3000)
            "points_awarded": 80,  # 40 + 10 + 30, not winter's 99, before any clawback
            "coupons_used": 0,
        },
        {
            "name": "control",
            "members": 3,
            "purchasers": 1,  # A on 05-02 (04-30 is before the dates; B's is after as_of)
            "purchases": 1,
            "purchase_amount": 2000,
            "points_awarded": 0,
            "coupons_used": 0,
        },
        {
            "name": "gift",
            "members": 2,  # G erased: still counted
            "purchasers": 1,
            "purchases": 1,
            "purchase_amount": 5000,
            "points_awarded": 0,
            "coupons_used": 1,  # c1; c3 used and released; c9 is no campaign's
        },
    ]
    # the baseline is control (the first arm whose reward is null), not the first arm
    double, gift = spring["comparisons"]
    # double: p_a = 2/2 = 1, p_b = 1/3; diff = 0.666666…; se² = 0 + (1/3)(2/3)/3 = 2/27,
    # se = 0.2721655, 1.96·se = 0.5334444: ci95 = [0.1332222, 1.2001111]
    assert double == {
        "arm": "double",
        "baseline": "control",
        "purchase_rate": "1.0000",
        "baseline_rate": "0.3333",
        "diff": "0.6667",
        "ci95": ["0.1332", "1.2001"],
        "significant": True,
        "revenue_per_member_diff": 2000 - 666,  # floor(4000 / 2) − floor(2000 / 3)
    }
    # gift: p_a = 1/2; diff = 1/6 = 0.1666…; se² = (1/2)(1/2)/2 + 2/27 = 43/216 = 0.1990741,
    # se = 0.4461772, 1.96·se = 0.8745073: ci95 = [−0.7078406, 1.0411740]
    assert gift == {
        "arm": "gift",
        "baseline": "control",
        "purchase_rate": "0.5000",
        "baseline_rate": "0.3333",
        "diff": "0.1667",
        "ci95": ["-0.7078", "1.0412"],
        "significant": False,
        "revenue_per_member_diff": 2500 - 666,
    }

    winter = answers["winter"]
    assert winter["arms"] == [
        {
            "name": "only",
            "members": 1,
            "purchasers": 1,
            "purchases": 2,  # 05-01 and 05-05; 05-06 is after ends_at's date
            "purchase_amount": 1500,
            "points_awarded": 500,
            "coupons_used": 0,
        }
    ]
    assert winter["comparisons"] == []  # the only arm is the baseline


def test_a_campaign_without_an_audience_has_zeros_and_null_comparisons():
    answers = campaign_results.compute(shop(), [LATER], TZ, AS_OF_TEXT, AS_OF, dt.date(2027, 5, 10))
    assert [arm["members"] for arm in answers["later"]["arms"]] == [0, 0]
    assert answers["later"]["comparisons"] == [
        {
            "arm": "double",
            "baseline": "control",
            "purchase_rate": None,
            "baseline_rate": None,
            "diff": None,
            "ci95": None,
            "significant": False,
            "revenue_per_member_diff": None,
        }
    ]
    assert campaign_results.empty_answer(LATER, None) == {**answers["later"], "as_of": None}


def test_rows_delivered_twice_count_once():
    """Athena's facts may hold a row twice (at-least-once delivery): the query counts each once."""
    facts = shop()
    for table in ("campaign_members", "breakdown_lines", "campaign_coupons", "coupon_events"):
        facts.connection.execute(f"INSERT INTO {table} SELECT * FROM {table}")
    answers = campaign_results.compute(facts, [SPRING], TZ, AS_OF_TEXT, AS_OF, dt.date(2027, 5, 10))
    assert [
        (a["members"], a["purchases"], a["points_awarded"], a["coupons_used"]) for a in answers["spring"]["arms"]
    ] == [
        (2, 3, 80, 0),
        (3, 1, 0, 0),
        (2, 1, 0, 1),
    ]


def test_no_campaign_runs_no_query():
    facts = shop()
    assert campaign_results.compute(facts, [], TZ, AS_OF_TEXT, AS_OF, dt.date(2027, 5, 10)) == {}
    assert facts.queries == 0


def test_campaign_ids_are_text_literals_in_the_query():
    for engine in sql.ENGINES:
        text = sql.render_campaigns(
            "campaign_results", engine, [("it's", dt.date(2027, 5, 1), dt.date(2027, 5, 2))], as_of_time=AS_OF
        )
        assert "'it''s' AS campaign_id" in text and "DATE '2027-05-01' AS from_date" in text
        assert list(sqlglot.parse_one(text, read=engine).find_all(sqlglot.exp.Placeholder)) == []
    with pytest.raises(ValueError):
        sql.render_campaigns("campaign_results", "duckdb", [], as_of_time=AS_OF)
