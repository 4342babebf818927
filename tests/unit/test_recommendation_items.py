"""A RECOMMENDATIONS item is made as attribute values from the refresh's entries (no dicts,
no `to_attrs`): it must be exactly what `to_attrs` makes of the item, and its digests those of
its items. The INSIGHTS and segment member items are made as attribute values too: the same
check."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.analytics import results
from chalicelib.storage import repository as keys
from chalicelib.storage.store import to_attrs
from devtools.memory_store import MemoryStore

skus = st.text(min_size=1, max_size=6)  # a sku may hold any character
categories = st.none() | st.text(max_size=6)
lists = st.lists(st.tuples(skus, categories, st.integers(min_value=1, max_value=10**12)), max_size=10)


@settings(max_examples=200, deadline=None)
@given(lists, st.text(min_size=1, max_size=8), st.integers(min_value=0, max_value=5))
def test_the_item_is_what_to_attrs_makes_of_it(listed, member_id, generation):
    entries = [(results.listed_sku(sku, category), score) for sku, category, score in listed]
    store = MemoryStore("t")
    writes = results.Writes()
    results.put_recommendations(store, member_id, generation, entries, "2027-05-10T03:00:00Z", writes)
    writes.flush()
    pk, sk = keys.recommendations_key(member_id, generation)
    items = [{"sku": sku, "category": category, "score": score} for sku, category, score in listed]
    digest, order = results.list_digests(items)
    expected = {
        "pk": pk,
        "sk": sk,
        "member_id": member_id,
        "generation": generation,
        "items": items,
        "as_of": "2027-05-10T03:00:00Z",
        "digest": digest,
        "order_digest": order,
    }
    assert store.client.tables["t"].get((pk, sk)) == to_attrs(expected)
    assert results.entry_digests(entries) == (digest, order)
    assert results.entry_items(entries) == items


def test_digests_tell_lists_apart_that_joined_texts_would_not():
    def digests(*listed):
        return results.list_digests([{"sku": s, "category": c, "score": n} for s, c, n in listed])

    assert digests(("a", "b", 1)) != digests(("a", None, 1))
    assert digests(("a", "b", 12)) != digests(("a", "b", 1), ("2", "b", 1))
    assert digests(("a,b", "c", 1))[1] != digests(("a", "c", 1), ("b", "c", 1))[1]
    assert digests(("a", "c", 1))[1] == digests(("a", "c", 2))[1]  # the order digest: skus only
    assert digests(("a", "c", 1))[0] != digests(("a", "c", 2))[0]


numbers = st.integers(min_value=-(10**40), max_value=10**40)
texts = st.text(max_size=8)
insights_values = st.fixed_dictionaries(
    {
        "recency_days": st.none() | numbers,
        "frequency": numbers,
        "monetary": numbers,
        "clv": numbers,
        "rfm": st.none() | st.fixed_dictionaries({"r": numbers, "f": numbers, "m": numbers}),
        "rfm_segment": st.none() | texts,
        "last_purchase_date": st.none() | texts,
    }
)


@settings(max_examples=300, deadline=None)
@given(insights_values, st.text(min_size=1, max_size=8), st.integers(min_value=0, max_value=5))
def test_the_insights_item_is_what_to_attrs_makes_of_it(values, member_id, generation):
    pk, sk = keys.insights_key(member_id, generation)
    item = {
        "pk": pk,
        "sk": sk,
        "member_id": member_id,
        "generation": generation,
        **values,
        "as_of": "2027-05-10T03:00:00Z",
    }
    try:
        expected = to_attrs(item)
    except Exception as refused:  # a number DynamoDB cannot hold: refused the same way
        try:
            results.insights_attrs(member_id, generation, values, "2027-05-10T03:00:00Z")
        except Exception as error:
            assert type(error) is type(refused)
            return
        raise AssertionError(f"{refused!r} not raised") from refused
    assert results.insights_attrs(member_id, generation, values, "2027-05-10T03:00:00Z") == expected
    store = MemoryStore("t")
    writes = results.Writes()
    results.put_insights(store, member_id, generation, values, "2027-05-10T03:00:00Z", writes)
    writes.flush()
    assert store.client.tables["t"].get((pk, sk)) == expected


@given(st.text(min_size=1, max_size=8), st.text(min_size=1, max_size=8))
def test_the_segment_member_item_is_what_to_attrs_makes_of_it(segment_id, member_id):
    store = MemoryStore("t")
    writes = results.Writes()
    results.put_segment_member(store, segment_id, member_id, writes)
    writes.flush()
    pk, sk = keys.segment_member_key(segment_id, member_id)
    assert store.client.tables["t"].get((pk, sk)) == to_attrs({"pk": pk, "sk": sk, "member_id": member_id})
