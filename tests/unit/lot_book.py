"""A reference model of contract §4, every lot in memory (`LotBook`), for the unit and property
tests: the ledger itself keeps runs of lot items (chalicelib/domain/wallet.py) and is checked
against this model.

Point lots: every credit is a lot with an expiry; debits consume lots.

Debits take lots soonest-expiring first, equal expiries oldest first. A
member's balance always equals the sum of its lots' remaining points, and
neither ever goes below zero: a rule broken here raises, never clamps.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Optional

from chalicelib.errors import InsufficientPointsError, LedgerInvariantError


@dataclass(frozen=True)
class Lot:
    lot_id: str
    points: int
    expires_at: str
    created_at: str

    @property
    def order_key(self) -> tuple[str, str, str]:
        return (self.expires_at, self.created_at, self.lot_id)


@dataclass(frozen=True)
class LotDraw:
    """Points moved out of (or back into) one lot."""

    lot_id: str
    points: int
    expires_at: str
    created_at: str

    def as_dict(self) -> dict:
        return {
            "lot_id": self.lot_id,
            "points": self.points,
            "expires_at": self.expires_at,
            "created_at": self.created_at,
        }

    @classmethod
    def from_dict(cls, data: dict) -> LotDraw:
        return cls(
            lot_id=str(data["lot_id"]),
            points=int(data["points"]),
            expires_at=str(data["expires_at"]),
            created_at=str(data["created_at"]),
        )

    @property
    def order_key(self) -> tuple[str, str, str]:
        return (self.expires_at, self.created_at, self.lot_id)


@dataclass
class LotBook:
    """The live lots of one member and the balance they make up."""

    lots: dict[str, Lot] = field(default_factory=dict)

    @property
    def balance(self) -> int:
        return sum(lot.points for lot in self.lots.values())

    def in_order(self) -> list[Lot]:
        return sorted(self.lots.values(), key=lambda lot: lot.order_key)

    def next_expiry(self) -> Optional[str]:
        return min((lot.expires_at for lot in self.lots.values()), default=None)

    def credit(self, lot_id: str, points: int, expires_at: str, created_at: str) -> Lot:
        if points < 0:
            raise LedgerInvariantError("a credit cannot be negative")
        if lot_id in self.lots:
            raise LedgerInvariantError(f"lot {lot_id} already exists")
        lot = Lot(lot_id, points, expires_at, created_at)
        if points:
            self.lots[lot_id] = lot
        return lot

    def debit(self, points: int, first: Optional[str] = None) -> list[LotDraw]:
        """Take exactly `points`; lot `first` (if live) is drawn before the rest."""
        if points < 0:
            raise LedgerInvariantError("a debit cannot be negative")
        available = self.balance
        if points > available:
            raise InsufficientPointsError(f"{points} points requested but only {available} available")
        order = self.in_order()
        if first is not None and first in self.lots:
            order = [self.lots[first]] + [lot for lot in order if lot.lot_id != first]
        draws: list[LotDraw] = []
        left = points
        for lot in order:
            if left == 0:
                break
            take = min(lot.points, left)
            draws.append(LotDraw(lot.lot_id, take, lot.expires_at, lot.created_at))
            self._set(lot, lot.points - take)
            left -= take
        if left:
            raise LedgerInvariantError("lots do not add up to the balance")
        return draws

    def restore(self, draw: LotDraw) -> None:
        """Put points back into the lot they came from, with its own expiry."""
        if draw.points <= 0:
            raise LedgerInvariantError("a restore must be positive")
        lot = self.lots.get(draw.lot_id)
        if lot is None:
            self.lots[draw.lot_id] = Lot(draw.lot_id, draw.points, draw.expires_at, draw.created_at)
        else:
            self.lots[draw.lot_id] = replace(lot, points=lot.points + draw.points)

    def expire_due(self, now_text: str) -> list[LotDraw]:
        """Remove every lot whose `expires_at` <= now; return what it held."""
        due = [lot for lot in self.in_order() if lot.expires_at <= now_text]
        for lot in due:
            del self.lots[lot.lot_id]
        return [LotDraw(l.lot_id, l.points, l.expires_at, l.created_at) for l in due]

    def forfeit_all(self) -> list[LotDraw]:
        drawn = [LotDraw(l.lot_id, l.points, l.expires_at, l.created_at) for l in self.in_order()]
        self.lots.clear()
        return drawn

    def expiring_between(self, after: str, until: str) -> list[Lot]:
        return [lot for lot in self.in_order() if after < lot.expires_at <= until]

    def _set(self, lot: Lot, points: int) -> None:
        if points < 0:
            raise LedgerInvariantError("a lot cannot go below zero")
        if points == 0:
            del self.lots[lot.lot_id]
        else:
            self.lots[lot.lot_id] = replace(lot, points=points)


@dataclass(frozen=True)
class Restoration:
    """How a cancelled redemption's points go back into their lots."""

    draws: tuple[LotDraw, ...]
    consumed_after: tuple[dict, ...]


def plan_restoration(consumed: Iterable[dict], points: int) -> Restoration:
    """Restore `points` of a redemption, latest-expiring lots first.

    `consumed` holds one dict per lot drawn by the redemption:
    `{"lot_id", "points", "expires_at", "created_at", "restored"}`.
    """
    entries = [dict(entry) for entry in consumed]
    order = sorted(
        range(len(entries)),
        key=lambda i: (entries[i]["expires_at"], entries[i]["created_at"], entries[i]["lot_id"]),
        reverse=True,
    )
    left = points
    draws: list[LotDraw] = []
    for i in order:
        if left == 0:
            break
        entry = entries[i]
        room = int(entry["points"]) - int(entry.get("restored", 0))
        put = min(room, left)
        if put <= 0:
            continue
        entry["restored"] = int(entry.get("restored", 0)) + put
        draws.append(LotDraw(entry["lot_id"], put, entry["expires_at"], entry["created_at"]))
        left -= put
    if left:
        raise LedgerInvariantError("more points restored than were redeemed")
    return Restoration(tuple(draws), tuple(entries))
