"""The in-memory table's own rules that the parity test with moto cannot show
(moto differs) and the `Store` over it."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from chalicelib.storage.store import STALE, Commit, CommitConflict, refuse
from devtools.memory_store import MemoryStore


@pytest.fixture
def store():
    return MemoryStore("t")


def test_a_cancelled_commit_writes_nothing_and_says_which_condition_failed(store):
    store.put({"pk": "A", "sk": "1", "version": 1})
    commit = Commit("t")
    commit.put_new({"pk": "B", "sk": "1"}, STALE)
    taken = refuse(lambda: ValueError("taken"))
    commit.put_new({"pk": "A", "sk": "1"}, taken)
    with pytest.raises(CommitConflict) as raised:
        store.commit(commit)
    assert raised.value.failed == [(taken, {"pk": "A", "sk": "1", "version": 1})]
    assert store.get("B", "1") is None


def test_a_stale_version_fails_the_put(store):
    store.put({"pk": "A", "sk": "1", "version": 2})
    commit = Commit("t")
    commit.put_versioned({"pk": "A", "sk": "1", "version": 3}, 1)
    with pytest.raises(CommitConflict) as raised:
        store.commit(commit)
    assert [c for c, _ in raised.value.failed] == [STALE]
    commit = Commit("t")
    commit.put_versioned({"pk": "A", "sk": "1", "version": 3}, 2)
    store.commit(commit)
    assert store.get("A", "1")["version"] == 3


def test_two_actions_on_one_item_are_refused_as_dynamodb_does(store):
    commit = Commit("t")
    commit.put_new({"pk": "A", "sk": "1"}, STALE)
    commit.add_counters({"pk": "A", "sk": "1"}, {"n": 1})
    with pytest.raises(ClientError) as raised:
        store.commit(commit)
    assert raised.value.response["Error"]["Code"] == "ValidationException"


def test_a_page_that_ends_at_its_limit_has_a_cursor_and_the_next_is_empty(store):
    for sk in ("TX#1", "TX#2"):
        store.put({"pk": "A", "sk": sk})
    items, cursor = store.query_page("A", "TX#", 2, None, newest_first=True)
    assert [i["sk"] for i in items] == ["TX#2", "TX#1"]
    assert cursor is not None  # DynamoDB stops at Limit without looking further
    assert store.query_page("A", "TX#", 2, cursor, newest_first=True) == ([], None)


def test_hooks_see_each_transaction_before_it_is_applied(store):
    seen = []
    store.before_commit.append(lambda actions: seen.append((len(actions), store.get("A", "1"))))
    commit = Commit("t")
    commit.put_new({"pk": "A", "sk": "1"}, STALE)
    store.commit(commit)
    assert seen == [(1, None)]


def test_get_many_asks_for_at_most_100_keys_a_request(store):
    """DynamoDB refuses a BatchGetItem of more than 100 keys (the in-memory table too):
    `Store.get_many` sends one request per 100, so a caller never has to count keys."""
    for n in range(250):
        store.put({"pk": f"P{n}", "sk": "S"})
    sizes = []
    send = store.client.batch_get_item

    def counted(RequestItems):
        sizes.append(sum(len(table["Keys"]) for table in RequestItems.values()))
        return send(RequestItems=RequestItems)

    store.client.batch_get_item = counted
    found = store.get_many([(f"P{n}", "S") for n in range(250)] + [("none", "S")])
    assert sorted(found) == sorted((f"P{n}", "S") for n in range(250))
    assert sizes == [100, 100, 51]
