"""The console's Webhooks section in headless Chromium: the webhooks, each one's
deliveries (newest first, status, attempts, last status code), and a failed one sent
again with its Retry button."""

from __future__ import annotations

import pytest

from tests.browser import shop
from tests.browser.conftest import screenshot, served_to_a_browser
from tests.browser.test_console import UNLABELLED


@pytest.fixture
def served():
    from chalicelib import local
    from chalicelib.runtime import services
    from chalicelib.storage import repository as keys
    from devtools.webhook_receiver import Receiver

    with served_to_a_browser() as served, Receiver() as receiver:
        ok = shop.call(
            served, "POST", "/webhooks", {"url": receiver.url("/ok"), "events": ["member.enrolled"]}, key="admin"
        )
        failing = shop.call(
            served, "POST", "/webhooks", {"url": receiver.url("/fail"), "events": ["member.enrolled"]}, key="admin"
        )
        shop.call(served, "POST", "/members", {"member_id": "kim", "name": "Kim Minji"})
        shop.call(served, "POST", "/members", {"member_id": "lee", "name": "Lee Jun"})
        local.drain_queues()
        # one of the failing webhook's deliveries has used up its retries
        page = shop.call(served, "GET", f"/webhooks/{failing['webhook_id']}/deliveries", key="admin")
        pk, sk = keys.delivery_key(failing["webhook_id"], page["items"][-1]["event_id"])
        services().store.update(
            pk, sk, "SET #s = :failed REMOVE webhook_due, due_at", {"#s": "status"}, {":failed": "failed"}
        )
        served.hooks = {"ok": ok, "failing": failing, "failed_event": page["items"][-1]["event_id"]}
        served.receiver = receiver
        yield served


def test_webhooks_and_their_deliveries_and_a_retry(page, served):
    page.goto(served.url + "/console")
    page.fill("#admin-key", served.admin_key)
    page.keyboard.press("Enter")
    page.wait_for_selector("#overview:not([hidden])")
    page.click("#nav [data-view=webhooks]")
    page.wait_for_selector("#webhooks-table tbody tr:nth-child(2)")
    rows = page.eval_on_selector_all("#webhooks-table tbody tr", "rows => rows.map(r => r.innerText)")
    assert served.hooks["ok"]["webhook_id"] in rows[0] and served.hooks["failing"]["webhook_id"] in rows[1]
    assert "member.enrolled" in rows[0] and served.receiver.url("/ok") in rows[0]
    assert "whsec_" not in page.content()  # never a secret

    page.click(f"[data-webhook='{served.hooks['ok']['webhook_id']}']")
    page.wait_for_selector("#deliveries:not([hidden]) #deliveries-table tbody tr:nth-child(2)")
    cells = page.eval_on_selector_all(
        "#deliveries-table tbody tr", "rows => rows.map(r => Array.from(r.cells).map(c => c.innerText))"
    )
    assert [c[1:5] for c in cells] == [["member.enrolled", "delivered", "1", "200"]] * 2
    assert cells[0][0] > cells[1][0]  # newest first
    assert page.locator("#deliveries-table button").count() == 0  # nothing failed here

    page.click(f"[data-webhook='{served.hooks['failing']['webhook_id']}']")
    page.wait_for_selector("#deliveries-table button:has-text('Retry')")
    assert page.evaluate(UNLABELLED) == []  # every control has a label
    failed_row = page.locator("#deliveries-table tbody tr", has_text=served.hooks["failed_event"])
    assert "failed" in failed_row.inner_text() and "500" in failed_row.inner_text()
    screenshot(page, "console-webhooks")
    failed_row.locator("button").click()
    page.wait_for_selector(f"#status:has-text('{served.hooks['failed_event']} queued again')")
    page.wait_for_selector("#deliveries-table tbody tr:has-text('pending') >> nth=1")
    assert page.locator("#deliveries-table button").count() == 0
