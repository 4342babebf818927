"""Fact rows from the table's change stream (contract §17): pure functions.

A stream record (NEW_AND_OLD_IMAGES) is given as a dict

    {"eventName": "INSERT" | "MODIFY" | "REMOVE", "SequenceNumber": "<digits>",
     "NewImage": {...} | None, "OldImage": {...} | None,
     "ApproximateCreationDateTime": <epoch seconds> | None}

with the images already plain (`chalicelib.storage.store.from_attrs`). Only
three kinds of item make facts:

- a member's profile (`MEMBER#<id>` / `PROFILE`): a `members` row whenever what
  the row shows changed (tier, balance, activity, dormancy, status);
- a ledger transaction (`MEMBER#<id>` / `[G<n>#]TX#<id>`): a `transactions` row
  when it is written and whenever what the row shows changed (a refund moves an
  earn's `refunded_amount`), and, when an earn is written, one `earn_items` row
  per purchase item;
- the lines of a large purchase kept beside its transaction
  (`[G<n>#]LINES#<tx>#<part>`, see commands/earn.py): their `earn_items`;
- a coupon in its member's history (`MEMBER#<id>` / `[G<n>#]COUPON#<id>`):
  `coupon_events` `issued` when written, `used` when its status becomes used,
  `released` when it goes from used back to available. (The code's own item,
  `COUPON#<code>` / `COUPON`, holds the same state and is ignored.) A coupon a
  campaign issued (§22, `campaign_id` on the item) also makes a `campaign_coupons`
  row when written;
- an earn's breakdown lines (`breakdown` of the transaction, as recorded when it
  was written: a refund's clawback never rewrites them): `breakdown_lines`;
- a member's place in a campaign's audience (`MEMBER#<id>` / `[G<n>#]CAMPAIGN#<id>`,
  written once at the launch, §22): a `campaign_members` row (campaign, member, arm).

Rows are built field by field from an allow-list: no personal data (name,
email, phone, birthday, suspension reason) can reach them. Times are UTC text
`YYYY-MM-DD HH:MM:SS` and dates `YYYY-MM-DD` (program timezone), so a row is
plain JSON for Firehose and casts to TIMESTAMP / DATE in DuckDB and Athena.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any, Optional

from chalicelib.domain.calendar import local_date, parse_instant

MEMBERS = "members"
TRANSACTIONS = "transactions"
EARN_ITEMS = "earn_items"
COUPON_EVENTS = "coupon_events"
BREAKDOWN_LINES = "breakdown_lines"
CAMPAIGN_MEMBERS = "campaign_members"
CAMPAIGN_COUPONS = "campaign_coupons"
TABLES = (MEMBERS, TRANSACTIONS, EARN_ITEMS, COUPON_EVENTS, BREAKDOWN_LINES, CAMPAIGN_MEMBERS, CAMPAIGN_COUPONS)

# Column order of each table, as engine.py creates them (the interface's schema;
# earn_items also has `line`, its place in the earn, so that a row delivered twice
# can be told from two equal lines of one purchase).
COLUMNS = {
    MEMBERS: (
        "member_id",
        "generation",
        "enrolled_at",
        "enrolled_date",
        "tier",
        "balance",
        "last_activity_at",
        "dormant",
        "status",
        "seq",
    ),
    TRANSACTIONS: (
        "transaction_id",
        "member_id",
        "generation",
        "type",
        "points",
        "created_at",
        "created_date",
        "occurred_at",
        "occurred_date",
        "order_id",
        "amount",
        "refunded_amount",
        "seq",
    ),
    EARN_ITEMS: ("transaction_id", "member_id", "generation", "occurred_date", "line", "sku", "category", "amount"),
    COUPON_EVENTS: ("coupon_id", "member_id", "generation", "event", "event_at", "event_date", "seq"),
    BREAKDOWN_LINES: ("transaction_id", "member_id", "generation", "occurred_date", "line", "rule", "points"),
    CAMPAIGN_MEMBERS: ("campaign_id", "member_id", "generation", "arm", "assigned_at"),
    CAMPAIGN_COUPONS: ("coupon_id", "campaign_id", "member_id", "generation"),
}

MEMBER_PREFIX = "MEMBER#"
_OWNED = re.compile(r"^(?:G(?P<generation>\d+)#)?(?P<kind>TX|COUPON|LINES|CAMPAIGN)#(?P<id>.+)$")


def rows_from_records(records: Iterable[dict], timezone: str) -> dict[str, list[dict]]:
    """The fact rows the records make, by table (every table present, maybe empty)."""
    rows: dict[str, list[dict]] = {table: [] for table in TABLES}
    for record in records:
        for table, row in rows_from_record(record, timezone):
            rows[table].append(row)
    return rows


def rows_from_record(record: dict, timezone: str) -> list[tuple[str, dict]]:
    new = record.get("NewImage") or None
    old = record.get("OldImage") or None
    image = new or old
    if image is None:
        return []
    pk, sk = str(image.get("pk", "")), str(image.get("sk", ""))
    if not pk.startswith(MEMBER_PREFIX):
        return []
    seq = sequence(record["SequenceNumber"])
    if sk == "PROFILE":
        return _member_rows(record["eventName"], new, old, seq, timezone)
    owned = _OWNED.match(sk)
    if owned is None:
        return []
    generation = int(owned.group("generation") or 0)
    if owned.group("kind") == "TX":
        return _transaction_rows(new, old, generation, seq, timezone)
    if owned.group("kind") == "LINES":
        if record["eventName"] != "INSERT" or new is None:
            return []  # written once
        occurred_date = program_date(new["occurred_at"], timezone)
        return _line_rows(new, generation, occurred_date, int(new.get("first_line") or 0))
    if owned.group("kind") == "CAMPAIGN":
        if record["eventName"] != "INSERT" or new is None:
            return []  # written once
        return _campaign_member_rows(new, generation)
    return _coupon_rows(new, old, generation, seq, timezone, record.get("ApproximateCreationDateTime"))


# -- members -----------------------------------------------------------------
def member_row(profile: dict, seq: str, timezone: str, erased: bool = False) -> dict:
    enrolled = profile["created_at"]
    status = "erased" if erased or profile.get("erased") else ("suspended" if profile.get("suspension") else "active")
    return {
        "member_id": profile["member_id"],
        "generation": int(profile.get("generation") or 0),
        "enrolled_at": timestamp(enrolled),
        "enrolled_date": program_date(enrolled, timezone),
        "tier": profile.get("tier"),
        # §25: the spendable balance as of the member's last change (a profile written
        # before pending points existed has only `balance`, which was that)
        "balance": int(profile.get("spendable_balance", profile.get("balance")) or 0),
        "last_activity_at": timestamp(profile.get("last_activity_at") or enrolled),
        "dormant": bool(profile.get("dormant_since")),
        "status": status,
        "seq": seq,
    }


def _member_rows(event: str, new: Optional[dict], old: Optional[dict], seq: str, timezone: str) -> list:
    if new is None:  # a profile deleted: the member is gone
        return [(MEMBERS, member_row(old, seq, timezone, erased=True))] if old else []
    row = member_row(new, seq, timezone)
    if old is not None and int(old.get("generation") or 0) == row["generation"]:
        if _without_seq(member_row(old, seq, timezone)) == _without_seq(row):
            return []  # a change the row does not show (a lot taken, a counter moved)
    return [(MEMBERS, row)]


# -- transactions ----------------------------------------------------------------
def transaction_row(tx: dict, generation: int, seq: str, timezone: str) -> dict:
    created = tx["created_at"]
    occurred = tx.get("occurred_at") or created
    earn = tx.get("type") == "earn"
    return {
        "transaction_id": tx["transaction_id"],
        "member_id": tx["member_id"],
        "generation": generation,
        "type": tx["type"],
        "points": int(tx.get("points") or 0),
        "created_at": timestamp(created),
        "created_date": program_date(created, timezone),
        "occurred_at": timestamp(occurred),
        "occurred_date": program_date(occurred, timezone),
        "order_id": tx.get("order_id"),
        "amount": _int_or_none(tx.get("amount")),
        "refunded_amount": int(tx.get("refunded_amount") or 0) if earn else None,
        "seq": seq,
    }


def _transaction_rows(new: Optional[dict], old: Optional[dict], generation: int, seq: str, timezone: str) -> list:
    if new is None:
        return []  # transactions are written once and never deleted
    row = transaction_row(new, generation, seq, timezone)
    if old is not None:
        if _without_seq(transaction_row(old, generation, seq, timezone)) == _without_seq(row):
            return []  # e.g. a cancelled redemption's `restored`: nothing the row shows
        return [(TRANSACTIONS, row)]
    rows: list[tuple[str, dict]] = [(TRANSACTIONS, row)]
    if new.get("type") == "earn":
        rows += _line_rows(new, generation, row["occurred_date"], 0)
        rows += _breakdown_rows(new, generation, row["occurred_date"])
    return rows


def _breakdown_rows(tx: dict, generation: int, occurred_date: str) -> list:
    """breakdown_lines of an earn, as recorded when it was written (`line` = the line's place)."""
    return [
        (
            BREAKDOWN_LINES,
            {
                "transaction_id": tx["transaction_id"],
                "member_id": tx["member_id"],
                "generation": generation,
                "occurred_date": occurred_date,
                "line": line_number,
                "rule": str(line.get("rule") or ""),
                "points": int(line.get("points") or 0),
            },
        )
        for line_number, line in enumerate(tx.get("breakdown") or [])
    ]


# -- campaigns -------------------------------------------------------------------
def _campaign_member_rows(item: dict, generation: int) -> list:
    """A member's place in a campaign's audience (the assignment item, written once)."""
    assigned = item.get("assigned_at")
    return [
        (
            CAMPAIGN_MEMBERS,
            {
                "campaign_id": item["campaign_id"],
                "member_id": item["member_id"],
                "generation": int(item.get("generation", generation) or 0),
                "arm": item["arm"],
                "assigned_at": timestamp(assigned) if assigned else None,
            },
        )
    ]


def _line_rows(item: dict, generation: int, occurred_date: str, first_line: int) -> list:
    """earn_items of an earn's lines (`items` of the transaction, or of a LINES part
    of a large purchase, whose first line is number `first_line`)."""
    return [
        (
            EARN_ITEMS,
            {
                "transaction_id": item["transaction_id"],
                "member_id": item["member_id"],
                "generation": generation,
                "occurred_date": occurred_date,
                "line": first_line + offset,
                "sku": line.get("sku"),
                "category": line.get("category"),
                "amount": int(line.get("amount") or 0),
            },
        )
        for offset, line in enumerate(item.get("items") or [])
    ]


# -- coupons -------------------------------------------------------------------
def _coupon_rows(
    new: Optional[dict], old: Optional[dict], generation: int, seq: str, timezone: str, approximate: Any
) -> list:
    if new is None:
        return []
    rows: list[tuple[str, dict]] = []
    if old is None and new.get("campaign_id"):
        rows.append(
            (
                CAMPAIGN_COUPONS,
                {
                    "coupon_id": new["coupon_id"],
                    "campaign_id": new["campaign_id"],
                    "member_id": new["member_id"],
                    "generation": int(new.get("generation", generation) or 0),
                },
            )
        )
    before = old.get("status") if old is not None else None
    after = new.get("status")
    if old is None:
        event, at = "issued", new.get("issued_at")
    elif before != "used" and after == "used":
        event, at = "used", new.get("used_at")
    elif before == "used" and after == "available":
        event, at = "released", new.get("released_at") or _approximate_instant(approximate)
    else:
        return rows
    if not at:
        return rows
    return rows + [
        (
            COUPON_EVENTS,
            {
                "coupon_id": new["coupon_id"],
                "member_id": new["member_id"],
                "generation": int(new.get("generation", generation) or 0),
                "event": event,
                "event_at": timestamp(at),
                "event_date": program_date(at, timezone),
                "seq": seq,
            },
        )
    ]


# -- values --------------------------------------------------------------------
SEQ_DIGITS = 40


def sequence(number: Any) -> str:
    """A stream sequence number (decimal digits, up to 40: more than a BIGINT
    holds) as 40 digits, zero-padded, so that text order is number order."""
    text = str(number)
    if not text.isdigit() or len(text) > SEQ_DIGITS:
        raise ValueError(f"not a stream sequence number: {number!r}")
    return text.zfill(SEQ_DIGITS)


def timestamp(instant: str) -> str:
    """`2027-01-31T09:00:00Z` -> `2027-01-31 09:00:00` (UTC)."""
    return parse_instant(instant).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def program_date(instant: str, timezone: str) -> str:
    return local_date(parse_instant(instant), timezone).isoformat()


def _approximate_instant(value: Any) -> Optional[str]:
    """The stream's ApproximateCreationDateTime (epoch seconds, or a datetime) as an instant."""
    if value is None:
        return None
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromtimestamp(float(value), dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _int_or_none(value: Any) -> Optional[int]:
    return None if value is None else int(value)


def _without_seq(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "seq"}
