"""§25 pending points in the /stats shard through the ledger's commands (in-memory
table): however busy the shop, no counter item grows past 60 counters, and an
erasure forfeiting a member's 50 pending lots, each at its own day, hour and minute,
stays within DynamoDB's 100 actions a transaction and leaves `points_pending` exact."""

from __future__ import annotations

import datetime as dt

import pytest

from chalicelib.domain.calendar import format_instant
from chalicelib.domain.wallet import MAX_PENDING_LOTS
from chalicelib.ledger.commands import erase as erase_command
from chalicelib.storage.repository import NOT_COUNTERS

from .conftest import NOW
from .memory_shop import Shop


@pytest.fixture
def one_shard(clock) -> Shop:
    from devtools.memory_ledger import memory_ledger, memory_settings

    return Shop(memory_ledger(memory_settings(stats_shards=1)), clock)


def counter_items(shop: Shop) -> dict[str, int]:
    items = shop.store.query_all("STATS#000")
    return {item["sk"]: len([n for n in item if n not in NOT_COUNTERS]) for item in items if item["sk"] != "STATS"}


def test_earns_at_many_seconds_of_an_hour_leave_no_counter_item_over_sixty_counters(one_shard):
    # every second of the hour's first minute and one second of each other minute:
    # each level full (60 seconds, 60 minutes), 119 seconds of the day. (Every one of
    # the 3,600 seconds, through the counters alone: test_pending_counters.py.)
    shop = one_shard
    shop.program(pending_days=1, signup_bonus=0)
    start = NOW - dt.timedelta(hours=1)  # available 2027-05-11T02:00:00Z and on
    seconds = [60 * minute + second for minute in range(60) for second in range(60) if minute == 0 or second == minute]
    for n, second in enumerate(seconds):
        member = f"m{n // MAX_PENDING_LOTS}"
        if n % MAX_PENDING_LOTS == 0:
            shop.enrol(member)
        occurred = format_instant(start + dt.timedelta(seconds=second))
        shop.earn(member, f"o{second}", 100, occurred_at=occurred)  # 1 point each
    sizes = counter_items(shop)
    assert max(sizes.values()) <= 60, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]
    assert sizes["PENDING#2027-05-11T02:00"] == sizes["PENDING#2027-05-11T02"] == 60
    assert len(sizes) == 1 + 1 + 60  # the day, its hour, the hour's minutes
    assert shop.stats()["points_pending"] == 119
    shop.clock.at = start + dt.timedelta(days=1, seconds=30)
    assert shop.stats()["points_pending"] == 119 - 31  # after 02:00:30, not at it
    shop.clock.at = start + dt.timedelta(days=1, minutes=30, seconds=30)
    assert shop.stats()["points_pending"] == 29  # 02:31:31 ... 02:59:59


def pending_member(shop: Shop) -> list[str]:
    """`gone` with 50 lots pending, each becoming available on a day, hour and minute
    of its own, and `keep` with one pending after them all; returns gone's available_at."""
    shop.program(pending_days=365, signup_bonus=0)
    shop.enrol("gone")
    available = []
    for n in range(MAX_PENDING_LOTS):
        shop.clock.advance(hours=25, minutes=1)
        available.append(shop.earn("gone", f"g{n}", 10_000 + 100 * n).body["available_at"])
    shop.clock.advance(hours=1)
    shop.enrol("keep")
    shop.earn("keep", "k1", 10_000)  # 100 points
    return available


def reads_around(available: list[str]) -> list[dt.datetime]:
    instants = [dt.datetime.fromisoformat(a.replace("Z", "+00:00")) for a in available]
    return [i + dt.timedelta(seconds=d) for i in instants[::7] + instants[-1:] for d in (-61, -1, 0, 1)]


@pytest.fixture
def commits(one_shard, monkeypatch) -> list[int]:
    sizes: list[int] = []
    store = one_shard.store
    original = store.commit

    def counting(commit):
        sizes.append(len(commit.actions))
        return original(commit)

    monkeypatch.setattr(store, "commit", counting)
    return sizes


def test_an_erasure_of_fifty_pending_lots_stays_within_a_transaction_and_leaves_stats_exact(one_shard, commits):
    shop = one_shard
    available = pending_member(shop)
    forfeited = shop.member("gone")["pending_points"]
    assert forfeited > 0 and shop.stats()["points_pending"] == 100 + forfeited
    commits.clear()
    shop.erase("gone")
    assert max(commits) <= 100, commits
    # 150 counter items: 60, 60 and 30 a transaction (the first also holds the member.erased event)
    assert commits[:3] == [68, 61, 31], commits
    assert shop.store.query_all("MEMBER#gone", "PENDING_COUNTS#") == []
    now = shop.clock.at
    for instant in reads_around(available):
        shop.clock.at = max(instant, now)
        assert shop.stats()["points_pending"] == 100, instant


def test_an_interrupted_erasure_writes_the_rest_of_its_pending_counters_when_called_again(one_shard, monkeypatch):
    shop = one_shard
    available = pending_member(shop)
    finish = erase_command.count_pending_later
    monkeypatch.setattr(erase_command, "count_pending_later", lambda store, member_id: 0)  # killed after step 1
    shop.erase("gone")
    (waiting,) = shop.store.query_all("MEMBER#gone", "PENDING_COUNTS#")
    assert len(waiting["counts"]) == 3 * MAX_PENDING_LOTS - 60
    monkeypatch.setattr(erase_command, "count_pending_later", finish)
    with pytest.raises(Exception, match="not found"):
        shop.erase("gone")  # the member is gone; what was left is done
    assert shop.store.query_all("MEMBER#gone", "PENDING_COUNTS#") == []
    now = shop.clock.at
    for instant in reads_around(available):
        shop.clock.at = max(instant, now)
        assert shop.stats()["points_pending"] == 100, instant


def test_a_batch_of_pending_counters_is_written_once_even_by_two_erasures_at_once(one_shard, monkeypatch):
    shop = one_shard
    available = pending_member(shop)
    finish = erase_command.count_pending_later
    monkeypatch.setattr(erase_command, "count_pending_later", lambda store, member_id: 0)
    shop.erase("gone")
    query_all = shop.store.query_all
    answers: list[list[dict]] = []
    monkeypatch.setattr(
        shop.store, "query_all", lambda pk, prefix="": answers.pop() if answers else query_all(pk, prefix)
    )
    first = query_all("MEMBER#gone", "PENDING_COUNTS#")  # 90 counter items, version 0
    answers[:] = [[], first]
    assert finish(shop.store, "gone") == 60  # one batch (and then, say, killed)
    last = query_all("MEMBER#gone", "PENDING_COUNTS#")  # the last 30, version 1
    assert finish(shop.store, "gone") == 30
    # two more DELETEs that read the item before those batches were written
    answers[:] = [first]
    assert finish(shop.store, "gone") == 0
    answers[:] = [last]
    assert finish(shop.store, "gone") == 0
    now = shop.clock.at
    for instant in reads_around(available):
        shop.clock.at = max(instant, now)
        assert shop.stats()["points_pending"] == 100, instant
