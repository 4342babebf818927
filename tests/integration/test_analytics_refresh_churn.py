"""A refresh rewrites a member's INSIGHTS item only when that member's purchases changed: not
because a day passed (recency_days) nor because other members' purchases moved the RFM
quintile boundaries. The §20 answer stays exact: recency_days and the scores are derived
when read, from the item's last_purchase_date and the boundaries stored with ANALYTICS / RFM."""

from __future__ import annotations

import datetime as dt

from chalicelib.analytics import refresh
from chalicelib.domain.calendar import local_date
from chalicelib.ledger.analytics_views import insights_view
from chalicelib.storage import repository as keys
from chalicelib.storage.store import Store
from tests.integration.test_analytics_refresh import LATER, program, store  # noqa: F401 (fixtures)
from tests.unit.analytics_facts import FactsEngine
from tests.unit.test_analytics_queries import AS_OF

MEMBERS = "ABCDEFH"


def fresh_insights(facts: FactsEngine, now: dt.datetime) -> dict[str, dict]:
    """What §20 says each member's values are as of `now`, computed from the facts."""
    as_of_date = local_date(now, "Asia/Seoul")
    values = {"as_of_time": now, "as_of_date": as_of_date, "window_start": as_of_date - dt.timedelta(days=364)}
    rows = refresh.run(facts, "member_values", **values)
    bought = refresh.run(facts, "member_bought", **values)
    return {member_id: live.insights for member_id, live in refresh.live_members(rows, bought).items()}


def answers(table: Store, now: dt.datetime) -> dict[str, dict]:
    """GET /members/{id}/insights's values, as analytics_views reads them."""
    thresholds = table.get(*keys.analytics_rfm_key()).get("thresholds")
    as_of_date = local_date(now, "Asia/Seoul")
    found = {}
    for member_id in MEMBERS:
        stored = table.get(*keys.insights_key(member_id, 0))
        view = insights_view(member_id, "t", stored, [], as_of_date, thresholds)
        found[member_id] = {k: view[k] for k in ("recency_days", "frequency", "monetary", "clv", "rfm", "rfm_segment")}
    return found


def test_a_refresh_days_later_rewrites_no_member_whose_purchases_did_not_change(store, program):  # noqa: F811
    refresh.refresh(program, store, AS_OF)
    store.client.writes.clear()
    days_later = AS_OF + dt.timedelta(days=3)
    refresh.refresh(program, store, days_later)
    assert store.client.member_writes() == {}
    got = answers(store, days_later)
    assert got == fresh_insights(program, days_later)
    assert got["D"]["recency_days"] == 71  # 68 at the first refresh, three days before
    assert store.get(*keys.insights_key("D", 0))["recency_days"] == 68  # the item: as of its own as_of


def test_members_rescored_by_others_purchases_are_not_rewritten_and_read_exact(store, program):  # noqa: F811
    refresh.refresh(program, store, AS_OF)
    before = answers(store, AS_OF)
    program.purchase("E", "2027-05-09", 9000)  # E's first purchase: N 4 -> 5, every rank moves
    store.client.writes.clear()
    refresh.refresh(program, store, LATER)
    written = store.client.member_writes()
    assert set(written) == {"E"}
    got = answers(store, LATER)
    assert got == fresh_insights(program, LATER)
    rescored = [m for m in "ABCD" if got[m]["rfm"] != before[m]["rfm"]]
    assert rescored, "the new purchase moved some other member's scores"
