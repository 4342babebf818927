"""§14 dormancy and win-back: `last_activity_at` and `dormant` on the member,
one `win_back` (and the `auto_coupons.win_back` coupon) per dormant spell,
found through the `activity` index (reads grow with the members who became
dormant), an earn or redeem ending the spell in its own transaction, and the
dormant segment."""

from __future__ import annotations

from collections import Counter

from chalicelib import local
from chalicelib.runtime import services
from chalicelib.storage.store import ACTIVITY_INDEX
from tests.checks import earn, redeem

PROGRAM = {
    "timezone": "Asia/Seoul",
    "signup_bonus": 1000,
    "redemption": {"min_points": 1},
    "dormancy": {"after_days": 30},
}
TEMPLATE = {"template_id": "comeback", "name": "다시 만나요 3천원", "discount": {"type": "amount", "amount": 3000}}


def win_backs(api, member_id: str) -> list[dict]:
    items = services().store.query_all(f"MEMBER#{member_id}", "NOTIFICATION#")
    return sorted((i for i in items if i["type"] == "win_back"), key=lambda i: i["created_at"])


def coupons(api, member_id: str) -> list[dict]:
    response = api.get(f"/members/{member_id}/coupons?limit=100")
    assert response.status == 200, response
    return response.json["items"]


def dormant_segment(api) -> list[str]:
    response = api.get("/members?segment=dormant&limit=100", key="admin")
    assert response.status == 200, response
    return [m["member_id"] for m in response.json["items"]]


def step(member_id: str) -> bool:
    return services().job_worker.definitions["win_back_dormant_members"].step(member_id, {})


def with_coupon_program(api):
    assert api.post("/coupon-templates", TEMPLATE, key="admin").status == 201
    api.program({**PROGRAM, "auto_coupons": {"win_back": "comeback"}})


def test_one_win_back_and_coupon_per_dormant_spell(api, clock):
    with_coupon_program(api)
    clock.set("2027-01-01T03:00:00Z")
    api.member("a", email="a@example.com")
    api.member("b")
    clock.set("2027-01-20T03:00:00Z")
    earn(api, "b", "b1", 10000)
    member = api.get("/members/a").json
    assert (member["last_activity_at"], member["dormant"]) == ("2027-01-01T03:00:00Z", False)
    assert api.get("/members/b").json["last_activity_at"] == "2027-01-20T03:00:00Z"

    clock.set("2027-01-31T02:59:59Z")  # a second before a's dormant day
    local.run_job("win_back_dormant_members")
    assert win_backs(api, "a") == []
    clock.set("2027-01-31T03:00:00Z")  # last activity + 30 days
    local.run_job("win_back_dormant_members")
    [notice] = win_backs(api, "a")
    assert notice["data"]["last_activity_at"] == "2027-01-01T03:00:00Z"
    assert notice["data"]["dormant_since"] == "2027-01-31T03:00:00Z"
    [coupon] = coupons(api, "a")
    assert (coupon["template_id"], coupon["source"], coupon["status"]) == ("comeback", "win_back", "available")
    assert api.get("/members/a").json["dormant"] is True
    assert win_backs(api, "b") == [] and coupons(api, "b") == []
    assert dormant_segment(api) == ["a"]
    local.drain_queues()

    clock.advance(days=5)  # later runs: nothing more for a in the same spell
    local.run_job("win_back_dormant_members")
    assert len(win_backs(api, "a")) == 1 and len(coupons(api, "a")) == 1

    clock.set("2027-02-19T03:00:00Z")
    local.run_job("win_back_dormant_members")
    assert len(win_backs(api, "b")) == 1
    assert dormant_segment(api) == ["a", "b"]

    # an earn ends a's spell; the next one starts 30 days after it
    clock.set("2027-02-21T03:00:00Z")
    earn(api, "a", "a1", 5000)
    member = api.get("/members/a").json
    assert (member["last_activity_at"], member["dormant"]) == ("2027-02-21T03:00:00Z", False)
    assert dormant_segment(api) == ["b"]
    clock.set("2027-03-23T02:00:00Z")
    local.run_job("win_back_dormant_members")
    assert len(win_backs(api, "a")) == 1
    clock.set("2027-03-23T03:00:00Z")
    local.run_job("win_back_dormant_members")
    assert len(win_backs(api, "a")) == 2 and len(coupons(api, "a")) == 2
    assert dormant_segment(api) == ["a", "b"]

    # a redeem ends a spell too
    clock.advance(days=1)
    redeem(api, "b", 10)
    assert api.get("/members/b").json["dormant"] is False
    assert dormant_segment(api) == ["a"]


def test_the_win_back_text_names_the_coupon(api, clock):
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    from chalicelib import settings

    with_coupon_program(api)
    clock.set("2027-01-01T16:00:00Z")  # 2 January in Seoul
    api.member("ko", email="ko@example.com")
    api.member("en", email="en@example.com", locale="en")
    clock.set("2027-02-10T01:00:00Z")
    local.run_job("win_back_dormant_members")
    local.drain_queues()
    sent = ses_backends[DEFAULT_ACCOUNT_ID][settings.load().region].sent_messages
    bodies = {m.destinations["ToAddresses"][0]: m.body for m in sent if "만나고" in m.subject or "miss" in m.subject}
    assert bodies == {
        "ko@example.com": "[단골] 오랜만이에요! 2027-01-02 이후로 뵙지 못했네요. "
        "특별 쿠폰 '다시 만나요 3천원'을 드렸어요. "
        "다시 찾아 주세요.",
        "en@example.com": "[Dangol] We miss you! We have not seen you since 2027-01-02. A coupon is waiting for you: "
        "다시 만나요 3천원. Come back soon.",
    }


def test_without_a_coupon_template_only_the_notification(api, clock):
    api.program(PROGRAM)
    clock.set("2027-01-01T03:00:00Z")
    api.member("a")
    clock.set("2027-03-01T03:00:00Z")
    local.run_job("win_back_dormant_members")
    assert len(win_backs(api, "a")) == 1
    assert coupons(api, "a") == []
    assert win_backs(api, "a")[0]["data"]["coupon"] is None


def test_no_dormancy_configured_plans_nothing_and_wins_back_nobody(api, clock):
    api.program({**PROGRAM, "dormancy": None})
    clock.set("2027-01-01T03:00:00Z")
    api.member("a")
    clock.set("2030-01-01T03:00:00Z")
    assert services().job_plans.win_back_dormant_members() == []
    assert step("a") is False  # planned under an earlier program: the step checks again
    assert win_backs(api, "a") == []
    assert api.get("/members/a").json["dormant"] is False


def test_a_changed_after_days_moves_the_dormant_day_without_rewriting_the_index(api, clock):
    api.program(PROGRAM)
    clock.set("2027-01-01T03:00:00Z")
    api.member("a")
    api.program({**PROGRAM, "dormancy": {"after_days": 60}})
    clock.set("2027-02-15T03:00:00Z")  # 45 days: dormant under 30, not under 60
    local.run_job("win_back_dormant_members")
    assert win_backs(api, "a") == []
    clock.set("2027-03-02T03:00:00Z")  # 60 days
    local.run_job("win_back_dormant_members")
    assert win_backs(api, "a")[0]["data"]["dormant_since"] == "2027-03-02T03:00:00Z"
    # a shorter after_days later does not make a second spell of the same one
    api.program({**PROGRAM, "dormancy": {"after_days": 10}})
    clock.advance(days=1)
    local.run_job("win_back_dormant_members")
    assert len(win_backs(api, "a")) == 1


def test_the_step_passes_over_erased_active_and_won_back_members(api, clock):
    api.program(PROGRAM)
    clock.set("2027-01-01T03:00:00Z")
    api.member("gone")
    api.member("active")
    clock.set("2027-02-15T03:00:00Z")
    api.delete("/members/gone", key="admin")
    earn(api, "active", "o1", 1000)  # after the run was planned, say
    assert step("gone") is False
    assert step("unknown") is False
    assert step("active") is False
    assert win_backs(api, "active") == []
    clock.set("2027-03-20T03:00:00Z")
    assert step("active") is True
    assert step("active") is False  # won back in this spell


def test_the_job_reads_the_members_who_became_dormant_not_all_members(api, clock):
    api.program(PROGRAM)
    clock.set("2027-01-01T03:00:00Z")
    for i in range(3):
        api.member(f"old{i}")
    clock.set("2027-02-20T03:00:00Z")
    for i in range(12):
        api.member(f"new{i}")
    read = Counter()
    client = services().store.client
    asked: dict = {}

    def remember(params, model, **_):
        asked.update(index=params.get("IndexName") if model.name == "Query" else None)

    def count(parsed, model, **_):
        if model.name == "Query":
            read[asked["index"] or "table"] += len(parsed.get("Items", []))
        elif model.name == "BatchGetItem":
            read["batch"] += sum(len(v) for v in parsed.get("Responses", {}).values())

    client.meta.events.register("provide-client-params.dynamodb", remember)
    client.meta.events.register("after-call.dynamodb", count)
    try:
        local.run_job("win_back_dormant_members")
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb", remember)
        client.meta.events.unregister("after-call.dynamodb", count)
    assert read[ACTIVITY_INDEX] == 3  # the three who became dormant, none of the twelve others
    assert set(read) <= {ACTIVITY_INDEX, "batch", "table"} and read["batch"] <= 3 * 2
    assert [len(win_backs(api, f"old{i}")) for i in range(3)] == [1, 1, 1]
    # won back: out of the index until their next activity
    entries = []
    for shard in range(services().job_plans.shards):
        entries += services().store.client.query(
            TableName=services().store.table,
            IndexName=ACTIVITY_INDEX,
            KeyConditionExpression="activity_shard = :s",
            ExpressionAttributeValues={":s": {"S": str(shard)}},
        )["Items"]
    assert sorted(e["pk"]["S"] for e in entries) == sorted(f"MEMBER#new{i}" for i in range(12))


def test_an_earn_that_ends_a_spell_is_still_one_write_request(api, clock):
    api.program(PROGRAM)
    clock.set("2027-01-01T03:00:00Z")
    api.member("a")
    clock.set("2027-03-01T03:00:00Z")
    local.run_job("win_back_dormant_members")
    assert api.get("/members/a").json["dormant"] is True
    calls = Counter()
    client = services().store.client

    def count(model, **_):
        calls[model.name] += 1

    client.meta.events.register("before-call.dynamodb", count)
    try:
        earn(api, "a", "o1", 1000)
    finally:
        client.meta.events.unregister("before-call.dynamodb", count)
    writes = {name: n for name, n in calls.items() if not name.startswith(("Get", "BatchGet", "Query"))}
    assert writes == {"TransactWriteItems": 1}
    assert api.get("/members/a").json["dormant"] is False
