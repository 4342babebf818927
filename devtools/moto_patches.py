"""Patches to moto 5.2.5 so that an embedded DynamoDB's cost per request does
not grow with the table.

Stock moto 5.2.5 has costs that grow with everything stored so far:

1. `DynamoDBBackend.transact_write_items` deep-copies every table a
   transaction names as its rollback backup, so each transaction copies the
   whole table (time and memory grow with the table).
2. `BaseModel.__new__` appends every model instance to its class's
   `instances_tracked` list (for moto's dashboard), and nothing removes them:
   every DynamoDB `Item` ever created - each put, each update's before-image,
   each item of each table copy above - stays alive for the life of the
   process. Together with 1., memory grows quadratically with the data.
3. `Table.query` builds its candidates from `Table.all_items()`, which walks
   and sorts every item of the table, for a query on the table's key as well
   as on a global secondary index.

The patches:

1. `narrow_transaction_backup`: back up only the items the transaction names
   (copied before it runs, put back if it fails), which restores exactly what
   the table copy restored. Conditions, cancellation reasons and the order of
   checks stay moto's own: moto's function runs unchanged, only its table copy
   is skipped.
2. `untracked_items`: DynamoDB `Item`s are not recorded in
   `instances_tracked` (moto's dashboard then lists no DynamoDB items; nothing
   else reads that list for DynamoDB).
3. `indexed_query`: while `Table.query` runs, `all_items()` returns only the
   items that can match - the key's own item collection for a query on the
   table, and for a global secondary index with one hash attribute the items
   recorded under the queried hash value (a bucket kept up to date by
   `Table.put_item` and `DynamoDBBackend.update_item`, which also drop an
   item's records under values it no longer has, and checked against the
   table's current items at query time, so a stale entry - e.g. of a deleted
   item - is dropped, never returned); with a range key condition and no
   Limit, only those whose recorded range value passes it. moto's query then
   filters, sorts and pages as before. Records are plain strings (`_slim`),
   no moto objects.
4. `compact_items` (opt-in, `enable_compaction()`; the local service uses it):
   a table's `items` (moto's defaultdict {hash key: {range key: Item}}) is
   replaced by `Partitions`, the same mapping protocol, which keeps each
   partition - all items of one hash key, e.g. one member - as one zlib blob
   of plain data (the key attributes stored once, as the key) between
   requests, compressed with a dictionary trained on the table's own first
   partitions. moto gets its own dict of `Item`s the moment it reads a
   partition (moto's code is unchanged); `compact()` packs the partitions read
   or changed since its last call, and the serial server calls it after each
   request, so no `Item`, `DynamoType` or sort-key object outlives a request.
   The index records of 3. are plain strings. A member with three purchases
   (16 items, 5.7 KB of DynamoDB data) then takes about 2 KB instead of 54 KB.
   A partition of more than CHUNK_MAX (256) items is kept as `Chunks`: its
   items in sort-key order, CHUNK_ITEMS (128) to a blob, so a GetItem or a
   write unpacks and repacks the one chunk of its key and a Query the chunks
   its key condition can reach (with a Limit, one more), not the partition.
   An unpacked set attribute is a copy of the stored list: moto's ADD and
   DELETE change a set in place, and the stored form is what `pack()`
   compares with to tell a changed partition.

5. `uncounted_queue_attributes`: `SendMessage`, and `GetQueueAttributes`
   asking for no message count (moto's receive asks for
   MessageRetentionPeriod once per message), build the queue's attributes
   without the three counts, which they never read; a queue's visible
   messages are listed with one clock read per listing, not two per message.
   Answers are moto's own: `GetQueueAttributes` for `All` or for a count
   counts as before.
6. `wire_attribute_values`: a DynamoDB response's AttributeValue that is a
   plain wire-format dict of S, N, NULL, BOOL, M, L, SS or NS is written as
   moto's serializer writes it (strings through `str`, None members and None
   map values left out) without the per-member lookups; anything else (B,
   BS, another key, not a dict) takes moto's own path.

Each patched function's source is checked against the hash of the moto 5.2.5
source it was written for: a moto whose patched code changed fails loudly at
`apply()` rather than silently misbehaving. `DANGOL_STOCK_MOTO=1` leaves moto
as it is (`apply()` does nothing), to run the test suite on stock moto.
"""

from __future__ import annotations

import bisect
import contextlib
import copy as real_copy
import hashlib
import inspect
import marshal
import os
import pickle
import sys
import threading
import types
import zlib
from collections.abc import Callable
from decimal import Decimal
from typing import Any, cast

TARGET_VERSION = "5.2.5"

# sha256 of inspect.getsource(...) in moto 5.2.5 for every function a patch
# wraps or relies on. A mismatch means the patched code changed upstream.
EXPECTED_SOURCES = {
    "DynamoDBBackend.transact_write_items": "81db2cb7d94e39c90b3a2077e1f4bb41a449c558ef9b1b1e2910fdaa39978ad4",
    "DynamoDBBackend.update_item": "218984588dd689a5de81678ce11e6a40d05c91e7b6c21b44c4ed4122fe74aa9f",
    "BaseModel.__new__": "08cf0ef20e88029a2eb91949492ce3281001a34b98143db186239962ad379eec",
    "Table.query": "002b4d00be6df07cf37f6cbe0132e5eb89455ae12a8e79b23db3fb492450f21e",
    "Table.all_items": "c80d2ee3c896acd0cab6ca35aaeae3ab3fb65858933f8a3403d4e027c240f31d",
    "Table.put_item": "de23933013ef842639046c19bcf7e418bce0474d810f6719368be4cedce11d47",
    # read `Table.items` through the mapping protocol `Partitions` keeps (4.), or
    # make the objects `Partitions` rebuilds without calling them
    "Table.__init__": "a56181a75aa270051d49daeb6a1f55b3eba543e6f58b4391e46d24a7cf8bbc74",
    "Table.__len__": "67bd2612f0aeaf6144e740a0d7465e5c7bf67e6f2934eefab24f2679192afe63",
    "Table.get_item": "b08e98fe37b7e5836afe03b010d637ef50df5dea6cbecd9cf8816eef326a21cd",
    "Table.delete_item": "1594f7b07616c8cb8cdf0fbf58d6f54eeac83f25d7ac7b14e832a08e10efd8f9",
    "Table.has_idx_items": "ecab96cbd1a5560f7f058af1ec15b86f10950b6ff729ba53f685296ec4a4ea4a",
    "Item.__init__": "d9c12b62cb921831aab9b2eb22ac24fbd600689064a0219ae3ffbe057ae4be74",
    "DynamoType.__init__": "7c6cde92e1149bfe3b61d6b5667a943232829bbbb9760c5bd0655479b8d570b9",
    # 5.: SQS
    "Queue.attributes": "40cb990b121628d535cecbcd0e0d333984024633b70a097489ae8611e1a59338",
    "Queue.messages": "03a531dbcbcf9aee2e61c7254c08946a499f5c57f2447a8f2e534aa85b067dea",
    "Message.visible": "5129b573308de62a700c40541df76673710ff2303258839ac66990eb56f27f27",
    "Message.delayed": "e2fd48abf582683aa4630cbd95daef06deb9f6de33e002a89f8c3d8a3f334838",
    "SQSBackend.send_message": "bf161af09a9e6b860e3dd5d8f58ccc802623caa86883fab9b2ffb333f8f70330",
    "SQSBackend.get_queue_attributes": "58417223da457b5a0aac5ccc31b6646ed9b22c3b276a0f0d9fd5f3f13bd797ec",
    "SQSBackend.receive_message": "065f3e5e7d2144089ce3b5d16d9306243ccd2f3ee11b44beb851292fadb7652f",
    # 6.: the JSON response serializer's path for a structure, map, list and string
    "BaseJSONSerializer._serialize_type_structure": "36873909cd0aeb4defa91cc9912c6e90a62d7d92ced6150ac7de92fd10a81967",
    "ResponseSerializer._serialize_type_structure": "f9b47068f40ce489e55e7a0bf78accec38597d27168dc3d095ac2fc18312d4a8",
    "ResponseSerializer._serialize_structure_member": "437fdce43aa5ac844fb5fe22865b90d228b875b6b1787dc6bfdccad91968b3c0",  # noqa: E501
    "ResponseSerializer._serialize": "4eccca5bf02593efd2e425f7e1659871406ee6734ec1084ccd452885b7e89052",
    "ResponseSerializer._default_serialize": "25ce8ddbb1a991c029a745f87eeaa360b697b69ba7295fb74143859a5233afb7",
    "ResponseSerializer.get_serialized_name": "2c23dcac85ccc3966b11d9d96e676eccd5c0d61818ca68b93b0f019839fb2767",
    "BaseJSONSerializer._serialize_type_map": "faa32d1fa9a8bfc9db0984b7973a5cc3297d35a2df33124748949b0908f6b6a9",
    "BaseJSONSerializer._serialize_type_list": "f87b14fe9166e099846349860a5e3c9d9984939d82ed0f67de07ad12e790cd26",
    "BaseJSONSerializer._serialize_type_string": "44954e02145012baee50de6592411c1376aad480ea3440a3b3ab6ce932bbf78d",
    "AttributePicker.__call__": "c15da8ec29c1afa44772407fe6280d59a519fcbf52216dc90eb31fb6fbb136ce",
    "XFormedAttributePicker.get_possible_keys": "f0d20f55f37fd8a1f74e7fae117327a99c8e14b0f9459a0059d3c8d3c6e50a41",
}


class MotoPatchMismatch(RuntimeError):
    """The installed moto is not the one these patches were written for."""


def stock_requested() -> bool:
    return os.environ.get("DANGOL_STOCK_MOTO", "") not in ("", "0")


def _targets() -> dict[str, Callable]:
    from moto.core.common_models import BaseModel
    from moto.core.serialize import AttributePicker, BaseJSONSerializer, ResponseSerializer, XFormedAttributePicker
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType, Item
    from moto.dynamodb.models.table import Table
    from moto.sqs.models import Message, Queue, SQSBackend

    queue_attributes = _original.get("queue_attributes", Queue.attributes)
    queue_messages = _original.get("queue_messages", Queue.messages)
    return {
        "DynamoDBBackend.transact_write_items": _original.get(
            "transact_write_items", DynamoDBBackend.transact_write_items
        ),
        "DynamoDBBackend.update_item": _original.get("update_item", DynamoDBBackend.update_item),
        "BaseModel.__new__": BaseModel.__new__,
        "Table.query": _original.get("query", Table.query),
        "Table.all_items": _original.get("all_items", Table.all_items),
        "Table.put_item": _original.get("put_item", Table.put_item),
        "Table.__init__": Table.__init__,
        "Table.__len__": Table.__len__,
        "Table.get_item": Table.get_item,
        "Table.delete_item": Table.delete_item,
        "Table.has_idx_items": Table.has_idx_items,
        "Item.__init__": Item.__init__,
        "DynamoType.__init__": DynamoType.__init__,
        "Queue.attributes": queue_attributes.fget,
        "Queue.messages": queue_messages.fget,
        "Message.visible": cast(Any, Message.visible).fget,
        "Message.delayed": cast(Any, Message.delayed).fget,
        "SQSBackend.send_message": _original.get("send_message", SQSBackend.send_message),
        "SQSBackend.get_queue_attributes": _original.get("get_queue_attributes", SQSBackend.get_queue_attributes),
        "SQSBackend.receive_message": SQSBackend.receive_message,
        "BaseJSONSerializer._serialize_type_structure": _original.get(
            "json_structure", BaseJSONSerializer._serialize_type_structure
        ),
        "ResponseSerializer._serialize_type_structure": ResponseSerializer._serialize_type_structure,
        "ResponseSerializer._serialize_structure_member": ResponseSerializer._serialize_structure_member,
        "ResponseSerializer._serialize": ResponseSerializer._serialize,
        "ResponseSerializer._default_serialize": ResponseSerializer._default_serialize,
        "ResponseSerializer.get_serialized_name": ResponseSerializer.get_serialized_name,
        "BaseJSONSerializer._serialize_type_map": BaseJSONSerializer._serialize_type_map,
        "BaseJSONSerializer._serialize_type_list": BaseJSONSerializer._serialize_type_list,
        "BaseJSONSerializer._serialize_type_string": BaseJSONSerializer._serialize_type_string,
        "AttributePicker.__call__": AttributePicker.__call__,
        "XFormedAttributePicker.get_possible_keys": XFormedAttributePicker.get_possible_keys,
    }


def source_hashes() -> dict[str, str]:
    """sha256 of the current source of every function the patches touch."""
    return {name: hashlib.sha256(inspect.getsource(fn).encode()).hexdigest() for name, fn in _targets().items()}


def check_moto() -> None:
    """Raise MotoPatchMismatch unless moto is the version (and code) patched here."""
    import moto

    if moto.__version__ != TARGET_VERSION:
        raise MotoPatchMismatch(
            f"devtools/moto_patches.py targets moto {TARGET_VERSION}, found {moto.__version__}: "
            "review each patch against the new moto (or set DANGOL_STOCK_MOTO=1 to run stock moto)"
        )
    changed = [name for name, digest in source_hashes().items() if digest != EXPECTED_SOURCES[name]]
    if changed:
        raise MotoPatchMismatch(
            f"moto {moto.__version__}: the source of {', '.join(changed)} differs from the code "
            "devtools/moto_patches.py was written for: review the patches "
            "(or set DANGOL_STOCK_MOTO=1 to run stock moto)"
        )


# -- state --------------------------------------------------------------------
_lock = threading.Lock()
_original: dict[str, Any] = {}
_narrowed = threading.local()  # .table, .items: what all_items() answers during a query
GSI_ATTR = "_dangol_gsi_index"  # (was "_dangol_gsi_buckets": DynamoType keys, rebuilt)


def applied() -> bool:
    return bool(_original)


def apply() -> bool:
    """Patch moto (once; idempotent). Returns whether the patches are active."""
    if stock_requested():
        return False
    with _lock:
        if _original:
            return True
        check_moto()
        from moto.core.serialize import BaseJSONSerializer
        from moto.dynamodb import models
        from moto.dynamodb.models import DynamoDBBackend
        from moto.dynamodb.models.dynamo_type import Item
        from moto.dynamodb.models.table import Table
        from moto.sqs.models import Queue, SQSBackend

        _original.update(
            json_structure=BaseJSONSerializer._serialize_type_structure,
            queue_attributes=Queue.attributes,
            queue_messages=Queue.messages,
            send_message=SQSBackend.send_message,
            get_queue_attributes=SQSBackend.get_queue_attributes,
            transact_write_items=DynamoDBBackend.transact_write_items,
            update_item=DynamoDBBackend.update_item,
            query=Table.query,
            all_items=Table.all_items,
            put_item=Table.put_item,
            item_new=Item.__dict__.get("__new__"),
            models=models,
        )
        DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
        DynamoDBBackend.update_item = _update_item  # type: ignore[method-assign]
        Table.query = _query  # type: ignore[method-assign]
        Table.all_items = _all_items  # type: ignore[method-assign]
        Table.put_item = _put_item  # type: ignore[method-assign]
        Item.__new__ = staticmethod(_item_new)  # type: ignore[method-assign]
        Queue.attributes = property(_queue_attributes)  # type: ignore[method-assign, assignment]
        Queue.messages = property(_queue_messages)  # type: ignore[method-assign, assignment]
        SQSBackend.send_message = _send_message  # type: ignore[method-assign]
        SQSBackend.get_queue_attributes = _get_queue_attributes  # type: ignore[method-assign]
        BaseJSONSerializer._serialize_type_structure = _json_structure  # type: ignore[method-assign]
        return True


def remove() -> None:
    """Undo `apply()` (tests compare stock and patched moto in one process)."""
    with _lock:
        if not _original:
            return
        from moto.core.serialize import BaseJSONSerializer
        from moto.dynamodb.models import DynamoDBBackend
        from moto.dynamodb.models.dynamo_type import Item
        from moto.dynamodb.models.table import Table
        from moto.sqs.models import Queue, SQSBackend

        BaseJSONSerializer._serialize_type_structure = _original["json_structure"]  # type: ignore[method-assign]
        Queue.attributes = _original["queue_attributes"]  # type: ignore[method-assign]
        Queue.messages = _original["queue_messages"]  # type: ignore[method-assign]
        SQSBackend.send_message = _original["send_message"]  # type: ignore[method-assign]
        SQSBackend.get_queue_attributes = _original["get_queue_attributes"]  # type: ignore[method-assign]
        DynamoDBBackend.transact_write_items = _original["transact_write_items"]  # type: ignore[method-assign]
        DynamoDBBackend.update_item = _original["update_item"]  # type: ignore[method-assign]
        Table.query = _original["query"]  # type: ignore[method-assign]
        Table.all_items = _original["all_items"]  # type: ignore[method-assign]
        Table.put_item = _original["put_item"]  # type: ignore[method-assign]
        global _compaction
        _compaction = False
        _dirty.clear()
        try:
            for table in list(_tables()):
                adopt(table)  # moto's own dict again
        except Exception:
            pass  # no backend in use
        if _original["item_new"] is None:
            del Item.__new__
        else:
            Item.__new__ = _original["item_new"]  # type: ignore[method-assign]
        _original.clear()


@contextlib.contextmanager
def stock_moto():
    """Run the body on stock moto, then restore the patches if they were on."""
    was = applied()
    remove()
    try:
        yield
    finally:
        if was:
            apply()


# -- 4. compact items ----------------------------------------------------------
# moto 5.2.5 keeps `Table.items` as a defaultdict(dict) {hash key: {range key:
# Item}} of live objects: per item an Item, its attrs dict, a DynamoType per
# attribute and per key - about 3 KB for a 360-byte item. A compacted table's
# `items` is a `Partitions` mapping instead: each partition (all items of one
# hash key) is one zlib blob between requests, and becomes moto's own dict of
# Items again the moment moto reads it (moto's code is unchanged; it only ever
# indexes, gets, pops, tests membership and iterates).
_compaction = False
_dirty: dict[int, Partitions] = {}  # Partitions holding unpacked partitions
# blob layouts (first byte): marshal of plain data compressed with zdict n
_FORMAT_PICKLE = 255
_TRAIN_AT = (128, 2048, 32768)  # packs after which a (new) shared dictionary is trained
_SAMPLE_MAX = 12_000
_ZDICT_MAX = 32_768  # zlib's window: a longer dictionary is cut to its end


def enable_compaction() -> bool:
    """Keep stored partitions packed between requests (after `apply()`)."""
    global _compaction
    if not applied():
        return False
    _compaction = True
    return True


def compacting() -> bool:
    return _compaction and applied()


def _plain(value):
    """A DynamoType tree as marshal-able (type, value) pairs."""
    if value.type == "L":
        return ("L", [_plain(v) for v in value.value])
    if value.type == "M":
        return ("M", {k: _plain(v) for k, v in value.value.items()})
    return (value.type, value.value)


def _dynamo(pair):
    """The DynamoType tree `_plain` was made from (no validation: it was valid when stored)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    out = DynamoType.__new__(DynamoType)
    kind, value = pair
    out.type = kind
    if kind == "L":
        value = [_dynamo(v) for v in value]
    elif kind == "M":
        value = {k: _dynamo(v) for k, v in value.items()}
    elif type(value) is list:  # SS, NS, BS: moto's ADD and DELETE change the list in place,
        value = list(value)  # so it must not be the one kept to tell a changed partition
    out.value = value
    return out


def _string_key(text: str):
    from moto.dynamodb.models.dynamo_type import DynamoType

    out = DynamoType.__new__(DynamoType)
    out.type, out.value = "S", text
    return out


# A partition of more than CHUNK_MAX items (a member with a long history, the
# job-run book) is kept as `Chunks`: its items in range-key order, CHUNK_ITEMS
# to a blob, so a request unpacks and packs only the chunks it touches.
CHUNK_MAX = 256
CHUNK_ITEMS = 128


def _order(kind: str, value):
    """Where a range key (S or N) sorts in a chunked partition: as moto compares
    it (strings as str, numbers by value), the exact text breaking ties."""
    if kind == "N":
        return (Decimal(value), value)
    return (value, "")


def _bound(kind: str, value):
    """A key condition's value as `_order(...)[0]` compares it."""
    return Decimal(value) if kind == "N" else value


class Chunks:
    """One partition (one hash key) of a compacted table, larger than
    CHUNK_MAX items, with the mapping protocol of moto's {range key: Item}
    dict. Chunk n holds the keys from `los[n]` up to `los[n + 1]` (chunk 0 also
    any key before `los[0]`); `blobs[n]` is its packed items (the layout of a
    whole partition's blob), `counts[n]` how many; `hot` {n: [{range key:
    Item}, plain form it was built from]} the chunks unpacked since the last
    `pack()`. Range keys of type S or N only."""

    def __init__(self, owner: Partitions, key: str, range_type: str):
        self.owner, self.key, self.range_type = owner, key, range_type
        self.los: list = []
        self.blobs: list[bytes] = []
        self.counts: list[int] = []
        self.hot: dict[int, list] = {}

    @classmethod
    def split(cls, owner: Partitions, key: str, plain: list, learn: bool = True) -> Chunks:
        """A chunked partition of `plain` (a partition's plain form)."""
        chunks = cls(owner, key, plain[0][0][0])
        chunks.los, chunks.blobs, chunks.counts = chunks._pieces(plain, learn)
        return chunks

    @staticmethod
    def fits(plain: list) -> bool:
        """Whether a partition's plain form is large enough and keyed for chunks."""
        if len(plain) <= CHUNK_MAX:
            return False
        kinds = {range_pair[0] if range_pair is not None else None for range_pair, _ in plain}
        return kinds == {"S"} or kinds == {"N"}

    def _pieces(self, plain: list, learn: bool) -> tuple[list, list, list]:
        plain = sorted(plain, key=lambda entry: _order(*entry[0]))
        size = CHUNK_ITEMS if len(plain) > CHUNK_MAX else max(len(plain), 1)
        los, blobs, counts = [], [], []
        for start in range(0, len(plain), size):
            piece = plain[start : start + size]
            los.append(_order(*piece[0][0]))
            blobs.append(self.owner._blob(self.key, piece, learn))
            counts.append(len(piece))
        return los, blobs, counts

    # -- moto's side ------------------------------------------------------------
    def _find(self, range_key) -> int | None:
        if getattr(range_key, "type", None) != self.range_type or not self.los:
            return None
        return max(bisect.bisect_right(self.los, _order(range_key.type, range_key.value)) - 1, 0)

    def _chunk(self, n: int) -> dict:
        entry = self.hot.get(n)
        if entry is None:
            plain = self.owner._unpack(self.blobs[n])
            entry = self.hot[n] = [self.owner._build(_string_key(self.key), plain), plain]
            self.owner._touch(self)
        return entry[0]

    def __getitem__(self, range_key):
        n = self._find(range_key)
        if n is None:
            raise KeyError(range_key)
        return self._chunk(n)[range_key]

    def get(self, range_key, default=None):
        n = self._find(range_key)
        return default if n is None else self._chunk(n).get(range_key, default)

    def __contains__(self, range_key) -> bool:
        n = self._find(range_key)
        return n is not None and range_key in self._chunk(n)

    def __setitem__(self, range_key, item) -> None:
        n = self._find(range_key)
        if n is None:  # moto checks the key's type before it stores an item
            raise TypeError(f"a range key of type {self.range_type} was expected")
        self._chunk(n)[range_key] = item

    def pop(self, range_key, *default):
        n = self._find(range_key)
        if n is not None:
            chunk = self._chunk(n)
            if range_key in chunk:
                return chunk.pop(range_key)
        if default:
            return default[0]
        raise KeyError(range_key)

    def __delitem__(self, range_key) -> None:
        self.pop(range_key)

    def __len__(self) -> int:
        return sum(len(self.hot[n][0]) if n in self.hot else count for n, count in enumerate(self.counts))

    def __bool__(self) -> bool:
        return len(self) > 0

    def _walk(self, numbers=None):
        """The chunks' {range key: Item} dicts in order; cold ones are unpacked
        for the walk only (moto walks a partition only to read it)."""
        hash_key = _string_key(self.key)
        for n in range(len(self.blobs)) if numbers is None else numbers:
            entry = self.hot.get(n)
            yield entry[0] if entry is not None else self.owner._build(hash_key, self.owner._unpack(self.blobs[n]))

    def values(self) -> list:
        return [item for chunk in self._walk() for item in chunk.values()]

    def keys(self) -> list:
        return [key for chunk in self._walk() for key in chunk]

    def items(self) -> list:
        return [pair for chunk in self._walk() for pair in chunk.items()]

    def __iter__(self):
        return iter(self.keys())

    def covering(self, comparison: str, objs: list, limit, forward: bool) -> list | None:
        """The items of the chunks that can hold a range key passing the key
        condition (moto compares each one afterwards), or None when the
        condition is not one of a key (moto then looks at every item). With a
        Limit, also the next non-empty chunk in the reading direction: moto
        ends a full page with a LastEvaluatedKey when any item follows, passing
        or not."""
        if not objs or any(getattr(o, "type", None) != self.range_type for o in objs):
            return None
        op = comparison.upper()
        values = [_bound(o.type, o.value) for o in objs]
        prefix = low = high = None
        if op in ("EQ", "="):
            low = high = values[0]
        elif op in ("LT", "<", "LE", "<="):
            high = values[0]
        elif op in ("GT", ">", "GE", ">="):
            low = values[0]
        elif op == "BETWEEN" and len(values) == 2:
            low, high = values
        elif op == "BEGINS_WITH" and self.range_type == "S":
            prefix = values[0]
        else:
            return None
        chosen = []
        last = len(self.los) - 1
        for n in range(last + 1):
            lower = self.los[n][0] if n > 0 else None  # chunk 0 also holds keys before los[0]
            upper = self.los[n + 1][0] if n < last else None
            if prefix is not None:
                keep = (upper is None or upper >= prefix) and (
                    lower is None or lower <= prefix or lower.startswith(prefix)
                )
            else:
                keep = (low is None or upper is None or upper >= low) and (
                    high is None or lower is None or lower <= high
                )
            if keep:
                chosen.append(n)
        if limit is not None and chosen:
            following = range(chosen[-1] + 1, last + 1) if forward else range(chosen[0] - 1, -1, -1)
            for n in following:
                if len(self.hot[n][0]) if n in self.hot else self.counts[n]:
                    chosen.append(n)
                    break
        return [item for chunk in self._walk(sorted(chosen)) for item in chunk.values()]

    # -- packing ------------------------------------------------------------------
    def _packed(self, learn: bool) -> tuple[list, list, list]:
        """(los, blobs, counts) with the hot chunks packed (a changed chunk
        re-sorted, split when it grew past CHUNK_MAX, dropped when empty)."""
        los, blobs, counts = [], [], []
        newest = len(self.owner.zdicts) - 1
        hash_key = _string_key(self.key)
        for n, blob in enumerate(self.blobs):
            entry = self.hot.get(n)
            if entry is None:
                los.append(self.los[n])
                blobs.append(blob)
                counts.append(self.counts[n])
                continue
            current = self.owner._flatten(hash_key, entry[0])
            if current == entry[1] and blob[0] == newest:
                los.append(self.los[n])
                blobs.append(blob)
                counts.append(self.counts[n])
            elif current:
                pieces = self._pieces(current, learn)
                los += pieces[0]
                blobs += pieces[1]
                counts += pieces[2]
        return los, blobs, counts

    def pack(self) -> None:
        if self.hot:
            self.los, self.blobs, self.counts = self._packed(learn=True)
            self.hot.clear()

    def size(self) -> int:
        return sum(map(len, self.blobs))

    def __getstate__(self):
        state = dict(self.__dict__)
        if self.hot:
            state["los"], state["blobs"], state["counts"] = self._packed(learn=False)
            state["hot"] = {}
        return state


class Partitions:
    """`Table.items` of a compacted table (hash key of type S): the same
    mapping protocol as moto's defaultdict(dict), partitions packed between
    requests. `cold` holds {hash value: blob, or `Chunks` for a partition of
    more than CHUNK_MAX items}; `hot` {hash value: [hash key, partition (a
    dict, an Item or `Chunks`), blob it came from or None, its plain form]}
    until `pack()`."""

    def __init__(self, hash_attr: str, range_attr: str | None):
        self.hash_attr, self.range_attr = hash_attr, range_attr
        self.cold: dict[str, bytes | Chunks] = {}
        self.hot: dict[Any, list] = {}
        self.zdicts: list[bytes] = [b""]
        self.packs = 0
        self.samples: dict[str, tuple[int, bytes]] = {}  # key prefix -> (pack no., plain form)
        self.kinds: dict[str, int] = {}

    # -- moto's side: a defaultdict(dict) keyed by DynamoType ---------------
    @staticmethod
    def _key(hash_key):
        # another type can never equal a stored S key; a tuple never collides with a str
        return hash_key.value if hash_key.type == "S" else (hash_key.type, hash_key.value)

    def _thaw(self, key, hash_key=None):
        entry = self.hot.get(key)
        if entry is None:
            blob = self.cold.pop(key)
            hash_key = hash_key if hash_key is not None else _string_key(key)
            if isinstance(blob, Chunks):  # its chunks are unpacked as moto reaches them
                entry = self.hot[key] = [hash_key, blob, None, None]
            else:
                plain = self._unpack(blob)
                entry = self.hot[key] = [hash_key, self._build(hash_key, plain), blob, plain]
            _dirty[id(self)] = self
        return entry[1]

    def _touch(self, chunks: Chunks) -> None:
        """`chunks` unpacked a chunk: it is packed again with the other partitions."""
        if self.cold.get(chunks.key) is chunks:
            self._thaw(chunks.key)

    def __getitem__(self, hash_key):
        key = self._key(hash_key)
        if key in self.hot or key in self.cold:
            return self._thaw(key, hash_key)
        partition = self.hot[key] = [hash_key, {}, None, None]  # defaultdict(dict) semantics
        _dirty[id(self)] = self
        return partition[1]

    def __setitem__(self, hash_key, partition) -> None:
        key = self._key(hash_key)
        self.cold.pop(key, None)
        self.hot[key] = [hash_key, partition, None, None]
        _dirty[id(self)] = self

    def __contains__(self, hash_key) -> bool:
        key = self._key(hash_key)
        return key in self.hot or key in self.cold

    def get(self, hash_key, default=None):
        return self[hash_key] if hash_key in self else default

    def pop(self, hash_key, *default):
        key = self._key(hash_key)
        if key in self.hot or key in self.cold:
            partition = self._thaw(key, hash_key)
            del self.hot[key]
            return partition
        if default:
            return default[0]
        raise KeyError(hash_key)

    def __delitem__(self, hash_key) -> None:
        self.pop(hash_key)

    def __len__(self) -> int:
        return len(self.hot) + len(self.cold)

    def __bool__(self) -> bool:
        return bool(self.hot or self.cold)

    def __iter__(self):
        return iter(self.keys())

    def keys(self) -> list:
        return [entry[0] for entry in self.hot.values()] + [_string_key(k) for k in self.cold]

    def values(self):
        """Every partition. The cold ones are unpacked one at a time for the
        walk and not kept: moto 5.2.5 walks `items.values()` only to read
        (all_items, has_idx_items, __len__), never to write."""
        for entry in list(self.hot.values()):
            yield entry[1]
        for key, blob in list(self.cold.items()):
            yield blob if isinstance(blob, Chunks) else self._build(_string_key(key), self._unpack(blob))

    def items(self):
        for entry in list(self.hot.values()):
            yield entry[0], entry[1]
        for key, blob in list(self.cold.items()):
            hash_key = _string_key(key)
            yield hash_key, blob if isinstance(blob, Chunks) else self._build(hash_key, self._unpack(blob))

    def clear(self) -> None:
        self.cold.clear()
        self.hot.clear()

    # -- packing ------------------------------------------------------------
    def _build(self, hash_key, plain):
        """Items (a {range key: Item} dict, or one Item) from a partition's plain form."""
        from moto.dynamodb.models.dynamo_type import Item, LimitedSizeDict

        out = {}
        for range_pair, flat in plain:
            item = cast(Item, Item.__new__(Item))
            item.hash_key = hash_key
            item.range_key = _dynamo(range_pair) if range_pair is not None else None
            attrs = LimitedSizeDict.__new__(LimitedSizeDict)
            for i in range(0, len(flat), 2):
                name, pair = flat[i], flat[i + 1]
                if pair is None:  # a key attribute, stored once as the key
                    value = _string_key(hash_key.value) if name == self.hash_attr else _dynamo(range_pair)
                else:
                    value = _dynamo(pair)
                dict.__setitem__(attrs, name, value)
            item.attrs = attrs
            if self.range_attr is None:
                return item
            out[item.range_key] = item
        return out

    def _flatten(self, hash_key, partition) -> list:
        items = partition.values() if self.range_attr is not None else [partition]
        plain = []
        for item in items:
            range_pair = _plain(item.range_key) if item.range_key is not None else None
            flat = []
            for name, value in item.attrs.items():
                flat.append(name)
                if name == self.hash_attr and value.type == "S" and value.value == hash_key.value:
                    flat.append(None)
                elif (
                    name == self.range_attr
                    and range_pair is not None
                    and value.type == range_pair[0]
                    and value.value == range_pair[1]
                ):
                    flat.append(None)
                else:
                    flat.append(_plain(value))
            plain.append((range_pair, flat))
        return plain

    def _unpack(self, blob: bytes):
        kind = blob[0]
        if kind == _FORMAT_PICKLE:
            return pickle.loads(zlib.decompress(blob[1:]))
        inflate = zlib.decompressobj(zdict=self.zdicts[kind]) if kind else zlib.decompressobj()
        return marshal.loads(inflate.decompress(blob[1:]) + inflate.flush())

    def _encode(self, plain) -> tuple[bytes, bytes | None]:
        """(blob, marshal form or None when only pickle could store it)."""
        try:
            raw = marshal.dumps(plain, 4)
        except ValueError:  # an unusual value type (moto stores what it was given)
            return bytes([_FORMAT_PICKLE]) + zlib.compress(pickle.dumps(plain, protocol=5)), None
        kind = len(self.zdicts) - 1
        deflate = zlib.compressobj(6, zdict=self.zdicts[kind]) if kind else zlib.compressobj(6)
        return bytes([kind]) + deflate.compress(raw) + deflate.flush(), raw

    def _blob(self, key, plain, learn: bool = True) -> bytes:
        blob, raw = self._encode(plain)
        if learn and raw is not None:
            self._learn(key, raw)
        return blob

    def pack(self) -> int:
        """Pack every unpacked partition (empty ones are dropped, as nothing can
        read them); one grown past CHUNK_MAX items is packed as `Chunks`."""
        entries = list(self.hot.items())
        self.hot.clear()
        for key, (hash_key, partition, blob, plain) in entries:
            if isinstance(partition, Chunks):
                partition.pack()
                if partition:
                    self.cold[key] = partition
                continue
            if isinstance(partition, dict) and not partition:
                continue  # an empty collection moto's defaultdict made on a lookup
            current = self._flatten(hash_key, partition)
            if isinstance(key, str) and self.range_attr is not None and Chunks.fits(current):
                self.cold[key] = Chunks.split(self, key, current)
                continue
            if blob is None or current != plain or blob[0] != len(self.zdicts) - 1:
                blob = self._blob(key, current)
            self.cold[key] = blob
        return len(entries)

    def _learn(self, key, raw: bytes) -> None:
        """Keep a sample of each kind of partition; at the `_TRAIN_AT` counts, make
        the next shared dictionary from them (the most common kind last, nearest)."""
        self.packs += 1
        kind = key.split("#", 1)[0] if isinstance(key, str) else "?"
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        held = self.samples.get(kind)
        if len(raw) <= _SAMPLE_MAX and (held is None or len(raw) >= len(held[1]) or self.packs - held[0] > 512):
            self.samples[kind] = (self.packs, raw)
        if self.packs in _TRAIN_AT:
            ordered = sorted(self.samples, key=lambda k: self.kinds[k])
            self.zdicts.append(b"".join(self.samples[k][1] for k in ordered)[-_ZDICT_MAX:])

    def plain_dict(self):
        """moto's own defaultdict(dict) with every partition unpacked."""
        from collections import defaultdict

        out: defaultdict[Any, Any] = defaultdict(dict)
        for hash_key, partition in self.items():
            out[hash_key] = dict(partition.items()) if isinstance(partition, Chunks) else partition
        return out

    def __getstate__(self):
        state = dict(self.__dict__)
        cold = dict(self.cold)
        for key, (hash_key, partition, _, _) in self.hot.items():
            if isinstance(partition, Chunks):
                if partition:
                    cold[key] = partition  # packed by its own __getstate__
            elif not (isinstance(partition, dict) and not partition):
                cold[key] = self._encode(self._flatten(hash_key, partition))[0]
        state.update(cold=cold, hot={})
        return state


def compactable(table) -> bool:
    return table.hash_key_type == "S"


def adopt(table) -> None:
    """Give `table` the representation this process uses: `Partitions` when
    compacting (its items packed), moto's defaultdict otherwise; items of a
    state saved by an earlier per-item packing are unpacked."""
    table.__dict__.pop("_dangol_gsi_buckets", None)  # an older index record: rebuilt when queried
    items = table.items
    if isinstance(items, Partitions):
        if not compacting():
            table.items = items.plain_dict()
        return
    for collection in list(items.values()):
        for item in collection.values() if table.has_range_key else [collection]:
            packed = item.__dict__.pop("_packed", None)
            if packed is not None:
                item.__dict__["attrs"] = unpack(packed)
    if compacting() and compactable(table):
        partitions = Partitions(table.hash_key_attr, table.range_key_attr)
        for hash_key, partition in items.items():
            if partition:
                partitions[hash_key] = partition
        table.items = partitions
        partitions.pack()
        _dirty.pop(id(partitions), None)


def unpack(packed: bytes):
    """The attributes of an item packed one by one (state files saved before partitions)."""
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict

    attrs = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.update(attrs, pickle.loads(zlib.decompress(packed)))  # already validated when written
    return attrs


def _tables():
    from moto.dynamodb.models import dynamodb_backends

    for per_region in dict.values(dynamodb_backends):
        for backend in dict.values(per_region):
            yield from backend.tables.values()


def compact() -> int:
    """Pack the partitions read or changed since the last call (and give new
    tables their `Partitions`); returns how many were packed."""
    if not compacting():
        return 0
    packed = 0
    for table in _tables():
        if not isinstance(table.items, Partitions):
            adopt(table)
    while _dirty:
        _, partitions = _dirty.popitem()
        packed += partitions.pack()
    return packed


def footprint() -> dict:
    """What the compacted tables hold: partitions, the bytes of their blobs,
    index records (for the local service's /local/status)."""
    out = {"partitions": 0, "blob_bytes": 0, "index_records": 0}
    for table in _tables():
        if isinstance(table.items, Partitions):
            out["partitions"] += len(table.items)
            out["blob_bytes"] += sum(
                blob.size() if isinstance(blob, Chunks) else len(blob) for blob in table.items.cold.values()
            )
        state = table.__dict__.get(GSI_ATTR)
        if state is not None:
            out["index_records"] += sum(len(b) for buckets in state[1].values() for b in buckets.values())
    return out


def partition_keys(table) -> list[str]:
    """The S hash values of `table`'s partitions, none unpacked (for devtools)."""
    if isinstance(table.items, Partitions):
        return [e[0].value for e in table.items.hot.values()] + list(table.items.cold)
    return [k.value for k in table.items]


# -- 2. untracked items -------------------------------------------------------
def _item_new(cls, *args, **kwargs):
    # moto 5.2.5 BaseModel.__new__ appends every instance to
    # cls.instances_tracked and never lets go; DynamoDB items skip that list.
    return object.__new__(cls)


# -- 1. narrowed transaction backup -------------------------------------------
def _item_key(self, table, op_type: str, op: dict):
    if op_type == "Put":
        key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = op["Item"][table.range_key_attr]
    else:
        key = op["Key"]
    return self.get_keys_value(table, key)


def _stored(table, hash_value, range_value):
    """The item at a key, without adding an empty collection to moto's defaultdict."""
    if table.has_range_key:
        collection = table.items.get(hash_value)
        return None if collection is None else collection.get(range_value)
    return table.items.get(hash_value)


def _restore(table, hash_value, range_value, item) -> None:
    if table.has_range_key:
        if item is None:
            collection = table.items.get(hash_value)
            if collection is not None:
                collection.pop(range_value, None)
                if not collection:
                    del table.items[hash_value]
        else:
            table.items[hash_value][range_value] = item
    elif item is None:
        table.items.pop(hash_value, None)
    else:
        table.items[hash_value] = item
    if item is not None:
        _index_item(table, item)


def _transact_write_items(self, transact_items):
    # moto 5.2.5 deep-copies each named table as the rollback backup; here
    # only the named items are copied, and moto's own function runs with a
    # `copy` module whose deepcopy passes Table objects through unchanged.
    from moto.dynamodb.models.table import Table

    original = _original["transact_write_items"]
    models = _original["models"]
    snapshots = []
    try:
        for action in transact_items:
            op_type, op = next(iter(action.items()))
            table = self.get_table(op["TableName"])
            hash_value, range_value = _item_key(self, table, op_type, op)
            snapshots.append(
                (table, hash_value, range_value, real_copy.deepcopy(_stored(table, hash_value, range_value)))
            )
    except Exception:
        return original(self, transact_items)  # malformed: moto judges it as usual

    def deepcopy(obj, memo=None):
        return obj if isinstance(obj, Table) else real_copy.deepcopy(obj, memo)

    models.copy = types.SimpleNamespace(copy=real_copy.copy, deepcopy=deepcopy)
    try:
        return original(self, transact_items)
    except Exception:
        for table, hash_value, range_value, item in reversed(snapshots):
            _restore(table, hash_value, range_value, item)
        raise
    finally:
        models.copy = real_copy


# -- 3. index-aware query -----------------------------------------------------
def _gsi_hash_attrs(table) -> tuple[tuple[str, str, str | None], ...]:
    """(index name, hash attribute, range attribute or None) of each GSI with
    exactly one hash attribute (and at most one range attribute)."""
    out = []
    for index in table.global_indexes or []:
        hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
        ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
        if len(hashes) == 1 and len(ranges) <= 1:
            out.append((index.name, hashes[0], ranges[0] if ranges else None))
    return tuple(out)


def _slim(value):
    """A key or recorded index value, kept without its DynamoType: the str of
    an S value (short ones interned, e.g. a sort key "PROFILE" shared by every
    member), else (type, value)."""
    if value is None:
        return None
    if value.type == "S":
        return sys.intern(value.value) if len(value.value) <= 24 else value.value
    return (value.type, value.value)


def _unslim(slim):
    from moto.dynamodb.models.dynamo_type import DynamoType

    if slim is None:
        return None
    return _string_key(slim) if isinstance(slim, str) else DynamoType({slim[0]: slim[1]})


def _bucket_value(value):
    """What a bucket is found by: equal for values moto finds equal (numbers by value)."""
    if value.type == "S":
        return value.value
    return (value.type, value.cast_value)


def _every_item(table):
    """Every item, one partition at a time (a compacted table's partitions are
    unpacked for the walk only)."""
    for partition in table.items.values():
        if table.has_range_key:
            yield from list(partition.values())
        else:
            yield partition


def _buckets(table):
    """{index name: {hash value: {(hash key, range key): index range value}}},
    plain strings (see `_slim`); built on first use."""
    signature = _gsi_hash_attrs(table)
    state = table.__dict__.get(GSI_ATTR)
    if state is None or state[0] != signature:
        state = (signature, {name: {} for name, _, _ in signature})
        table.__dict__[GSI_ATTR] = state
        for item in _every_item(table):
            _index_item(table, item)
    return state


def _index_key(item) -> tuple:
    hash_value = item.hash_key.value if item.hash_key.type == "S" else _slim(item.hash_key)
    return (hash_value, _slim(item.range_key))


def _index_values(table, item) -> dict | None:
    """{index name: bucket value} of `item` (None before the buckets exist)."""
    state = table.__dict__.get(GSI_ATTR)
    if state is None or item is None:
        return None
    attrs = item.attrs
    return {name: _bucket_value(attrs[attr]) for name, attr, _ in state[0] if attrs.get(attr)}


def _index_item(table, item, before: dict | None = None) -> None:
    """Record `item` under its index values; with `before` (its values before
    an update), drop its records under values it no longer has."""
    state = table.__dict__.get(GSI_ATTR)
    if state is None or item is None:
        return  # built from the table's items when first queried
    signature, buckets = state
    attrs = item.attrs
    key = _index_key(item)
    now = {}
    for name, attr, range_attr in signature:
        value = attrs.get(attr)
        if value:
            recorded = _slim(attrs.get(range_attr)) if range_attr else None
            if recorded == key[0]:
                recorded = key[0]  # e.g. an index on the table's own hash key: one string
            now[name] = _bucket_value(value)
            buckets[name].setdefault(now[name], {})[key] = recorded
    for name, old in (before or {}).items():
        if now.get(name) != old:
            bucket = buckets[name].get(old)
            if bucket is not None:
                bucket.pop(key, None)
                if not bucket:
                    del buckets[name][old]


def _put_item(self, *args, **kwargs):
    from moto.dynamodb.models.dynamo_type import DynamoType

    before = None
    try:  # the index values of the item this put replaces
        attrs = args[0] if args else kwargs["item_attrs"]
        range_value = DynamoType(attrs[self.range_key_attr]) if self.range_key_attr else None
        before = _index_values(self, _stored(self, DynamoType(attrs[self.hash_key_attr]), range_value))
    except Exception:
        pass  # moto reports what is wrong with the item
    item = _original["put_item"](self, *args, **kwargs)
    _index_item(self, item, before)
    return item


def _update_item(self, table_name, key, *args, **kwargs):
    before = None
    try:
        table = self.get_table(table_name)
        before = _index_values(table, _stored(table, *self.get_keys_value(table, key)))
    except Exception:
        pass  # moto reports what is wrong with the request
    try:
        return _original["update_item"](self, table_name, key, *args, **kwargs)
    finally:
        # the item is changed in place; record it under its (new) index values
        # and forget it under the values it left (e.g. a notification sent)
        try:
            table = self.get_table(table_name)
            _index_item(table, _stored(table, *self.get_keys_value(table, key)), before)
        except Exception:
            pass


def _candidates(
    table,
    hash_key,
    index_name,
    hash_key_conditions,
    range_comparison=None,
    range_objs=(),
    range_key_conditions=None,
    limit=None,
    forward=True,
):
    range_named = {name for name, _, _ in (range_key_conditions or [])}
    if not index_name:
        if hash_key is None:
            return None
        stored = table.items.get(hash_key)
        if stored is None:
            return []
        if isinstance(stored, Chunks) and range_comparison and range_named <= {table.range_key_attr}:
            # a large compacted partition: only the chunks the key condition can reach
            covering = stored.covering(range_comparison, list(range_objs or ()), limit, forward)
            if covering is not None:
                return covering
        return list(stored.values()) if table.has_range_key else [stored]
    signature, buckets = _buckets(table)
    attr, range_attr = next(((a, r) for n, a, r in signature if n == index_name), (None, None))
    conditions = dict(hash_key_conditions or [])
    if attr is None or set(conditions) != {attr}:
        return None
    value = conditions[attr]
    found_by = _bucket_value(value)
    bucket = buckets[index_name].get(found_by)
    if not bucket:
        return []
    # moto compares the index's range attribute with the key condition after
    # building its candidates; an item whose recorded range value fails the
    # same comparison would be dropped there, so it is left out here. Not with
    # a Limit: moto then ends a full page with a LastEvaluatedKey when any
    # candidate follows, matching or not, and that answer is kept as it is.
    # (Without a Limit the one difference is at moto's 1 MB page size, which
    # it counts over non-matching candidates too: pages are cut by the size of
    # the matching items only, as DynamoDB does.)
    prefilter = bool(range_comparison) and limit is None and range_attr is not None and range_named <= {range_attr}
    found = []
    for key, recorded in list(bucket.items()):
        if prefilter and (recorded is None or not _unslim(recorded).compare(range_comparison, range_objs)):
            continue
        item = _stored(table, _unslim(key[0]), _unslim(key[1]))
        current = None if item is None else item.attrs.get(attr)
        if current is None or _bucket_value(current) != found_by:
            del bucket[key]  # deleted, or moved to another value or out of the index, since recorded
        else:
            found.append(item)
    if not bucket:
        buckets[index_name].pop(found_by, None)
    # all_items() order, so moto's stable sort sees the same input order
    found.sort(key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)
    return found


def _all_items(self):
    narrowed = getattr(_narrowed, "answer", None)
    if narrowed is not None and narrowed[0] is self:
        return list(narrowed[1])
    return _original["all_items"](self)


def _query(
    self,
    hash_key,
    range_comparison,
    range_objs,
    limit,
    exclusive_start_key,
    scan_index_forward,
    projection_expressions,
    index_name=None,
    *args,
    **kwargs,
):
    original = _original["query"]
    candidates = None
    try:
        candidates = _candidates(
            self,
            hash_key,
            index_name,
            kwargs.get("hash_key_conditions"),
            range_comparison,
            range_objs,
            kwargs.get("range_key_conditions"),
            limit,
            scan_index_forward is not False,
        )
    except Exception:
        candidates = None  # anything unusual: moto's full walk
    if candidates is None:
        return original(
            self,
            hash_key,
            range_comparison,
            range_objs,
            limit,
            exclusive_start_key,
            scan_index_forward,
            projection_expressions,
            index_name,
            *args,
            **kwargs,
        )
    saved = getattr(_narrowed, "answer", None)
    _narrowed.answer = (self, candidates)
    try:
        return original(
            self,
            hash_key,
            range_comparison,
            range_objs,
            limit,
            exclusive_start_key,
            scan_index_forward,
            projection_expressions,
            index_name,
            *args,
            **kwargs,
        )
    finally:
        _narrowed.answer = saved


# -- 5. queue attributes without message counts ------------------------------------
QUEUE_COUNTS = frozenset(
    {"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed", "ApproximateNumberOfMessagesNotVisible"}
)
_uncounted = threading.local()  # .depth > 0: Queue.attributes leaves the counts out


@contextlib.contextmanager
def _without_counts():
    _uncounted.depth = getattr(_uncounted, "depth", 0) + 1
    try:
        yield
    finally:
        _uncounted.depth -= 1


def _queue_attributes(self) -> dict:
    """moto's `Queue.attributes`; inside `_without_counts()` without the three
    ApproximateNumberOfMessages* entries (each a walk of every message)."""
    if not getattr(_uncounted, "depth", 0):
        return _original["queue_attributes"].fget(self)
    from moto.core.utils import camelcase_to_underscores

    result: dict[str, Any] = {}
    for attribute in self.BASE_ATTRIBUTES:
        if attribute not in QUEUE_COUNTS:
            result[attribute] = getattr(self, camelcase_to_underscores(attribute))
    if self.fifo_queue:
        for attribute in self.FIFO_ATTRIBUTES:
            result[attribute] = getattr(self, camelcase_to_underscores(attribute))
    if self.kms_master_key_id:
        for attribute in self.KMS_ATTRIBUTES:
            result[attribute] = getattr(self, camelcase_to_underscores(attribute))
    if self.policy:
        result["Policy"] = self.policy
    if self.redrive_policy:
        import json

        result["RedrivePolicy"] = json.dumps(self.redrive_policy)
    for key in result:
        if isinstance(result[key], bool):
            result[key] = str(result[key]).lower()
    return result


def _queue_messages(self) -> list:
    """moto's `Queue.messages` (visible and not delayed) with the clock read
    once for the listing: `Message.visible` and `.delayed` compare
    `unix_time_millis()` with `visible_at` and `delayed_until`."""
    from moto.sqs import models

    now = models.unix_time_millis()
    return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]


def _send_message(self, *args, **kwargs):
    with _without_counts():  # reads ContentBasedDeduplication only
        return _original["send_message"](self, *args, **kwargs)


def _get_queue_attributes(self, queue_name: str, attribute_names: list[str]) -> dict:
    if not attribute_names or "All" in attribute_names or QUEUE_COUNTS.intersection(attribute_names):
        return _original["get_queue_attributes"](self, queue_name, attribute_names)
    with _without_counts():
        return _original["get_queue_attributes"](self, queue_name, attribute_names)


# -- 6. DynamoDB attribute values as they are on the wire ---------------------------
# AttributeValue's members in the order of botocore's model (moto writes them so)
ATTRIBUTE_VALUE_MEMBERS = ("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL")
_WIRE_MEMBERS = frozenset({"S", "N", "SS", "NS", "M", "L", "NULL", "BOOL"})
_EMPTY: list[Any] = [None, {}, []]  # what moto's string serializer passes through unchanged


class _MotoPath(Exception):
    """The value is not one `_wire_value` writes: moto's serializer writes it."""


def _wire_string(value):
    return str(value) if value not in _EMPTY else value


def _wire_value(value) -> dict:
    """An AttributeValue dict as moto's JSON serializer writes it."""
    if type(value) is not dict or not _WIRE_MEMBERS.issuperset(value):
        raise _MotoPath
    out = {}
    for name in ATTRIBUTE_VALUE_MEMBERS:
        member = value.get(name)
        if member is None:
            continue
        if name == "S" or name == "N":
            out[name] = _wire_string(member)
        elif name == "M":
            if type(member) is not dict or "" in member:  # moto writes an empty key's value into the map
                raise _MotoPath
            out[name] = {k: _wire_value(v) for k, v in member.items() if v is not None}
        elif name == "L":
            out[name] = [None if v is None else _wire_value(v) for v in member]
        elif name == "SS" or name == "NS":
            out[name] = [_wire_string(v) for v in member]
        else:  # NULL, BOOL
            out[name] = member
    return out


def _json_structure(self, serialized, value, shape, key) -> None:
    if key and value is not None and shape.name == "AttributeValue" and self.service_model.service_name == "dynamodb":
        try:
            wire = _wire_value(value)
        except _MotoPath:
            pass
        else:
            serialized[self.get_serialized_name(shape, key)] = wire
            return
    _original["json_structure"](self, serialized, value, shape, key)
