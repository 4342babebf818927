"""moto 5.2.5 copies the whole table for every TransactWriteItems (its rollback
backup); this narrows the backup to the items the transaction names."""
from __future__ import annotations


def lighten_moto_transactions() -> None:
    """Make moto's TransactWriteItems cost independent of the table's size.

    moto 5 backs up a transaction by deep-copying the whole table once per
    action, so its latency grows with everything stored so far (a few thousand
    items make each transaction take seconds). Here the backup is narrowed to
    the items the transaction names: they are copied before it runs and put
    back if it fails, which restores exactly what the table copy would.
    Outcomes (conditions, cancellation reasons, rollback) are moto's own.
    """
    import copy as real_copy
    import types

    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    if getattr(models.DynamoDBBackend.transact_write_items, "_lightened", False):
        return
    original = models.DynamoDBBackend.transact_write_items

    def deepcopy(obj, memo=None):
        return obj if isinstance(obj, Table) else real_copy.deepcopy(obj, memo)

    shim = types.SimpleNamespace(copy=real_copy.copy, deepcopy=deepcopy)

    def transact_write_items(self, transact_items):
        snapshots = []
        try:
            for action in transact_items:
                op_type, op = next(iter(action.items()))
                table = self.get_table(op["TableName"])
                if op_type == "Put":
                    key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                    if table.range_key_attr is not None:
                        key[table.range_key_attr] = op["Item"][table.range_key_attr]
                else:
                    key = op["Key"]
                hash_value, range_value = self.get_keys_value(table, key)
                current = table.get_item(hash_value, range_value)
                snapshots.append((table, hash_value, range_value, real_copy.deepcopy(current)))
        except Exception:
            return original(self, transact_items)  # malformed: let moto judge it as usual
        models.copy = shim
        try:
            return original(self, transact_items)
        except Exception:
            for table, hash_value, range_value, item in reversed(snapshots):
                if table.has_range_key:
                    bucket = table.items[hash_value]
                    if item is None:
                        bucket.pop(range_value, None)
                    else:
                        bucket[range_value] = item
                elif item is None:
                    table.items.pop(hash_value, None)
                else:
                    table.items[hash_value] = item
            raise
        finally:
            models.copy = real_copy

    transact_write_items._lightened = True
    models.DynamoDBBackend.transact_write_items = transact_write_items
