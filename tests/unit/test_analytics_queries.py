"""The analytics queries (§18-§21): every query compiles for both engines, and over hand-made
facts they give the exact, hand-computed answers."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlglot

from chalicelib.analytics import refresh, sql
from devtools import analytics_sql

from .analytics_facts import FactsEngine

AS_OF = dt.datetime(2027, 5, 10, 3, 0, 0, tzinfo=dt.UTC)  # 12:00 in Seoul: as_of's date 2027-05-10
AS_OF_DATE = dt.date(2027, 5, 10)
WINDOW_START = dt.date(2026, 5, 11)  # the 365 dates ending with 2027-05-10


@pytest.mark.parametrize("name", sql.names())
def test_every_query_parses_and_transpiles_for_both_engines(name):
    assert sqlglot.parse_one(sql.for_engine(name, "duckdb"), read="duckdb")
    # the Athena text shipped is sqlglot's transpilation of the DuckDB source, as of now
    athena = sql.for_engine(name, "athena")
    assert athena == analytics_sql.athena_text(name), "run: python -m devtools.analytics_sql"
    assert (
        athena.split("\n", 1)[1].rstrip("\n")
        == sqlglot.transpile(sql.source(name), read="duckdb", write="athena", pretty=True)[0]
    )
    assert sqlglot.parse_one(athena, read="athena")
    # filled with literals, the text parses again in each engine's dialect, no placeholder left
    values = {
        "as_of_time": AS_OF,
        "as_of_date": AS_OF_DATE,
        "window_start": WINDOW_START,
        "from_date": dt.date(2027, 5, 1),
        "to_date": AS_OF_DATE,
    }
    wanted = {k: v for k, v in values.items() if k in sql.parameters(name)}
    assert wanted
    for engine in sql.ENGINES:
        tree = sqlglot.parse_one(sql.render(name, engine, **wanted), read=engine)
        assert list(tree.find_all(sqlglot.exp.Placeholder)) == []
        assert sql.parameters(name) <= {
            p.name
            for p in sqlglot.parse_one(sql.for_engine(name, engine), read=engine).find_all(sqlglot.exp.Placeholder)
        }


def test_queries_are_the_expected_set_and_take_known_parameters():
    assert sql.names() == [
        "campaign_results",
        "cohorts",
        "member_bought",
        "member_values",
        "program_start",
        "recommendations",
        "summary",
    ]
    with pytest.raises(ValueError):
        sql.render("summary", "duckdb", from_date=AS_OF_DATE)
    with pytest.raises(ValueError):
        sql.for_engine("summary", "postgres")
    with pytest.raises(TypeError):
        sql.render("program_start", "duckdb", as_of_time="2027-05-10' OR 1=1 --")


@pytest.mark.parametrize(
    "numerator, denominator, text",
    [
        (1, 3, "0.3333"),
        (2, 3, "0.6667"),
        (1, 2, "0.5000"),
        (-13, 150, "-0.0867"),
        (1, 20000, "0.0001"),  # 0.00005: half away from zero
        (-1, 20000, "-0.0001"),
        (-1, 30000, "0.0000"),  # rounds to zero: no minus sign
        (7, 7, "1.0000"),
        (0, 5, "0.0000"),
        (5, 0, None),
    ],
)
def test_rates_have_four_places_rounded_half_away_from_zero(numerator, denominator, text):
    assert refresh.rate(numerator, denominator) == text


def test_averages_are_floored():
    assert refresh.floored_average(17600, 4) == 4400
    assert refresh.floored_average(10, 3) == 3
    assert refresh.floored_average(0, 0) == 0


def cafe() -> FactsEngine:
    """Members A-E enrolled 2027-01-05, F 2026-05-01, G 2027-02-10 (erased), H 2027-05-03."""
    facts = FactsEngine()
    for member_id in "ABCDE":
        facts.member(member_id, "2027-01-05")
    facts.member("F", "2026-05-01", tier="gold", balance=70)
    facts.member("G", "2027-02-10")
    facts.member("H", "2027-05-03", dormant=True)
    a1 = facts.purchase("A", "2027-05-01", 1000, items=[("SKU-1", "coffee", 1000)])
    facts.refund(a1, 400, on="2027-05-02")  # partial: net 600
    facts.purchase("A", "2027-05-08", 3000, items=[("SKU-2", "cake", 3000)])
    facts.purchase("B", "2027-05-08", 4000)
    facts.purchase("C", "2027-04-01", 500)
    facts.purchase("D", "2027-03-01", 2000)
    facts.purchase("D", "2027-03-02", 2000)
    d3 = facts.purchase("D", "2027-03-03", 1000, items=[("SKU-9", "beans", 1000)])
    facts.refund(d3, 1000, on="2027-03-04")  # full: still a purchase, net 0
    facts.purchase("F", "2026-05-10", 7000, items=[("SKU-3", "coffee", 7000)])  # a day before the window
    facts.purchase("G", "2027-05-09", 10000)
    facts.transaction("G", "expire", -100, "2027-05-09")  # the erasure's forfeit
    facts.erase("G", on="2027-05-09")
    facts.transaction("B", "redeem", -30, "2027-05-09")
    facts.transaction("C", "expire", -6, "2027-05-05")
    facts.transaction("C", "bonus", 0, "2027-04-30")
    facts.coupon("c1", "A", "issued", "2027-04-20")
    facts.coupon("c2", "B", "issued", "2027-05-02")
    facts.coupon("c3", "C", "issued", "2027-05-03")
    facts.coupon("c1", "A", "used", "2027-05-04")
    facts.coupon("c2", "B", "used", "2027-05-05")
    facts.coupon("c2", "B", "released", "2027-05-06")
    return facts


def member_rows(facts: FactsEngine) -> dict[str, dict]:
    rows = refresh.run(facts, "member_values", as_of_time=AS_OF, as_of_date=AS_OF_DATE, window_start=WINDOW_START)
    bought = refresh.run(facts, "member_bought", as_of_time=AS_OF, as_of_date=AS_OF_DATE, window_start=WINDOW_START)
    return {member_id: live for member_id, live in refresh.live_members(rows, bought).items()}


def test_member_values_net_refunds_and_leave_out_the_erased():
    members = member_rows(cafe())
    assert sorted(members) == ["A", "B", "C", "D", "E", "F", "H"]  # G erased
    got = {m: live.insights for m, live in members.items()}
    assert got["A"] == {
        "recency_days": 2,
        "frequency": 2,
        "monetary": 3600,
        "clv": 3600,
        "rfm": {"r": 3, "f": 3, "m": 2},
        "rfm_segment": "needs_attention",
    }
    assert got["B"] == {
        "recency_days": 2,
        "frequency": 1,
        "monetary": 4000,
        "clv": 4000,
        "rfm": {"r": 3, "f": 1, "m": 3},
        "rfm_segment": "needs_attention",
    }
    assert got["C"] == {
        "recency_days": 39,
        "frequency": 1,
        "monetary": 500,
        "clv": 500,
        "rfm": {"r": 2, "f": 1, "m": 1},
        "rfm_segment": "hibernating",
    }
    # the fully refunded earn is a purchase: frequency 3, net 0
    assert got["D"] == {
        "recency_days": 68,
        "frequency": 3,
        "monetary": 4000,
        "clv": 4000,
        "rfm": {"r": 1, "f": 4, "m": 3},
        "rfm_segment": "at_risk",
    }
    assert got["E"] == {"recency_days": None, "frequency": 0, "monetary": 0, "clv": 0, "rfm": None, "rfm_segment": None}
    # F's only purchase is one day before the window: unscored, but clv and recency count it
    assert got["F"] == {
        "recency_days": 365,
        "frequency": 0,
        "monetary": 0,
        "clv": 7000,
        "rfm": None,
        "rfm_segment": None,
    }
    assert members["A"].values.days_since_joined == 125
    assert members["F"].values.days_since_joined == 374
    assert (members["F"].values.tier, members["F"].values.balance) == ("gold", 70)
    assert members["H"].values.dormant is True and members["A"].values.dormant is False
    assert members["A"].values.categories == {"coffee", "cake"}
    assert members["A"].values.skus == {"SKU-1", "SKU-2"}
    assert members["D"].values.categories == {"beans"}  # refunded or not
    assert members["F"].values.categories == frozenset()  # outside the window


def test_rfm_scores_give_equal_values_equal_scores():
    """Scored A, B, C, D (N = 4). R by latest purchase: D 03-03 < C 04-01 < A = B 05-08 ->
    ranks 0, 1, 2, 2 -> scores 1, 2, 3, 3. F: B = C 1 < A 2 < D 3 -> 1, 1, 3, 4.
    M: C 500 < A 3600 < B = D 4000 -> 1, 2, 3, 3."""
    members = member_rows(cafe())
    assert {m: members[m].rfm for m in "ABCD"} == {
        "A": {"r": 3, "f": 3, "m": 2},
        "B": {"r": 3, "f": 1, "m": 3},
        "C": {"r": 2, "f": 1, "m": 1},
        "D": {"r": 1, "f": 4, "m": 3},
    }
    table = refresh.rfm_table([live.values for live in members.values()], "2027-05-10T03:00:00Z")
    assert table["items"] == [
        {"rfm_segment": "champions", "members": 0, "avg_monetary": 0, "avg_clv": 0},
        {"rfm_segment": "loyal", "members": 0, "avg_monetary": 0, "avg_clv": 0},
        {"rfm_segment": "promising", "members": 0, "avg_monetary": 0, "avg_clv": 0},
        {"rfm_segment": "at_risk", "members": 1, "avg_monetary": 4000, "avg_clv": 4000},
        {"rfm_segment": "hibernating", "members": 1, "avg_monetary": 500, "avg_clv": 500},
        {"rfm_segment": "needs_attention", "members": 2, "avg_monetary": 3800, "avg_clv": 3800},
    ]


def test_rfm_segment_rules_apply_in_order():
    """Ten members with 1..10 purchases on dates 1..10 days back, monetary rising: N = 10,
    ranks 0..9 -> scores 1,1,2,2,3,3,4,4,5,5 on each axis; the segment is the first rule that holds."""
    facts = FactsEngine()
    for n in range(1, 11):
        member_id = f"M{n:02d}"
        facts.member(member_id, "2027-01-05")
        for _ in range(n):
            facts.purchase(member_id, f"2027-04-{10 + n:02d}", 100 * n)
    members = member_rows(facts)
    segments = [members[f"M{n:02d}"].values.rfm_segment for n in range(1, 11)]
    # scores (r = f = m): 1,1 hibernating; 2,2 hibernating; 3,3 needs_attention; 4,4 / 5,5 champions
    assert segments == ["hibernating"] * 4 + ["needs_attention"] * 2 + ["champions"] * 4


def test_month_summary_counts_and_rates():
    facts = cafe()
    (row,) = refresh.run(facts, "summary", as_of_time=AS_OF, from_date=dt.date(2027, 5, 1), to_date=AS_OF_DATE)
    answer = refresh.summary_answer(row, "2027-05-10T03:00:00Z", dt.date(2027, 5, 1), AS_OF_DATE)
    assert answer == {
        "as_of": "2027-05-10T03:00:00Z",
        "from": "2027-05-01",
        "to": "2027-05-10",
        "members_at_end": 7,  # A-F and H; G erased
        "new_members": 1,  # H
        "active_members": 2,  # A, B (G's purchase counts below, G does not)
        "repeat_members": 1,  # A
        "active_rate": "0.2857",
        "repeat_rate": "0.5000",
        "purchases": 4,  # A 05-01, A 05-08, B 05-08, G 05-09
        "purchase_amount": 17600,  # 600 + 3000 + 4000 + 10000
        "average_order_value": 4400,
        "points_earned": 180,  # 10 + 30 + 40 + 100 (the reversal is not earning)
        "points_redeemed": 30,
        "points_expired": 106,  # C's 6 + G's forfeit 100
        "redemption_rate": "0.1667",
        "breakage_rate": "0.5889",
        "coupons_issued": 2,  # c2, c3 (c1 in April)
        "coupons_used": 1,  # c1, c2 used, c2 released
    }


def test_summary_of_an_empty_range_is_zeros_and_null_rates():
    (row,) = refresh.run(
        cafe(), "summary", as_of_time=AS_OF, from_date=dt.date(2025, 1, 1), to_date=dt.date(2025, 1, 31)
    )
    answer = refresh.summary_answer(row, "x", dt.date(2025, 1, 1), dt.date(2025, 1, 31))
    assert answer["members_at_end"] == 0 and answer["purchases"] == 0 and answer["average_order_value"] == 0
    assert [answer[k] for k in ("active_rate", "repeat_rate", "redemption_rate", "breakage_rate")] == [None] * 4


def test_cohorts_fill_empty_months_and_leave_out_the_erased():
    rows = refresh.run(cafe(), "cohorts", as_of_time=AS_OF, as_of_date=AS_OF_DATE)
    answers = refresh.cohort_answers(rows, refresh.month_index(AS_OF_DATE))
    assert answers == {
        "2026-05": {"cohort": "2026-05", "members": 1, "active": [1] + [0] * 12},
        "2027-01": {"cohort": "2027-01", "members": 5, "active": [0, 0, 1, 1, 2]},
        "2027-05": {"cohort": "2027-05", "members": 1, "active": [0]},
    }  # 2027-02: G only, erased -> no cohort
