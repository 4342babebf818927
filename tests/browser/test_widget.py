"""The member page in headless Chromium, at a phone's size: a storefront's widget
token shows that member; an expired or forged token is refused."""

from __future__ import annotations

import base64
import json

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


@pytest.fixture
def phone(chromium):
    tab = chromium.new_page()
    tab.set_viewport_size({"width": 390, "height": 844})
    errors = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    tab.close()
    assert not errors, errors


def seoul_day(instant: str) -> str:
    import datetime as dt
    from zoneinfo import ZoneInfo

    moment = dt.datetime.fromisoformat(instant.replace("Z", "+00:00"))
    return moment.astimezone(ZoneInfo("Asia/Seoul")).date().isoformat()


def token_for(served, member_id):
    return shop.call(served, "POST", f"/members/{member_id}/widget-tokens")["token"]


def open_with(tab, served, token):
    tab.goto(served.url + "/widget")
    tab.fill("#token", token)
    tab.click("#token-form button[type=submit]")


def test_the_member_page_shows_the_members_points_coupons_and_history(phone, served):
    kim = shop.call(served, "GET", "/members/kim")
    open_with(phone, served, token_for(served, "kim"))
    phone.wait_for_selector("#member:not([hidden])")
    phone.select_option("#lang", "en")
    assert phone.inner_text("#balance") == f"{kim['balance']:,}"
    assert phone.inner_text("#tier") == "열매"
    assert phone.get_attribute("#progress", "value") == "58"
    assert "₩250,000 more to 나무" in phone.inner_text("#progress-label")
    code = served.data["coupon_code"]
    assert phone.inner_text(".coupon-code") == code
    qr = phone.locator(f'svg.qr[data-code="{code}"]')
    assert qr.count() == 1 and qr.get_attribute("aria-label") == f"QR code of coupon code {code}"
    # the QR code is drawn: dark modules, and its finder pattern in the top-left corner
    assert phone.evaluate("document.querySelector('svg.qr path').getAttribute('d').length") > 200
    history = shop.call(served, "GET", "/members/kim/transactions?limit=10")["items"]
    rows = phone.inner_text("#history tbody").splitlines()
    assert len(rows) == len(history) <= 10
    assert rows[-1].split("\t")[1] == "Bonus"
    # dates are the program timezone's (Asia/Seoul) days
    assert [row.split("\t")[0] for row in rows] == [seoul_day(tx["created_at"]) for tx in history]
    # fits a phone: nothing wider than the screen
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "widget-en")
    phone.select_option("#lang", "ko")
    assert phone.inner_text("#coupons-title") == "사용 가능한 쿠폰"
    assert phone.evaluate("document.documentElement.lang") == "ko"
    screenshot(phone, "widget-ko")


def test_a_storefront_page_opens_the_member_page_by_a_form_post(phone, served):
    token = token_for(served, "lee")
    phone.set_content(
        f'<form method="post" action="{served.url}/widget"><input type="hidden" name="token" '
        f'value="{token}"><button>My points</button></form>'
    )
    phone.click("button")
    phone.wait_for_selector("#member:not([hidden])")
    assert phone.inner_text("#tier") == "나무"
    assert token not in phone.url
    assert phone.evaluate("document.querySelector('meta[name=dangol-widget-token]')") is None


def test_an_expired_token_is_refused(phone, served, monkeypatch):
    import datetime as dt

    from chalicelib import clock

    token = token_for(served, "kim")
    later = clock.now() + dt.timedelta(minutes=15)
    monkeypatch.setattr(clock, "now", lambda: later)
    open_with(phone, served, token)
    phone.wait_for_selector("#token-form:not([hidden])")
    phone.wait_for_selector("#token-error:not(:empty)")
    assert phone.is_hidden("#member")
    assert phone.evaluate("sessionStorage.getItem('dangol.widgetToken')") is None
    screenshot(phone, "widget-expired")


def test_a_token_shows_its_own_member_and_cannot_be_turned_to_another(phone, served):
    token = token_for(served, "kim")
    open_with(phone, served, token)
    phone.wait_for_selector("#member:not([hidden])")
    lee = shop.call(served, "GET", "/members/lee")
    # the routes take no member id: naming lee in a query still reads kim
    answer = phone.evaluate(
        """async ([token]) => {
        const r = await fetch('widget/api/member?member_id=lee', {headers: {Authorization: 'Bearer ' + token}});
        return [r.status, (await r.json()).member_id];
    }""",
        [token],
    )
    assert answer == [200, "kim"]
    # kim's token rewritten to name lee is refused (the signature covers the member)
    payload, signature = token[len("dgw_") :].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged_payload = base64.urlsafe_b64encode(json.dumps({**claims, "m": "lee"}).encode()).rstrip(b"=").decode()
    phone.evaluate("sessionStorage.clear()")
    open_with(phone, served, f"dgw_{forged_payload}.{signature}")
    phone.wait_for_selector("#token-error:not(:empty)")
    assert phone.is_hidden("#member")
    assert f"{lee['balance']:,}" not in phone.inner_text("body")
    # an API key is not a widget token either
    open_with(phone, served, served.storefront_key)
    phone.wait_for_selector("#token-error:not(:empty)")
    assert phone.is_hidden("#member")


def test_a_suspended_member_sees_that_the_account_is_suspended_but_not_why(phone, served):
    reason = "Chargeback dispute under review"
    shop.call(served, "POST", "/members/kim/suspension", {"reason": reason}, key="admin")
    open_with(phone, served, token_for(served, "kim"))
    phone.wait_for_selector("#member:not([hidden])")
    phone.select_option("#lang", "en")
    assert phone.is_visible("#suspended")
    assert "suspended" in phone.inner_text("#suspended")
    assert reason not in phone.inner_text("body")
    shop.call(served, "DELETE", "/members/kim/suspension", key="admin")
    phone.reload()
    phone.wait_for_selector("#member:not([hidden])")
    assert phone.is_hidden("#suspended")


def test_the_member_page_lists_the_recommended_products_and_hides_an_empty_list(phone, served):
    from chalicelib.runtime import services
    from chalicelib.storage.repository import recommendations_key

    open_with(phone, served, token_for(served, "kim"))
    phone.wait_for_selector("#member:not([hidden])")
    assert phone.is_hidden("#recommended-card")  # no refresh stored a list yet
    generation = shop.call(served, "GET", "/members/kim").get("generation", 0)
    pk, sk = recommendations_key("kim", generation)
    items = [{"sku": f"sku-{n}", "category": "coffee", "score": 10 - n} for n in range(7)]
    services().store.put({"pk": pk, "sk": sk, "items": items, "as_of": "2027-01-15T00:00:00Z"})
    phone.reload()
    phone.wait_for_selector("#recommended-card:not([hidden])")
    phone.select_option("#lang", "en")
    assert phone.inner_text("#recommended-title") == "Recommended for you"
    assert phone.inner_text("#recommended").splitlines() == [f"sku-{n} · coffee" for n in range(5)]
    phone.select_option("#lang", "ko")
    assert phone.inner_text("#recommended-title") == "추천 상품"
