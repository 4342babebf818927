"""Where the analytics refresh stores its results (keys in chalicelib/storage/repository.py).

Program-wide results (ANALYTICS / SUMMARY#..., COHORT#..., RFM, the SEGMENTS listing's
figures) are put at every refresh. What belongs to a member is written only when it changed:
the INSIGHTS item, the RECOMMENDATIONS item (§23; deleted when the member no longer has a
list), the profile's `segments` (a conditional UpdateItem that bumps the profile's
version, so a command that read it before decides again) and the SEGMENT#<id> / M#<member_id>
items. The previous values are read with BatchGetItem (pages of 100 keys) and Query, never a
Scan. The member items' unconditional puts and deletes (INSIGHTS, RECOMMENDATIONS, segment
members) go out 25 to a BatchWriteItem request (`Writes.batch`); the caller flushes them, then
writes ANALYTICS / REFRESH last.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Optional

from chalicelib import backoff
from chalicelib.errors import ThrottledError
from chalicelib.storage import repository as keys
from chalicelib.storage.store import PROFILE, BatchWrites, Store, from_attrs, member_pk, to_attrs

BATCH_GET_KEYS = 100  # BatchGetItem's limit per request
EXACT_NUMBER = 10**38  # DynamoDB holds an integer of up to 38 digits exactly (to_attrs refuses more)
INSIGHT_FIELDS = ("recency_days", "frequency", "monetary", "clv", "rfm", "rfm_segment", "last_purchase_date")


@dataclass
class Writes:
    """What a refresh wrote, by kind (a test counts them; the job logs them), and the member
    items' puts and deletes not yet sent (`batch`: BatchWriteItem, 25 a request; `flush()`
    sends them)."""

    counts: Counter = field(default_factory=Counter)
    senders: int = 1  # threads sending the batches (BatchWrites)
    pending: Optional[BatchWrites] = None
    counting: threading.Lock = field(default_factory=threading.Lock)  # the senders count too

    def add(self, kind: str, n: int = 1) -> None:
        with self.counting:
            self.counts[kind] += n

    def batch(self, store: Store) -> BatchWrites:
        if self.pending is None:
            self.pending = BatchWrites(store, self.senders)
        return self.pending

    def flush(self) -> None:
        if self.pending is not None:
            self.pending.flush()

    @property
    def batch_requests(self) -> int:
        return 0 if self.pending is None else self.pending.requests

    @property
    def member_writes(self) -> int:
        return sum(
            self.counts[k]
            for k in (
                "insights",
                "profile_segments",
                "segment_member_put",
                "segment_member_delete",
                "recommendations_put",
                "recommendations_delete",
            )
        )


@dataclass
class MemberState:
    """What the table holds for a member now: its INSIGHTS values and profile `segments`."""

    insights: Optional[dict] = None
    segments: Optional[list[str]] = None  # None: no profile of that generation
    erased: bool = False


def batch_get(store: Store, item_keys: Iterable[tuple[str, str]], projection: list[str]) -> dict[tuple[str, str], dict]:
    """Items by key, in BatchGetItem pages of 100, projected to `projection` (plus the keys).
    Unprocessed keys are asked for again with backoff, then ThrottledError."""
    wanted = list(dict.fromkeys(item_keys))
    names = {f"#a{i}": name for i, name in enumerate(["pk", "sk", *projection])}
    found: dict[tuple[str, str], dict] = {}
    for start in range(0, len(wanted), BATCH_GET_KEYS):
        page = wanted[start : start + BATCH_GET_KEYS]
        request: dict[str, Any] = {
            store.table: {
                "Keys": [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in page],
                "ConsistentRead": True,
                "ProjectionExpression": ", ".join(names),
                "ExpressionAttributeNames": names,
            }
        }
        policy = backoff.UNPROCESSED_KEYS
        for attempt in range(1, policy.attempts + 1):
            response = store.client.batch_get_item(RequestItems=request)
            for attrs in response.get("Responses", {}).get(store.table, []):
                item = from_attrs(attrs)
                found[(item["pk"], item["sk"])] = item
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            if attempt == policy.attempts:
                raise ThrottledError("the database is throttling reads; retry shortly")
            policy.wait(attempt)
    return found


def read_member_states(store: Store, members: Iterable[tuple[str, int]]) -> dict[tuple[str, int], MemberState]:
    """The stored INSIGHTS values and profile `segments` of each (member_id, generation)."""
    keyed = [(member_id, generation, keys.insights_key(member_id, generation)) for member_id, generation in members]
    wanted = []
    for _, _, insights_key in keyed:
        wanted.append(insights_key)
        wanted.append((insights_key[0], PROFILE))  # the member's partition: MEMBER#<id>
    items = batch_get(store, wanted, [*INSIGHT_FIELDS, "segments", "generation", "erased"])
    states = {}
    for member_id, generation, insights_key in keyed:
        insights = items.get(insights_key)
        profile = items.get((insights_key[0], PROFILE))
        state = MemberState()
        if insights is not None:
            state.insights = {name: insights.get(name) for name in INSIGHT_FIELDS}
        if profile is not None and int(profile.get("generation", 0)) == generation:
            state.segments = sorted(profile.get("segments") or [])
            state.erased = bool(profile.get("erased", False))
        states[(member_id, generation)] = state
    return states


def put_insights(store: Store, member_id: str, generation: int, values: dict, as_of: str, writes: Writes) -> None:
    """The member's INSIGHTS item: `values` (`LiveMember.stored`) with its key, member_id,
    generation and as_of, made attribute values here (what `to_attrs` makes of the item: a test
    compares them)."""
    writes.batch(store).put_attrs(insights_attrs(member_id, generation, values, as_of))
    writes.add("insights")


def insights_attrs(member_id: str, generation: int, values: dict, as_of: str) -> dict:
    """`to_attrs` of the INSIGHTS item, made for its known fields (a refresh makes a million):
    integers, an optional integer (recency_days), optional texts, the optional RFM scores."""
    pk, sk = keys.insights_key(member_id, generation)
    attrs: dict[str, dict] = {
        "pk": {"S": pk},
        "sk": {"S": sk},
        "member_id": {"S": member_id},
        "generation": {"N": str(generation)},
    }
    for name, value in values.items():
        kind = type(value)
        if kind is int and -EXACT_NUMBER < value < EXACT_NUMBER:
            attrs[name] = {"N": str(value)}
        elif kind is str:
            attrs[name] = {"S": value}
        elif kind is dict and all(type(v) is int and -EXACT_NUMBER < v < EXACT_NUMBER for v in value.values()):
            attrs[name] = {"M": {key: {"N": str(v)} for key, v in value.items()}}  # the RFM scores
        elif value is not None:  # what to_attrs must judge
            attrs[name] = to_attrs({name: value})[name]
    attrs["as_of"] = {"S": as_of}
    return attrs


@dataclass(frozen=True, slots=True)
class ListedSku:
    """A sku of a refresh's catalogue with what its lists are made of: its attribute values
    (shared by every list naming it: they are only read) and its parts of the digests."""

    sku: str
    category: Optional[str]
    sku_attr: dict
    category_attr: dict
    text: str  # of the whole list's digest: repr((sku, category)) + ":"
    sku_text: str  # of the order digest: repr(sku)


def listed_sku(sku: str, category: Optional[str]) -> ListedSku:
    category_attr = {"NULL": True} if category is None else {"S": category}
    return ListedSku(sku, category, {"S": sku}, category_attr, repr((sku, category)) + ":", repr(sku))


Entries = list[tuple[ListedSku, int]]  # a member's list: (sku, score) in rank order


def list_digests(items: list[dict]) -> tuple[str, str]:
    """(digest of the whole list, digest of its skus in order): what a refresh compares a new
    list with, reading two short attributes of the stored item rather than its items. Each
    part is a repr (exact and self-delimiting for strings, None and integers); were the texts
    ever to change, a refresh would only write every list once more."""
    return entry_digests([(listed_sku(i["sku"], i["category"]), int(i["score"])) for i in items])


def entry_digests(entries: Entries) -> tuple[str, str]:
    """`list_digests` of a list given as entries (the refresh's own form: no dicts made)."""
    whole = "".join([f"{listed.text}{score}," for listed, score in entries]).encode()
    order = "".join([listed.sku_text for listed, _ in entries]).encode()
    return hashlib.blake2b(whole, digest_size=12).hexdigest(), hashlib.blake2b(order, digest_size=12).hexdigest()


def entry_items(entries: Entries) -> list[dict]:
    return [{"sku": listed.sku, "category": listed.category, "score": score} for listed, score in entries]


def read_recommendation_digests(
    store: Store, members: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], tuple[Optional[str], Optional[str]]]:
    """The stored RECOMMENDATIONS items' `digest` and `order_digest` (None: an item written
    before they were) of each (member_id, generation) that has one."""
    members = list(members)
    item_keys = [keys.recommendations_key(m, g) for m, g in members]
    items = batch_get(store, item_keys, ["digest", "order_digest"])
    found = {}
    for member, item_key in zip(members, item_keys, strict=True):
        item = items.get(item_key)
        if item is not None:
            found[member] = (item.get("digest"), item.get("order_digest"))
    return found


def put_recommendations(
    store: Store,
    member_id: str,
    generation: int,
    entries: Entries,
    as_of: str,
    writes: Writes,
    digests: Optional[tuple[str, str]] = None,
) -> None:
    """The member's RECOMMENDATIONS item {"member_id", "generation", "items": [{"sku",
    "category", "score"}...], "as_of", "digest", "order_digest"}, its attribute values made
    from the entries' shared ones (what `to_attrs` makes of the item: a test compares them)."""
    pk, sk = keys.recommendations_key(member_id, generation)
    digest, order = digests or entry_digests(entries)
    items = [
        {"M": {"sku": listed.sku_attr, "category": listed.category_attr, "score": {"N": str(score)}}}
        for listed, score in entries
    ]
    writes.batch(store).put_attrs(
        {
            "pk": {"S": pk},
            "sk": {"S": sk},
            "member_id": {"S": member_id},
            "generation": {"N": str(generation)},
            "items": {"L": items},
            "as_of": {"S": as_of},
            "digest": {"S": digest},
            "order_digest": {"S": order},
        }
    )
    writes.add("recommendations_put")


def delete_recommendations(store: Store, member_id: str, generation: int, writes: Writes) -> None:
    writes.batch(store).delete(*keys.recommendations_key(member_id, generation))
    writes.add("recommendations_delete")


def put_cold_recommendations(store: Store, items: list[dict], as_of: str, writes: Writes) -> None:
    """ANALYTICS / RECOMMENDATIONS#COLD, put at every refresh (one item)."""
    pk, sk = keys.COLD_RECOMMENDATIONS_KEY
    store.put({"pk": pk, "sk": sk, "items": items, "as_of": as_of})
    writes.add("analytics")


def set_profile_segments(
    store: Store, member_id: str, generation: int, segments: list[str], writes: Writes, erased_only: bool = False
) -> None:
    """SET segments = :s, version = version + 1 on the profile of that generation (nothing when
    there is no such profile now), counted when made. With `erased_only`, only an erased
    profile still listing segments. Sent like the member items (`Writes.batch(...).run`): from
    the senders' threads when there are several (at a million members the first refresh
    updates ~900,000 profiles), waited for by `Writes.flush`."""
    condition = "attribute_exists(#pk) AND #g = :g"
    values: dict[str, Any] = {":s": sorted(segments), ":one": 1, ":g": generation}
    if erased_only:
        condition += " AND #e = :true AND size(#s) > :zero"
        values.update({":true": True, ":zero": 0})
    names = {"#pk": "pk", "#s": "segments", "#v": "version", "#g": "generation"}
    if erased_only:
        names["#e"] = "erased"

    def update() -> None:
        if store.update_if(member_pk(member_id), PROFILE, "SET #s = :s, #v = #v + :one", names, values, condition):
            writes.add("profile_segments")

    writes.batch(store).run(update)


def segment_members(store: Store, segment_id: str) -> set[str]:
    """The members the SEGMENT#<id> / M#... items list now (Query, paged)."""
    items = store.query_all(keys.segment_pk(segment_id), keys.SEGMENT_MEMBER_PREFIX)
    return {member for member in (keys.segment_member_of(item["sk"]) for item in items) if member is not None}


def put_segment_member(store: Store, segment_id: str, member_id: str, writes: Writes) -> None:
    pk, sk = keys.segment_member_key(segment_id, member_id)
    writes.batch(store).put_attrs({"pk": {"S": pk}, "sk": {"S": sk}, "member_id": {"S": member_id}})
    writes.add("segment_member_put")


def delete_segment_member(store: Store, segment_id: str, member_id: str, writes: Writes) -> None:
    writes.batch(store).delete(*keys.segment_member_key(segment_id, member_id))
    writes.add("segment_member_delete")


def segment_listing(store: Store) -> list[dict]:
    """Every SEGMENTS / <segment_id> item (the definitions' listing, with their rules)."""
    return store.query_all(keys.SEGMENTS_PK)


def set_segment_figures(store: Store, segment_id: str, members: int, avg_clv: int, as_of: str, writes: Writes) -> None:
    """The listing's `members`, `avg_clv`, `as_of`; a segment deleted meanwhile stays deleted."""
    pk, sk = keys.segment_listing_key(segment_id)
    updated = store.update_if(
        pk,
        sk,
        "SET #m = :m, #c = :c, #t = :t",
        {"#pk": "pk", "#m": "members", "#c": "avg_clv", "#t": "as_of"},
        {":m": members, ":c": avg_clv, ":t": as_of},
        "attribute_exists(#pk)",
    )
    if updated:
        writes.add("segment_listing")


def put_analytics(store: Store, key: tuple[str, str], answer: dict, writes: Writes) -> None:
    """An ANALYTICS item: the answer's fields at the top level (a null field is absent)."""
    store.put({"pk": key[0], "sk": key[1], **answer})
    writes.add("analytics")


def replace_analytics_prefix(store: Store, prefix: str, answers: dict[tuple[str, str], dict], writes: Writes) -> None:
    """Put every answer under `prefix` and delete the ANALYTICS items under it no longer computed."""
    existing = {(item["pk"], item["sk"]) for item in store.query_all(keys.ANALYTICS_PK, prefix)}
    for key, answer in answers.items():
        put_analytics(store, key, answer, writes)
    for pk, sk in sorted(existing - set(answers)):
        store.client.delete_item(TableName=store.table, Key=to_attrs({"pk": pk, "sk": sk}))
        writes.add("analytics_delete")
