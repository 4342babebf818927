"""The run book of tracked job runs (`RunBook`): one count on the run item and
one item per open part, so the run item stays small at any size of the run;
parts delivered twice count once; exactly one close finds a run complete, also
when closes are delivered twice, interleaved, or killed between their writes;
a run begun again after its lease forgets the parts of the attempt before."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest

from chalicelib import aws as aws_clients
from chalicelib import settings
from chalicelib.jobs.pipeline import RUN_PK, RunBook

NOW = dt.datetime(2027, 3, 1, 0, 40, tzinfo=dt.UTC)
LEASE = dt.timedelta(hours=20)
RUN = "statements#2027-03"


class Interrupted(BaseException):
    """The caller is killed here (nothing after it runs)."""


class Paused:
    """One caller's DynamoDB client: just before its `nth` call of `operation`,
    `between` runs (another caller's step, or the caller's end)."""

    def __init__(self, client, operation: str, nth: int, between: Callable[[], None]):
        self.client, self.operation, self.nth, self.between = client, operation, nth, between
        self.seen = 0

    def __getattr__(self, name: str):
        attr = getattr(self.client, name)
        if name != self.operation:
            return attr

        def call(**kwargs):
            self.seen += 1
            if self.seen == self.nth:
                self.between()
            return attr(**kwargs)

        return call


@pytest.fixture
def client(aws):
    return aws_clients.client("dynamodb")


@pytest.fixture
def runs(client) -> RunBook:
    return RunBook(client, settings.load().table_name)


def book(client, operation: str, nth: int, between: Callable[[], None]) -> RunBook:
    return RunBook(Paused(client, operation, nth, between), settings.load().table_name)


def run_item(client, run_id: str = RUN) -> dict:
    return client.get_item(
        TableName=settings.load().table_name, Key={"pk": {"S": RUN_PK}, "sk": {"S": run_id}}, ConsistentRead=True
    )["Item"]


def open_count(client, run_id: str = RUN) -> int:
    return int(run_item(client, run_id)["open_count"]["N"])


def part_items(client, run_id: str = RUN) -> list[dict]:
    items: list[dict] = []
    kwargs = {
        "TableName": settings.load().table_name,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :run)",
        "ExpressionAttributeValues": {":pk": {"S": RUN_PK}, ":run": {"S": run_id + "#"}},
    }
    while True:
        page = client.query(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_an_add_delivered_twice_counts_once(client, runs):
    assert runs.begin(RUN, ["s0"], NOW, LEASE)
    runs.add(RUN, ["s0@page"])
    runs.add(RUN, ["s0@page"])  # the parent task delivered again hands off the same page
    assert open_count(client) == 2
    assert not runs.close(RUN, "s0", NOW)
    assert runs.close(RUN, "s0@page", NOW)
    assert runs.finished(RUN)


def test_a_close_delivered_twice_returns_false_and_lowers_the_count_once(client, runs):
    assert runs.begin(RUN, ["s0", "s1"], NOW, LEASE)
    assert not runs.close(RUN, "s0", NOW)
    assert not runs.close(RUN, "s0", NOW)
    assert open_count(client) == 1
    assert not runs.finished(RUN)
    assert runs.close(RUN, "s1", NOW)
    assert not runs.close(RUN, "s1", NOW)  # after the run finished


def test_exactly_one_of_many_closes_finds_the_run_complete(client, runs):
    parts = [f"s{i}" for i in range(4)]
    assert runs.begin(RUN, parts, NOW, LEASE)
    pages = [f"{part}@{page}" for part in parts for page in range(5)]
    for part in parts:
        runs.add(RUN, [p for p in pages if p.startswith(part + "@")])
    # every close delivered three times, in an order where duplicates come late and early
    deliveries = [p for p in parts + pages for _ in range(3)]
    deliveries = deliveries[1::2] + deliveries[0::2]
    assert len([p for p in deliveries if runs.close(RUN, p, NOW)]) == 1
    assert runs.finished(RUN)
    assert open_count(client) == 0 and part_items(client) == []


def test_two_closes_that_both_read_the_count_at_0_finish_the_run_once(client, runs):
    """Close A lowered the count to 0 and read it; before A sets `finished_at`,
    A's message delivered again closes (its part is gone, the count is 0) and
    finishes the run. A's own write must not finish it a second time."""
    assert runs.begin(RUN, ["s0", "s1"], NOW, LEASE)
    assert not runs.close(RUN, "s0", NOW)
    redelivered: list[bool] = []
    first = book(client, "update_item", 1, lambda: redelivered.append(runs.close(RUN, "s1", NOW)))
    assert not first.close(RUN, "s1", NOW)
    assert redelivered == [True]


def test_a_close_killed_before_it_finished_the_run_finishes_it_when_delivered_again(client, runs):
    assert runs.begin(RUN, ["s0"], NOW, LEASE)

    def killed() -> None:
        raise Interrupted

    # killed after its transaction closed the part, before it read the count
    with pytest.raises(Interrupted):
        book(client, "get_item", 2, killed).close(RUN, "s0", NOW)
    assert open_count(client) == 0 and not runs.finished(RUN)
    assert runs.close(RUN, "s0", NOW)
    assert runs.finished(RUN)


def test_the_run_item_stays_small_however_many_parts_are_open(client, runs):
    parts = [f"s0@{i:012x}" for i in range(600)]
    assert runs.begin(RUN, ["s0"], NOW, LEASE)
    small = len(json.dumps(run_item(client)))
    runs.add(RUN, parts)
    assert open_count(client) == 601
    assert len(part_items(client)) == 601
    # what grew is the count's digits, not a set of the parts (600 of them: ~12 KB)
    assert len(json.dumps(run_item(client))) <= small + 2 < 1024
    assert not runs.close(RUN, "s0", NOW)
    assert [p for p in parts if runs.close(RUN, p, NOW)] == [parts[-1]]
    assert len(json.dumps(run_item(client))) < 1024
    assert part_items(client) == []


def test_a_run_begun_again_after_its_lease_forgets_the_parts_of_the_attempt_before(client, runs):
    assert runs.begin(RUN, ["s0", "s1"], NOW, LEASE)
    runs.add(RUN, ["s0@a", "s0@b"])
    assert not runs.close(RUN, "s0", NOW)
    assert not runs.close(RUN, "s0@a", NOW)  # s0@b's task died (the DLQ)
    # within the lease: another planner begins nothing and changes nothing
    assert not runs.begin(RUN, ["s0", "s1"], NOW + LEASE - dt.timedelta(minutes=1), LEASE)
    assert open_count(client) == 2
    later = NOW + LEASE + dt.timedelta(minutes=1)
    assert runs.begin(RUN, ["s0", "s1"], later, LEASE)
    assert open_count(client) == 2
    assert run_item(client)["started_at"]["S"] == later.isoformat()
    assert not runs.close(RUN, "s0@b", later)  # the old attempt's page: forgotten, lowers nothing
    assert not runs.close(RUN, "s1", later)  # the old attempt's s1 task, still running, closes s1 now
    assert open_count(client) == 1
    assert not runs.close(RUN, "s1", later)  # the new attempt's s1 task
    assert runs.close(RUN, "s0", later)
    # a finished run is not begun again, lease or not
    assert not runs.begin(RUN, ["s0", "s1"], later + 2 * LEASE, LEASE)


def test_a_planner_killed_while_it_begins_a_run_of_many_parts_begins_it_when_run_again(client, runs):
    parts = [f"{day}:{key}" for day in range(5) for key in range(50)]  # 250: three transactions

    def killed() -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        book(client, "transact_write_items", 3, killed).begin(RUN, parts, NOW, dt.timedelta(0))
    with pytest.raises(KeyError):
        run_item(client)  # not begun: the run item is written last
    assert runs.begin(RUN, parts, NOW, dt.timedelta(0))
    assert open_count(client) == 250
    assert [p for p in parts if runs.close(RUN, p, NOW)] == [parts[-1]]


def test_an_add_that_meets_a_new_attempt_opens_its_part_in_the_new_attempt(client, runs):
    """The task read the run item, then the run was begun again before its
    transaction: the part is opened (and counted) in the attempt that holds the run."""
    assert runs.begin(RUN, ["s0"], NOW, LEASE)
    later = NOW + LEASE + dt.timedelta(minutes=1)
    adding = book(client, "transact_write_items", 1, lambda: runs.begin(RUN, ["s0"], later, LEASE))
    adding.add(RUN, ["s0@page"])
    assert open_count(client) == 2
    assert not runs.close(RUN, "s0", later)
    assert runs.close(RUN, "s0@page", later)


def test_a_close_that_meets_a_new_attempt_closes_its_part_in_the_new_attempt(client, runs):
    """An old task's close read the run item, then the run was begun again: its
    close is of the new attempt's part, so the new attempt's count is lowered
    only with that part's item, and s1 still holds the run open."""
    assert runs.begin(RUN, ["s0", "s1"], NOW, LEASE)
    later = NOW + LEASE + dt.timedelta(minutes=1)
    closing = book(client, "transact_write_items", 1, lambda: runs.begin(RUN, ["s0", "s1"], later, LEASE))
    assert not closing.close(RUN, "s0", NOW)
    assert open_count(client) == 1
    assert not runs.close(RUN, "s0", later)  # the new attempt's own s0 task
    assert open_count(client) == 1
    assert runs.close(RUN, "s1", later)


def test_a_close_that_reads_0_before_the_run_is_begun_again_does_not_finish_the_new_attempt(client, runs):
    assert runs.begin(RUN, ["s0"], NOW, LEASE)
    later = NOW + LEASE + dt.timedelta(minutes=1)
    closing = book(client, "update_item", 1, lambda: runs.begin(RUN, ["s0", "s1"], later, LEASE))
    assert not closing.close(RUN, "s0", NOW)
    assert not runs.finished(RUN)
    assert open_count(client) == 2


def test_a_run_item_written_without_part_items_is_begun_again_after_its_lease(client, runs):
    """A run item of the string set kept before (no `attempt`): its tasks' adds
    and closes pass it by; the next planner after the lease begins it anew."""
    client.put_item(
        TableName=settings.load().table_name,
        Item={
            "pk": {"S": RUN_PK},
            "sk": {"S": RUN},
            "started_at": {"S": NOW.isoformat()},
            "expires_at": {"N": "1900000000"},
            "open": {"SS": ["s0", "s1"]},
        },
    )
    runs.add(RUN, ["s0@page"])
    assert not runs.close(RUN, "s0", NOW)
    assert not runs.close(RUN, "s1", NOW)
    assert part_items(client) == [] and not runs.finished(RUN)
    later = NOW + LEASE + dt.timedelta(minutes=1)
    assert runs.begin(RUN, ["s0", "s1"], later, LEASE)
    assert "open" not in run_item(client)
    assert not runs.close(RUN, "s0", later)
    assert runs.close(RUN, "s1", later)
