"""§24 webhooks through the API on moto, delivered over real HTTP to a receiver on
127.0.0.1 in this process (devtools/webhook_receiver.py), every signature checked
with the verification example of docs/webhooks.md, run as the page shows it."""

from __future__ import annotations

import datetime as dt
import json
import re
import time

import pytest

from chalicelib import local
from chalicelib.domain.calendar import parse_instant
from chalicelib.runtime import services
from chalicelib.storage import repository as keys
from chalicelib.webhooks import delivery as delivery_module
from chalicelib.webhooks import events as webhook_events
from chalicelib.webhooks.events import EVENT_TYPES
from devtools.webhook_receiver import Receiver
from tests.conftest import DEMO_PROGRAM, ROOT

ULID = re.compile(r"^[0-9A-Z]{26}$")
PERSONAL_KEYS = {"name", "email", "phone", "birthday"}
ALICE = {"name": "Alice Kim", "email": "alice@example.com", "phone": "+821055512345", "birthday": "1990-03-04"}


def doc_example():
    """The receiver-side verification example of docs/webhooks.md, exactly as printed."""
    text = (ROOT / "docs" / "webhooks.md").read_text()
    section = text[text.index("## Verifying a delivery") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len([line for line in code.splitlines() if line.strip()]) <= 10, "a ten-line example"
    namespace: dict = {}
    exec(compile(code, "docs/webhooks.md", "exec"), namespace)
    return namespace["verify"]


VERIFY = doc_example()


@pytest.fixture
def receiver():
    """The receiver; after the test, every payload it got is checked for personal data."""
    with Receiver() as running:
        yield running
    for received in running.requests:
        assert_no_personal_data(json.loads(received.body), received.body)


def subscribe(api, receiver, path: str, events=EVENT_TYPES) -> dict:
    made = api.post("/webhooks", {"url": receiver.url(path), "events": list(events)}, key="admin")
    assert made.status == 201, made
    return made.json


def deliveries(api, hook: dict) -> list[dict]:
    page = api.get(f"/webhooks/{hook['webhook_id']}/deliveries?limit=100", key="admin")
    assert page.status == 200, page
    return page.json["items"]


def check(received, hook: dict, now: dt.datetime | None = None) -> dict:
    """A delivery as the receiver got it: signed with the hook's secret, the event id in
    its header and body, the contract's shape, no personal data. Returns the body."""
    signature = received.headers["Dangol-Signature"]
    stamp = int(re.fullmatch(r"t=(\d+),v1=[0-9a-f]{64}", signature).group(1))
    assert VERIFY(hook["secret"], signature, received.body, now=stamp if now is None else now.timestamp())
    assert not VERIFY(hook["secret"], signature, received.body + b" ", now=stamp)
    assert not VERIFY("whsec_other", signature, received.body, now=stamp)
    body = json.loads(received.body)
    assert set(body) == {"event_id", "type", "created_at", "data"}
    assert received.headers["Dangol-Event-Id"] == body["event_id"] and ULID.match(body["event_id"])
    assert received.headers["Content-Type"] == "application/json"
    assert body["type"] in hook["events"]
    assert_no_personal_data(body, received.body)
    return body


def assert_no_personal_data(body: dict, raw: bytes) -> None:
    for value in ALICE.values():
        assert value.encode() not in raw and value.replace("+82", "0").encode() not in raw
    member_keys = set()

    def walk(node, inside: str = "") -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if inside != "coupon":  # a coupon's `name` is its template's
                    member_keys.add(key)
                walk(value, key)
        elif isinstance(node, list):
            for value in node:
                walk(value, inside)

    walk(body["data"])
    assert not member_keys & PERSONAL_KEYS, body


# -- registering --------------------------------------------------------------------


def test_register_list_and_delete_a_webhook(api, receiver):
    made = subscribe(api, receiver, "/ok", ["points.earned", "tier.changed", "points.earned"])
    assert set(made) == {"webhook_id", "url", "events", "secret", "created_at"}
    assert ULID.match(made["webhook_id"]) and re.fullmatch(r"whsec_[0-9a-f]{64}", made["secret"])
    assert made["events"] == ["points.earned", "tier.changed"] and made["url"] == receiver.url("/ok")
    other = api.post("/webhooks", {"url": "https://shop.example/hook", "events": ["member.enrolled"]}, key="admin")
    assert other.status == 201
    listed = api.get("/webhooks?limit=1", key="admin").json
    assert [h["webhook_id"] for h in listed["items"]] == [made["webhook_id"]] and listed["next_cursor"]
    rest = api.get(f"/webhooks?limit=1&cursor={listed['next_cursor']}", key="admin").json
    assert [h["webhook_id"] for h in rest["items"]] == [other.json["webhook_id"]]
    for item in listed["items"] + rest["items"]:
        assert "secret" not in item and set(item) == {"webhook_id", "url", "events", "created_at"}
    assert made["secret"] not in api.get("/webhooks", key="admin").body.decode()
    assert api.get("/webhooks").status == 403  # admin only
    assert api.post("/webhooks", {"url": "https://a.example", "events": ["member.enrolled"]}).status == 403
    assert api.delete(f"/webhooks/{made['webhook_id']}", key="admin").status == 204
    assert api.delete(f"/webhooks/{made['webhook_id']}", key="admin").error == "NOT_FOUND"
    assert api.get(f"/webhooks/{made['webhook_id']}/deliveries", key="admin").error == "NOT_FOUND"
    assert api.get("/webhooks/nope/deliveries", key="admin").error == "NOT_FOUND"
    assert [h["webhook_id"] for h in api.get("/webhooks", key="admin").json["items"]] == [other.json["webhook_id"]]


@pytest.mark.parametrize(
    "body",
    [
        {"url": "http://shop.example/hook", "events": ["member.enrolled"]},
        {"url": "ftp://shop.example/hook", "events": ["member.enrolled"]},
        {"url": "https://", "events": ["member.enrolled"]},
        {"url": "shop.example/hook", "events": ["member.enrolled"]},
        {"url": "https://user:pw@shop.example/hook", "events": ["member.enrolled"]},
        {"url": "http://127.0.0.1.evil.example/hook", "events": ["member.enrolled"]},
        {"url": "https://shop.example/" + "a" * 2000, "events": ["member.enrolled"]},
        {"url": "https://shop.example/hook", "events": []},
        {"url": "https://shop.example/hook", "events": ["points.spent"]},
        {"url": "https://shop.example/hook", "events": ["member.enrolled", "MEMBER.ENROLLED"]},
        {"url": "https://shop.example/hook"},
        {"url": "https://shop.example/hook", "events": "member.enrolled"},
        {"url": "https://shop.example/hook", "events": ["member.enrolled"], "secret": "mine"},
    ],
)
def test_bad_webhooks_are_refused_and_change_nothing(api, body):
    answer = api.post("/webhooks", body, key="admin")
    assert answer.status == 400 and answer.error == "VALIDATION_ERROR", answer
    assert api.get("/webhooks", key="admin").json["items"] == []


def test_plain_http_to_this_machine_only_outside_lambda(api, monkeypatch):
    for url in ("http://127.0.0.1:8080/hook", "http://localhost/hook"):
        assert api.post("/webhooks", {"url": url, "events": ["member.enrolled"]}, key="admin").status == 201
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "dangol-dev-api_handler")
    for url in ("http://127.0.0.1:8080/hook", "http://localhost/hook"):
        refused = api.post("/webhooks", {"url": url, "events": ["member.enrolled"]}, key="admin")
        assert refused.status == 400 and "outside AWS" in refused.json["error"]["message"]
    https = api.post("/webhooks", {"url": "https://shop.example/hook", "events": ["member.enrolled"]}, key="admin")
    assert https.status == 201


def test_at_most_twenty_webhooks(api):
    body = {"url": "https://shop.example/hook", "events": ["member.enrolled"]}
    made = [api.post("/webhooks", body, key="admin") for _ in range(20)]
    assert all(m.status == 201 for m in made)
    refused = api.post("/webhooks", body, key="admin")
    assert refused.status == 409 and refused.error == "WEBHOOK_LIMIT_REACHED", refused
    # deleting one that is not there (the Delete's condition) frees no place
    assert api.delete("/webhooks/01ARZ3NDEKTSV4RRFFQ69G5FAV", key="admin").status == 404
    assert api.post("/webhooks", body, key="admin").status == 409
    assert api.delete(f"/webhooks/{made[3].json['webhook_id']}", key="admin").status == 204
    assert api.post("/webhooks", body, key="admin").status == 201
    assert api.post("/webhooks", body, key="admin").status == 409
    assert len(api.get("/webhooks?limit=100", key="admin").json["items"]) == 20


def test_a_webhook_id_that_repeats_takes_another_and_overwrites_nothing(api, monkeypatch):
    from chalicelib.webhooks import registry

    first = api.post("/webhooks", {"url": "https://a.example/hook", "events": ["member.enrolled"]}, key="admin").json
    ids = iter([first["webhook_id"], "01ARZ3NDEKTSV4RRFFQ69G5FAV"])
    monkeypatch.setattr(registry, "new_id", lambda: next(ids))
    second = api.post("/webhooks", {"url": "https://b.example/hook", "events": ["points.earned"]}, key="admin")
    assert second.status == 201 and second.json["webhook_id"] == "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    stored = services().store.get(*keys.webhook_key(first["webhook_id"]))
    assert stored["url"] == "https://a.example/hook" and stored["secret"] == first["secret"]
    assert len(api.get("/webhooks", key="admin").json["items"]) == 2


# -- what is delivered -------------------------------------------------------------------


def test_every_event_type_is_delivered_signed_and_without_personal_data(api, clock, receiver):
    """Each of the twelve types, from the requests and jobs that make them, to a webhook
    subscribed to all; every payload is checked."""
    from chalicelib.storage.store import Commit

    hook = subscribe(api, receiver, "/all")
    api.program(
        {
            **DEMO_PROGRAM,
            "promotions": [],
            "dormancy": {"after_days": 30},
            "expiry_days": 60,
        }
    )
    assert (
        api.post(
            "/coupon-templates",
            {"template_id": "latte", "name": "Latte", "discount": {"type": "amount", "amount": 1000}},
            key="admin",
        ).status
        == 201
    )
    assert (
        api.post(
            "/rewards", {"reward_id": "cup", "name": "Tumbler", "points_cost": 1000, "stock": 5}, key="admin"
        ).status
        == 201
    )
    api.member("alice", **ALICE)
    earn = api.post("/members/alice/earn", {"order_id": "o-1", "amount": 400000})
    assert earn.status == 201 and earn.json["tier"] == "열매"
    assert api.post("/members/alice/activities", {"type": "review", "reference_id": "r-1"}).status == 201
    redeem = api.post("/members/alice/redeem", {"reward_id": "cup"})
    assert redeem.status == 201, redeem
    assert api.post(f"/members/alice/transactions/{redeem.json['transaction_id']}/reversal", {}).status == 201
    adjust = {"points": -5, "reason": "Alice Kim asked, alice@example.com"}
    assert api.post("/members/alice/adjustments", adjust, key="admin").status == 201
    coupon = api.post("/members/alice/coupons", {"template_id": "latte"}, key="admin").json
    used = api.post(
        f"/coupons/{coupon['code']}/redemption", {"member_id": "alice", "order_id": "c-1", "order_amount": 5000}
    )
    assert used.status == 201, used
    clock.advance(days=61)
    local.run_job("expire_points")
    local.run_job("win_back_dormant_members")
    assert api.post("/members/alice/earn", {"order_id": "o-2", "amount": 1000}).status == 201  # erased with points
    launch = Commit(services().store.table)
    launched = webhook_events.record_event(launch, "campaign.launched", {"campaign_id": "spring", "audience": 120})
    services().store.commit(launch)
    assert api.delete("/members/alice", key="admin").status == 204
    local.drain_queues()

    bodies = [check(r, hook, clock.now) for r in receiver.to("/all")]
    by_type: dict[str, list[dict]] = {}
    for body in bodies:
        by_type.setdefault(body["type"], []).append(body)
    assert set(by_type) == set(EVENT_TYPES), sorted(by_type)
    assert len({b["event_id"] for b in bodies}) == len(bodies)  # each event once
    tx_types = {
        t: sorted(b["data"]["transaction"]["type"] for b in by_type[t]) for t in by_type if t.startswith("points.")
    }
    assert tx_types["points.earned"] == ["activity", "bonus", "earn", "earn"]  # signup bonus, earns, the review
    assert tx_types["points.redeemed"] == ["redeem"] and tx_types["points.adjusted"] == ["adjust"]
    assert tx_types["points.expired"] == ["expire", "expire"]  # the expiry, then the erasure's forfeit
    assert "reason" not in by_type["points.adjusted"][0]["data"]["transaction"]  # free text: never sent
    assert (
        by_type["transaction.reversed"][0]["data"]["transaction"]["reversed_transaction_id"]
        == redeem.json["transaction_id"]
    )
    earned = next(b for b in by_type["points.earned"] if b["data"]["transaction"].get("order_id") == "o-1")
    assert earned["data"] == {"member_id": "alice", "transaction": {k: v for k, v in earn.json.items() if k != "tier"}}
    assert earned["created_at"] == "2027-01-15T03:00:00Z"
    assert by_type["tier.changed"][0]["data"] == {"member_id": "alice", "from": "새싹", "to": "열매"}
    assert by_type["coupon.issued"][0]["data"] == {"member_id": "alice", "coupon": coupon}
    assert by_type["coupon.used"][0]["data"]["coupon"]["status"] == "used"
    for member_event in ("member.enrolled", "member.dormant", "member.erased"):
        assert [b["data"] for b in by_type[member_event]] == [{"member_id": "alice"}]
    assert by_type["campaign.launched"][0] == {
        "event_id": launched["event_id"],
        "type": "campaign.launched",
        "created_at": launched["created_at"],
        "data": {"campaign_id": "spring", "audience": 120},
    }
    listed = deliveries(api, hook)
    assert len(listed) == len(bodies) and {d["status"] for d in listed} == {"delivered"}
    assert [d["event_id"] for d in listed] == sorted((d["event_id"] for d in listed), reverse=True)  # newest first
    assert all(d["attempts"] == 1 and d["last_status_code"] == 200 and d["last_attempt_at"] for d in listed)


def test_only_events_after_creation_and_of_the_types_subscribed(api, clock, receiver):
    api.program({**DEMO_PROGRAM, "promotions": []})
    api.member("early")
    api.post("/members/early/earn", {"order_id": "o-0", "amount": 1000})
    local.drain_queues()  # no webhook yet: nothing for anyone
    clock.advance(seconds=1)
    earned_only = subscribe(api, receiver, "/earned", ["points.earned"])
    enrolled_only = subscribe(api, receiver, "/enrolled", ["member.enrolled"])
    api.post("/members/early/earn", {"order_id": "o-1", "amount": 2000})
    api.member("late")
    local.drain_queues()
    earned = [check(r, earned_only) for r in receiver.to("/earned")]
    enrolled = [check(r, enrolled_only) for r in receiver.to("/enrolled")]
    assert sorted((b["data"]["member_id"], b["data"]["transaction"]["type"]) for b in earned) == [
        ("early", "earn"),
        ("late", "bonus"),
    ]
    assert [b["data"] for b in enrolled] == [{"member_id": "late"}]
    assert api.delete(f"/webhooks/{earned_only['webhook_id']}", key="admin").status == 204
    api.post("/members/early/earn", {"order_id": "o-2", "amount": 3000})
    local.drain_queues()
    assert len(receiver.to("/earned")) == 2  # deleted: nothing more


# -- retries -------------------------------------------------------------------------------


def adjusted(api, hook, receiver, path) -> dict:
    """One points.adjusted event to `hook`, attempted once; its delivery."""
    api.member("bob")
    assert api.post("/members/bob/adjustments", {"points": 7, "reason": "x"}, key="admin").status == 201
    local.drain_queues()
    (delivery,) = deliveries(api, hook)
    return delivery


def test_retried_with_growing_delays_then_failed_then_retried_by_hand(api, clock, receiver):
    hook = subscribe(api, receiver, "/fail", ["points.adjusted"])
    start = clock.now
    first = adjusted(api, hook, receiver, "/fail")
    assert first["status"] == "pending" and first["attempts"] == 1 and first["last_status_code"] == 500
    local.drain_queues()  # not due yet: no attempt
    assert len(receiver.to("/fail")) == 1
    attempts_at = [start]
    while deliveries(api, hook)[0]["status"] == "pending":
        due = parse_instant(deliveries(api, hook)[0]["next_attempt_at"])
        clock.now = due - dt.timedelta(seconds=1)
        local.drain_queues()  # a second early: still waiting
        assert len(receiver.to("/fail")) == len(attempts_at)
        clock.now = due
        local.drain_queues()
        assert len(receiver.to("/fail")) == len(attempts_at) + 1
        attempts_at.append(due)
    gaps = [(b - a).total_seconds() for a, b in zip(attempts_at, attempts_at[1:], strict=False)]
    assert gaps == sorted(gaps) and len(set(gaps)) == len(gaps), gaps  # growing
    assert gaps[0] <= 5 * 60  # the first retry within 5 minutes
    assert dt.timedelta(hours=24) <= attempts_at[-1] - attempts_at[0] <= dt.timedelta(hours=72)
    failed = deliveries(api, hook)[0]
    assert failed["status"] == "failed" and failed["attempts"] == len(attempts_at) == 8
    assert failed["last_status_code"] == 500 and failed["last_attempt_at"] == attempts_at[-1].strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    # every attempt: the same event id and body; the signature's t is the attempt's time
    sent = receiver.to("/fail")
    assert len({r.body for r in sent}) == 1 and len({r.headers["Dangol-Event-Id"] for r in sent}) == 1
    for received, at in zip(sent, attempts_at, strict=True):
        check(received, hook, at)
        assert received.headers["Dangol-Signature"].startswith(f"t={int(at.timestamp())},")
    clock.advance(days=5)
    local.drain_queues()
    assert len(receiver.to("/fail")) == 8  # failed: no more attempts
    # retried by hand: once more, at once
    event_id = failed["event_id"]
    path = f"/webhooks/{hook['webhook_id']}/deliveries/{event_id}/retry"
    receiver.answers["/fail"] = [200]
    retried = api.post(path, key="admin")
    assert retried.status == 202 and retried.json["status"] == "pending", retried
    assert api.post(path, key="admin").error == "VALIDATION_ERROR"  # pending: not failed
    local.drain_queues()
    done = deliveries(api, hook)[0]
    assert done["status"] == "delivered" and done["attempts"] == 9 and done["last_status_code"] == 200
    assert receiver.to("/fail")[-1].body == sent[0].body
    again = api.post(path, key="admin")
    assert again.status == 400 and again.error == "VALIDATION_ERROR"  # delivered: not failed
    assert api.post(
        f"/webhooks/{hook['webhook_id']}/deliveries/01ARZ3NDEKTSV4RRFFQ69G5FAV/retry", key="admin"
    ).error == ("NOT_FOUND")


def test_a_manual_retry_that_fails_is_failed_again_after_one_attempt(api, clock, receiver):
    hook = subscribe(api, receiver, "/fail", ["points.adjusted"])
    adjusted(api, hook, receiver, "/fail")
    for _ in range(8):
        clock.advance(days=1)
        local.drain_queues()
    (failed,) = deliveries(api, hook)
    assert failed["status"] == "failed" and failed["attempts"] == 8
    assert api.post(f"/webhooks/{hook['webhook_id']}/deliveries/{failed['event_id']}/retry", key="admin").status == 202
    local.drain_queues()
    (again,) = deliveries(api, hook)
    assert again["status"] == "failed" and again["attempts"] == 9 and len(receiver.to("/fail")) == 9
    # a retry by hand is sent even while the webhook's circuit is open
    services().store.put(
        {"pk": f"WEBHOOK#{hook['webhook_id']}", "sk": "CIRCUIT", "failures": 9, "open_until": "9999-01-01T00:00:00Z"}
    )
    assert api.post(f"/webhooks/{hook['webhook_id']}/deliveries/{failed['event_id']}/retry", key="admin").status == 202
    local.drain_queues()
    (third,) = deliveries(api, hook)
    assert third["status"] == "failed" and third["attempts"] == 10 and len(receiver.to("/fail")) == 10


def test_at_least_once_with_the_same_body_and_no_answer_is_retried(api, clock, receiver):
    hook = subscribe(api, receiver, "/flaky", ["points.adjusted"])
    receiver.answers["/flaky"] = [503, 302]
    adjusted(api, hook, receiver, "/flaky")
    clock.advance(minutes=1)
    local.drain_queues()  # a redirect is not followed: not delivered
    clock.advance(minutes=4)
    local.drain_queues()
    sent = receiver.to("/flaky")
    assert len(sent) == 3 and len({r.body for r in sent}) == 1
    (done,) = deliveries(api, hook)
    assert done["status"] == "delivered" and done["attempts"] == 3
    # a receiver that is not there: no status code, a reason
    dead = api.post("/webhooks", {"url": "http://127.0.0.1:9/gone", "events": ["points.adjusted"]}, key="admin").json
    api.post("/members/bob/adjustments", {"points": 1, "reason": "x"}, key="admin")
    local.drain_queues()
    (gone,) = deliveries(api, dead)
    assert gone["status"] == "pending" and gone["last_status_code"] is None and gone["last_error"]


def test_an_answer_slower_than_the_timeout_is_not_delivered(api, clock, receiver, monkeypatch):
    monkeypatch.setattr(delivery_module, "ATTEMPT_TIMEOUT", 0.3)
    services().webhook_delivery.sender = delivery_module.UrllibSender(timeout=0.3)
    hook = subscribe(api, receiver, "/slow", ["points.adjusted"])
    receiver.delay["/slow"] = 1.0
    (delivery,) = [adjusted(api, hook, receiver, "/slow")]
    assert delivery["status"] == "pending" and delivery["last_error"] == "TIMEOUT"


def test_a_failing_receiver_does_not_delay_another(api, clock, receiver):
    failing = subscribe(api, receiver, "/fail", ["points.adjusted"])
    healthy = subscribe(api, receiver, "/ok", ["points.adjusted"])
    api.member("bob")
    for n in range(30):
        api.post("/members/bob/adjustments", {"points": n + 1, "reason": "x"}, key="admin")
    local.drain_queues()
    assert len(receiver.to("/ok")) == 30 and {d["status"] for d in deliveries(api, healthy)} == {"delivered"}
    # the failing one was called until its circuit opened; the rest failed at once, unsent
    assert len(receiver.to("/fail")) == delivery_module.CIRCUIT_THRESHOLD
    listed = deliveries(api, failing)
    assert {d["status"] for d in listed} == {"pending"} and all(d["attempts"] == 1 for d in listed)
    assert sum(d["last_error"] == "CIRCUIT_OPEN" for d in listed) == 30 - delivery_module.CIRCUIT_THRESHOLD
    # after the back-off one attempt probes; the receiver is back: the circuit closes
    receiver.answers["/fail"] = [200] * 30
    clock.advance(minutes=1)
    local.drain_queues()
    assert {d["status"] for d in deliveries(api, failing)} == {"delivered"}


def test_a_slow_receiver_does_not_delay_another(api, clock, receiver, monkeypatch):
    """Each webhook's deliveries go in a thread of their own: the fast receiver has all of
    its deliveries while the slow one is still answering its first."""
    slow = subscribe(api, receiver, "/slow", ["points.adjusted"])
    fast = subscribe(api, receiver, "/fast", ["points.adjusted"])
    receiver.delay["/slow"] = 1.5
    api.member("bob")
    for n in range(5):
        api.post("/members/bob/adjustments", {"points": n + 1, "reason": "x"}, key="admin")
    started = time.time()
    local.drain_queues()
    assert len(receiver.to("/fast")) == 5 and len(receiver.to("/slow")) == 5
    assert max(r.at for r in receiver.to("/fast")) - started < 1.5  # before the slow one's first answer
    assert {d["status"] for d in deliveries(api, slow) + deliveries(api, fast)} == {"delivered"}


def test_the_doc_example_verifies_a_real_delivery(api, receiver):
    """Real time (no frozen clock): the example exactly as docs/webhooks.md prints it,
    with its default tolerance against this machine's clock."""
    hook = subscribe(api, receiver, "/ok", ["member.enrolled"])
    api.member("carol")
    local.drain_queues()
    (received,) = receiver.to("/ok")
    assert VERIFY(hook["secret"], received.headers["Dangol-Signature"], received.body)
    assert not VERIFY(hook["secret"], received.headers["Dangol-Signature"], received.body.replace(b"carol", b"carl"))
    assert not VERIFY(hook["secret"], received.headers["Dangol-Signature"], received.body, now=time.time() + 3600)


# -- written once, and the other conditions -----------------------------------------------


def test_an_event_id_that_repeats_decides_again_and_overwrites_nothing(api, receiver, monkeypatch):
    """The events item is written once: a change whose first event id is taken is decided
    again with new ids (the item that was there stays as it was)."""
    hook = subscribe(api, receiver, "/ok", ["points.earned", "member.enrolled"])
    api.member("first")  # its change's events: the signup bonus, then the enrolment
    local.drain_queues()
    (taken,) = [d for d in deliveries(api, hook) if d["type"] == "points.earned"]
    before = services().store.get(*keys.events_key(taken["event_id"]))
    real_event = webhook_events.event
    forced = iter([taken["event_id"]])

    def repeating(type_, data, created_at, event_id=None):
        return real_event(type_, data, created_at, next(forced, event_id))

    monkeypatch.setattr(webhook_events, "event", repeating)
    api.member("second")
    local.drain_queues()
    assert services().store.get(*keys.events_key(taken["event_id"])) == before
    assert sorted(json.loads(r.body)["data"]["member_id"] for r in receiver.to("/ok")) == [
        "first",
        "first",
        "second",
        "second",
    ]


def test_a_second_fan_out_changes_no_delivery(api, receiver):
    hook = subscribe(api, receiver, "/ok", ["points.adjusted"])
    delivered = adjusted(api, hook, receiver, "/ok")
    assert delivered["status"] == "delivered"
    store = services().store
    pk, sk = keys.events_key(delivered["event_id"])
    store.update(pk, sk, "SET #d = :d, #a = :a", {"#d": "webhook_due", "#a": "due_at"}, {":d": "EVENTS#0", ":a": "0"})
    assert services().webhook_delivery.fan_out(pk) == {}
    local.drain_queues()
    (again,) = deliveries(api, hook)
    assert again == delivered and len(receiver.to("/ok")) == 1


def test_a_fan_out_never_writes_a_stub_of_an_events_item_that_went(api, receiver, monkeypatch):
    """Between the fan-out's read and its update the events item may expire (TTL): the
    update that takes it out of the index must not write a stub of it."""
    hook = subscribe(api, receiver, "/ok", ["points.adjusted"])
    api.member("bob")
    monkeypatch.setattr(services().webhook_queue, "announce", lambda pk: None)  # the item waits in the index
    api.post("/members/bob/adjustments", {"points": 7, "reason": "x"}, key="admin")
    delivery = services().webhook_delivery
    store = services().store
    real_new_delivery = delivery._new_delivery
    gone = []

    def made_then_expired(hook_item, event):
        made = real_new_delivery(hook_item, event)
        pk, sk = keys.events_key(event["event_id"])
        store.client.delete_item(TableName=store.table, Key={"pk": {"S": pk}, "sk": {"S": sk}})
        gone.append((pk, sk))
        return made

    monkeypatch.setattr(delivery, "_new_delivery", made_then_expired)
    delivery.dispatch(grace=dt.timedelta(0))
    assert gone and all(store.get(pk, sk) is None for pk, sk in gone)
    assert [d["type"] for d in deliveries(api, hook)] == ["points.adjusted"]


def test_a_duplicate_or_early_message_makes_no_attempt(api, receiver):
    """A message for a delivery that is done, or not due yet (a duplicate, a message
    that outlived its retry's time), attempts nothing: the claim is conditioned on both."""
    hook = subscribe(api, receiver, "/ok", ["points.adjusted"])
    failing = subscribe(api, receiver, "/fail", ["points.adjusted"])
    api.member("bob")
    api.post("/members/bob/adjustments", {"points": 7, "reason": "x"}, key="admin")
    local.drain_queues()
    (delivered,) = deliveries(api, hook)
    (waiting,) = deliveries(api, failing)
    assert delivered["status"] == "delivered" and waiting["status"] == "pending" and waiting["next_attempt_at"]
    queue = services().webhook_queue
    for webhook, event in ((hook, delivered), (failing, waiting)):
        message = {"webhook_id": webhook["webhook_id"], "event_ids": [event["event_id"]]}
        queue.send([message, message])
    local.drain_queues()
    assert len(receiver.to("/ok")) == 1 and deliveries(api, hook)[0]["attempts"] == 1
    assert len(receiver.to("/fail")) == 1 and deliveries(api, failing)[0] == waiting


def test_a_late_answer_after_a_new_claim_changes_nothing(api, clock, receiver):
    """An attempt that outlived its claim (another worker attempted again and delivered)
    does not write its own result over the newer one."""
    hook = subscribe(api, receiver, "/ok", ["points.adjusted"])
    api.member("bob")
    announce = services().webhook_queue.announce
    services().webhook_queue.announce = lambda pk: None
    try:
        api.post("/members/bob/adjustments", {"points": 7, "reason": "x"}, key="admin")
    finally:
        services().webhook_queue.announce = announce
    delivery = services().webhook_delivery
    delivery.dispatch(grace=dt.timedelta(0))  # made, and its message queued (not read)
    (pending,) = deliveries(api, hook)
    stored_hook = services().store.get(*keys.webhook_key(hook["webhook_id"]))
    real_sender = delivery.sender

    class Overtaken:
        def post(self, url, body, headers):
            clock.advance(minutes=3)  # the claim's lease runs out; another worker claims and delivers
            delivery.sender = real_sender
            assert delivery.attempt(stored_hook, pending["event_id"]) is True
            return delivery_module.Answer(500, 0.1)

    delivery.sender = Overtaken()
    try:
        assert delivery.attempt(stored_hook, pending["event_id"]) is False
    finally:
        delivery.sender = real_sender
    (after,) = deliveries(api, hook)
    assert after["status"] == "delivered" and after["attempts"] == 2 and after["last_status_code"] == 200


def test_a_webhook_whose_slots_are_all_taken_waits_its_turn(api, receiver):
    hook = subscribe(api, receiver, "/ok", ["points.adjusted"])
    store = services().store
    for slot in range(delivery_module.SLOTS):
        pk, sk = keys.webhook_slot_key(hook["webhook_id"], slot)
        store.put({"pk": pk, "sk": sk, "lease_until": "9999-01-01T00:00:00Z", "owner": "another"})
    api.member("bob")
    api.post("/members/bob/adjustments", {"points": 7, "reason": "x"}, key="admin")
    local.drain_queues()
    assert receiver.to("/ok") == [] and deliveries(api, hook)[0]["attempts"] == 0
    # a release by a worker whose lease is not the one held changes nothing
    pk, sk = keys.webhook_slot_key(hook["webhook_id"], 0)
    services().webhook_delivery._release_slot(pk, sk, "not-the-owner")
    assert store.get(pk, sk)["owner"] == "another"
    for slot in range(delivery_module.SLOTS):
        store.client.delete_item(
            TableName=store.table,
            Key={
                k: {"S": v} for k, v in zip(("pk", "sk"), keys.webhook_slot_key(hook["webhook_id"], slot), strict=True)
            },
        )
    local.drain_queues()
    assert len(receiver.to("/ok")) == 1 and deliveries(api, hook)[0]["status"] == "delivered"


def test_a_request_is_not_slowed_or_failed_by_webhooks(api, receiver, monkeypatch):
    """Nothing of a delivery is on the request's path, and a queue that refuses the
    pointer fails no request (the dispatcher finds the events later)."""
    hook = subscribe(api, receiver, "/slow", ["member.enrolled"])
    receiver.delay["/slow"] = 2.0

    def refuse(pk):
        raise RuntimeError("queue down")

    monkeypatch.setattr(services().webhook_queue, "announce", refuse)
    started = time.monotonic()
    assert api.post("/members", {"member_id": "dave", "name": "Dave"}).status == 201
    assert time.monotonic() - started < 2.0
    assert receiver.to("/slow") == []
    local.drain_queues()  # the dispatcher fans the events item out
    assert [json.loads(r.body)["data"] for r in receiver.to("/slow")] == [{"member_id": "dave"}]
    assert deliveries(api, hook)[0]["status"] == "delivered"


def test_a_campaign_launch_is_announced_once_with_its_audience(api, receiver):
    """§24 `campaign.launched`: recorded in the transaction that completes the launch (sets
    the audience), so a launch run again announces nothing more."""
    hook = subscribe(api, receiver, "/campaigns", events=["campaign.launched"])
    api.program(DEMO_PROGRAM)
    for member_id in ("m1", "m2", "m3"):
        api.member(member_id, name="N")
    arms = [{"name": "control", "weight": 50, "reward": None}, {"name": "double", "weight": 50, "reward": None}]
    body = {"campaign_id": "spring", "name": "Spring", "starts_at": "2020-01-01T00:00:00Z"}
    made = api.post("/campaigns", {**body, "ends_at": "2099-01-01T00:00:00Z", "arms": arms}, key="admin")
    assert made.status == 201, made
    local.run_job("launch_campaigns")
    local.run_job("launch_campaigns")  # nothing more to launch, nothing more to announce
    local.drain_queues()
    campaign = api.get("/campaigns/spring", key="admin").json
    assert campaign["audience"] == 3
    bodies = [check(r, hook) for r in receiver.to("/campaigns")]
    assert [(b["type"], b["data"], b["created_at"]) for b in bodies] == [
        ("campaign.launched", {"campaign_id": "spring", "audience": 3}, campaign["launched_at"])
    ]
