"""Pending points (§25) in headless Chromium: the member page and the console's
member detail show the points of purchases still inside the return window, with
the day each becomes spendable; a member with none pending shows no such list."""

from __future__ import annotations

import pytest

from tests.browser import shop
from tests.browser.conftest import screenshot, served_to_a_browser
from tests.browser.test_console import sign_in
from tests.browser.test_widget import open_with, seoul_day, token_for


@pytest.fixture
def served():
    with served_to_a_browser() as served:
        served.data = shop.fill(served)
        shop.call(served, "PUT", "/program", {**shop.PROGRAM, "pending_days": 14}, key="admin")
        shop.call(served, "POST", "/members/park/earn", {"order_id": "o-park-pending", "amount": 50000})
        yield served


@pytest.fixture
def phone(chromium):
    tab = chromium.new_page()
    tab.set_viewport_size({"width": 390, "height": 844})
    errors = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    tab.close()
    assert not errors, errors


def test_the_member_page_lists_pending_points_with_the_day_they_become_usable(phone, served):
    park = shop.call(served, "GET", "/members/park")
    assert park["pending_points"] > 0 and len(park["pending"]) == 1
    lot = park["pending"][0]
    open_with(phone, served, token_for(served, "park"))
    phone.wait_for_selector("#member:not([hidden])")
    phone.select_option("#lang", "en")
    assert phone.inner_text("#balance") == f"{park['balance']:,}"
    assert phone.is_visible("#pending-card")
    assert phone.inner_text("#pending-title") == "Pending points"
    assert phone.inner_text("#pending").splitlines() == [
        f"{lot['points']:,} pts · usable from {seoul_day(lot['available_at'])}"
    ]
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "widget-pending-en")
    phone.select_option("#lang", "ko")
    assert phone.inner_text("#pending").splitlines() == [
        f"{lot['points']:,} P · {seoul_day(lot['available_at'])}부터 사용 가능"
    ]


def test_the_member_page_of_a_member_with_nothing_pending_has_no_pending_list(phone, served):
    assert shop.call(served, "GET", "/members/kim")["pending"] == []
    open_with(phone, served, token_for(served, "kim"))
    phone.wait_for_selector("#member:not([hidden])")
    assert phone.is_hidden("#pending-card")


def test_the_console_member_detail_shows_pending_points(page, served):
    park = shop.call(served, "GET", "/members/park")
    sign_in(page, served)
    stats = shop.call(served, "GET", "/stats", key="admin")
    assert stats["points_pending"] == park["pending_points"]
    page.wait_for_selector(f"#kpi-pending:has-text('{park['pending_points']:,}')")
    page.click("#nav [data-view=members]")
    page.select_option("#find-by", "phone")
    page.fill("#find-value", "01055556666")
    page.click("#find-form button[type=submit]")
    page.wait_for_selector("#member-detail:not([hidden])")
    assert page.inner_text("#member-title") == "Park Sora — park"
    assert page.inner_text("#member-balance") == f"{park['balance']:,} points"
    assert page.inner_text("#member-pending-points") == f"{park['pending_points']:,} points"
    rows = page.inner_text("#member-pending tbody").splitlines()
    assert len(rows) == 1
    points, available = rows[0].split("\t")
    assert points == f"{park['pending'][0]['points']:,}"
    assert available  # the instant, as the console writes times
    screenshot(page, "console-member-pending")
