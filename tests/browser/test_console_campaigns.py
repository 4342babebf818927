"""The console's Campaigns page in headless Chromium: the campaign form (each 400 next to its
field or arm, a 409 by the id), the list with status and audience, a campaign's results as a
chart of each arm's purchase rate with its 95% interval beside the data table (after a real
launch, purchases and an analytics refresh), a member's arms on the member view, and a
member's running offer on the member page (widget)."""

from __future__ import annotations

import datetime as dt

import pytest

from chalicelib import local
from tests.browser import shop
from tests.browser.conftest import screenshot, served_to_a_browser
from tests.browser.test_console import UNLABELLED, sign_in
from tests.browser.test_widget import open_with, phone, token_for  # noqa: F401 (the phone fixture)

# sha256(f"spring:{member_id}").hexdigest()[:8] as an integer, % 100; with weights double 50,
# control 50 (0-49 double): kim 26, park 20, m1 18 → double; lee 85, m2 93, m3 82, m4 86 → control
EXTRA = ("m1", "m2", "m3", "m4")


def instant(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def served():
    with served_to_a_browser() as served:
        served.data = shop.fill(served)
        yield served


@pytest.fixture
def spring(served):
    """spring launched over every member, park buying in the double arm, then a refresh."""
    for member_id in EXTRA:
        shop.call(served, "POST", "/members", {"member_id": member_id, "name": f"Member {member_id}"})
    now = dt.datetime.now(dt.UTC)
    body = {
        "campaign_id": "spring",
        "name": "Spring double points",
        "starts_at": instant(now - dt.timedelta(hours=1)),
        "ends_at": instant(now + dt.timedelta(days=30)),
        "arms": [
            {"name": "double", "weight": 50, "reward": {"type": "multiplier", "multiplier": "2"}},
            {"name": "control", "weight": 50, "reward": None},
        ],
    }
    shop.call(served, "POST", "/campaigns", body, key="admin")
    local.run_job("launch_campaigns")
    earned = shop.call(served, "POST", "/members/park/earn", {"order_id": "p-spring", "amount": 100000})
    assert {"rule": "campaign:spring", "points": 1000} in earned["breakdown"]  # floor(100000 × 0.01 × 1)
    local.run_job("refresh_analytics")
    return served


def open_campaigns(page, served):
    sign_in(page, served)
    page.click("#nav [data-view=campaigns]")
    page.wait_for_selector("#campaigns:not([hidden])")


def column(page, table: str, index: int) -> list[str]:
    return page.evaluate(
        f"Array.from(document.querySelectorAll('{table} tbody tr')).map(r => r.cells[{index}].textContent)"
    )


def test_the_form_places_each_400_by_its_field_and_lists_the_campaign(page, served):
    open_campaigns(page, served)
    page.wait_for_selector("#campaigns-note:has-text('No campaigns yet')")
    assert page.evaluate(UNLABELLED) == []
    page.fill("#cmp-campaign_id", "autumn")
    page.fill("#cmp-name", "Autumn bonus")
    page.fill("#cmp-starts_at", "2027-09-01T00:00:00Z")
    page.fill("#cmp-ends_at", "2027-10-01T00:00:00Z")
    # two arms by default: control 50 and double ×2 50; the weights made to add up to 99
    assert page.input_value("#cmp-arm-0-name") == "control" and page.input_value("#cmp-arm-1-value") == "2"
    page.fill("#cmp-arm-1-weight", "49")
    page.click("#campaign-form button[type=submit]")
    page.wait_for_selector("#cmp-arms-error:has-text('weights must sum to 100')")
    # a multiplier that is no decimal: by its arm
    page.fill("#cmp-arm-1-weight", "50")
    page.fill("#cmp-arm-1-value", "two")
    page.click("#campaign-form button[type=submit]")
    page.wait_for_selector("#cmp-arm-1-error:not(:empty)")
    assert "decimal" in page.inner_text("#cmp-arm-1-error")
    assert page.get_attribute("#cmp-arm-1-value", "aria-invalid") == "true"
    assert page.inner_text("#cmp-arms-error") == "" and page.inner_text("#cmp-arm-0-error") == ""
    # times the wrong way round: by ends_at
    page.fill("#cmp-arm-1-value", "2")
    page.fill("#cmp-ends_at", "2027-08-01T00:00:00Z")
    page.click("#campaign-form button[type=submit]")
    page.wait_for_selector("#cmp-ends_at-error:has-text('after starts_at')")
    page.fill("#cmp-ends_at", "2027-10-01T00:00:00Z")
    page.fill("#cmp-starts_at", "soon")
    page.click("#campaign-form button[type=submit]")
    page.wait_for_selector("#cmp-starts_at-error:has-text('ISO-8601')")
    # a third arm with a bonus: created, listed as scheduled and not launched
    page.fill("#cmp-starts_at", "2027-09-01T00:00:00Z")
    page.fill("#cmp-arm-0-weight", "40")
    page.fill("#cmp-arm-1-weight", "30")
    page.click("#cmp-add-arm")
    page.fill("#cmp-arm-2-name", "bonus")
    page.fill("#cmp-arm-2-weight", "30")
    page.select_option("#cmp-arm-2-type", "bonus")
    page.fill("#cmp-arm-2-value", "500")
    page.fill("#cmp-arm-2-min_amount", "10000")
    assert page.evaluate(UNLABELLED) == []
    page.click("#campaign-form button[type=submit]")
    page.wait_for_selector("#campaigns-table tr[data-campaign=autumn]")
    row = page.evaluate(
        "Array.from(document.querySelector('#campaigns-table tr[data-campaign=autumn]').cells).map(c => c.textContent)"
    )
    assert row[:7] == [
        "autumn",
        "Autumn bonus",
        "every member",
        "scheduled",
        "not launched",
        "2027-09-01 00:00:00 UTC",
        "2027-10-01 00:00:00 UTC",
    ]
    assert row[7] == "control 40% (control); double 30% (×2 points); bonus 30% (+500 points on ₩10,000+)"
    stored = shop.call(served, "GET", "/campaigns/autumn", key="admin")
    assert stored["arms"][2]["reward"] == {"type": "bonus", "points": 500, "min_amount": 10000}
    # the same id again: 409 by the id
    page.fill("#cmp-campaign_id", "autumn")
    page.fill("#cmp-name", "Again")
    page.click("#campaign-form button[type=submit]")
    page.wait_for_selector("#cmp-campaign_id-error:has-text('already exists')")
    # before any refresh the results are zeros, and the page says so
    page.click("#campaigns-table button[aria-label='Results of autumn']")
    page.wait_for_selector("#campaign-results:not([hidden])")
    assert "No analytics refresh has counted this campaign yet" in page.inner_text("#campaign-results-as-of")
    assert column(page, "#campaign-results-table", 1) == ["0", "0", "0"]
    # deleted before its launch
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#campaigns-table button[aria-label='Delete autumn']")
    page.wait_for_selector("#campaigns-note:has-text('No campaigns yet')")


def test_the_results_chart_and_table_after_a_launch_and_a_refresh(page, spring):
    open_campaigns(page, spring)
    page.wait_for_selector("#campaigns-table tr[data-campaign=spring]")
    assert column(page, "#campaigns-table", 3) == ["running"]
    assert column(page, "#campaigns-table", 4) == ["7"]  # kim, lee, park, m1-m4
    page.click("#campaigns-table button[aria-label='Results of spring']")
    page.wait_for_selector("#campaign-chart canvas")
    assert "(the last analytics refresh)" in page.inner_text("#campaign-results-as-of")
    rows = page.evaluate(
        "Array.from(document.querySelectorAll('#campaign-results-table tbody tr'))"
        ".map(r => Array.from(r.cells).map(c => c.textContent))"
    )
    # double: kim (350,000 before the launch, dated in the campaign), park (100,000), m1 → 2 of 3
    # control: lee (700,000), m2, m3, m4 → 1 of 4
    # diff = 2/3 − 1/4 = 5/12 = 0.41667; se² = (2/3)(1/3)/3 + (1/4)(3/4)/4 = 209/1728,
    # se = 0.34778, 1.96·se = 0.68164: ci95 = [−0.26498, 1.09831]
    assert rows == [
        [
            "double",
            "3",
            "2",
            "66.67%",
            "41.67%",
            "-26.50% to 109.83%",
            "no",
            "2",
            "₩450,000",
            "-₩25,000",  # floor(450,000 / 3) − floor(700,000 / 4) = 150,000 − 175,000
            "1,000",
            "0",
        ],
        ["control (baseline)", "4", "1", "25.00%", "–", "–", "–", "1", "₩700,000", "–", "0", "0"],
    ]
    chart = page.evaluate(
        "[DangolConsole.charts.campaign.labels, Array.from(DangolConsole.charts.campaign.data[1]),"
        " DangolConsole.charts.campaign.intervals]"
    )
    assert chart[0] == ["double", "control"]
    assert chart[1] == [0.6667, 0.25]
    (low, high), baseline_interval = chart[2]
    assert baseline_interval is None
    assert round(low, 4) == round(0.25 - 0.2650, 4) and round(high, 4) == round(0.25 + 1.0983, 4)
    screenshot(page, "console-campaigns")


def test_the_member_view_lists_the_members_arms(page, spring):
    sign_in(page, spring)
    page.click("#nav [data-view=members]")
    page.select_option("#find-by", "id")
    page.fill("#find-value", "park")
    page.click("#find-form button[type=submit]")
    page.wait_for_selector("#member-campaigns tbody tr td:has-text('spring')")
    assert column(page, "#member-campaigns", 1) == ["double"]
    assert page.evaluate(UNLABELLED) == []


def test_the_member_page_shows_a_running_offer_and_none_for_the_control_arm(phone, spring):  # noqa: F811
    open_with(phone, spring, token_for(spring, "kim"))
    phone.wait_for_selector("#offers-card:not([hidden])")
    phone.select_option("#lang", "en")
    assert phone.inner_text("#offers-title") == "Your offers now"
    (offer,) = phone.inner_text("#offers").splitlines()
    assert offer.startswith("2× points on purchases · until ")
    screenshot(phone, "widget-offers")
    phone.select_option("#lang", "ko")
    assert phone.inner_text("#offers").startswith("포인트 2배 적립 · ")
    phone.evaluate("sessionStorage.removeItem('dangol.widgetToken')")  # another member's token next
    open_with(phone, spring, token_for(spring, "lee"))
    phone.wait_for_selector("#member:not([hidden])")
    phone.wait_for_selector("#history tbody tr")
    assert phone.is_hidden("#offers-card")
