"""A Python client generated from /openapi.json (openapi-python-client), without a
warning, and the README's "Try it" through it against the app served on 127.0.0.1:
every answer is the typed model the document names (a `Member`, a `Coupon` with its
`Transaction`, ...), not a dict and not None."""

from __future__ import annotations

import datetime as dt
import importlib
import json

import pytest

from tests.clients.conftest import PYTHON_CLIENT, unexpected_lines
from tests.conftest import EXAMPLES
from tests.served import served_app

USUAL = [r"^Generating \S+dangol_client$"]


def test_python_client_generates_without_warnings(python_client):
    output, package = python_client
    assert unexpected_lines(output, USUAL) == [], output
    models = importlib.import_module(f"{PYTHON_CLIENT}.models")
    for name in (
        "Member",
        "MemberPage",
        "Program",
        "ProgramPreview",
        "Transfer",
        "TransferRules",
        "Coupon",
        "Transaction",
    ):
        assert hasattr(models, name), name


@pytest.fixture(scope="module")
def served():
    with served_app() as server:
        yield server


def test_readme_try_it_through_the_generated_client(python_client, served):
    _, package = python_client

    def op(tag: str, name: str):
        return importlib.import_module(f"{PYTHON_CLIENT}.api.{tag}.{name}")

    m = importlib.import_module(f"{PYTHON_CLIENT}.models")
    # tests/served.py answers one connection at a time: no keep-alive, so that the
    # storefront's and the admin's clients take turns
    one_request = {"Connection": "close"}
    shop = package.AuthenticatedClient(
        base_url=served.url, token=served.storefront_key, headers=one_request, timeout=60
    )
    admin = package.AuthenticatedClient(base_url=served.url, token=served.admin_key, headers=one_request, timeout=60)

    for template in json.loads((EXAMPLES / "cafe-coupons.json").read_text()):
        made = op("coupons", "create_coupon_template").sync(
            client=admin, body=m.CreateCouponTemplate.from_dict(template)
        )
        assert isinstance(made, m.CouponTemplate), made
    program = op("program", "put_program").sync(
        client=admin, body=m.Program.from_dict(json.loads((EXAMPLES / "cafe-program.json").read_text()))
    )
    assert isinstance(program, m.Program) and isinstance(program.transfer, m.TransferRules)
    assert program.transfer.min_points == 1000

    member = op("members", "create_member").sync(
        client=shop,
        idempotency_key="enrol-jiyoon",
        body=m.CreateMember(member_id="jiyoon", name="김지윤", email="jiyoon@example.com", phone="010-1234-5678"),
    )
    assert isinstance(member, m.Member), member
    assert (member.balance, member.tier, member.coupons_available) == (1000, "새싹", 1)
    assert isinstance(member.next_tier, m.NextTier)
    assert (member.next_tier.name, member.next_tier.spend_needed) == ("열매", 300000)

    earned = op("points", "earn").sync(
        client=shop,
        member_id="jiyoon",
        idempotency_key="order-A-1001",
        body=m.Earn.from_dict(
            {
                "order_id": "A-1001",
                "amount": 120000,
                "items": [{"sku": "strawberry-latte", "category": "new-arrivals", "amount": 6500}],
            }
        ),
    )
    assert isinstance(earned, m.EarnAnswer), earned
    assert [(line.rule, line.points) for line in earned.breakdown] == [("base", 1200), ("category:new-arrivals", 65)]

    found = op("members", "find_members").sync(client=shop, phone="01012345678")
    assert isinstance(found, m.MemberPage) and all(isinstance(x, m.Member) for x in found.items)
    assert [(x.member_id, x.balance, x.coupons_available) for x in found.items] == [("jiyoon", 2265, 1)]
    assert found.next_cursor is None
    looked_up = op("members", "get_member").sync(client=shop, member_id="jiyoon")
    assert isinstance(looked_up, m.Member) and looked_up.balance == 2265

    bought = op("coupons", "issue_coupon").sync(
        client=shop, member_id="jiyoon", idempotency_key="buy-latte-1", body=m.IssueCoupon(template_id="latte-1000")
    )
    assert isinstance(bought, m.Coupon), bought
    assert (bought.source, bought.status) == ("points", "available")
    assert isinstance(bought.transaction, m.Transaction)
    assert (bought.transaction.points, bought.transaction.coupon_id) == (-800, bought.coupon_id)
    use = op("coupons", "use_coupon")
    order = m.UseCoupon(member_id="jiyoon", order_id="A-1002", order_amount=5500)
    used = use.sync(client=shop, code=bought.code, idempotency_key="use-A-1002", body=order)
    assert isinstance(used, m.Coupon) and (used.status, used.discount_amount) == ("used", 1000)
    again = use.sync(client=shop, code=bought.code, idempotency_key="use-A-1002-again", body=order)
    assert isinstance(again, m.Error) and again.error.code == "COUPON_NOT_USABLE"
    available = op("coupons", "member_coupons").sync(
        client=shop, member_id="jiyoon", status=m.MemberCouponsStatus.AVAILABLE
    )
    assert isinstance(available, m.CouponPage) and [c.template_id for c in available.items] == ["welcome-2000"]

    cash = op("points", "redeem").sync(
        client=shop,
        member_id="jiyoon",
        idempotency_key="pay-A-1003",
        body=m.Redeem.from_dict({"points": 1000, "order_id": "A-1003"}),
    )
    assert isinstance(cash, m.RedeemAnswer) and (cash.points, cash.cash_value) == (-1000, 1000)
    reward = op("rewards", "create_reward").sync(
        client=admin, body=m.CreateReward(reward_id="americano", name="아메리카노", points_cost=100, stock=50)
    )
    assert isinstance(reward, m.Reward) and reward.stock == 50
    redeemed = op("points", "redeem").sync(
        client=shop, member_id="jiyoon", idempotency_key="reward-1", body=m.Redeem.from_dict({"reward_id": "americano"})
    )
    assert isinstance(redeemed, m.RedeemAnswer) and redeemed.points == -100
    assert isinstance(redeemed.reward, m.Voucher)
    voucher = op("rewards", "get_voucher").sync(client=shop, code=redeemed.reward.code)
    assert isinstance(voucher, m.VoucherStatus) and voucher.status == "issued"

    history = op("points", "transactions").sync(client=shop, member_id="jiyoon")
    assert isinstance(history, m.TransactionPage) and all(isinstance(t, m.Transaction) for t in history.items)
    assert sum(t.points for t in history.items) == 2265 - 800 - 1000 - 100
    stats = op("program", "stats").sync(client=admin)
    assert isinstance(stats, m.Stats) and (stats.coupons_issued, stats.coupons_used) == (2, 1)
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=9))).date()
    daily = op("program", "daily_stats").sync(client=admin, from_=today.replace(day=1), to=today)
    assert isinstance(daily, m.DailyStats) and all(isinstance(d, m.DailyFigures) for d in daily.items)
    assert sum(d.members_joined for d in daily.items) == 1
    notes = op("members", "notifications").sync(client=admin, member_id="jiyoon")
    assert isinstance(notes, m.NotificationPage) and all(isinstance(n, m.Notification) for n in notes.items)
    assert "welcome" in [n.type_ for n in notes.items]  # `type` is `type_` in Python
