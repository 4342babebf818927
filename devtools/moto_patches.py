"""Patches to moto 5.2.5 so that an embedded DynamoDB's cost per request does
not grow with the table.

Stock moto 5.2.5 has three costs that grow with everything stored so far:

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
   `Table.put_item` and `DynamoDBBackend.update_item`, checked against the
   table's current items at query time, so a stale entry is dropped, never
   returned); with a range key condition and no Limit, only those whose
   recorded range value passes it. moto's query then filters, sorts and
   pages as before.
4. `compact_items` (opt-in, `enable_compaction()`; the local service uses it):
   a stored item's attributes are kept as one compressed pickle instead of a
   tree of `DynamoType` objects (a tenth of the memory or less), and unpacked
   the moment anything reads `item.attrs` (a class-level `__getattr__`, so
   moto's code is unchanged); the items of one partition share one hash-key
   object. `compact()` packs the items stored, changed or read since its last
   call; the serial server calls it after each request. A member with three
   purchases (16 items) then takes about 16 KB instead of 54 KB.

Each patched function's source is checked against the hash of the moto 5.2.5
source it was written for: a moto whose patched code changed fails loudly at
`apply()` rather than silently misbehaving. `DANGOL_STOCK_MOTO=1` leaves moto
as it is (`apply()` does nothing), to run the test suite on stock moto.
"""
from __future__ import annotations

import contextlib
import copy as real_copy
import hashlib
import inspect
import os
import pickle
import threading
import types
import zlib
from typing import Any, Callable

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
}


class MotoPatchMismatch(RuntimeError):
    """The installed moto is not the one these patches were written for."""


def stock_requested() -> bool:
    return os.environ.get("DANGOL_STOCK_MOTO", "") not in ("", "0")


def _targets() -> dict[str, Callable]:
    from moto.core.common_models import BaseModel
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    return {
        "DynamoDBBackend.transact_write_items": _original.get("transact_write_items",
                                                              DynamoDBBackend.transact_write_items),
        "DynamoDBBackend.update_item": _original.get("update_item", DynamoDBBackend.update_item),
        "BaseModel.__new__": BaseModel.__new__,
        "Table.query": _original.get("query", Table.query),
        "Table.all_items": _original.get("all_items", Table.all_items),
        "Table.put_item": _original.get("put_item", Table.put_item),
    }


def source_hashes() -> dict[str, str]:
    """sha256 of the current source of every function the patches touch."""
    return {name: hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()
            for name, fn in _targets().items()}


def check_moto() -> None:
    """Raise MotoPatchMismatch unless moto is the version (and code) patched here."""
    import moto

    if moto.__version__ != TARGET_VERSION:
        raise MotoPatchMismatch(
            f"devtools/moto_patches.py targets moto {TARGET_VERSION}, found {moto.__version__}: "
            "review each patch against the new moto (or set DANGOL_STOCK_MOTO=1 to run stock moto)")
    changed = [name for name, digest in source_hashes().items() if digest != EXPECTED_SOURCES[name]]
    if changed:
        raise MotoPatchMismatch(
            f"moto {moto.__version__}: the source of {', '.join(changed)} differs from the code "
            "devtools/moto_patches.py was written for: review the patches "
            "(or set DANGOL_STOCK_MOTO=1 to run stock moto)")


# -- state --------------------------------------------------------------------
_lock = threading.Lock()
_original: dict[str, Any] = {}
_narrowed = threading.local()  # .table, .items: what all_items() answers during a query
GSI_ATTR = "_dangol_gsi_buckets"


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
        from moto.dynamodb import models
        from moto.dynamodb.models import DynamoDBBackend
        from moto.dynamodb.models.dynamo_type import Item
        from moto.dynamodb.models.table import Table

        _original.update(
            transact_write_items=DynamoDBBackend.transact_write_items,
            update_item=DynamoDBBackend.update_item,
            query=Table.query,
            all_items=Table.all_items,
            put_item=Table.put_item,
            item_new=Item.__dict__.get("__new__"),
            models=models,
        )
        DynamoDBBackend.transact_write_items = _transact_write_items
        DynamoDBBackend.update_item = _update_item
        Table.query = _query
        Table.all_items = _all_items
        Table.put_item = _put_item
        Item.__new__ = staticmethod(_item_new)
        return True


def remove() -> None:
    """Undo `apply()` (tests compare stock and patched moto in one process)."""
    with _lock:
        if not _original:
            return
        from moto.dynamodb.models import DynamoDBBackend
        from moto.dynamodb.models.dynamo_type import Item
        from moto.dynamodb.models.table import Table

        DynamoDBBackend.transact_write_items = _original["transact_write_items"]
        DynamoDBBackend.update_item = _original["update_item"]
        Table.query = _original["query"]
        Table.all_items = _original["all_items"]
        Table.put_item = _original["put_item"]
        if "__getattr__" in Item.__dict__:
            del Item.__getattr__
        _hot.clear()
        if _original["item_new"] is None:
            del Item.__new__
        else:
            Item.__new__ = _original["item_new"]
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
_hot: dict[int, Any] = {}  # id -> stored item whose attributes are unpacked


def enable_compaction() -> bool:
    """Keep stored items packed between requests (after `apply()`)."""
    from moto.dynamodb.models.dynamo_type import Item

    if not applied():
        return False
    with _lock:
        if "__getattr__" in Item.__dict__ and Item.__dict__["__getattr__"] is not _item_getattr:
            raise MotoPatchMismatch("moto's Item has a __getattr__ of its own: review compact_items")
        Item.__getattr__ = _item_getattr
    return True


def compacting() -> bool:
    from moto.dynamodb.models.dynamo_type import Item

    return Item.__dict__.get("__getattr__") is _item_getattr


def _item_getattr(self, name):
    if name == "attrs":
        state = self.__dict__
        packed = state.get("_packed")
        if packed is not None:
            attrs = unpack(packed)
            del state["_packed"]
            state["attrs"] = attrs
            _hot[id(self)] = self
            return attrs
    raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def unpack(packed: bytes):
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict

    attrs = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.update(attrs, pickle.loads(zlib.decompress(packed)))  # already validated when written
    return attrs


def _touched(item) -> None:
    if item is not None and compacting():
        _hot[id(item)] = item


def compact() -> int:
    """Pack the attributes of every item stored, changed or read since the last call."""
    if not _hot:
        return 0
    items = list(_hot.values())
    _hot.clear()
    for item in items:
        state = item.__dict__
        attrs = state.get("attrs")
        if attrs is not None:
            state["_packed"] = zlib.compress(pickle.dumps(dict(attrs), protocol=5), 1)
            del state["attrs"]
    return len(items)


def unpack_all(table) -> None:
    """Unpack every item of `table` (a state saved with compaction, loaded without it)."""
    for collection in list(table.items.values()):
        for item in (collection.values() if table.has_range_key else [collection]):
            packed = item.__dict__.pop("_packed", None)
            if packed is not None:
                item.__dict__["attrs"] = unpack(packed)


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
        _touched(item)


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
            snapshots.append((table, hash_value, range_value,
                              real_copy.deepcopy(_stored(table, hash_value, range_value))))
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


def _buckets(table):
    """{index name: {hash value: {(hash key, range key): index range value}}}, built on first use."""
    signature = _gsi_hash_attrs(table)
    state = table.__dict__.get(GSI_ATTR)
    if state is None or state[0] != signature:
        state = (signature, {name: {} for name, _, _ in signature})
        table.__dict__[GSI_ATTR] = state
        for item in _original["all_items"](table):
            _index_item(table, item)
    return state


def _index_item(table, item) -> None:
    state = table.__dict__.get(GSI_ATTR)
    if state is None or item is None:
        return  # built from the table's items when first queried
    signature, buckets = state
    attrs = item.attrs
    for name, attr, range_attr in signature:
        value = attrs.get(attr)
        if value:
            buckets[name].setdefault(value, {})[(item.hash_key, item.range_key)] = (
                attrs.get(range_attr) if range_attr else None)


def _put_item(self, *args, **kwargs):
    item = _original["put_item"](self, *args, **kwargs)
    _index_item(self, item)
    if compacting() and self.has_range_key:
        # the items of one partition share one hash-key object (moto makes one per item)
        first = next(iter(self.items[item.hash_key].values()))
        if first is not item and first.hash_key == item.hash_key:
            item.hash_key = first.hash_key
    _touched(item)
    return item


def _update_item(self, table_name, key, *args, **kwargs):
    try:
        return _original["update_item"](self, table_name, key, *args, **kwargs)
    finally:
        # the item is changed in place; record it under its (new) index values
        try:
            table = self.get_table(table_name)
            _index_item(table, _stored(table, *self.get_keys_value(table, key)))
        except Exception:
            pass


def _candidates(table, hash_key, index_name, hash_key_conditions, range_comparison=None,
                range_objs=(), range_key_conditions=None, limit=None):
    if not index_name:
        if hash_key is None:
            return None
        stored = table.items.get(hash_key)
        if stored is None:
            return []
        return list(stored.values()) if table.has_range_key else [stored]
    signature, buckets = _buckets(table)
    attr, range_attr = next(((a, r) for n, a, r in signature if n == index_name), (None, None))
    conditions = dict(hash_key_conditions or [])
    if attr is None or set(conditions) != {attr}:
        return None
    value = conditions[attr]
    bucket = buckets[index_name].get(value)
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
    range_named = {name for name, _, _ in (range_key_conditions or [])}
    prefilter = (bool(range_comparison) and limit is None and range_attr is not None
                 and range_named <= {range_attr})
    found = []
    for key, recorded in list(bucket.items()):
        if prefilter and (recorded is None or not recorded.compare(range_comparison, range_objs)):
            continue
        item = _stored(table, *key)
        if item is None or item.attrs.get(attr) != value:
            del bucket[key]  # deleted or moved to another value since recorded
        else:
            found.append(item)
    if not bucket:
        buckets[index_name].pop(value, None)
    # all_items() order, so moto's stable sort sees the same input order
    found.sort(key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)
    return found


def _all_items(self):
    narrowed = getattr(_narrowed, "answer", None)
    if narrowed is not None and narrowed[0] is self:
        return list(narrowed[1])
    return _original["all_items"](self)


def _query(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
           scan_index_forward, projection_expressions, index_name=None, *args, **kwargs):
    original = _original["query"]
    candidates = None
    try:
        candidates = _candidates(self, hash_key, index_name, kwargs.get("hash_key_conditions"),
                                 range_comparison, range_objs, kwargs.get("range_key_conditions"),
                                 limit)
    except Exception:
        candidates = None  # anything unusual: moto's full walk
    if candidates is None:
        return original(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
                        scan_index_forward, projection_expressions, index_name, *args, **kwargs)
    saved = getattr(_narrowed, "answer", None)
    _narrowed.answer = (self, candidates)
    try:
        return original(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
                        scan_index_forward, projection_expressions, index_name, *args, **kwargs)
    finally:
        _narrowed.answer = saved
