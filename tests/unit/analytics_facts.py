"""A stand-in analytics engine for tests: an in-memory DuckDB holding the fact tables of the
analytics store (their columns as the facts module writes them), filled by hand.

Rows are appended as the stream would append them; `seq` grows with every row, so the latest
row of a key wins as it does in the store."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Optional

import duckdb

from chalicelib.analytics.engine import SCHEMA as TABLES  # noqa: E402 (the store's own columns)

SCHEMA = "".join(f"CREATE TABLE {table} ({columns});" for table, columns in TABLES.items())


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def noon_utc(date_text: str) -> dt.datetime:
    """03:00 UTC of a date = 12:00 in Seoul, the same calendar date in both."""
    return dt.datetime.fromisoformat(f"{date_text}T03:00:00")


class FactsEngine:
    dialect = "duckdb"

    def __init__(self):
        self.connection = duckdb.connect(":memory:")
        self.connection.execute(SCHEMA)
        self._seqs = itertools.count(1)
        self._tx = itertools.count(1)
        self.queries = 0

    def _next_seq(self) -> str:
        """Stream sequence numbers as the facts keep them: 40 digits, zero-padded."""
        return f"{next(self._seqs):040d}"

    def query(self, text: str) -> list[dict]:
        self.queries += 1
        cursor = self.connection.execute(text)
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

    # -- facts, as the stream appends them ------------------------------
    def member(
        self,
        member_id: str,
        enrolled: str,
        *,
        generation: int = 0,
        tier: str = "basic",
        balance: int = 0,
        dormant: bool = False,
        status: str = "active",
    ) -> None:
        self.connection.execute(
            "INSERT INTO members VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                member_id,
                generation,
                noon_utc(enrolled),
                day(enrolled),
                tier,
                balance,
                None,
                dormant,
                status,
                self._next_seq(),
            ],
        )

    def transaction(
        self,
        member_id: str,
        type_: str,
        points: int,
        created: str,
        *,
        occurred: Optional[str] = None,
        amount: Optional[int] = None,
        refunded: int = 0,
        generation: int = 0,
        transaction_id: Optional[str] = None,
    ) -> str:
        transaction_id = transaction_id or f"T{next(self._tx):04d}"
        occurred = occurred or created
        self.connection.execute(
            "INSERT INTO transactions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                transaction_id,
                member_id,
                generation,
                type_,
                points,
                noon_utc(created),
                day(created),
                noon_utc(occurred),
                day(occurred),
                f"O-{transaction_id}" if type_ == "earn" else None,
                amount,
                refunded if type_ == "earn" else None,
                self._next_seq(),
            ],
        )
        return transaction_id

    def purchase(
        self,
        member_id: str,
        occurred: str,
        amount: int,
        *,
        items=(),
        generation: int = 0,
        created: Optional[str] = None,
    ) -> str:
        """An earn of `amount` (1 point per 100), with its (sku, category, amount) items."""
        transaction_id = self.transaction(
            member_id,
            "earn",
            amount // 100,
            created or occurred,
            occurred=occurred,
            amount=amount,
            generation=generation,
        )
        for line, (sku, category, item_amount) in enumerate(items):
            self.connection.execute(
                "INSERT INTO earn_items VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [transaction_id, member_id, generation, day(occurred), line, sku, category, item_amount],
            )
        return transaction_id

    def refund(self, transaction_id: str, refunded_total: int, on: str) -> None:
        """A reversal refunding up to `refunded_total` of the earn: the earn's row again with its
        new refunded_amount, and the reversal's own transaction."""
        (row,) = self.connection.execute(
            "SELECT * FROM transactions WHERE transaction_id = ? ORDER BY seq DESC LIMIT 1", [transaction_id]
        ).fetchall()
        values = list(row)
        values[11] = refunded_total
        values[12] = self._next_seq()
        self.connection.execute("INSERT INTO transactions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
        self.transaction(values[1], "reversal", -(refunded_total // 100), on, generation=values[2])

    def erase(self, member_id: str, on: str, generation: int = 0) -> None:
        (row,) = self.connection.execute(
            "SELECT * FROM members WHERE member_id = ? AND generation = ? ORDER BY seq DESC LIMIT 1",
            [member_id, generation],
        ).fetchall()
        values = list(row)
        values[5], values[8], values[9] = 0, "erased", self._next_seq()
        self.connection.execute("INSERT INTO members VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)

    def coupon(self, coupon_id: str, member_id: str, event: str, on: str) -> None:
        self.connection.execute(
            "INSERT INTO coupon_events VALUES (?, ?, ?, ?, ?, ?, ?)",
            [coupon_id, member_id, 0, event, noon_utc(on), day(on), self._next_seq()],
        )
