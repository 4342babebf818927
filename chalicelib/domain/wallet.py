"""A member's points as *runs* of lots, so that no item grows with the lots.

Every credit is a lot with an expiry (contract §4); debits take lots
soonest-expiring first, equal expiries oldest first. Lots are not kept in the
member's profile: each lot is an item of its own (or a segment of an immutable
*bundle* item), and the profile keeps only a handful of runs. A run is a
sequence of lots in key order (`<expires_at>#<created_at>#<lot_id>#<part>`,
which is exactly the consumption order) that is consumed from the front, so a
debit moves the run's *floor* instead of writing every lot it drew:

    lots of a run:   [spent][spent][floor lot: used | left][live][live] ...
                                    ^ floor, floor_used

A lot's live points in a run are the part of `usable` (its points less what
refunds took from its end) between the floor (and, for a restored window, the
ceiling) of the run. Kinds of run:

* an open *space* (`S<n>`): new lots go into the newest space whose floor lies
  below their key; a lot that would sort below every floor opens a new space;
* a *window* (`W<n>`): part of a space or bundle given back by a cancelled
  redemption (from where the redemption started to where it stopped), with
  the lots' own expiry;
* a *bundle* (`B<n>`): the lots a large transfer hands over, one immutable item.

The profile caches each run's `remaining` and its head (the soonest lot with
points left), so an earn reads no lot and a debit within the head reads none;
when a decision needs lots it has not seen, it raises `NeedLots` and the
caller reads the next page of that run and decides again. Nothing here does
I/O. A ledger rule broken here raises; nothing is clamped.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Optional, Protocol

from chalicelib.errors import InsufficientPointsError, LedgerInvariantError, LimitExceededError

MAX_RUNS = 100
# Pending lots (an earn inside the program's return window, contract §25) are kept
# on the profile until a debit or an expiry needs them; a debit turns every
# pending lot whose time has come into a lot item in one transaction, so their
# number is capped to keep a profile small and a transaction under 100 actions.
MAX_PENDING_LOTS = 50


def lot_key(expires_at: str, created_at: str, lot_id: str, part: str = "0") -> str:
    return f"{expires_at}#{created_at}#{lot_id}#{part}"


def key_expires(key: str) -> str:
    return key.split("#", 1)[0]


def key_lot(key: str) -> tuple[str, str, str]:
    """(expires_at, created_at, lot_id) of a lot key."""
    expires_at, created_at, lot_id, _ = key.split("#", 3)
    return expires_at, created_at, lot_id


class NeedLots(Exception):
    """A decision needs lots of `run_id` past what has been read (not an error:
    the caller reads the next page and decides again)."""

    def __init__(self, run_id: str, owner: str = "", until: Optional[str] = None):
        super().__init__(run_id)
        self.run_id = run_id
        self.owner = owner
        self.until = until  # only the lots expiring up to this instant are wanted


@dataclass(frozen=True)
class Piece:
    """One stored lot (a lot item or a bundle segment): its points and what
    refunds took from its end."""

    key: str
    points: int
    taken: int = 0

    @property
    def usable(self) -> int:
        return self.points - self.taken


@dataclass
class Page:
    """Lots of one run read so far, in key order from the run's floor."""

    pieces: list[Piece] = field(default_factory=list)
    complete: bool = False
    cursor: Optional[dict] = None  # where the next read continues
    reads: int = 0
    until: Optional[str] = None  # every lot expiring up to this instant has been read


@dataclass(frozen=True)
class Draw:
    """Points taken from (or given back to) one lot."""

    run_id: str
    key: str
    points: int

    @property
    def expires_at(self) -> str:
        return key_expires(self.key)


@dataclass
class Run:
    run_id: str
    base: str  # the space or bundle whose lots the run covers
    kind: str  # "lots" (lot items) or "bundle" (segments of one item)
    floor: str = ""
    floor_used: int = 0
    ceil: Optional[str] = None
    ceil_used: int = 0
    remaining: int = 0
    head: Optional[str] = None
    head_left: int = 0

    @property
    def is_space(self) -> bool:
        return self.run_id.startswith("S")

    def bounds(self, piece: Piece) -> tuple[int, int]:
        """The part [lo, hi) of the piece that is live in this run (lo >= hi: none)."""
        if piece.key < self.floor or (self.ceil is not None and piece.key > self.ceil):
            return 0, 0
        lo = self.floor_used if piece.key == self.floor else 0
        hi = piece.usable
        if self.ceil is not None and piece.key == self.ceil:
            hi = min(hi, self.ceil_used)
        return lo, hi

    def as_record(self) -> dict:
        return {
            "id": self.run_id,
            "base": self.base,
            "kind": self.kind,
            "floor": self.floor,
            "floor_used": self.floor_used,
            "ceil": self.ceil,
            "ceil_used": self.ceil_used,
            "remaining": self.remaining,
            "head": self.head,
            "head_left": self.head_left,
        }

    @classmethod
    def from_record(cls, record: dict) -> Run:
        return cls(
            run_id=record["id"],
            base=record["base"],
            kind=record["kind"],
            floor=record.get("floor") or "",
            floor_used=int(record.get("floor_used", 0)),
            ceil=record.get("ceil"),
            ceil_used=int(record.get("ceil_used", 0)),
            remaining=int(record.get("remaining", 0)),
            head=record.get("head"),
            head_left=int(record.get("head_left", 0)),
        )


@dataclass(frozen=True)
class RunRange:
    """What one debit took from one run: from (key, used) to (key, used)."""

    run_id: str
    base: str
    kind: str
    start: str
    start_used: int
    end: str
    end_used: int
    points: int

    def as_record(self) -> dict:
        return {
            "run": self.run_id,
            "base": self.base,
            "kind": self.kind,
            "from": self.start,
            "from_used": self.start_used,
            "to": self.end,
            "to_used": self.end_used,
            "points": self.points,
        }

    @classmethod
    def from_record(cls, record: dict) -> RunRange:
        return cls(
            record["run"],
            record["base"],
            record["kind"],
            record["from"],
            int(record["from_used"]),
            record["to"],
            int(record["to_used"]),
            int(record["points"]),
        )


@dataclass(frozen=True)
class NewLot:
    """A lot item to write: `base` space, its key and points."""

    base: str
    key: str
    points: int
    taken: int = 0


@dataclass(frozen=True)
class PendingLot:
    """An earn's lot inside the return window (§25): counted in lifetime points,
    spend and tiers at once, spendable from `available_at` on. It is kept on the
    profile (not as a lot item) until a decision that draws lots sees that its
    time has come; refunds of the earn take from it first (`taken`)."""

    lot_id: str
    points: int
    available_at: str
    expires_at: str
    created_at: str
    taken: int = 0

    @property
    def key(self) -> str:
        return lot_key(self.expires_at, self.created_at, self.lot_id)

    @property
    def left(self) -> int:
        return self.points - self.taken

    def as_record(self) -> dict:
        return {
            "lot": self.lot_id,
            "points": self.points,
            "available_at": self.available_at,
            "expires_at": self.expires_at,
            "created_at": self.created_at,
            "taken": self.taken,
        }

    @classmethod
    def from_record(cls, record: dict) -> PendingLot:
        return cls(
            record["lot"],
            int(record["points"]),
            record["available_at"],
            record["expires_at"],
            record["created_at"],
            int(record.get("taken", 0)),
        )


@dataclass(frozen=True)
class NewBundle:
    bundle_id: str
    segments: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Taken:
    """Points a refund took from the end of one lot item."""

    base: str
    key: str
    taken_after: int


class _Cursor:
    """Walks the live parts of one run's lots from its floor."""

    def __init__(self, run: Run, page: Optional[Page], owner: str, taken: Optional[dict[tuple[str, str], int]] = None):
        self.run = run
        self.page = page
        self.owner = owner
        self.taken = taken or {}
        self.index = 0

    def peek(self) -> Optional[tuple[str, int, int]]:
        """(key, lo, live) of the next lot with points left; None when the run is empty.
        Raises NeedLots when the lots read so far do not tell."""
        if self.run.remaining <= 0:
            return None
        if self.page is None:
            if self.run.head is None:
                raise NeedLots(self.run_id, self.owner)
            lo = self.run.floor_used if self.run.head == self.run.floor else 0
            return self.run.head, lo, self.run.head_left
        while self.index < len(self.page.pieces):
            piece = self.page.pieces[self.index]
            if (self.run.base, piece.key) in self.taken:  # a refund of this decision took from it
                piece = Piece(piece.key, piece.points, self.taken[(self.run.base, piece.key)])
            lo, hi = self.run.bounds(piece)
            if hi > lo:
                return piece.key, lo, hi - lo
            self.index += 1
        if self.page.complete:
            raise LedgerInvariantError(f"run {self.run.run_id} holds fewer points than it counts")
        raise NeedLots(self.run_id, self.owner)

    def live(self) -> tuple[str, int, int]:
        """peek() for a run known to still count points: its next lot is there."""
        unit = self.peek()
        if unit is None:
            raise LedgerInvariantError(f"run {self.run.run_id} counts no points but was drawn from")
        return unit

    @property
    def run_id(self) -> str:
        return self.run.run_id

    def consume(self, key: str, lo: int, live: int, take: int) -> None:
        run = self.run
        run.floor, run.floor_used = key, lo + take
        run.remaining -= take
        if take < live:
            run.head, run.head_left = key, live - take
            return
        run.head, run.head_left = None, 0
        if self.page is not None:
            self.index += 1


class Wallet:
    """The runs of one member. `pages` holds lots read for this decision."""

    def __init__(
        self,
        runs: list[Run],
        next_run: int,
        pages: Optional[dict[str, Page]] = None,
        pending: Optional[list[PendingLot]] = None,
    ):
        self.runs: dict[str, Run] = {run.run_id: run for run in runs}
        self.pending: list[PendingLot] = sorted(pending or [], key=lambda p: (p.available_at, p.key))
        # the time of the decision or read: pending lots whose available_at has come
        # count in the balance (a function of time, nothing is written then)
        self.now: Optional[str] = None
        self.next_run = next_run
        self.pages: dict[str, Page] = pages if pages is not None else {}
        self.new_lots: list[NewLot] = []
        self.new_bundles: list[NewBundle] = []
        self.taken: list[Taken] = []
        self.owner = ""  # the member, named in NeedLots

    # -- reading ---------------------------------------------------------
    @property
    def balance(self) -> int:
        """The spendable points: the runs' and those of pending lots whose time has come."""
        return self.settled_balance + sum(p.left for p in self.matured())

    @property
    def settled_balance(self) -> int:
        """The points of the runs alone (what the profile stores as `balance`)."""
        return sum(run.remaining for run in self.runs.values())

    def _clock(self) -> str:
        if self.now is None:
            raise LedgerInvariantError("pending points need the time of the decision")
        return self.now

    def matured(self) -> list[PendingLot]:
        """Pending lots whose available_at has come: spendable, not yet lot items."""
        if not self.pending:
            return []
        now = self._clock()
        return [p for p in self.pending if p.available_at <= now]

    def still_pending(self) -> list[PendingLot]:
        """Lots not yet spendable, soonest available first."""
        if not self.pending:
            return []
        now = self._clock()
        return [p for p in self.pending if p.available_at > now and p.left > 0]

    @property
    def pending_points(self) -> int:
        return sum(p.left for p in self.still_pending())

    def next_expiry(self) -> Optional[str]:
        """The soonest expiry of a live lot, or a time before it when a run's head
        is not known (its floor lot's: nothing live in the run expires sooner)."""
        soonest = [_soonest(run) for run in self.runs.values() if run.remaining > 0]
        soonest += [p.expires_at for p in self.pending if p.left > 0]
        return min(soonest, default=None)

    def expiring(self, after: str, until: str) -> list[tuple[str, int]]:
        """(key, points) of the lots with `after` < expires_at <= `until`,
        soonest first, parts of one lot together; raises NeedLots for a run
        whose lots in that window have not been read."""
        found: dict[tuple[str, str, str], int] = {}
        for run in self.runs.values():
            if run.remaining <= 0 or _soonest(run) > until:
                continue
            page = self.pages.get(run.run_id)
            if page is None or not (page.complete or (page.until or "") >= until):
                raise NeedLots(run.run_id, self.owner, until)
            for piece in page.pieces:
                if key_expires(piece.key) > until:
                    break
                lo, hi = run.bounds(piece)
                if hi > lo and key_expires(piece.key) > after:
                    lot = key_lot(piece.key)
                    found[lot] = found.get(lot, 0) + hi - lo
        for pending in self.matured():  # spendable, not yet a lot item; a pending lot is never listed
            if pending.left > 0 and after < pending.expires_at <= until:
                lot = key_lot(pending.key)
                found[lot] = found.get(lot, 0) + pending.left
        return [(f"{lot[0]}#{lot[1]}#{lot[2]}", points) for lot, points in sorted(found.items())]

    # -- credits ---------------------------------------------------------
    def credit(
        self, lot_id: str, points: int, expires_at: str, created_at: str, part: str = "0", taken: int = 0
    ) -> Optional[NewLot]:
        """A new lot (none for 0 points): into the newest space it sorts into.
        `taken`: what refunds already took from its end (a pending lot made a lot item)."""
        if points < 0 or not 0 <= taken <= points:
            raise LedgerInvariantError("a credit cannot be negative")
        if points - taken == 0:
            return None
        key = lot_key(expires_at, created_at, lot_id, part)
        spaces = sorted((r for r in self.runs.values() if r.is_space), key=lambda r: int(r.run_id[1:]), reverse=True)
        run = next((r for r in spaces if r.floor < key), None)
        if run is None:
            run = self._new_run("S", kind="lots")
            run.base = run.run_id
            self.pages[run.run_id] = Page(complete=True)
        page = self.pages.get(run.run_id)
        if page is not None and (page.complete or (page.pieces and key < page.pieces[-1].key)):
            bisect.insort(page.pieces, Piece(key, points, taken), key=lambda p: p.key)
        live = points - taken
        if run.remaining == 0:
            run.head, run.head_left = key, live
        elif run.head is not None and key < run.head:
            run.head, run.head_left = key, live
        run.remaining += live
        lot = NewLot(run.base, key, points, taken)
        self.new_lots.append(lot)
        return lot

    def credit_bundle(self, bundle_id: str, segments: list[tuple[str, int]]) -> NewBundle:
        """Many lots at once (a large transfer): one immutable item, one run."""
        segments = sorted((key, points) for key, points in segments if points > 0)
        if not segments:
            raise LedgerInvariantError("an empty bundle")
        run = self._new_run("B", kind="bundle")
        run.base = bundle_id
        run.remaining = sum(points for _, points in segments)
        run.head, run.head_left = segments[0]
        bundle = NewBundle(bundle_id, tuple(segments))
        self.new_bundles.append(bundle)
        self.pages[run.run_id] = Page([Piece(k, p) for k, p in segments], complete=True)
        return bundle

    def add_pending(
        self, lot_id: str, points: int, available_at: str, expires_at: str, created_at: str
    ) -> Optional[PendingLot]:
        """An earn's lot that is pending until `available_at` (none for 0 points)."""
        if points < 0:
            raise LedgerInvariantError("a credit cannot be negative")
        if points == 0:
            return None
        if len(self.pending) >= MAX_PENDING_LOTS:
            self.release_matured()
        if len(self.pending) >= MAX_PENDING_LOTS:
            raise LimitExceededError(f"a member may have at most {MAX_PENDING_LOTS} earns pending at once")
        lot = PendingLot(lot_id, points, available_at, expires_at, created_at)
        self.pending.append(lot)
        self.pending.sort(key=lambda p: (p.available_at, p.key))
        return lot

    def pending_lot(self, lot_id: str) -> Optional[PendingLot]:
        return next((p for p in self.pending if p.lot_id == lot_id), None)

    def take_pending(self, lot_id: str, points: int) -> int:
        """A refund takes up to `points` from its own earn's pending lot (pending or
        come due but not yet a lot item). Returns what it took."""
        lot = self.pending_lot(lot_id)
        if lot is None or points <= 0:
            return 0
        take = min(points, lot.left)
        index = self.pending.index(lot)
        if take == lot.left:  # all taken back: nothing is kept (the order is refunded whole)
            del self.pending[index]
        elif take:
            self.pending[index] = PendingLot(
                lot.lot_id, lot.points, lot.available_at, lot.expires_at, lot.created_at, lot.taken + take
            )
        return take

    def release_matured(self) -> list[NewLot]:
        """Pending lots whose time has come become lot items of the runs (their
        points were already spendable: the balance does not change)."""
        released = []
        for lot in self.matured():
            self.pending.remove(lot)
            new = self.credit(lot.lot_id, lot.points, lot.expires_at, lot.created_at, taken=lot.taken)
            if new is not None:
                released.append(new)
        return released

    def lot_bases(self) -> list[str]:
        """The bases of lot items the runs cover (where a released pending lot may be)."""
        return sorted({run.base for run in self.runs.values() if run.kind == "lots"})

    def _taken_now(self) -> dict[tuple[str, str], int]:
        return {(t.base, t.key): t.taken_after for t in self.taken}

    def _new_run(self, prefix: str, kind: str) -> Run:
        if len(self.runs) >= MAX_RUNS:
            self._drop_empty()
            if len(self.runs) >= MAX_RUNS:
                raise LedgerInvariantError("too many lot runs for one member")
        run = Run(run_id=f"{prefix}{self.next_run}", base="", kind=kind)
        self.next_run += 1
        self.runs[run.run_id] = run
        return run

    # -- debits ----------------------------------------------------------
    def debit(self, points: int) -> tuple[list[Draw], list[RunRange]]:
        """Take exactly `points`, soonest-expiring first across all runs."""
        if points < 0:
            raise LedgerInvariantError("a debit cannot be negative")
        self.release_matured()  # a pending lot is never drawn; one whose time has come is
        if points > self.balance:
            raise InsufficientPointsError(f"{points} points requested but only {self.balance} available")
        if points == 0:
            return [], []
        before = {rid: (r.floor, r.floor_used) for rid, r in self.runs.items()}
        cursors = {
            rid: _Cursor(run, self.pages.get(rid), self.owner, self._taken_now()) for rid, run in self.runs.items()
        }
        heap: list[tuple[str, str]] = []
        for rid, cursor in cursors.items():
            unit = cursor.peek()
            if unit is not None:
                heap.append((unit[0], rid))
        heapq.heapify(heap)
        draws: list[Draw] = []
        taken_by_run: dict[str, int] = {}
        left = points
        while left > 0:
            if not heap:
                raise LedgerInvariantError("lots do not add up to the balance")
            _, rid = heap[0]
            cursor = cursors[rid]
            key, lo, live = cursor.live()
            take = min(live, left)
            cursor.consume(key, lo, live, take)
            draws.append(Draw(rid, key, take))
            taken_by_run[rid] = taken_by_run.get(rid, 0) + take
            left -= take
            heapq.heappop(heap)
            if left > 0:  # the lot is used up: the run's next lot joins the merge
                following = cursor.peek()
                if following is not None:
                    heapq.heappush(heap, (following[0], rid))
        ranges = []
        for rid, taken in taken_by_run.items():
            run = self.runs[rid]
            start, start_used = before[rid]
            ranges.append(RunRange(rid, run.base, run.kind, start, start_used, run.floor, run.floor_used, taken))
        return draws, ranges

    def take_from_lot(self, base: str, piece: Piece, points: int) -> int:
        """A refund takes up to `points` from its own earn's lot: first the part
        still live in its space (from the lot's end), then the parts a cancelled
        redemption gave back into it (a window is split around the lot).
        Returns what it took."""
        if points <= 0:
            return 0
        took = 0
        run = self.runs.get(base)
        if run is not None and run.is_space:
            lo, hi = run.bounds(piece)
            take = min(points, max(hi - lo, 0))
            if take:
                run.remaining -= take
                self.taken.append(Taken(base, piece.key, piece.taken + take))
                piece = Piece(piece.key, piece.points, piece.taken + take)
                if run.head == piece.key:
                    run.head_left -= take
                    if run.head_left == 0:
                        run.head = None
                took += take
        for window in [r for r in self.runs.values() if r.run_id.startswith("W") and r.base == base]:
            if took == points:
                break
            took += self._take_from_window(window, piece, points - took)
        return took

    def _take_from_window(self, window: Run, piece: Piece, points: int) -> int:
        lo, hi = window.bounds(piece)
        take = min(points, max(hi - lo, 0))
        if take == 0:
            return 0
        page = self.pages.get(window.run_id)
        if page is None or not page.complete:  # a window is one redemption's lots: read it whole
            raise NeedLots(window.run_id, self.owner)
        before = 0
        for other in page.pieces:
            if other.key >= piece.key:
                break
            a, b = window.bounds(other)
            before += max(b - a, 0)
        after = window.remaining - before - (hi - lo)
        # the window before the lot (ending inside it) and the window after it
        first = self._new_run("W", kind=window.kind)
        first.base, first.floor, first.floor_used = window.base, window.floor, window.floor_used
        first.ceil, first.ceil_used = piece.key, hi - take
        first.remaining = before + (hi - take - lo)
        self.pages[first.run_id] = Page(list(page.pieces), page.complete, page.cursor, page.reads)
        if after > 0:
            rest = self._new_run("W", kind=window.kind)
            rest.base, rest.floor, rest.floor_used = window.base, piece.key, hi
            rest.ceil, rest.ceil_used = window.ceil, window.ceil_used
            rest.remaining = after
            self.pages[rest.run_id] = Page(list(page.pieces), page.complete, page.cursor, page.reads)
        del self.runs[window.run_id]
        return take

    def expire_due(self, now_text: str) -> int:
        """Every lot with expires_at <= now loses its points; returns how many."""
        if self.now is None:
            self.now = now_text
        self.release_matured()  # a lot expires expiry_days after it became available
        total = 0
        for run in list(self.runs.values()):
            if run.remaining <= 0:
                continue
            if _soonest(run) > now_text:
                continue
            cursor = _Cursor(run, self.pages.get(run.run_id), self.owner, self._taken_now())
            while run.remaining > 0:
                key, lo, live = cursor.live()
                if key_expires(key) > now_text:
                    if run.head is None:
                        run.head, run.head_left = key, live
                    break
                cursor.consume(key, lo, live, live)
                total += live
        return total

    def forfeit_all(self) -> int:
        """Everything, pending points included (an erasure)."""
        total = self.settled_balance + sum(p.left for p in self.pending)
        self.runs.clear()
        self.pending.clear()
        return total

    # -- cancelled redemptions -------------------------------------------
    def restore(self, ranges: list[RunRange], pieces: dict[str, list[Piece]], already: int, points: int) -> list[Draw]:
        """Give back `points` of a redemption that took `ranges`, latest-expiring
        first (after the `already` restored), into windows over the same lots.
        `pieces[run_id]` holds the lots of each range, in key order."""
        units: list[tuple[str, int, int, RunRange]] = []  # (key, lo, hi, range)
        for taken in ranges:
            for piece in pieces.get(taken.run_id, []):
                if not taken.start <= piece.key <= taken.end:
                    continue
                lo = taken.start_used if piece.key == taken.start else 0
                hi = taken.end_used if piece.key == taken.end else piece.usable
                if hi > lo:
                    units.append((piece.key, lo, hi, taken))
        if sum(hi - lo for _, lo, hi, _ in units) != sum(r.points for r in ranges):
            raise LedgerInvariantError("a redemption's lots do not add up to its points")
        units.sort(key=lambda u: u[0], reverse=True)
        skip, left = already, points
        given: dict[str, list[tuple[str, int, int]]] = {}
        draws: list[Draw] = []
        for key, lo, hi, taken in units:
            size = hi - lo
            if skip >= size:
                skip -= size
                continue
            hi -= skip
            size -= skip
            skip = 0
            if left == 0:
                break
            put = min(size, left)
            given.setdefault(taken.run_id, []).append((key, hi - put, hi))
            draws.append(Draw(taken.run_id, key, put))
            left -= put
        if left:
            raise LedgerInvariantError("more points restored than were redeemed")
        by_run = {r.run_id: r for r in ranges}
        for rid, parts in given.items():
            taken = by_run[rid]
            parts.sort()
            first_key, first_lo, _ = parts[0]
            last_key, _, last_hi = parts[-1]
            window = self._new_run("W", kind=taken.kind)
            window.base = taken.base
            window.floor, window.floor_used = first_key, first_lo
            window.ceil, window.ceil_used = last_key, last_hi
            window.remaining = sum(hi - lo for _, lo, hi in parts)
            window.head, window.head_left = first_key, parts[0][2] - first_lo
        return draws

    # -- persistence -----------------------------------------------------
    def settle(self) -> None:
        """Before the profile is written: a run whose head lot was used up learns
        its next one from the lots read, if they tell (else it stays unknown
        until a later decision reads them), and spent runs are dropped but the
        newest space."""
        for run in self.runs.values():
            if run.remaining < 0:
                raise LedgerInvariantError(f"run {run.run_id} below zero")
            if run.remaining > 0 and run.head is None and run.run_id in self.pages:
                cursor = _Cursor(run, self.pages[run.run_id], self.owner, self._taken_now())
                try:
                    key, _, live = cursor.live()
                except NeedLots:
                    continue
                run.head, run.head_left = key, live
        self._drop_empty()

    def _drop_empty(self) -> None:
        spaces = [int(rid[1:]) for rid, r in self.runs.items() if r.is_space]
        newest = f"S{max(spaces)}" if spaces else None
        for rid in [rid for rid, r in self.runs.items() if r.remaining == 0 and rid != newest]:
            del self.runs[rid]

    def records(self) -> list[dict]:
        return [run.as_record() for run in self.runs.values()]

    def pending_records(self) -> list[dict]:
        return [lot.as_record() for lot in self.pending]

    @classmethod
    def from_records(
        cls,
        records: list[dict],
        next_run: int,
        pages: Optional[dict[str, Page]] = None,
        pending: Optional[list[dict]] = None,
    ) -> Wallet:
        return cls(
            [Run.from_record(r) for r in records or []],
            next_run,
            pages,
            [PendingLot.from_record(p) for p in pending or []],
        )


def _soonest(run: Run) -> str:
    if run.head is not None:
        return key_expires(run.head)
    return key_expires(run.floor) if run.floor else "0000-00-00T00:00:00Z"


class ExpiringPoints(Protocol):
    @property
    def expires_at(self) -> str: ...

    @property
    def points(self) -> int: ...


def merge_by_expiry(draws: Iterable[ExpiringPoints]) -> list[tuple[str, int]]:
    """(expires_at, points) per distinct expiry, soonest first."""
    merged: dict[str, int] = {}
    for draw in draws:
        merged[draw.expires_at] = merged.get(draw.expires_at, 0) + draw.points
    return sorted(merged.items())
