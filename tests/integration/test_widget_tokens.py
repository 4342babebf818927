"""Widget tokens and the member page's read routes (issue #13): a storefront mints a
token for one member; the token reads that member only, through routes that take no
member id, for 15 minutes, and is good for nothing else."""

from __future__ import annotations

import base64
import json

import pytest


def mint(api, member_id: str, key="storefront"):
    return api.post(f"/members/{member_id}/widget-tokens", key=key, idem=None)


@pytest.fixture
def shop(api, clock):
    api.member("ana", email="ana@example.com")
    api.member("bo")
    assert api.post("/members/ana/earn", {"order_id": "o1", "amount": 120000}).status == 201
    assert api.post("/members/bo/earn", {"order_id": "o2", "amount": 5000}).status == 201
    return api


def test_a_storefront_mints_a_15_minute_token_without_an_idempotency_key(shop, clock):
    answer = mint(shop, "ana")
    assert answer.status == 201, answer
    assert set(answer.json) == {"token", "expires_at"}
    assert answer.json["token"].startswith("dgw_")
    assert answer.json["expires_at"] == "2027-01-15T03:15:00Z"  # the frozen clock + 15 minutes


def test_the_token_reads_its_member_and_nothing_names_another(shop, clock):
    token = mint(shop, "ana").json["token"]
    member = shop.get("/widget/api/member", key=token)
    assert member.status == 200, member
    assert member.json["member_id"] == "ana"
    assert member.json["balance"] == shop.balance("ana")
    assert member.json["currency"] == "KRW" and member.json["timezone"] == "Asia/Seoul"
    history = shop.get("/widget/api/transactions?limit=10", key=token)
    assert history.status == 200, history
    assert {tx["member_id"] for tx in history.json["items"]} == {"ana"}
    assert [tx["order_id"] for tx in history.json["items"] if tx["type"] == "earn"] == ["o1"]
    # bo's token reads bo; a query parameter naming another member changes nothing
    bo = mint(shop, "bo").json["token"]
    assert shop.get("/widget/api/member?member_id=ana", key=bo).json["member_id"] == "bo"
    assert shop.get("/widget/api/transactions?member_id=ana", key=bo).json["items"][0]["member_id"] == "bo"


def test_the_member_page_routes_refuse_api_keys_and_no_key(shop):
    for key in ("storefront", "admin", None):
        answer = shop.get("/widget/api/member", key=key)
        assert answer.status == 401, (key, answer)
        assert answer.error == "UNAUTHORIZED"


def test_a_token_is_refused_on_every_api_key_route(shop):
    token = mint(shop, "ana").json["token"]
    for method, path in (
        ("GET", "/members/ana"),
        ("GET", "/members/ana/transactions"),
        ("GET", "/stats"),
        ("GET", "/program"),
        ("POST", "/members/ana/redeem"),
        ("POST", "/members/ana/widget-tokens"),
    ):
        answer = shop.call(method, path, {"points": 1} if method == "POST" else None, key=token)
        assert answer.status == 401, (path, answer)
        assert answer.error == "UNAUTHORIZED", (path, answer)


def test_an_expired_token_is_refused(shop, clock):
    token = mint(shop, "ana").json["token"]
    clock.advance(minutes=14, seconds=59)
    assert shop.get("/widget/api/member", key=token).status == 200
    clock.advance(seconds=1)
    answer = shop.get("/widget/api/member", key=token)
    assert answer.status == 401 and answer.error == "UNAUTHORIZED", answer
    assert "expired" in answer.json["error"]["message"]


def test_a_tampered_token_is_refused(shop):
    token = mint(shop, "ana").json["token"]
    payload, signature = token[len("dgw_") :].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["m"] == "ana"
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "m": "bo"}).encode()).rstrip(b"=").decode()
    for bad in (
        f"dgw_{forged}.{signature}",
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        f"dgw_{payload}.",
        "dgw_",
        token + "x",
        "dgw_!!!.abc",
    ):
        answer = shop.get("/widget/api/member", key=bad)
        assert answer.status == 401 and answer.error == "UNAUTHORIZED", (bad, answer)


def test_a_token_minted_with_another_signing_key_is_refused(shop):
    from chalicelib.api import edge

    token = mint(shop, "ana").json["token"]
    payload = token[len("dgw_") :].split(".")[0]
    other = edge.widget_tokens()._signature(b"another key of 32 bytes........", payload)
    assert shop.get("/widget/api/member", key=f"dgw_{payload}.{other}").status == 401  # same kid, other key
    assert shop.get("/widget/api/member", key=token).status == 200


def test_the_signing_key_lives_in_secrets_manager_and_is_shared_by_containers(shop):
    from chalicelib import aws, clock, settings
    from chalicelib.api.widget_keys import SigningKeys
    from chalicelib.api.widget_tokens import WidgetTokens
    from chalicelib.runtime import services

    token = mint(shop, "ana").json["token"]
    secret = aws.client("secretsmanager").get_secret_value(SecretId=settings.load().widget_key_secret)
    assert len(secret["SecretString"]) >= 64  # 48 random bytes, base64url
    # the table holds no key
    items = services().store.client.scan(TableName=services().store.table)["Items"]
    assert not [i for i in items if "KEY" in i["pk"]["S"] and "APIKEY" not in i["pk"]["S"]]
    assert secret["SecretString"] not in repr(items)
    # another container (nothing cached) verifies with the same key
    other = WidgetTokens(SigningKeys(aws.client("secretsmanager"), settings.load().widget_key_secret), clock.now)
    assert other.verify(f"Bearer {token}").member_id == "ana"


def test_creating_the_resources_again_keeps_the_one_key(aws):
    from chalicelib import aws as aws_clients
    from chalicelib import local, settings

    secret_id = settings.load().widget_key_secret
    first = aws_clients.client("secretsmanager").get_secret_value(SecretId=secret_id)
    local.create_resources()
    local.create_widget_signing_key(secret_id)
    again = aws_clients.client("secretsmanager").get_secret_value(SecretId=secret_id)
    assert (again["VersionId"], again["SecretString"]) == (first["VersionId"], first["SecretString"])
    versions = aws_clients.client("secretsmanager").list_secret_version_ids(SecretId=secret_id)["Versions"]
    assert len(versions) == 1


def test_an_erasure_kills_the_members_tokens_even_after_a_new_enrolment(shop):
    token = mint(shop, "bo").json["token"]
    assert shop.delete("/members/bo", key="admin").status == 204
    assert shop.get("/widget/api/member", key=token).status == 401
    shop.member("bo")  # the same id, a new generation
    assert shop.get("/widget/api/member", key=token).status == 401
    fresh = mint(shop, "bo").json["token"]
    assert shop.get("/widget/api/member", key=fresh).json["balance"] == shop.balance("bo")


def test_minting_needs_a_storefront_key_and_a_live_member(shop):
    assert mint(shop, "nobody").status == 404
    assert mint(shop, "ana", key=None).status == 401
    assert mint(shop, "ana", key="admin").status == 201


def test_transactions_page_with_limit_and_cursor(shop):
    for n in range(3):
        assert shop.post("/members/ana/activities", {"type": "review", "reference_id": f"r{n}"}).status == 201
    token = mint(shop, "ana").json["token"]
    first = shop.get("/widget/api/transactions?limit=2", key=token).json
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = shop.get(f"/widget/api/transactions?limit=10&cursor={first['next_cursor']}", key=token).json
    everything = shop.get("/members/ana/transactions?limit=100").json["items"]
    assert [t["transaction_id"] for t in first["items"] + rest["items"]] == [t["transaction_id"] for t in everything]
    assert shop.get("/widget/api/transactions?limit=0", key=token).status == 400


def pages(api, path, **headers):
    return api.client.http.get(path, headers=headers)


def test_pages_and_assets_are_served_with_types_cache_headers_and_a_strict_csp(api):
    for path in ("/console", "/widget"):
        page = pages(api, path)
        assert page.status_code == 200
        assert page.headers["Content-Type"] == "text/html; charset=utf-8"
        assert page.headers["Cache-Control"] == "no-cache"
        csp = page.headers["Content-Security-Policy"]
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        body = page.body.decode()
        assert "<script>" not in body and " on" not in body.split("<body", 1)[1].split(">", 1)[0]
        assert "http://" not in body and "https://" not in body  # nothing from another origin
    for name, kind in (
        ("console.js", "application/javascript"),
        ("dangol.css", "text/css"),
        ("uPlot.iife.min.js", "application/javascript"),
        ("qrcode.js", "application/javascript"),
    ):
        asset = pages(api, f"/ui/{name}")
        assert asset.status_code == 200, name
        assert asset.headers["Content-Type"].startswith(kind)
        assert asset.headers["Cache-Control"] == "public, max-age=86400"
        again = pages(api, f"/ui/{name}", **{"If-None-Match": asset.headers["ETag"]})
        assert again.status_code == 304 and not again.body
    missing = pages(api, "/ui/app.py")
    assert missing.status_code == 404
    assert json.loads(missing.body)["error"]["code"] == "NOT_FOUND"


def test_a_form_post_opens_the_member_page_with_its_token_and_nothing_else_is_echoed(shop):
    token = mint(shop, "ana").json["token"]
    opened = shop.client.http.post(
        "/widget", headers={"Content-Type": "application/x-www-form-urlencoded"}, body=f"token={token}"
    )
    assert opened.status_code == 200
    assert opened.headers["Cache-Control"] == "no-store"
    assert f'<meta name="dangol-widget-token" content="{token}">' in opened.body.decode()
    hostile = shop.client.http.post(
        "/widget",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body='token=dgw_x"><script>alert(1)</script>',
    )
    assert hostile.status_code == 200
    assert b"<script>alert" not in hostile.body
    assert b'<meta name="dangol-widget-token" content="">' in hostile.body


def test_the_member_page_lists_the_token_members_available_coupons_only(shop):
    template = {"template_id": "w3000", "name": "3,000 won off", "discount": {"type": "amount", "amount": 3000}}
    assert shop.post("/coupon-templates", template, key="admin").status == 201
    given = shop.post("/members/ana/coupons", {"template_id": "w3000"}, key="admin")
    assert given.status == 201, given
    used = shop.post("/members/ana/coupons", {"template_id": "w3000"}, key="admin").json
    assert (
        shop.post(
            f"/coupons/{used['code']}/redemption", {"member_id": "ana", "order_id": "o9", "order_amount": 10000}
        ).status
        == 201
    )
    ana = shop.get("/widget/api/coupons", key=mint(shop, "ana").json["token"])
    assert ana.status == 200, ana
    assert [c["code"] for c in ana.json["items"]] == [given.json["code"]]
    bo = shop.get("/widget/api/coupons", key=mint(shop, "bo").json["token"])
    assert bo.json["items"] == []


def signed(payload: bytes) -> str:
    """A token over any payload, signed with the service's current key (as only the service can)."""
    from chalicelib.api import edge

    tokens = edge.widget_tokens()
    body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    return f"dgw_{body}.{tokens._signature(tokens.keys.current().secret, body)}"


def current_kid() -> str:
    from chalicelib.api import edge

    return edge.widget_tokens().keys.current().kid


def test_only_a_bearer_token_of_the_right_shape_and_claims_is_taken(shop, clock):
    token = mint(shop, "ana").json["token"]
    assert shop.get("/widget/api/member", key=token).status == 200
    headers = {"Authorization": f"Basic {token}"}
    assert shop.get("/widget/api/member", key=None, headers=headers).status == 401
    assert shop.get("/widget/api/member", key="dgw_" + "A" * 397 + ".x").status == 401  # 402 chars
    expires = int(clock.now.timestamp()) + 600
    kid = current_kid()
    good = json.dumps({"m": "ana", "g": 0, "e": expires, "k": kid}).encode()
    assert shop.get("/widget/api/member", key=signed(good)).status == 200
    for payload in (
        b"not json",
        b"[]",
        b'"k"',
        json.dumps({"m": "ana", "g": 0, "k": kid}).encode(),
        json.dumps({"m": 7, "g": 0, "e": expires, "k": kid}).encode(),
        json.dumps({"m": "ana", "g": "0", "e": expires, "k": kid}).encode(),
        json.dumps({"m": "ana", "g": 0, "e": str(expires), "k": kid}).encode(),
        json.dumps({"m": "ana", "g": 0, "e": expires}).encode(),  # no key id
        json.dumps({"m": "ana", "g": 0, "e": expires, "k": 7}).encode(),
        json.dumps({"m": "ana", "g": 0, "e": expires, "k": "no-such-key"}).encode(),
    ):
        answer = shop.get("/widget/api/member", key=signed(payload))
        assert answer.status == 401 and answer.error == "UNAUTHORIZED", (payload, answer)


def test_a_form_post_that_is_not_ascii_opens_the_page_without_a_token(api):
    opened = api.client.http.post(
        "/widget", headers={"Content-Type": "application/x-www-form-urlencoded"}, body=b"token=\xff\xfe"
    )
    assert opened.status_code == 200
    assert b'<meta name="dangol-widget-token" content="">' in opened.body


def test_the_local_service_enrols_the_demo_member_once_and_mints_its_token(api):
    import importlib.util

    import app as app_module
    from tests.conftest import ROOT

    spec = importlib.util.spec_from_file_location("serve_local", ROOT / "scripts" / "serve_local.py")
    serve_local = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve_local)
    first = serve_local.demo_widget_token(app_module.app, api.storefront_key)
    member = api.get("/widget/api/member", key=first["token"])
    assert member.status == 200 and member.json["member_id"] == "demo"
    assert member.json["balance"] == 1000 + 1200  # the signup bonus and a ₩120,000 purchase
    second = serve_local.demo_widget_token(app_module.app, api.storefront_key)
    assert api.get("/widget/api/member", key=second["token"]).json["balance"] == 2200
    assert api.get("/stats", key="admin").json["members"] == 1
    assert serve_local.demo_widget_token(app_module.app, "dgl_not_a_key") == {"token": None, "expires_at": None}


def test_the_member_page_says_only_whether_the_account_is_suspended(shop):
    """§15 (v3): the widget shows `suspended`, never the admin's reason."""
    token = mint(shop, "ana").json["token"]
    before = shop.get("/widget/api/member", key=token).json
    assert before["suspended"] is False and "suspension" not in before
    reason = "Chargeback dispute under review"
    assert shop.post("/members/ana/suspension", {"reason": reason}, key="admin").status == 200
    during = shop.get("/widget/api/member", key=token)
    assert during.status == 200, during
    assert during.json["suspended"] is True and "suspension" not in during.json
    assert reason not in during.body.decode()
    # the storefront and the admin still see the reason (§15)
    assert shop.get("/members/ana").json["suspension"]["reason"] == reason
    assert shop.delete("/members/ana/suspension", key="admin").status == 200
    assert shop.get("/widget/api/member", key=token).json["suspended"] is False
    # the page reads only the flag
    from chalicelib.api import ui

    script = ui.asset("widget.js", None)[2]
    script = script.decode() if isinstance(script, bytes) else script
    assert "member.suspended" in script and "suspension" not in script
