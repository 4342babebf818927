"""The operator console in headless Chromium: sign-in, the overview's numbers and
charts for a known data set, the program editor and its preview, members."""

from __future__ import annotations

import pytest

from tests.browser import shop
from tests.browser.conftest import screenshot, served_to_a_browser


@pytest.fixture
def served():
    """A fresh app and data set per test: under pytest-xdist a worker runs other modules'
    tests (each with its own moto) between two tests of this one."""
    with served_to_a_browser() as served:
        served.data = shop.fill(served)
        yield served


def sign_in(page, served):
    page.goto(served.url + "/console")
    page.fill("#admin-key", served.admin_key)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#overview:not([hidden])")


def test_sign_in_takes_an_admin_key_and_keeps_it_in_the_tab_only(page, served):
    page.goto(served.url + "/console")
    page.fill("#admin-key", served.storefront_key)
    page.keyboard.press("Enter")  # the form by keyboard
    page.wait_for_selector("#admin-key-error:has-text('admin key is needed')")
    assert page.is_hidden("#overview")
    page.fill("#admin-key", served.admin_key)
    page.keyboard.press("Enter")
    page.wait_for_selector("#overview:not([hidden])")
    assert page.evaluate("sessionStorage.getItem('dangol.adminKey')") == served.admin_key
    assert page.evaluate("localStorage.length") == 0
    assert page.context.cookies() == []
    assert served.admin_key not in page.url
    page.click("#sign-out")
    page.wait_for_selector("#signin:not([hidden])")
    assert page.evaluate("sessionStorage.getItem('dangol.adminKey')") is None


def test_the_overview_shows_the_known_numbers_and_charts(page, served):
    sign_in(page, served)
    page.wait_for_selector("#joined-chart canvas")  # (no wait_for_function: the CSP forbids eval)
    assert page.inner_text("#kpi-members") == "3"
    # earned 3 x 1,000 signup + 3,500 + 7,000; redeemed 1,000
    assert page.inner_text("#kpi-outstanding") == "12,500"
    assert page.inner_text("#kpi-liability") == "₩12,500"
    assert page.inner_text("#kpi-coupons") == "1 / 0"
    assert page.inner_text("#kpi-average") == "₩525,000"  # (350,000 + 700,000) / 2 earns
    assert page.inner_text("#kpi-expiry-rate") == "0.0%"
    tiers = page.evaluate("[DangolConsole.charts.tiers.labels, DangolConsole.charts.tiers.data[1]]")
    assert tiers == [["새싹", "열매", "나무", "숲"], [1, 1, 1, 0]]
    points = page.evaluate("DangolConsole.charts.points.data.map(s => Array.from(s))")
    assert len(points[0]) == 90
    assert [series[-1] for series in points[1:]] == [13500, 1000, 0]
    assert sum(points[1]) == 13500  # all of it today
    joined = page.evaluate("Array.from(DangolConsole.charts.joined.data[1])")
    assert joined[-1] == 3 and sum(joined) == 3
    page.click("#tier-chart + details summary")
    assert page.inner_text("#tier-table tbody").split() == ["새싹", "1", "열매", "1", "나무", "1", "숲", "0"]
    page.click("#points-chart ~ details summary")
    cells = page.inner_text("#daily-table tbody tr").split("\t")
    assert [c.strip() for c in cells[1:6]] == ["13,500", "1,000", "0", "3", "2"]
    # the charts are drawn (canvas), not only tabulated
    assert page.evaluate("document.querySelectorAll('#overview canvas').length") == 3
    screenshot(page, "console-overview")


def field(page, path):
    return page.locator(f'#program-fields [data-path="{path}"]')


def test_the_editor_shows_an_invalid_configuration_next_to_its_field_and_saves_a_valid_one(page, served):
    sign_in(page, served)
    page.click("#nav [data-view=program]")
    field(page, "tiers.1.min_spend").wait_for()
    field(page, "tiers.1.min_spend").fill("-5")
    page.click("#program-save")
    error = page.locator('[data-error-for="tiers.1.min_spend"]')
    error.wait_for()
    assert "greater than or equal to 0" in error.inner_text()
    assert field(page, "tiers.1.min_spend").get_attribute("aria-invalid") == "true"
    stored = shop.call(served, "GET", "/program", key="admin")
    assert stored["tiers"][1]["min_spend"] == 300000  # the old one stays
    # tiers out of order: the model's message lands on the tiers
    field(page, "tiers.1.min_spend").fill("900000")
    page.click("#program-save")
    page.locator('[data-error-for="tiers"]:has-text("ascending")').wait_for()
    # a valid one is saved
    field(page, "tiers.1.min_spend").fill("250000")
    field(page, "signup_bonus").fill("1500")
    page.click("#program-save")
    page.wait_for_selector("#status:has-text('Program saved.')")
    stored = shop.call(served, "GET", "/program", key="admin")
    assert stored["tiers"][1]["min_spend"] == 250000 and stored["signup_bonus"] == 1500
    assert page.locator(".field-error:not(:empty)").count() == 0


def test_the_preview_matches_a_real_earn(page, served):
    sign_in(page, served)
    page.click("#nav [data-view=program]")
    field(page, "base_rate").wait_for()
    page.fill("#preview-amount", "50000")
    page.fill("#preview-items", "new-arrivals, 20000")
    page.click("#preview-form button[type=submit]")
    page.wait_for_selector("#preview-breakdown")
    shown = page.inner_text("#preview-points")
    rows = [row.split("\t") for row in page.inner_text("#preview-breakdown tbody").splitlines()]
    earned = shop.call(
        served,
        "POST",
        "/members/park/earn",
        {
            "order_id": "preview-check",
            "amount": 50000,
            "items": [{"sku": "sample-1", "category": "new-arrivals", "amount": 20000}],
        },
    )
    assert shown == f"{earned['points']:,}" == "700"
    assert [[r.strip() for r in row] for row in rows] == [
        [line["rule"], f"{line['points']:,}"] for line in earned["breakdown"]
    ]
    # an invalid rule in the editor is named by the preview too, next to its field
    field(page, "base_rate").fill("abc")
    page.click("#preview-form button[type=submit]")
    page.locator('[data-error-for="base_rate"]:not(:empty)').wait_for()
    assert shop.call(served, "GET", "/program", key="admin")["base_rate"] == "0.01"
    screenshot(page, "console-program")


def test_a_member_found_by_phone_with_detail_and_an_adjustment_needing_a_reason(page, served):
    sign_in(page, served)
    page.click("#nav [data-view=members]")
    page.select_option("#find-by", "phone")
    page.fill("#find-value", "01011112222")  # digits only finds 010-1111-2222
    page.click("#find-form button[type=submit]")
    page.wait_for_selector("#member-detail:not([hidden])")
    assert page.inner_text("#member-title") == "Kim Minji — kim"
    balance = shop.call(served, "GET", "/members/kim")["balance"]
    assert page.inner_text("#member-balance") == f"{balance:,} points"
    assert page.inner_text("#member-tier") == "열매"
    # 350,000 of 나무's 600,000 this quarter
    assert page.get_attribute("#member-progress", "value") == "58"
    page.wait_for_selector("#member-history tbody tr")
    assert "earn" in page.inner_text("#member-history")
    page.wait_for_selector(f"#member-coupons td:has-text('{served.data['coupon_code']}')")
    page.fill("#adjust-points", "250")
    page.click("#adjust-form button[type=submit]")
    assert page.inner_text("#adjust-reason-error") == "A reason is required."
    assert shop.call(served, "GET", "/members/kim")["balance"] == balance
    page.fill("#adjust-reason", "goodwill")
    page.click("#adjust-form button[type=submit]")
    page.wait_for_selector(f"#member-balance:has-text('{balance + 250:,} points')")
    assert shop.call(served, "GET", "/members/kim")["balance"] == balance + 250
    screenshot(page, "console-member")


def test_the_console_asks_for_nothing_from_another_origin(page, served):
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    sign_in(page, served)
    for view in ("program", "members", "catalog"):
        page.click(f"#nav [data-view={view}]")
    page.wait_for_selector("#templates-table td:has-text('w3000')")
    assert requested and all(url.startswith(served.url) for url in requested), requested
    assert not any(served.admin_key in url for url in requested)


def test_suspension_from_the_member_detail(page, served):
    sign_in(page, served)
    page.click("#nav [data-view=members]")
    page.select_option("#find-by", "email")
    page.fill("#find-value", "KIM@example.com")
    page.click("#find-form button[type=submit]")
    page.wait_for_selector("#member-suspension:has-text('Not suspended')")
    page.fill("#suspend-reason", "chargeback review")
    page.click("#suspend-button")
    page.wait_for_selector("#member-suspension:has-text('chargeback review')")
    assert shop.call(served, "GET", "/members/kim")["suspension"]["reason"] == "chargeback review"
    page.click("#unsuspend-button")
    page.wait_for_selector("#member-suspension:has-text('Not suspended')")
    assert shop.call(served, "GET", "/members/kim")["suspension"] is None


def test_coupon_templates_and_rewards_are_listed_and_created(page, served):
    sign_in(page, served)
    page.click("#nav [data-view=catalog]")
    page.wait_for_selector("#templates-table td:has-text('w3000')")
    page.fill("#tpl-template_id", "p10")
    page.click("#template-form button[type=submit]")  # no name: the contract's 400, shown
    page.wait_for_selector("#template-error:has-text('VALIDATION_ERROR')")
    page.fill("#tpl-name", "10% off")
    page.select_option("#tpl-type", "percent")
    page.fill("#tpl-value", "10")
    page.fill("#tpl-max_amount", "5000")
    page.fill("#tpl-points_cost", "500")
    page.click("#template-form button[type=submit]")
    page.wait_for_selector("#templates-table td:has-text('10% (at most ₩5,000)')")
    stored = {t["template_id"]: t for t in shop.call(served, "GET", "/coupon-templates", key="admin")["items"]}
    assert stored["p10"]["discount"] == {"type": "percent", "percent": 10, "max_amount": 5000}
    assert stored["p10"]["points_cost"] == 500
    page.fill("#rw-reward_id", "tumbler")
    page.fill("#rw-name", "Tumbler")
    page.fill("#rw-points_cost", "3000")
    page.fill("#rw-stock", "5")
    page.click("#reward-form button[type=submit]")
    page.wait_for_selector("#rewards-table td:has-text('tumbler')")
    rewards = shop.call(served, "GET", "/rewards")["items"]
    assert [(r["reward_id"], r["points_cost"], r["stock"]) for r in rewards] == [("tumbler", 3000, 5)]


UNLABELLED = """() => Array.from(document.querySelectorAll('input, select, textarea'))
    .filter(e => e.type !== 'hidden' && e.labels.length === 0 && !e.getAttribute('aria-label'))
    .map(e => e.id || e.outerHTML)"""


def test_every_control_has_a_label_and_the_keyboard_reaches_the_sections(page, served):
    page.goto(served.url + "/console")
    assert page.evaluate(UNLABELLED) == []
    assert page.evaluate("document.activeElement.id") == "admin-key"  # focus starts in the form
    page.keyboard.type(served.admin_key)
    page.keyboard.press("Enter")
    page.wait_for_selector("#overview:not([hidden])")
    page.click("#nav [data-view=program]")
    page.locator('#program-fields [data-path="tiers.0.name"]').wait_for()
    page.click("#nav [data-view=members]")
    page.fill("#find-value", "kim")
    page.select_option("#find-by", "id")
    page.click("#find-form button[type=submit]")
    page.wait_for_selector("#member-detail:not([hidden])")
    assert page.evaluate(UNLABELLED) == []
    # Tab from the top: the skip link, then the section buttons in order
    page.reload()  # still signed in (the key is in this tab's sessionStorage), on #members
    page.wait_for_selector("#members:not([hidden])")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    reached = []
    for _ in range(9):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.textContent"))
    assert reached == [
        "Overview",
        "Program",
        "Members",
        "Coupons & rewards",
        "Insights",
        "Campaigns",
        "Imports",
        "Webhooks",
        "Sign out",
    ]
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")  # "Program", by keyboard
    page.wait_for_selector("#program:not([hidden])")
