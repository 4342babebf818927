"""The console's Insights page in headless Chromium: the empty page before the first
refresh; the summary with its rates, the cohort heatmap with counts and shares, the
RFM chart and table, all from stored refresh results written here as the refresh
writes them; the segment editor (a 400 next to its rule) and a segment's members."""

from __future__ import annotations

import pytest

from chalicelib.runtime import services
from chalicelib.storage.repository import (
    REFRESH_KEY,
    RFM_KEY,
    cohort_sk,
    profile_key,
    segment_listing_key,
    segment_member_sk,
    summary_days_key,
    summary_month_key,
)
from tests.browser import shop
from tests.browser.conftest import screenshot, served_to_a_browser
from tests.browser.test_console import UNLABELLED, sign_in

AS_OF = "2027-03-10T01:00:00Z"  # 10:00 on 10 March in Seoul
FIGURES = {
    "members_at_end": 3,
    "new_members": 3,
    "active_members": 2,
    "repeat_members": 0,
    "active_rate": "0.6667",
    "repeat_rate": "0.0000",
    "purchases": 2,
    "purchase_amount": 1050000,
    "average_order_value": 525000,
    "points_earned": 13500,
    "points_redeemed": 1000,
    "points_expired": 0,
    "redemption_rate": "0.0741",
    "breakage_rate": "0.0000",
    "coupons_issued": 1,
    "coupons_used": 0,
}


@pytest.fixture
def served():
    with served_to_a_browser() as served:
        served.data = shop.fill(served)
        yield served


def put(key, **fields):
    services().store.put({"pk": key[0], "sk": key[1], **fields})


def refreshed():
    """What a refresh at AS_OF stores (its queries' results, written directly)."""
    put(REFRESH_KEY, as_of=AS_OF, finished_at=AS_OF)
    put(summary_month_key("2027-03"), as_of=AS_OF, **{"from": "2027-03-01", "to": "2027-03-10"}, **FIGURES)
    for days in (30, 90, 365):
        put(summary_days_key(days), as_of=AS_OF, **FIGURES)
    put(("ANALYTICS", cohort_sk("2027-01")), cohort="2027-01", members=3, active=[2, 1, 0])
    put(("ANALYTICS", cohort_sk("2027-03")), cohort="2027-03", members=4, active=[1])
    put(
        RFM_KEY,
        as_of=AS_OF,
        items=[
            {"rfm_segment": "champions", "members": 1, "avg_monetary": 700000, "avg_clv": 700000},
            {"rfm_segment": "promising", "members": 1, "avg_monetary": 350000, "avg_clv": 350000},
        ],
    )


def open_insights(page, served):
    sign_in(page, served)
    page.click("#nav [data-view=insights]")
    page.wait_for_selector("#insights:not([hidden])")
    page.wait_for_selector("#rfm-chart canvas")
    page.wait_for_selector("#segments-note:has-text('No segments yet')")


def column(page, table: str, index: int) -> list[str]:
    return page.evaluate(
        f"Array.from(document.querySelectorAll('{table} tbody tr')).map(r => r.cells[{index}].textContent)"
    )


def test_before_the_first_refresh_the_page_says_so_and_shows_zeros(page, served):
    open_insights(page, served)
    assert "No analytics refresh has run yet" in page.inner_text("#insights-as-of")
    assert column(page, "#summary-table", 1)[:4] == ["0", "0", "0", "–"]  # a null rate: –
    assert column(page, "#rfm-table", 1) == ["0"] * 6
    assert page.inner_text("#cohort-note") == "No cohorts until the first analytics refresh."
    assert page.evaluate(UNLABELLED) == []
    page.click("#insights-refresh")
    page.wait_for_selector("#status:has-text('Refresh started')")


def test_the_stored_results_as_summary_heatmap_and_rfm_chart_with_tables(page, served):
    refreshed()
    open_insights(page, served)
    page.wait_for_selector("#cohort-table tbody tr")
    assert "2027-03-10 01:00:00 UTC" in page.inner_text("#insights-as-of")
    assert page.inner_text("#summary-month-head") == "This month (2027-03)"
    rows = column(page, "#summary-table", 0)
    for index in range(1, 5):  # this month, 30, 90, 365 days
        values = dict(zip(rows, column(page, "#summary-table", index), strict=True))
        assert values["Active rate (of members at the end)"] == "66.67%"
        assert values["Redemption rate (redeemed ÷ earned)"] == "7.41%"
        assert values["Purchase amount (net)"] == "₩1,050,000"
        assert values["Points earned"] == "13,500"
    # cohorts: the last 12 months up to as_of's month, empty ones filled
    cohorts = column(page, "#cohort-table", 0)
    assert cohorts[0] == "2026-04" and cohorts[-1] == "2027-03" and len(cohorts) == 12
    january = page.evaluate(
        "Array.from(document.querySelector('#cohort-table tbody tr:nth-child(10)').cells).map(c => c.textContent)"
    )
    assert january[:5] == ["2027-01", "3", "2 · 66.7%", "1 · 33.3%", "0 · 0%"]
    assert page.inner_text("#cohort-table tbody tr:nth-child(12)").split("\t")[:3] == ["2027-03", "4", "1 · 25%"]
    # a bad range: the API's 400 next to the field
    page.fill("#cohort-from", "2024-01")
    page.click("#cohort-form button[type=submit]")
    page.wait_for_selector("#cohort-from-error:has-text('at most 24 months')")
    # RFM: the chart and its table, the six segments in order
    chart = page.evaluate("[DangolConsole.charts.rfm.labels, Array.from(DangolConsole.charts.rfm.data[1])]")
    assert chart == [
        ["champions", "loyal", "promising", "at_risk", "hibernating", "needs_attention"],
        [1, 0, 1, 0, 0, 0],
    ]
    assert column(page, "#rfm-table", 0) == [
        "champions",
        "loyal",
        "promising",
        "at risk",
        "hibernating",
        "needs attention",
    ]
    assert column(page, "#rfm-table", 2)[:3] == ["₩700,000", "₩0", "₩350,000"]
    screenshot(page, "console-insights")


def test_the_segment_editor_places_a_400_by_its_rule_and_lists_a_segments_members(page, served):
    refreshed()
    open_insights(page, served)
    page.fill("#seg-segment_id", "big-spenders")
    page.fill("#seg-name", "Big spenders")
    page.select_option("#seg-rule-0-field", "clv")
    page.select_option("#seg-rule-0-op", "gte")
    page.fill("#seg-rule-0-value", "300000")
    page.click("#seg-add-rule")
    page.select_option("#seg-rule-1-field", "rfm_segment")
    page.select_option("#seg-rule-1-op", "in")
    page.fill("#seg-rule-1-value", "champions, royalty")
    page.click("#segment-form button[type=submit]")
    page.wait_for_selector("#seg-rule-1-error:not(:empty)")
    assert "rfm_segment" in page.inner_text("#seg-rule-1-error")
    assert page.inner_text("#seg-rule-0-error") == ""
    assert page.get_attribute("#seg-rule-1-value", "aria-invalid") == "true"
    page.fill("#seg-rule-1-value", "champions, promising")
    page.click("#segment-form button[type=submit]")
    page.wait_for_selector("#segments-table tr[data-segment=big-spenders]")
    cells = column(page, "#segments-table", 2)
    assert cells == ["clv at least 300000; rfm segment is one of champions, promising"]
    assert column(page, "#segments-table", 3) == ["not computed yet"]
    # the same id again: 409 next to the id
    page.fill("#seg-segment_id", "big-spenders")
    page.fill("#seg-name", "Again")
    page.fill("#seg-rule-0-value", "1")
    page.click("#segment-form button[type=submit]")
    page.wait_for_selector("#seg-segment_id-error:has-text('already exists')")
    # the refresh assigns kim and lee
    listing = services().store.get(*segment_listing_key("big-spenders"))
    put(segment_listing_key("big-spenders"), **{**listing, "members": 2, "avg_clv": 525000, "as_of": AS_OF})
    for member_id in ("lee", "kim"):
        put(("SEGMENT#big-spenders", segment_member_sk(member_id)), member_id=member_id)
        services().store.update(*profile_key(member_id), "SET #s = :s", {"#s": "segments"}, {":s": ["big-spenders"]})
    page.click("#nav [data-view=overview]")
    page.click("#nav [data-view=insights]")
    page.wait_for_selector("#segments-table tr[data-segment=big-spenders] td:has-text('₩525,000')")
    assert column(page, "#segments-table", 3) == ["2"]
    page.click("#segments-table button[aria-label='Members of big-spenders']")
    page.wait_for_selector("#segment-members-list li button")
    members = page.evaluate(
        "Array.from(document.querySelectorAll('#segment-members-list li')).map(li => li.textContent.split(' · ')[1])"
    )
    assert members == ["kim", "lee"]  # in member_id order
    assert page.evaluate(UNLABELLED) == []
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#segments-table button[aria-label='Delete big-spenders']")
    page.wait_for_selector("#segments-note:has-text('No segments yet')")
