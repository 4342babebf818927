"""BatchWrites: a job's unconditional puts and deletes, 25 to a BatchWriteItem request."""

from __future__ import annotations

import threading
import time

import pytest

from chalicelib import backoff
from chalicelib.errors import ThrottledError
from chalicelib.storage.store import BATCH_WRITE_LIMIT, BatchWrites
from devtools.memory_store import MemoryStore


@pytest.fixture
def store():
    return MemoryStore("t")


@pytest.fixture
def waits(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(backoff, "sleep", slept.append)
    return slept


def item(n: int, **extra) -> dict:
    return {"pk": f"MEMBER#m{n:03d}", "sk": "INSIGHTS", "n": n, **extra}


def test_writes_go_25_to_a_request_and_flush_sends_the_rest(store):
    batch = BatchWrites(store)
    for n in range(60):
        batch.put(item(n))
    assert store.client.calls.count("BatchWriteItem") == 2  # 50 sent as they filled
    assert len(store.items("MEMBER#")) == 50
    batch.flush()
    assert store.client.calls.count("BatchWriteItem") == 3 == batch.requests
    assert sorted(i["n"] for i in store.items("MEMBER#")) == list(range(60))
    batch.flush()  # nothing pending: no request
    assert batch.requests == 3 and BATCH_WRITE_LIMIT == 25


def test_deletes_go_in_the_same_requests(store):
    store.put(item(1))
    store.put(item(2))
    batch = BatchWrites(store)
    batch.delete("MEMBER#m001", "INSIGHTS")
    batch.put(item(3))
    batch.flush()
    assert sorted(i["n"] for i in store.items("MEMBER#")) == [2, 3]
    assert store.client.calls.count("BatchWriteItem") == 1


def test_a_key_written_twice_before_a_flush_keeps_the_later_write(store):
    batch = BatchWrites(store)
    batch.put(item(1, v="first"))
    batch.put(item(1, v="second"))  # one request may not name a key twice: the later replaces it
    batch.put(item(2))
    batch.delete("MEMBER#m002", "INSIGHTS")
    batch.flush()
    assert [(i["n"], i.get("v")) for i in store.items("MEMBER#")] == [(1, "second")]


class Unprocessing:
    """A client answering the first `times` BatchWriteItem requests with every write unprocessed."""

    def __init__(self, client, times: int):
        self.client, self.times, self.sent = client, times, []

    def __getattr__(self, name):
        return getattr(self.client, name)

    def batch_write_item(self, RequestItems):  # noqa: N803 (boto3's name)
        self.sent.append(sum(len(r) for r in RequestItems.values()))
        if self.times > 0:
            self.times -= 1
            return {"UnprocessedItems": RequestItems}
        return self.client.batch_write_item(RequestItems=RequestItems)


def test_unprocessed_writes_are_sent_again_with_backoff(store, waits):
    store.client = Unprocessing(store.client, times=3)
    batch = BatchWrites(store)
    for n in range(3):
        batch.put(item(n))
    batch.flush()
    assert store.client.sent == [3, 3, 3, 3]
    assert sorted(i["n"] for i in store.items("MEMBER#")) == [0, 1, 2]
    assert len(waits) == 3 and all(w <= backoff.UNPROCESSED_ITEMS.ceiling(n + 1) for n, w in enumerate(waits))


def test_writes_left_unprocessed_every_time_raise_throttled(store, waits):
    store.client = Unprocessing(store.client, times=100)
    batch = BatchWrites(store)
    batch.put(item(1))
    with pytest.raises(ThrottledError):
        batch.flush()
    assert len(store.client.sent) == backoff.UNPROCESSED_ITEMS.attempts == 8
    assert len(waits) == 7 and sum(waits) <= backoff.UNPROCESSED_ITEMS.max_added_seconds
    assert store.items("MEMBER#") == []


def test_the_memory_table_refuses_what_dynamodb_refuses(store):
    put = {"PutRequest": {"Item": {"pk": {"S": "a"}, "sk": {"S": "b"}}}}
    with pytest.raises(Exception, match="Too many items"):
        store.client.batch_write_item(RequestItems={"t": [put] * 26})
    with pytest.raises(Exception, match="duplicates"):
        store.client.batch_write_item(RequestItems={"t": [put, put]})
    assert store.items() == []


class Slow:
    """A client whose BatchWriteItem waits until released (to see requests in flight at once)."""

    def __init__(self, client, fail_on: int = 0):
        self.client, self.fail_on = client, fail_on
        self.lock = threading.Lock()
        self.in_flight = self.most = self.calls = 0
        self.release = threading.Event()

    def __getattr__(self, name):
        return getattr(self.client, name)

    def batch_write_item(self, RequestItems):  # noqa: N803 (boto3's name)
        with self.lock:
            self.calls += 1
            call = self.calls
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        try:
            self.release.wait(5)
            if call == self.fail_on:
                raise RuntimeError("the request failed")
            with self.lock:
                return self.client.batch_write_item(RequestItems=RequestItems)
        finally:
            with self.lock:
                self.in_flight -= 1


def test_senders_send_at_once_and_flush_waits_for_every_request(store):
    store.client = Slow(store.client)
    batch = BatchWrites(store, senders=3)
    for n in range(75):  # three requests: the caller goes on while they wait
        batch.put(item(n))
    deadline = time.monotonic() + 5
    while store.client.in_flight < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.client.in_flight == 3 and store.items("MEMBER#") == []  # all in flight, none answered
    store.client.release.set()
    batch.flush()
    assert store.client.most == 3 and batch.requests == 3
    assert sorted(i["n"] for i in store.items("MEMBER#")) == list(range(75))


def test_at_most_two_requests_a_sender_are_in_flight(store):
    store.client = Slow(store.client)
    store.client.release.set()
    batch = BatchWrites(store, senders=2)
    for n in range(25 * 10):
        batch.put(item(n))
        assert len(batch._sent) <= 4
    batch.flush()
    assert len(store.items("MEMBER#")) == 250 and batch.requests == 10


def test_a_failed_request_is_raised_by_flush(store):
    store.client = Slow(store.client, fail_on=2)
    store.client.release.set()
    batch = BatchWrites(store, senders=2)
    for n in range(50):
        batch.put(item(n))
    with pytest.raises(RuntimeError, match="failed"):
        batch.flush()


def test_a_write_a_batch_cannot_carry_is_run_by_a_sender_and_waited_for_by_flush(store):
    release = threading.Event()
    ran: list[str] = []

    def update():
        release.wait(5)
        ran.append(threading.current_thread().name)

    batch = BatchWrites(store, senders=2)
    batch.run(update)
    batch.run(update)
    assert ran == []  # the caller went on: both wait in the senders
    release.set()
    batch.flush()
    assert len(ran) == 2 and all(name.startswith("batch-writes") for name in ran)


def test_with_one_sender_a_run_is_made_at_once_and_its_error_raised_there(store):
    batch = BatchWrites(store)
    ran: list[int] = []
    batch.run(lambda: ran.append(1))
    assert ran == [1]

    def failing():
        raise RuntimeError("the condition's table went away")

    with pytest.raises(RuntimeError, match="went away"):
        batch.run(failing)


def test_a_failed_run_in_a_sender_is_raised_by_flush(store):
    batch = BatchWrites(store, senders=2)

    def failing():
        raise RuntimeError("the update failed")

    batch.run(failing)
    with pytest.raises(RuntimeError, match="update failed"):
        batch.flush()
