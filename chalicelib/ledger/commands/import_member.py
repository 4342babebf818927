"""One line of an import (contract §25): a member enrolled with its opening
balance and spend, in one transaction.

The member is made as POST /members makes it (`enrol.new_member`: profile,
referral code, /stats and daily counts), without the signup bonus, the welcome
notification or the signup coupon. `opening_balance` is one `adjust` lot
(reason `import`), `lifetime_spend` the spend of the current quarter (so the
tier is right at once). Everything is one TransactWriteItems whose profile Put
requires that no live member has the id: a line is applied whole or not at all,
and applying it again changes nothing (MemberExistsError)."""

from __future__ import annotations

from typing import Optional

from chalicelib.api import schemas
from chalicelib.auth import JOB
from chalicelib.domain.calendar import quarter_of
from chalicelib.domain.tiers import tier_at, tier_review_at
from chalicelib.errors import MemberExistsError, ValidationError
from chalicelib.ledger.commands.enrol import new_member
from chalicelib.ledger.member_changes import Found, MemberChanges, Members, Reads, Result, Unit

IMPORT_REASON = "import"


def import_marker(import_id: str, line: int) -> str:
    """What an imported profile keeps of the line that enrolled it (`imported_from`)."""
    return f"{import_id}:{line}"


def import_member(
    changes: MemberChanges, line: schemas.ImportLine, marker: str, prefetched: Optional[Reads] = None
) -> Result:
    member_id = line.member_id

    def decide(unit: Unit, members: Members, found: Found) -> Result:
        earlier = members.get(member_id)
        if earlier is not None and not earlier.erased:
            raise MemberExistsError(f"member {member_id!r} already exists")
        expires_at = line.opening_expires_at
        if line.opening_balance and expires_at is not None and expires_at <= unit.now_text:
            raise ValidationError("opening_expires_at: must lie in the future")
        member = new_member(unit, member_id, line, earlier, imported_from=marker)
        if line.lifetime_spend:
            member.add_spend(quarter_of(unit.now, unit.program.timezone), line.lifetime_spend)
            tier = tier_at(unit.program, member.spend, unit.now)
            unit.stats[f"tier:{member.tier}"] -= 1
            unit.stats[f"tier:{tier}"] += 1
            member.tier = tier
            member.tier_review = tier_review_at(unit.program, member.spend, tier, unit.now)
        if line.opening_balance:
            # the lot's default lifetime is the tier's, as for any credit made now
            unit.credit(member, "adjust", line.opening_balance, expires_at=expires_at, reason=IMPORT_REASON)
        return Result.created({"member_id": member_id})

    return changes.change(JOB, None, [member_id], decide, retier=False, prefetched=prefetched)
