"""The wallet (lots in runs, read page by page) against the plain model of
contract §4 (`LotBook`: every lot in memory): for random sequences of credits
in any expiry order, debits, refunds from a lot, cancelled redemptions (whole
or in parts), expiry and large transfers, both hold the same points in the
same lots, take the same points from the same lots, and the wallet survives
being written and read back between every step, with small pages. Pending lots
(§25) join the model's lots when their time comes; until then nothing draws
them but a refund of their own earn."""

from __future__ import annotations

import bisect
import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain.calendar import format_instant
from chalicelib.domain.wallet import NeedLots, Page, Piece, Run, Wallet, key_lot, lot_key
from chalicelib.errors import InsufficientPointsError
from tests.unit.lot_book import LotBook, plan_restoration

START = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)


class StoredLots:
    """Lot items and bundles as the table would hold them."""

    def __init__(self, page_size: int):
        self.lots: dict[str, list[tuple[str, int, int]]] = {}  # base -> sorted (key, points, taken)
        self.bundles: dict[str, list[tuple[str, int]]] = {}
        self.page_size = page_size

    def pieces(self, run: Run) -> list[Piece]:
        if run.kind == "bundle":
            return [Piece(k, p) for k, p in self.bundles[run.base]]
        return [Piece(k, p, t) for k, p, t in self.lots.get(run.base, [])]

    def next_page(self, run: Run, page: Page | None) -> Page:
        page = page or Page()
        wanted = [p for p in self.pieces(run) if p.key >= run.floor and (run.ceil is None or p.key <= run.ceil)]
        got = wanted[: len(page.pieces) + self.page_size]
        return Page(got, complete=len(got) == len(wanted), reads=page.reads + 1)

    def range_pieces(self, base, kind, start, end) -> list[Piece]:
        run = Run("X", base, kind)
        return [p for p in self.pieces(run) if start <= p.key <= end]

    def apply(self, wallet: Wallet) -> None:
        for lot in wallet.new_lots:
            bisect.insort(self.lots.setdefault(lot.base, []), (lot.key, lot.points, lot.taken))
        for bundle in wallet.new_bundles:
            assert bundle.bundle_id not in self.bundles
            self.bundles[bundle.bundle_id] = list(bundle.segments)
        for taken in wallet.taken:
            items = self.lots[taken.base]
            index = next(i for i, item in enumerate(items) if item[0] == taken.key)
            key, points, _ = items[index]
            assert taken.taken_after <= points
            items[index] = (key, points, taken.taken_after)


class Subject:
    """A wallet written and read back around each step, like a profile."""

    def __init__(self, page_size: int):
        self.stored = StoredLots(page_size)
        self.records: list[dict] = []
        self.pending: list[dict] = []
        self.next_run = 0
        self.now = format_instant(START)

    def wallet(self) -> Wallet:
        wallet = Wallet.from_records(self.records, self.next_run, None, self.pending)
        wallet.now = self.now
        return wallet

    def run(self, step):
        pages: dict[str, Page] = {}
        for _ in range(10_000):
            wallet = Wallet.from_records(self.records, self.next_run, pages, self.pending)
            wallet.now = self.now
            wallet.owner = "m"
            try:
                result = step(wallet)
                wallet.settle()
            except NeedLots as need:
                stored = Wallet.from_records(self.records, self.next_run).runs[need.run_id]
                pages[need.run_id] = self.stored.next_page(stored, pages.get(need.run_id))
                continue
            self.stored.apply(wallet)
            self.records, self.next_run = wallet.records(), wallet.next_run
            self.pending = wallet.pending_records()
            assert len(wallet.runs) <= 100
            return result
        raise AssertionError("no decision")

    def live_lots(self) -> dict[str, tuple[str, int]]:
        wallet = Wallet.from_records(self.records, self.next_run)
        live: dict[str, tuple[str, int]] = {}
        for run in wallet.runs.values():
            for piece in self.stored.pieces(run):
                lo, hi = run.bounds(piece)
                if hi > lo:
                    expires_at, _, lot_id = key_lot(piece.key)
                    live[lot_id] = (expires_at, live.get(lot_id, (expires_at, 0))[1] + hi - lo)
        assert sum(p for _, p in live.values()) == wallet.settled_balance
        for lot in self.wallet().matured():  # spendable, not yet a lot item
            if lot.left:
                live[lot.lot_id] = (lot.expires_at, lot.left)
        return live


operation = st.one_of(
    st.tuples(st.just("credit"), st.integers(1, 500), st.integers(-40, 400)),
    st.tuples(st.just("redeem"), st.integers(1, 100), st.just(0)),
    st.tuples(st.just("cancel"), st.integers(0, 50), st.integers(1, 100)),
    st.tuples(st.just("refund"), st.integers(0, 50), st.integers(1, 100)),
    st.tuples(st.just("expire"), st.integers(1, 60), st.just(0)),
    st.tuples(st.just("bundle"), st.integers(2, 40), st.integers(1, 300)),
    st.tuples(st.just("pending"), st.integers(1, 500), st.integers(1, 200)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(operation, min_size=1, max_size=40), page_size=st.sampled_from([1, 2, 3, 50]))
def test_the_wallet_holds_and_takes_exactly_what_the_plain_model_does(steps, page_size):
    model = LotBook()
    subject = Subject(page_size)
    now = START
    serial = 0
    credits: list[tuple[str, str, str]] = []  # (lot_id, base, key) of each earn-like credit
    redemptions: list[dict] = []  # ranges, model draws, restored
    waiting: dict[str, list] = {}  # the model's pending lots: lot_id -> [available_at, expires_at, created, points]

    def new_id():
        nonlocal serial
        serial += 1
        return f"L{serial:06d}"

    def come_due(now_text):
        for lot_id, (available_at, expires_at, created_at, points) in sorted(waiting.items()):
            if available_at <= now_text:
                del waiting[lot_id]
                if points:
                    model.credit(lot_id, points, expires_at, created_at)

    for kind, a, b in steps:
        now += dt.timedelta(hours=1)
        now_text = format_instant(now)
        subject.now = now_text
        come_due(now_text)
        if kind == "pending":
            lot_id = new_id()
            available = format_instant(now + dt.timedelta(hours=b))
            expires = format_instant(now + dt.timedelta(hours=b, days=30))
            lot = subject.run(lambda w: w.add_pending(lot_id, a, available, expires, now_text))
            waiting[lot_id] = [available, expires, now_text, a]
            credits.append((lot_id, "", lot.key))
            assert subject.wallet().balance == model.balance
        elif kind == "credit":
            lot_id = new_id()
            expires = format_instant(now + dt.timedelta(days=max(b, 0) + 1))
            lot = subject.run(lambda w: w.credit(lot_id, a, expires, now_text))
            model.credit(lot_id, a, expires, now_text)
            credits.append((lot_id, lot.base, lot.key))
        elif kind == "redeem":
            points = model.balance * a // 100
            model_draws = model.debit(points)
            draws, ranges = subject.run(lambda w: w.debit(points))
            assert _by_lot(draws) == {d.lot_id: d.points for d in model_draws}
            redemptions.append(
                {
                    "ranges": ranges,
                    "consumed": [{**d.as_dict(), "restored": 0} for d in model_draws],
                    "points": points,
                    "restored": 0,
                }
            )
        elif kind == "cancel" and redemptions:
            redemption = redemptions[a % len(redemptions)]
            left = redemption["points"] - redemption["restored"]
            if left == 0:
                continue
            points = max(1, left * b // 100)
            plan = plan_restoration(redemption["consumed"], points)
            for draw in plan.draws:
                model.restore(draw)
            redemption["consumed"] = list(plan.consumed_after)
            pieces = {
                r.run_id: subject.stored.range_pieces(r.base, r.kind, r.start, r.end) for r in redemption["ranges"]
            }
            already = redemption["restored"]
            draws = subject.run(lambda w: w.restore(redemption["ranges"], pieces, already, points))
            assert _by_lot(draws) == _by_lot_model(plan.draws)
            redemption["restored"] += points
        elif kind == "refund" and credits:
            lot_id, base, key = credits[a % len(credits)]
            pending_left = waiting[lot_id][3] if lot_id in waiting else 0
            due = (model.balance + pending_left) * b // 100
            from_pending = min(due, pending_left)  # the earn's pending lot first
            if lot_id in waiting:
                waiting[lot_id][3] -= from_pending
            if not base:  # a pending lot that came due went into a space: find it
                base = next((b for b, items in subject.stored.lots.items() if any(i[0] == key for i in items)), "")

            def refund(w, base=base, key=key, due=due, lot_id=lot_id):
                own = w.take_pending(lot_id, due)
                if own == 0 and base:
                    stored = dict(((k, (p, t)) for k, p, t in subject.stored.lots.get(base, [])))
                    piece = Piece(key, *stored[key])
                    own = w.take_from_lot(base, piece, due)
                draws, _ = w.debit(due - own)
                return own, draws

            model_draws = model.debit(due - from_pending, first=lot_id)
            own, draws = subject.run(refund)
            expected = _by_lot_model(model_draws)
            got = _by_lot(draws)
            if own - from_pending:
                got[lot_id] = got.get(lot_id, 0) + own - from_pending
            assert got == expected
        elif kind == "expire":
            now += dt.timedelta(days=a)
            now_text = format_instant(now)
            subject.now = now_text
            come_due(now_text)
            expired = sum(d.points for d in model.expire_due(now_text))
            assert subject.run(lambda w: w.expire_due(now_text)) == expired
        elif kind == "bundle":
            bundle_id = new_id()
            segments = [
                (
                    lot_key(format_instant(now + dt.timedelta(days=1 + (i * 37) % b)), now_text, f"{bundle_id}.{i}"),
                    1 + i % 7,
                )
                for i in range(a)
            ]
            subject.run(lambda w: w.credit_bundle(bundle_id, segments))
            for key, points in segments:
                expires_at, created_at, lot_id = key_lot(key)
                model.credit(lot_id, points, expires_at, created_at)
        live = subject.live_lots()
        assert live == {lot.lot_id: (lot.expires_at, lot.points) for lot in model.lots.values()}
        still = {lot.lot_id: lot.left for lot in subject.wallet().still_pending()}
        assert still == {lot_id: w[3] for lot_id, w in waiting.items() if w[3]}


def _by_lot(draws) -> dict[str, int]:
    out: dict[str, int] = {}
    for draw in draws:
        lot_id = key_lot(draw.key)[2]
        out[lot_id] = out.get(lot_id, 0) + draw.points
    return out


def _by_lot_model(draws) -> dict[str, int]:
    out: dict[str, int] = {}
    for draw in draws:
        out[draw.lot_id] = out.get(draw.lot_id, 0) + draw.points
    return out


def test_a_debit_beyond_the_balance_is_refused_and_changes_nothing():
    subject = Subject(2)
    subject.run(lambda w: w.credit("L1", 10, "2028-01-01T00:00:00Z", "2027-01-01T00:00:00Z"))
    before = subject.records
    try:
        subject.run(lambda w: w.debit(11))
    except InsufficientPointsError:
        pass
    else:
        raise AssertionError("a debit beyond the balance went through")
    assert subject.records == before
