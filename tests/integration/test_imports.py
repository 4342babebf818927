"""§25 imports through the API on moto: POST /imports, the job (run_job / the queues),
GET /imports/{id}."""

from __future__ import annotations

import json

import boto3
import pytest

from tests.checks import history
from tests.conftest import DEMO_PROGRAM

SPRING = "2027-01-15T03:00:00Z"


def jsonl(*lines) -> str:
    return "\n".join(line if isinstance(line, str) else json.dumps(line, ensure_ascii=False) for line in lines)


def start(api, data: str, **kw):
    response = api.post("/imports", {"format": "jsonl", "data": data}, key="admin", **kw)
    assert response.status == 202, response
    return response.json["import_id"]


def run(import_id=None):
    from chalicelib import local

    local.run_job("run_imports")


def report(api, import_id):
    response = api.get(f"/imports/{import_id}", key="admin")
    assert response.status == 200, response
    return response.json


@pytest.fixture
def program(demo, clock):
    return demo


def test_a_mixed_import_reports_each_line_and_applies_the_good_ones(program, clock):
    api = program
    api.member("old", email="old@example.com")
    data = jsonl(
        {"member_id": "m1", "name": "Kim", "email": "kim@example.com", "opening_balance": 5000},
        "",
        {"member_id": "m2", "name": "Lee", "phone": "010-1234-5678", "birthday": "1990-03-01"},
        '{"member_id": "m3", "name": ',  # line 4: not JSON
        "   ",
        {"member_id": "m4", "name": "Park", "email": "not-an-address"},  # line 6
        {"member_id": "m1", "name": "Kim again"},  # line 7: repeats line 1
        {"member_id": "old", "name": "Old"},  # line 8: exists
        {"member_id": "m5", "name": "Choi", "opening_balance": -1},  # line 9
        {"member_id": "m6", "name": "Jung", "referral_code": "ABC"},  # line 10
        {"member_id": "m7", "name": "Kang", "extra": 1},  # line 11: unknown field
        {"member_id": "m 8", "name": "Bad id"},  # line 12
        [1, 2],  # line 13: not an object
        {"member_id": "m9", "name": "Yoon", "opening_balance": 10, "opening_expires_at": "2020-01-01T00:00:00Z"},
        {"member_id": "m10", "name": "Lim", "lifetime_spend": 0, "opening_balance": 0},
        "",
    )
    import_id = start(api, data)
    assert report(api, import_id)["status"] == "running"
    run()
    got = report(api, import_id)
    errors = {e["line"]: e for e in got["errors"]}
    assert {k: v for k, v in got.items() if k != "errors"} | {"errors": sorted(errors)} == {
        "import_id": import_id,
        "status": "done",
        "lines": 13,
        "imported": 3,
        "skipped_existing": 2,
        "error_count": 8,
        "created_at": SPRING,
        "errors": [4, 6, 9, 10, 11, 12, 13, 14],
    }
    assert [e["line"] for e in got["errors"]] == sorted(errors)
    assert all(e["code"] == "VALIDATION_ERROR" for e in got["errors"])
    assert "not valid JSON" in errors[4]["message"]
    assert "email" in errors[6]["message"]
    assert "opening_balance" in errors[9]["message"]
    assert "referral_code" in errors[10]["message"]
    assert "extra" in errors[11]["message"]
    assert "member_id" in errors[12]["message"]
    assert "not a JSON object" in errors[13]["message"]
    assert "opening_expires_at" in errors[14]["message"]
    for bad in ("m3", "m4", "m5", "m6", "m7", "m9"):
        assert api.get(f"/members/{bad}").status == 404, bad
    m1 = api.get("/members/m1").json
    assert (m1["name"], m1["email"], m1["balance"], m1["lifetime_points"]) == ("Kim", "kim@example.com", 5000, 0)
    m2 = api.get("/members/m2").json
    assert (m2["phone"], m2["birthday"], m2["balance"], m2["tier"]) == ("010-1234-5678", "1990-03-01", 0, "새싹")
    assert api.get("/members/m10").json["balance"] == 0
    # no signup bonus, no welcome notification; 0 opening balance records nothing
    for member_id in ("m1", "m2", "m10"):
        assert api.get(f"/members/{member_id}/notifications", key="admin").json["items"] == [], member_id
    assert history(api, "m2") == [] and history(api, "m10") == []
    [lot] = history(api, "m1")
    assert (lot["type"], lot["points"], lot["reason"], lot["storefront"]) == ("adjust", 5000, "import", None)
    stats = api.get("/stats", key="admin").json
    assert stats["members"] == 4 and stats["members_by_tier"]["새싹"] == 4
    assert stats["points_adjusted"] == 5000 and stats["points_outstanding"] == 1000 + 5000
    # found by the lookups like any member
    assert [m["member_id"] for m in api.get("/members?phone=01012345678").json["items"]] == ["m2"]
    assert [m["member_id"] for m in api.get("/members?email=KIM@example.com").json["items"]] == ["m1"]


def test_running_the_same_import_again_changes_nothing(program, clock):
    api = program
    data = jsonl(
        {"member_id": "a", "name": "A", "opening_balance": 700, "lifetime_spend": 400000},
        {"member_id": "b", "name": "B"},
        {"member_id": "c", "name": ""},
    )
    first = start(api, data)
    run()
    before = {
        "stats": api.get("/stats", key="admin").json,
        "a": api.get("/members/a").json,
        "a_history": history(api, "a"),
        "b": api.get("/members/b").json,
    }
    again = start(api, data)
    run()
    run()  # and the job once more, with nothing open
    assert report(api, first)["imported"] == 2
    second = report(api, again)
    assert (second["status"], second["lines"], second["imported"], second["skipped_existing"]) == ("done", 3, 0, 2)
    assert [e["line"] for e in second["errors"]] == [3]
    after = {
        "stats": api.get("/stats", key="admin").json,
        "a": api.get("/members/a").json,
        "a_history": history(api, "a"),
        "b": api.get("/members/b").json,
    }
    assert after == before


def test_the_same_idempotency_key_answers_the_same_import(program):
    api = program
    body = {"format": "jsonl", "data": jsonl({"member_id": "a", "name": "A"})}
    first = api.post("/imports", body, key="admin", idem="import-1")
    replay = api.post("/imports", body, key="admin", idem="import-1")
    assert (first.status, replay.status, replay.json) == (202, 202, first.json)
    other = api.post("/imports", {**body, "data": "{}"}, key="admin", idem="import-1")
    assert (other.status, other.error) == (409, "IDEMPOTENCY_KEY_REUSED")
    assert api.post("/imports", body, key="admin", idem=None).error == "VALIDATION_ERROR"
    assert api.post("/imports", body, key="storefront").status == 403
    assert api.get(f"/imports/{first.json['import_id']}", key="storefront").status == 403


def test_opening_balance_lot_expires_when_given_or_after_expiry_days(program, clock):
    api = program
    api.program({**DEMO_PROGRAM, "expiry_days": 100})
    start(
        api,
        jsonl(
            {"member_id": "given", "name": "G", "opening_balance": 300, "opening_expires_at": "2027-02-01T00:00:00Z"},
            {"member_id": "default", "name": "D", "opening_balance": 400},
        ),
    )
    run()
    assert api.get("/members/given").json["expiring"] == [{"points": 300, "expires_at": "2027-02-01T00:00:00Z"}]
    assert api.get("/members/default").json["expiring"] == []
    clock.set("2027-02-01T00:00:00Z")
    from chalicelib import local

    local.run_job("expire_points")
    assert api.get("/members/given").json["balance"] == 0
    clock.set("2027-04-25T03:00:00Z")  # 100 days after the line was applied
    local.run_job("expire_points")
    assert api.get("/members/default").json["balance"] == 0
    assert api.get("/stats", key="admin").json["points_expired"] == 300 + 400


def test_lifetime_spend_gives_the_tier_at_once(program, clock):
    api = program
    start(
        api,
        jsonl(
            {"member_id": "gold", "name": "G", "lifetime_spend": 650000, "opening_balance": 100},
            {"member_id": "low", "name": "L", "lifetime_spend": 1000},
        ),
    )
    run()
    gold = api.get("/members/gold").json
    assert (gold["tier"], gold["quarter_spend"], gold["next_tier"]) == (
        "나무",
        650000,
        {"name": "숲", "spend_needed": 350000},
    )
    # the tier's own expiry (540 days) for the opening lot, as for any credit made in that tier
    [lot] = history(api, "gold")
    assert lot["points"] == 100
    assert api.get("/members/low").json["tier"] == "새싹"
    stats = api.get("/stats", key="admin").json
    assert stats["members_by_tier"]["나무"] == 1 and stats["members_by_tier"]["새싹"] == 1
    assert api.get("/members/gold/notifications", key="admin").json["items"] == []
    # the tier holds through the next quarter, then falls
    from chalicelib import local

    clock.set("2027-04-02T03:00:00Z")
    local.run_job("recompute_tiers")
    assert api.get("/members/gold").json["tier"] == "나무"
    clock.set("2027-07-02T03:00:00Z")
    local.run_job("recompute_tiers")
    assert api.get("/members/gold").json["tier"] == "새싹"


def test_data_over_5_mib_is_refused(program):
    api = program
    line = json.dumps({"member_id": "x", "name": "X"}) + "\n"
    just = line * (5 * 1024 * 1024 // len(line))
    assert len(just.encode()) <= 5 * 1024 * 1024
    accepted = api.post("/imports", {"format": "jsonl", "data": just}, key="admin")
    assert accepted.status == 202, accepted
    over = just + "x" * (5 * 1024 * 1024 - len(just.encode()) + 1)
    refused = api.post("/imports", {"format": "jsonl", "data": over}, key="admin")
    assert (refused.status, refused.error) == (400, "VALIDATION_ERROR")
    assert "5 MiB" in refused.json["error"]["message"]
    # other routes keep the 1 MiB limit
    assert api.post("/members", {"member_id": "big", "name": "x" * (1024 * 1024)}).status == 413
    for body in ({"format": "csv", "data": ""}, {"format": "jsonl"}, {"format": "jsonl", "data": "", "s3_key": "x"}):
        assert api.post("/imports", body, key="admin").error == "VALIDATION_ERROR", body


def test_an_upload_named_by_s3_key_is_imported(program):
    api = program
    from chalicelib import settings

    s3 = boto3.client("s3", region_name="ap-northeast-2")
    data = jsonl({"member_id": "s1", "name": "S", "opening_balance": 50}, {"member_id": "s2", "name": ""})
    s3.put_object(Bucket=settings.load().imports_bucket, Key="uploads/2027/members.jsonl", Body=data.encode())
    response = api.post("/imports", {"format": "jsonl", "s3_key": "uploads/2027/members.jsonl"}, key="admin")
    assert response.status == 202, response
    # the upload may be replaced: the import reads what was there when it was asked for
    s3.put_object(Bucket=settings.load().imports_bucket, Key="uploads/2027/members.jsonl", Body=b"{}")
    run()
    got = report(api, response.json["import_id"])
    assert (got["status"], got["lines"], got["imported"], [e["line"] for e in got["errors"]]) == ("done", 2, 1, [2])
    assert api.get("/members/s1").json["balance"] == 50
    # a finished import's file (personal data) is deleted at once; its report stays
    assert s3.list_objects_v2(Bucket=settings.load().imports_bucket, Prefix="imports/")["KeyCount"] == 0
    missing = api.post("/imports", {"format": "jsonl", "s3_key": "uploads/none.jsonl"}, key="admin")
    assert (missing.status, missing.error) == (400, "VALIDATION_ERROR")
    outside = api.post("/imports", {"format": "jsonl", "s3_key": "imports/x.jsonl"}, key="admin")
    assert (outside.status, outside.error) == (400, "VALIDATION_ERROR")


def test_at_most_100_errors_are_listed_first_by_line(program, monkeypatch):
    monkeypatch.setenv("DANGOL_IMPORT_CHUNK_LINES", "40")
    from chalicelib import runtime

    runtime.reset()
    api = program
    lines = [{"member_id": f"ok{n}", "name": "Ok"} for n in range(5)] + [{"member_id": "bad"}] * 150
    import_id = start(api, jsonl(*lines))
    run()
    got = report(api, import_id)
    assert (got["lines"], got["imported"], got["error_count"], len(got["errors"])) == (155, 5, 150, 100)
    assert [e["line"] for e in got["errors"]] == list(range(6, 106))


def test_the_queues_apply_an_import_without_the_schedule(program):
    api = program
    from chalicelib import local

    import_id = start(api, jsonl({"member_id": "q", "name": "Q"}))
    local.drain_queues()
    assert report(api, import_id)["status"] == "done"
    assert api.get("/members/q").status == 200
    assert api.get("/imports/01ARZ3NDEKTSV4RRFFQ69G5FAV", key="admin").status == 404
    assert api.get("/imports/nope", key="admin").status == 404


def test_an_empty_import_is_done(program):
    api = program
    import_id = start(api, "\n \n")
    run()
    got = report(api, import_id)
    assert (got["status"], got["lines"], got["imported"], got["errors"]) == ("done", 0, 0, [])


def test_an_import_with_webhooks_reads_its_members_within_the_batch_limit(program, clock):
    """With a webhook registered, every member read also asks whether there are webhooks:
    a chunk's batch of members still fits one BatchGetItem (it took 101 keys once)."""
    api = program
    hook = api.post("/webhooks", {"url": "http://127.0.0.1:9/hook", "events": ["points.adjusted"]}, key="admin")
    assert hook.status == 201, hook
    lines = [{"member_id": f"w{n:03d}", "name": "N", "opening_balance": 10} for n in range(150)]
    import_id = start(api, jsonl(*lines))
    # a container that has not read the program or the webhooks lately reads both with the members
    from chalicelib.runtime import services

    changes = services().ledger.changes
    changes.programs._cached = None
    changes._webhooks_known_until = 0.0
    run()
    done = report(api, import_id)
    assert (done["status"], done["imported"], done["errors"]) == ("done", 150, [])
