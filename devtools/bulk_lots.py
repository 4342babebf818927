"""Gives a member many lots fast, straight through the table (for the 20,000-lot
test and the scale benchmark): lot items in the member's space, its profile's
run and balance, one `adjust` transaction of their sum and the /stats counter,
so every ledger rule still holds afterwards."""

from __future__ import annotations

import datetime as dt

from chalicelib.domain.calendar import format_instant
from chalicelib.domain.wallet import lot_key
from chalicelib.storage.store import to_attrs


def add_lots(
    store, member_id: str, count: int, now: dt.datetime, first_days: int = 10, step_minutes: int = 43
) -> tuple[list[tuple[str, int]], int]:
    """`count` lots of 1-5 points, expiring every `step_minutes` from `first_days` on."""
    created = format_instant(now - dt.timedelta(days=1))
    lots = [
        (
            lot_key(
                format_instant(now + dt.timedelta(days=first_days, minutes=step_minutes * i)), created, f"BULK{i:06d}"
            ),
            1 + i % 5,
        )
        for i in range(count)
    ]
    pk = f"MEMBER#{member_id}"
    for start in range(0, count, 25):
        store.client.batch_write_item(
            RequestItems={
                store.table: [
                    {
                        "PutRequest": {
                            "Item": to_attrs(
                                {
                                    "pk": pk,
                                    "sk": f"LOT#S0#{key}",
                                    "base": "S0",
                                    "key": key,
                                    "points": points,
                                    "taken": 0,
                                }
                            )
                        }
                    }
                    for key, points in lots[start : start + 25]
                ]
            }
        )
    total = sum(points for _, points in lots)
    profile = store.get(pk, "PROFILE")
    run = next(r for r in profile["runs"] if r["id"] == "S0")
    if run["floor"] and lots and run["floor"] > lots[0][0]:
        raise ValueError("the member's space has moved past these lots")
    run["remaining"] += total
    if lots and (run.get("head") is None or lots[0][0] < run["head"]):
        run["head"], run["head_left"] = lots[0]
    profile["balance"] += total
    profile["version"] += 1
    profile["next_expiry"] = min(filter(None, [profile.get("next_expiry"), lots[0][0].split("#")[0]]))
    store.client.put_item(TableName=store.table, Item=to_attrs(profile))
    tx_id = "01BULK" + format_instant(now).replace("-", "").replace(":", "")[:20].ljust(20, "0")
    store.client.put_item(
        TableName=store.table,
        Item=to_attrs(
            {
                "pk": pk,
                "sk": f"TX#{tx_id}",
                "transaction_id": tx_id,
                "member_id": member_id,
                "type": "adjust",
                "points": total,
                "balance_after": profile["balance"],
                "created_at": created,
                "reason": "bulk lots",
                "storefront": None,
            }
        ),
    )
    store.client.update_item(
        TableName=store.table,
        Key=to_attrs({"pk": "STATS#000", "sk": "STATS"}),
        UpdateExpression="ADD points_adjusted :t",
        ExpressionAttributeValues=to_attrs({":t": total}),
    )
    return lots, total
