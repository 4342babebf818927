"""§25 `points_pending` from the /stats counters: days on the shard item, then the
day's hours, the hour's minutes and the minute's seconds in small items of their
own (repository.py). For random pending lots (some partly or wholly taken back)
and random instants of reading, the counters read the way `GET /stats` reads them
sum to the points of the lots whose available_at is after the read; and however
many earns a shard counts, no counter item holds more than 60 counters."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.calendar import format_instant
from chalicelib.storage.repository import (
    NOT_COUNTERS,
    pending_day_counters,
    pending_detail_keys,
    pending_item_counters,
    pending_stats_sk,
    points_pending,
)

START = dt.datetime(2027, 3, 1, 22, 0, tzinfo=dt.UTC)
SPAN = 3 * 24 * 3600  # three days of instants, so that reads fall on every level


class Shard:
    """A stats shard's items as the table would hold them after the counter updates."""

    def __init__(self, pk: str):
        self.pk = pk
        self.items: dict[str, dict] = {"STATS": {"pk": pk, "sk": "STATS"}}

    def add(self, pending: dict[str, int]) -> None:
        for name, delta in pending_day_counters(pending).items():
            self.items["STATS"][name] = self.items["STATS"].get(name, 0) + delta
        for sk, counters in pending_item_counters(pending).items():
            item = self.items.setdefault(sk, {"pk": self.pk, "sk": sk, "expires_at": 0})
            for name, delta in counters.items():
                item[name] = item.get(name, 0) + delta

    def get(self, key: tuple[str, str]) -> dict | None:
        return self.items.get(key[1]) if key[0] == self.pk else None


def read_pending(shards: list[Shard], now_text: str) -> tuple[int, int]:
    """As `GET /stats`: the shards and today's day items, then (only when needed) the
    current hour's and minute's items; returns (points, BatchGetItems)."""
    found = [s.get((s.pk, "STATS")) for s in shards]
    days = [s.get((s.pk, pending_stats_sk(now_text[:10]))) for s in shards]
    day_items = [d for d in days if d is not None]
    detail = pending_detail_keys(day_items, now_text)
    by_pk = {s.pk: s for s in shards}
    details = [item for pk, sk in detail if (item := by_pk[pk].get((pk, sk))) is not None]
    points = points_pending([f for f in found if f is not None], day_items, now_text, details)
    return points, 1 + bool(detail)


lots = st.lists(
    st.tuples(
        st.integers(0, 2),  # shard
        st.integers(0, SPAN),  # available_at, seconds after START
        st.integers(1, 1000),  # points
        st.integers(0, 1000),  # taken back later (a refund or an erasure), at most the points
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(lots, st.lists(st.integers(-60, SPAN + 60), min_size=1, max_size=8), st.booleans())
def test_the_counters_sum_to_the_lots_available_after_the_read(lots, reads, clustered):
    shards = [Shard(f"STATS#{n:03d}") for n in range(3)]
    instants = []
    for shard, offset, points, taken in lots:
        if clustered:  # many in one minute and one hour, to reach the lower levels
            offset = offset % 7200
        available_at = format_instant(START + dt.timedelta(seconds=offset))
        shards[shard].add({available_at: points})
        if taken:
            shards[shard].add({available_at: -min(taken, points)})
        instants.append((available_at, points - min(taken, points)))
    for offset in reads + [offset for _, offset, _, _ in lots]:  # also exactly at an available_at
        if clustered:
            offset = offset % 7200
        now_text = format_instant(START + dt.timedelta(seconds=offset))
        expected = sum(points for available_at, points in instants if available_at > now_text)
        assert read_pending(shards, now_text)[0] == expected, now_text


def test_a_second_read_only_when_something_becomes_available_in_the_current_hour():
    shard = Shard("STATS#000")
    shard.add({"2027-03-02T10:30:00Z": 5, "2027-03-03T09:00:00Z": 7})
    assert read_pending([shard], "2027-03-02T08:59:59Z") == (12, 1)  # later today, later days
    assert read_pending([shard], "2027-03-02T10:00:00Z") == (12, 2)  # this hour
    assert read_pending([shard], "2027-03-02T10:30:00Z") == (7, 2)
    assert read_pending([shard], "2027-03-02T11:00:00Z") == (7, 1)
    shard.add({"2027-03-02T11:15:00Z": 3})
    shard.add({"2027-03-02T11:15:00Z": -3})  # taken back whole: nothing this hour
    assert read_pending([shard], "2027-03-02T11:00:00Z") == (7, 1)


def test_earns_at_every_second_of_an_hour_leave_no_counter_item_over_sixty_counters():
    shard = Shard("STATS#000")
    hour = dt.datetime(2027, 3, 2, 10, tzinfo=dt.UTC)
    for second in range(3600):
        shard.add({format_instant(hour + dt.timedelta(seconds=second)): 1})
    sizes = {sk: len([n for n in item if n not in NOT_COUNTERS]) for sk, item in shard.items.items()}
    assert max(sizes.values()) <= 60, max(sizes.items(), key=lambda kv: kv[1])
    assert len(sizes) == 1 + 1 + 1 + 60  # shard, day, hour, the hour's minutes
    assert read_pending([shard], "2027-03-02T10:29:59Z") == (1800, 2)
