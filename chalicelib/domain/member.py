"""A member as the ledger sees it: profile, spend, tier and lots."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..errors import LedgerInvariantError
from .wallet import Page, Wallet

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

    @property
    def balance(self) -> int:
        return self.wallet.balance

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
            "balance": self.balance,
            "runs": self.wallet.records(),
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
        }

    @classmethod
    def from_record(cls, record: dict, pages: Optional[dict[str, Page]] = None) -> "Member":
        wallet = Wallet.from_records(record.get("runs") or [], int(record.get("next_run", 0)), pages)
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
        )
        if int(record.get("balance", 0)) != member.balance:
            raise LedgerInvariantError(f"member {member.member_id}: balance differs from its lot runs")
        return member
