"""A member as the ledger sees it: profile, spend, tier and lots."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from chalicelib.domain.wallet import Page, Wallet
from chalicelib.errors import LedgerInvariantError

PERSONAL_FIELDS = ("name", "email", "phone", "birthday")


@dataclass
class Member:
    member_id: str
    name: Optional[str]
    email: Optional[str]
    phone: Optional[str]
    birthday: Optional[str]
    referral_code: Optional[str]
    created_at: str
    tier: str
    referrer_id: Optional[str] = None
    referral_pending: bool = False
    spend: dict[str, int] = field(default_factory=dict)
    lifetime_points: int = 0
    wallet: Wallet = field(default_factory=lambda: Wallet([], 0))
    version: Optional[int] = None  # as read; None = not stored yet
    erased: bool = False
    tier_review: Optional[str] = None
    ladder: Optional[str] = None  # signature of the tier ladder `tier` was decided under
    last_birthday_year: Optional[int] = None
    enrolment_key: Optional[str] = None  # idempotency record holding the enrolment reply
    generation: int = 0  # 1, 2, ... when the id is enrolled again after an erasure
    referrer_generation: int = 0
    locale: Optional[str] = None  # "ko" / "en": the language of the member's notifications
    suspension: Optional[dict] = None  # {"reason", "since"} (§15)
    last_activity_at: Optional[str] = None  # latest earn or redeem; None = enrolment (§14)
    won_back_for: Optional[str] = None  # the last_activity_at whose dormant spell was won back
    dormant_since: Optional[str] = None  # set by the win-back job, cleared by activity
    month_earns: dict[str, int] = field(default_factory=dict)  # "YYYY-MM" of occurred_at -> earns (§12)
    earn_day: Optional[dict] = None  # {"day", "earns", "points"}: today's earns (§15 limits)
    coupons_open: dict[str, int] = field(default_factory=dict)  # unused coupons: expires_at -> count
    tier_up_years: dict[str, int] = field(default_factory=dict)  # tier -> year its coupon was issued
    statement_month: Optional[str] = None  # "YYYY-MM" of the last monthly statement (§13)
    segments: list[str] = field(default_factory=list)  # §21 segment ids, sorted: set by the analytics refresh
    # §22: the campaigns whose audience the member is in (domain.campaigns.entry), bounded by
    # domain.campaigns.prune: an earn reads its campaign lines with the profile
    campaigns: list[dict] = field(default_factory=list)
    imported_from: Optional[str] = None  # §25 "<import_id>:<line>": the import line that enrolled the member

    @property
    def balance(self) -> int:
        return self.wallet.balance

    @property
    def active_since(self) -> str:
        """§14's `last_activity_at`: the latest earn or redeem, else the enrolment."""
        return self.last_activity_at or self.created_at

    def record_activity(self, now_text: str) -> None:
        """An earn or redeem: a dormant spell ends and the next one is counted from now."""
        self.last_activity_at = now_text
        self.dormant_since = None

    def coupons_available(self, now_text: str) -> int:
        return sum(count for expires_at, count in self.coupons_open.items() if expires_at > now_text)

    def open_coupon(self, expires_at: str, now_text: str) -> None:
        self._prune_coupons(now_text)
        self.coupons_open[expires_at] = self.coupons_open.get(expires_at, 0) + 1

    def close_coupon(self, expires_at: str, now_text: str) -> None:
        """A coupon used: it no longer counts as available (an expired one is no longer kept)."""
        self._prune_coupons(now_text)
        if expires_at in self.coupons_open:
            self.coupons_open[expires_at] -= 1
            if self.coupons_open[expires_at] <= 0:
                del self.coupons_open[expires_at]

    def _prune_coupons(self, now_text: str) -> None:
        self.coupons_open = {k: v for k, v in self.coupons_open.items() if k > now_text and v > 0}

    def add_spend(self, quarter: str, amount: int) -> None:
        self.spend[quarter] = self.spend.get(quarter, 0) + amount
        if self.spend[quarter] < 0:
            raise LedgerInvariantError("quarter spend cannot go below zero")

    # -- persistence shape (plain dicts; the store adds DynamoDB keys) ----
    def to_record(self) -> dict:
        return {
            "member_id": self.member_id,
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "birthday": self.birthday,
            "referral_code": self.referral_code,
            "referrer_id": self.referrer_id,
            "referral_pending": self.referral_pending,
            "created_at": self.created_at,
            "tier": self.tier,
            "spend": dict(self.spend),
            "lifetime_points": self.lifetime_points,
            # the points of the runs: pending lots (§25) are kept apart, and those whose
            # time has come are added by whoever reads (spendable is a function of time)
            "balance": self.wallet.settled_balance,
            # the spendable balance as of this write (pending lots that came due
            # included): what the analytics facts show as the member's balance
            "spendable_balance": self.wallet.balance if self.wallet.now is not None else self.wallet.settled_balance,
            "runs": self.wallet.records(),
            "pending": self.wallet.pending_records(),
            "next_run": self.wallet.next_run,
            "version": (self.version or 0) + 1,
            "erased": self.erased,
            "tier_review": self.tier_review,
            "ladder": self.ladder,
            "next_expiry": self.wallet.next_expiry(),
            "last_birthday_year": self.last_birthday_year,
            "enrolment_key": self.enrolment_key,
            "generation": self.generation,
            "referrer_generation": self.referrer_generation,
            "locale": self.locale,
            "suspension": self.suspension,
            "last_activity_at": self.last_activity_at,
            "won_back_for": self.won_back_for,
            "dormant_since": self.dormant_since,
            "month_earns": dict(self.month_earns),
            "earn_day": self.earn_day,
            "coupons_open": dict(self.coupons_open),
            "tier_up_years": dict(self.tier_up_years),
            "statement_month": self.statement_month,
            "segments": list(self.segments),
            "campaigns": [dict(entry) for entry in self.campaigns],
            "imported_from": self.imported_from,
        }

    @classmethod
    def from_record(cls, record: dict, pages: Optional[dict[str, Page]] = None) -> Member:
        wallet = Wallet.from_records(
            record.get("runs") or [], int(record.get("next_run", 0)), pages, record.get("pending") or []
        )
        member = cls(
            member_id=record["member_id"],
            name=record.get("name"),
            email=record.get("email"),
            phone=record.get("phone"),
            birthday=record.get("birthday"),
            referral_code=record.get("referral_code"),
            created_at=record["created_at"],
            tier=record["tier"],
            referrer_id=record.get("referrer_id"),
            referral_pending=bool(record.get("referral_pending", False)),
            spend={k: int(v) for k, v in (record.get("spend") or {}).items()},
            lifetime_points=int(record.get("lifetime_points", 0)),
            wallet=wallet,
            version=int(record["version"]),
            erased=bool(record.get("erased", False)),
            tier_review=record.get("tier_review"),
            ladder=record.get("ladder"),
            last_birthday_year=record.get("last_birthday_year"),
            enrolment_key=record.get("enrolment_key"),
            generation=int(record.get("generation", 0)),
            referrer_generation=int(record.get("referrer_generation", 0)),
            locale=record.get("locale"),
            suspension=record.get("suspension"),
            last_activity_at=record.get("last_activity_at"),
            won_back_for=record.get("won_back_for"),
            dormant_since=record.get("dormant_since"),
            month_earns={k: int(v) for k, v in (record.get("month_earns") or {}).items()},
            earn_day=(
                {k: (int(v) if k != "day" else v) for k, v in record["earn_day"].items()}
                if record.get("earn_day")
                else None
            ),
            coupons_open={k: int(v) for k, v in (record.get("coupons_open") or {}).items()},
            tier_up_years={k: int(v) for k, v in (record.get("tier_up_years") or {}).items()},
            statement_month=record.get("statement_month"),
            segments=[str(s) for s in record.get("segments") or []],
            campaigns=[dict(entry) for entry in record.get("campaigns") or []],
            imported_from=record.get("imported_from"),
        )
        if int(record.get("balance", 0)) != member.wallet.settled_balance:
            raise LedgerInvariantError(f"member {member.member_id}: balance differs from its lot runs")
        return member


# §15: while suspended, a member may not earn, record activity, redeem, transfer
# (sending or receiving), buy or use coupons; reads, adjustments, reversals and the
# jobs go on (points still expire), and an admin may still give a coupon.
REFUSED_WHILE_SUSPENDED = frozenset({"earn", "activity", "redeem", "transfer", "coupon_buy", "coupon_use"})


def may(member: Member, operation: str) -> bool:
    """§15: whether `member` may do `operation` (one of REFUSED_WHILE_SUSPENDED's
    names or any other operation) now."""
    return not (member.suspension and operation in REFUSED_WHILE_SUSPENDED)
