"""The local service's tools: state saved and restored (--data), copies of a
member for load tests, and a seeded shop that adds up."""

from __future__ import annotations

from tests.conftest import DEMO_PROGRAM


def test_state_saved_and_restored_keeps_members_keys_and_queued_messages(api, tmp_path):
    from moto.core.models import BackendDict

    from chalicelib import aws, runtime
    from devtools import local_state

    api.program(DEMO_PROGRAM)
    api.member("jiyoon", name="김지윤", email="jiyoon@example.com")
    earned = api.post("/members/jiyoon/earn", {"order_id": "A-1", "amount": 12000})
    assert earned.status == 201
    path = tmp_path / "state.pkl"
    assert local_state.save(path) > 0
    BackendDict.reset()  # everything gone, as in a new process
    runtime.reset()
    assert aws.client("dynamodb").list_tables()["TableNames"] == []  # not even the table is left
    assert local_state.restore(path)
    runtime.reset()
    member = api.get("/members/jiyoon")
    assert member.status == 200 and member.json["balance"] == 1000 + earned.json["points"]
    queue = aws.client("sqs").get_queue_url(QueueName="dangol-notifications")["QueueUrl"]
    assert aws.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages")
    # a replayed request still replays
    again = api.post("/members/jiyoon/earn", {"order_id": "A-2", "amount": 5000}, idem="k-1")
    assert api.post("/members/jiyoon/earn", {"order_id": "A-2", "amount": 5000}, idem="k-1").json == again.json


def test_an_import_accepted_before_a_restart_is_applied_after_it(api, tmp_path):
    import json

    from moto.core.models import BackendDict

    from chalicelib import local, runtime
    from devtools import local_state

    api.program(DEMO_PROGRAM)
    lines = [{"member_id": f"im{n}", "name": f"Member {n}", "opening_balance": 100 * n} for n in range(1, 4)]
    accepted = api.post(
        "/imports", {"format": "jsonl", "data": "\n".join(json.dumps(line) for line in lines)}, key="admin"
    )
    assert accepted.status == 202, accepted
    import_id = accepted.json["import_id"]
    path = tmp_path / "state.pkl"
    assert local_state.save(path) > 0  # the service stops before the import ran
    BackendDict.reset()
    runtime.reset()
    assert local_state.restore(path)
    runtime.reset()
    local.run_job("run_imports")  # its file is read from the restored bucket
    report = api.get(f"/imports/{import_id}", key="admin").json
    assert (report["status"], report["imported"], report["error_count"]) == ("done", 3, 0)
    assert [api.get(f"/members/im{n}").json["balance"] for n in range(1, 4)] == [100, 200, 300]


def test_a_state_file_of_another_kind_is_refused(tmp_path):
    import pytest

    from devtools import local_state

    path = tmp_path / "state.pkl"
    path.write_bytes(b"not a state")
    with pytest.raises(local_state.StateFileError):
        local_state.restore(path)
    assert local_state.restore(tmp_path / "absent.pkl") is False


def test_copies_of_a_member_read_like_members_and_stats_add_up(api):
    from devtools import bulk_members

    api.program(DEMO_PROGRAM)
    template = "tmpl-0c0ffee0"
    bulk_members.begin(template)
    api.member(template, name="김지윤", email=f"{template}@example.com")
    for n in range(2):
        assert (
            api.post(
                f"/members/{template}/earn", {"order_id": f"A-{n}", "amount": 12000}, idem=f"{template}-earn-{n}"
            ).status
            == 201
        )
    original = api.get(f"/members/{template}").json
    assert bulk_members.copy_member(template, 5, prefix="load") == 5
    for n in range(1, 6):
        copy = api.get(f"/members/load{n:07d}").json
        assert copy["balance"] == original["balance"] and copy["tier"] == original["tier"]
        assert copy["email"] == f"load{n:07d}@example.com"
        assert copy["referral_code"] != original["referral_code"]
        history = api.get(f"/members/load{n:07d}/transactions").json["items"]
        assert [t["points"] for t in history] == [
            t["points"] for t in api.get(f"/members/{template}/transactions").json["items"]
        ]
    stats = api.get("/stats", key="admin").json
    assert stats["members"] == 6
    assert stats["points_outstanding"] == 6 * original["balance"]
    # a copy is a member like any other
    assert api.post("/members/load0000003/earn", {"order_id": "B-1", "amount": 3000}).status == 201
    assert api.post("/members/load0000003/redeem", {"points": 1000}).status == 201


def test_the_seeded_shop_adds_up(api, monkeypatch):
    import app as app_module
    from devtools import seed_shop

    api.program(DEMO_PROGRAM)
    assert seed_shop.seed(app_module.app, 12) == 12
    stats = api.get("/stats", key="admin").json
    assert stats["members"] == 12
    total = 0
    for n in range(1, 13):
        member = api.get(f"/members/m{n:06d}").json
        total += member["balance"]
        assert member["name"][0] in seed_shop.FAMILY
        history = api.get(f"/members/m{n:06d}/transactions?limit=100").json["items"]
        assert sum(t["points"] for t in history) == member["balance"]
    assert stats["points_outstanding"] == total


def test_the_seeded_cafe_has_redemptions_coupons_refunds_and_dormant_members_and_adds_up(api):
    """The demo café seeded for a few months shows every figure: points paid on
    orders, coupons bought and used, refunds, lapsed members the win-back job
    finds dormant, one suspended member, and /stats equal to the members' balances."""
    import app as app_module
    from chalicelib import local
    from devtools import demo_shop, seed_shop
    from tests.conftest import EXAMPLES

    demo_shop.load_program(str(EXAMPLES / "cafe-program.json"), str(EXAMPLES / "cafe-coupons.json"))
    count = 80
    assert seed_shop.seed(app_module.app, count, admin_key=api.admin_key) == count
    local.run_job("win_back_dormant_members")
    types: dict[str, int] = {}
    total, suspended, bought, campaign_lines = 0, 0, 0, 0
    for n in range(1, count + 1):
        member = api.get(f"/members/m{n:06d}").json
        total += member["balance"]
        suspended += member["suspension"] is not None
        history = api.get(f"/members/m{n:06d}/transactions?limit=100").json["items"]
        assert sum(t["points"] for t in history) == member["balance"]
        for t in history:
            types[t["type"]] = types.get(t["type"], 0) + 1
            campaign_lines += any(line["rule"] == "campaign:double-points-trial" for line in t.get("breakdown") or [])
            bought += t["type"] == "redeem" and bool(t.get("coupon_id"))
    assert types["redeem"] > bought > 0  # points paid on orders, and coupons bought with points
    assert types["reversal"] > 0 and types["adjust"] == 2 and suspended == 1
    stats = api.get("/stats", key="admin").json
    assert stats["coupons_used"] > 0 and stats["points_reversed"] < 0
    assert stats["points_outstanding"] == total
    assert stats["points_outstanding"] == (
        stats["points_earned"]
        - stats["points_redeemed"]
        - stats["points_expired"]
        + stats["points_adjusted"]
        + stats["points_reversed"]
    )
    dormant = api.get("/members?segment=dormant&limit=100", key="admin").json["items"]
    assert 0 < len(dormant) < count // 2
    # §22: the campaign early in the nine months, launched to the members of the time
    trial = api.get("/campaigns/double-points-trial", key="admin").json
    assert trial["status"] == "ended" and 0 < trial["audience"] < count
    assert campaign_lines > 0
    assert all(api.get(f"/members/{m['member_id']}").json["dormant"] for m in dormant)
