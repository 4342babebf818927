"""The refresh_analytics job (§17-§21) on moto: what it stores, and that a second refresh
writes to a member only what changed. Facts are put straight into a stand-in engine
(tests/unit/analytics_facts.py); the members' profiles are real profile items."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter

import pytest

from chalicelib import aws as aws_clients
from chalicelib import settings
from chalicelib.analytics import refresh
from chalicelib.domain.member import Member
from chalicelib.jobs import handlers
from chalicelib.storage import repository as keys
from chalicelib.storage.store import Store, member_pk
from tests.unit.analytics_facts import FactsEngine
from tests.unit.test_analytics_queries import AS_OF, cafe

AS_OF_TEXT = "2027-05-10T03:00:00Z"
LATER = AS_OF + dt.timedelta(hours=1)
MEMBER_WRITES = ("PutItem", "UpdateItem", "DeleteItem")


class CountingClient:
    """The DynamoDB client, recording every write as (operation, pk, sk)."""

    def __init__(self, client):
        self.client = client
        self.writes: list[tuple[str, str, str]] = []
        self.scans = 0

    def __getattr__(self, name):
        return getattr(self.client, name)

    def _record(self, operation, kwargs):
        item = kwargs.get("Item") or kwargs.get("Key")
        self.writes.append((operation, item["pk"]["S"], item["sk"]["S"]))

    def put_item(self, **kwargs):
        self._record("PutItem", kwargs)
        return self.client.put_item(**kwargs)

    def update_item(self, **kwargs):
        self._record("UpdateItem", kwargs)
        return self.client.update_item(**kwargs)

    def delete_item(self, **kwargs):
        self._record("DeleteItem", kwargs)
        return self.client.delete_item(**kwargs)

    def batch_write_item(self, **kwargs):
        for requests in kwargs["RequestItems"].values():
            for request in requests:
                if "PutRequest" in request:
                    self._record("BatchWriteItem/Put", {"Item": request["PutRequest"]["Item"]})
                else:
                    self._record("BatchWriteItem/Delete", request["DeleteRequest"])
        return self.client.batch_write_item(**kwargs)

    def scan(self, **kwargs):
        self.scans += 1
        return self.client.scan(**kwargs)

    def member_writes(self) -> Counter:
        """Writes by member: to its partition, or to a segment's item naming it."""
        by_member: Counter = Counter()
        for _, pk, sk in self.writes:
            if pk.startswith("MEMBER#"):
                by_member[pk[len("MEMBER#") :]] += 1
            elif pk.startswith("SEGMENT#") and sk.startswith("M#"):
                by_member[sk[2:]] += 1
        return by_member


@pytest.fixture
def store(aws):
    client = CountingClient(aws_clients.client("dynamodb"))
    return Store(client, settings.load().table_name)


def enrol(store: Store, member_id: str, created: str, tier: str = "basic", erased: bool = False) -> None:
    member = Member(member_id, None, None, None, None, None, f"{created}T03:00:00Z", tier, erased=erased)
    store.put(keys.profile_item(member, 8))


def define(store: Store, segment_id: str, rules: list[dict]) -> None:
    item = {"segment_id": segment_id, "name": segment_id, "rules": rules, "created_at": "2027-01-01T00:00:00Z"}
    pk, sk = keys.segment_definition_key(segment_id)
    store.put({"pk": pk, "sk": sk, **item})
    pk, sk = keys.segment_listing_key(segment_id)
    store.put({"pk": pk, "sk": sk, **item})


def profile(store: Store, member_id: str) -> dict:
    return store.get(*keys.profile_key(member_id))


@pytest.fixture
def program(store):
    """The cafe's facts, its live members' profiles (and G's, erased) and two segments."""
    facts = cafe()
    for member_id in "ABCDE":
        enrol(store, member_id, "2027-01-05")
    enrol(store, "F", "2026-05-01", tier="gold")
    enrol(store, "G", "2027-02-10", erased=True)
    enrol(store, "H", "2027-05-03")
    define(store, "coffee", [{"field": "bought_category", "op": "eq", "value": "coffee"}])
    define(store, "big", [{"field": "clv", "op": "gte", "value": 4000}])
    store.client.writes.clear()
    return facts


def members_of(store: Store, segment_id: str) -> list[str]:
    return [item["member_id"] for item in store.query_all(keys.segment_pk(segment_id), "M#")]


def test_a_refresh_stores_every_result_and_the_refresh_item_last(store, program):
    report = refresh.refresh(program, store, AS_OF)
    assert report["members"] == 7 and report["segments"] == 2
    assert store.client.writes[-1] == ("PutItem", "ANALYTICS", "REFRESH")
    assert store.client.scans == 0
    done = store.get(*keys.analytics_refresh_key())
    assert done["as_of"] == AS_OF_TEXT and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", done["finished_at"])

    insights = store.get(*keys.insights_key("D", 0))
    assert {
        k: insights[k] for k in ("recency_days", "frequency", "monetary", "clv", "rfm", "rfm_segment", "as_of")
    } == {
        "recency_days": 68,
        "frequency": 3,
        "monetary": 4000,
        "clv": 4000,
        "rfm": {"r": 1, "f": 4, "m": 3},
        "rfm_segment": "at_risk",
        "as_of": AS_OF_TEXT,
    }
    unscored = store.get(*keys.insights_key("E", 0))
    assert "rfm" not in unscored and "recency_days" not in unscored and unscored["clv"] == 0  # nulls absent
    assert store.get(*keys.insights_key("G", 0)) is None  # erased: no insight

    rfm = store.get(*keys.analytics_rfm_key())
    assert rfm["as_of"] == AS_OF_TEXT
    assert [(i["rfm_segment"], i["members"], i["avg_clv"]) for i in rfm["items"]] == [
        ("champions", 0, 0),
        ("loyal", 0, 0),
        ("promising", 0, 0),
        ("at_risk", 1, 4000),
        ("hibernating", 1, 500),
        ("needs_attention", 2, 3800),
    ]

    may = store.get(*keys.summary_month_key("2027-05"))
    assert (may["from"], may["to"], may["members_at_end"], may["purchase_amount"]) == (
        "2027-05-01",
        "2027-05-10",
        7,
        17600,
    )
    assert (may["active_rate"], may["repeat_rate"], may["redemption_rate"], may["breakage_rate"]) == (
        "0.2857",
        "0.5000",
        "0.1667",
        "0.5889",
    )
    months = [item["sk"] for item in store.query_all("ANALYTICS", keys.SUMMARY_MONTH_PREFIX)]
    assert months == [
        f"SUMMARY#MONTH#{m}"
        for m in [
            "2026-05",
            "2026-06",
            "2026-07",
            "2026-08",
            "2026-09",
            "2026-10",
            "2026-11",
            "2026-12",
            "2027-01",
            "2027-02",
            "2027-03",
            "2027-04",
            "2027-05",
        ]
    ]
    april = store.get(*keys.summary_month_key("2027-04"))
    assert (april["to"], april["purchases"], april["purchase_amount"], april["active_members"]) == (
        "2027-04-30",
        1,
        500,
        1,
    )
    assert (april["points_earned"], april["redemption_rate"]) == (5, "0.0000")
    june = store.get(*keys.summary_month_key("2026-06"))  # F only, nothing bought or earned
    assert (june["members_at_end"], june["active_rate"], june["average_order_value"]) == (1, "0.0000", 0)
    assert "repeat_rate" not in june and "redemption_rate" not in june  # null rates: stored absent
    week = store.get(*keys.summary_days_key(7))
    assert (week["from"], week["to"], week["purchases"], week["purchase_amount"]) == (
        "2027-05-04",
        "2027-05-10",
        3,
        17000,
    )
    year = store.get(*keys.summary_days_key(365))
    assert (year["from"], year["purchases"]) == ("2026-05-11", 8)  # F's 2026-05-10 purchase is a day early

    cohorts = {item["cohort"]: (item["members"], item["active"]) for item in store.query_all("ANALYTICS", "COHORT#")}
    assert cohorts == {"2026-05": (1, [1] + [0] * 12), "2027-01": (5, [0, 0, 1, 1, 2]), "2027-05": (1, [0])}

    # segments: coffee = A (F's coffee is outside the 365 dates); big = clv >= 4000: B, D, F
    assert members_of(store, "coffee") == ["A"] and members_of(store, "big") == ["B", "D", "F"]
    big = store.get(*keys.segment_listing_key("big"))
    assert (big["members"], big["avg_clv"], big["as_of"]) == (3, 5000, AS_OF_TEXT)  # (4000 + 4000 + 7000) / 3
    assert profile(store, "A")["segments"] == ["coffee"] and profile(store, "A")["version"] == 2
    assert profile(store, "F")["segments"] == ["big"]
    assert profile(store, "C")["segments"] == [] and profile(store, "C")["version"] == 1  # unchanged: not written
    assert "segments" not in profile(store, "G") or profile(store, "G")["segments"] == []


def test_a_second_refresh_writes_only_the_member_that_changed(store, program):
    refresh.refresh(program, store, AS_OF)
    first = store.client.member_writes()
    assert set(first) == set("ABCDEFH")  # every insight is new; segments for A, B, D, F
    # the member items went out in BatchWriteItem requests, all before the refresh item
    assert sum(op.startswith("BatchWriteItem/") for op, _, _ in store.client.writes) == 7 + 4 + 2
    assert store.client.writes[-1] == ("PutItem", *keys.analytics_refresh_key())
    store.client.writes.clear()

    refresh.refresh(program, store, LATER)  # nothing changed
    assert store.client.member_writes() == Counter()

    (f_purchase,) = [
        row[0]
        for row in program.connection.execute(
            "SELECT transaction_id FROM transactions WHERE member_id = 'F' AND type = 'earn'"
        ).fetchall()
    ]
    program.refund(f_purchase, 4000, on="2027-05-10")  # F's clv 7000 -> 3000: leaves `big`
    store.client.writes.clear()
    refresh.refresh(program, store, LATER)
    assert store.client.member_writes() == Counter({"F": 3})
    assert sorted(op for op, pk, sk in store.client.writes if "F" in (pk[7:], sk[2:])) == [
        "BatchWriteItem/Delete",
        "BatchWriteItem/Put",
        "UpdateItem",
    ]  # SEGMENT#big/M#F, INSIGHTS, profile segments (a conditional update: never batched)
    assert store.get(*keys.insights_key("F", 0))["clv"] == 3000
    assert profile(store, "F")["segments"] == [] and profile(store, "F")["version"] == 3
    big = store.get(*keys.segment_listing_key("big"))
    assert (big["members"], big["avg_clv"]) == (2, 4000)


def test_with_several_senders_every_write_lands_before_the_refresh_item(store, program):
    """Writers > 1 (AWS: DANGOL_REFRESH_WRITERS): the member items and the profiles' conditional
    updates go out from sender threads; all of them are made, and counted, before the refresh
    item; the same refresh again finds nothing to write."""
    report = refresh.refresh(program, store, AS_OF, writers=4)
    assert set(store.client.member_writes()) == set("ABCDEFH")
    updates = [pk for op, pk, sk in store.client.writes if op == "UpdateItem" and sk == "PROFILE"]
    assert sorted(pk[len("MEMBER#") :] for pk in updates) == ["A", "B", "D", "F"]
    assert report["writes"]["profile_segments"] == 4
    assert store.client.writes[-1] == ("PutItem", *keys.analytics_refresh_key())
    assert all(profile(store, m)["segments"] for m in "ABDF")
    store.client.writes.clear()
    refresh.refresh(program, store, LATER, writers=4)
    assert store.client.member_writes() == Counter()


def test_an_erased_member_leaves_segments_and_lists(store, program):
    refresh.refresh(program, store, AS_OF)
    program.erase("F", on="2027-05-10")
    store.update(member_pk("F"), "PROFILE", "SET #e = :t", {"#e": "erased"}, {":t": True})
    refresh.refresh(program, store, LATER)
    assert members_of(store, "big") == ["B", "D"]
    assert profile(store, "F")["segments"] == []
    cohorts = {item["cohort"] for item in store.query_all("ANALYTICS", "COHORT#")}
    assert cohorts == {"2027-01", "2027-05"}  # F's cohort had only F: its item is gone
    may = store.get(*keys.summary_month_key("2027-05"))
    assert (may["members_at_end"], may["purchases"]) == (6, 4)
    year = store.get(*keys.summary_days_key(365))
    assert year["purchases"] == 8  # purchases stay program-wide


def test_a_deleted_segment_is_cleaned_from_members_by_the_next_refresh(store, program):
    refresh.refresh(program, store, AS_OF)
    store.client.delete_item(TableName=store.table, Key={"pk": {"S": "SEGMENTS"}, "sk": {"S": "coffee"}})
    refresh.refresh(program, store, LATER)
    assert members_of(store, "coffee") == []
    assert profile(store, "A")["segments"] == []
    assert store.get(*keys.segment_listing_key("coffee")) is None  # not recreated


def test_run_job_refresh_analytics_goes_through_the_analytics_queue(aws, monkeypatch):
    from chalicelib import local
    from chalicelib.runtime import services

    facts = FactsEngine()
    facts.member("A", "2027-01-05")
    facts.purchase("A", "2027-05-01", 1200)
    monkeypatch.setattr(refresh, "current_engine", lambda: facts)
    from chalicelib import clock

    monkeypatch.setattr(clock, "now", lambda: AS_OF)
    ran = []
    run_analytics_refresh = handlers.run_analytics_refresh
    monkeypatch.setattr(handlers, "run_analytics_refresh", lambda event: ran.append(1) or run_analytics_refresh(event))
    local.run_job("refresh_analytics")
    assert ran == [1]  # the refresh's own function ran it
    done = services().store.get(*keys.analytics_refresh_key())
    assert done["as_of"] == AS_OF_TEXT and done["members"] == 1
    assert services().store.get(*keys.insights_key("A", 0))["clv"] == 1200


def test_a_refresh_message_left_on_the_job_queue_is_sent_on_to_the_analytics_queue(aws, monkeypatch):
    """A refresh queued on the job queue before the refresh had a queue of its own still runs,
    in the refresh's function."""
    from chalicelib import clock, local
    from chalicelib.runtime import services

    facts = FactsEngine()
    facts.member("A", "2027-01-05")
    monkeypatch.setattr(refresh, "current_engine", lambda: facts)
    monkeypatch.setattr(clock, "now", lambda: AS_OF)
    services().job_worker.queue.send([{"job": "refresh_analytics"}])
    ran = []
    run_analytics_refresh = handlers.run_analytics_refresh
    monkeypatch.setattr(handlers, "run_analytics_refresh", lambda event: ran.append(1) or run_analytics_refresh(event))
    local.drain_queues()
    assert ran == [1]
    assert services().store.get(*keys.analytics_refresh_key())["members"] == 1
    sqs = services().analytics_queue.sqs
    for name in (settings.load().analytics_queue_name, settings.load().jobs_queue_name):
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []) == []


def test_the_analytics_function_refuses_a_message_that_is_not_a_refresh(aws):
    class Record:
        body = '{"job": "expire_points"}'

        def to_dict(self):
            return {"messageId": "m-1"}

    assert handlers.run_analytics_refresh([Record()]) == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}


def test_the_segments_a_refresh_set_survive_the_members_next_commands(demo):
    """Profile `segments` ride through every profile write of the ledger (Member carries them),
    and the refresh's version bump makes a command that read the profile before decide again."""
    from chalicelib.runtime import services

    demo.member("ann")
    store = services().store
    facts = FactsEngine()
    facts.member("ann", "2027-01-05")
    facts.purchase("ann", "2027-05-01", 5000, items=[("SKU-1", "coffee", 5000)])
    define(store, "coffee", [{"field": "bought_category", "op": "eq", "value": "coffee"}])
    before = profile(store, "ann")["version"]
    refresh.refresh(facts, store, AS_OF)
    assert profile(store, "ann")["segments"] == ["coffee"]
    assert profile(store, "ann")["version"] == before + 1
    assert demo.post("/members/ann/earn", {"order_id": "O-1", "amount": 5000}).status == 201
    assert profile(store, "ann")["segments"] == ["coffee"]


def test_a_refresh_turns_the_automatic_collections_off_and_collects_young_objects_itself(store, program, monkeypatch):
    import gc

    enabled_while_writing = []
    collected = []
    read_member_states = refresh.results.read_member_states

    def reading(*args, **kwargs):
        enabled_while_writing.append(gc.isenabled())
        return read_member_states(*args, **kwargs)

    monkeypatch.setattr(refresh.results, "read_member_states", reading)
    monkeypatch.setattr(refresh.gc, "collect", lambda generation=2: collected.append(generation))
    assert gc.isenabled()
    refresh.refresh(program, store, AS_OF)
    assert enabled_while_writing == [False]  # the members' values are not walked again and again
    assert collected and set(collected) == {1}  # the young objects only, between chunks
    assert gc.isenabled()  # back on


def test_a_refresh_that_fails_turns_the_collections_back_on(store, program, monkeypatch):
    import gc

    def failing(*args, **kwargs):
        assert not gc.isenabled()
        raise RuntimeError("the table went away")

    monkeypatch.setattr(refresh.results, "read_member_states", failing)
    with pytest.raises(RuntimeError, match="went away"):
        refresh.refresh(program, store, AS_OF)
    assert gc.isenabled()


def test_a_refresh_leaves_the_collections_off_when_they_were_off(store, program):
    import gc

    gc.disable()
    try:
        refresh.refresh(program, store, AS_OF)
        assert not gc.isenabled()
    finally:
        gc.enable()
