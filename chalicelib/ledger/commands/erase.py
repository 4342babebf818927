"""DELETE /members/{id} (contract §3): the balance forfeited, personal data gone."""
from __future__ import annotations

from chalicelib.auth import Actor
from chalicelib.ledger.member_changes import MemberChanges, NeedItems, Result, Unit
from chalicelib.storage.store import STALE


def erase(changes: MemberChanges, actor: Actor, member_id: str) -> None:
    def decide(unit: Unit, members, found) -> Result:
        member = changes.live(members, member_id)
        reply_key = (member.enrolment_key, "IDEMPOTENCY") if member.enrolment_key else None
        if reply_key and reply_key not in found:
            raise NeedItems([reply_key])
        forfeited = member.wallet.forfeit_all()
        if forfeited:
            unit.record(member, "expire", -forfeited, reason="erasure")
        for name in ("name", "email", "phone", "birthday"):
            setattr(member, name, None)
        member.erased = True
        member.tier_review = None
        unit.stats["members"] -= 1
        unit.stats[f"tier:{member.tier}"] -= 1
        if reply_key and found.get(reply_key) is not None:
            # The stored enrolment reply (kept 48 h) holds the personal data: scrub
            # it. A replay of that request still answers 404: the member is erased.
            unit.commit.update(
                {"pk": reply_key[0], "sk": "IDEMPOTENCY"},
                "SET #b = :erased, #m = :m", {"#b": "body", "#m": "member_ids"},
                {":erased": "null", ":m": [member_id]}, STALE,
                condition="attribute_exists(pk)",  # never a stub without its request
            )
        if member.referral_code:
            unit.commit.delete({"pk": f"REFERRAL#{member.referral_code}", "sk": "REFERRAL"})
        unit.touch(member)
        return Result(204, None)

    # no re-tiering first: the member's tier counter is simply released
    changes.change(actor, None, [member_id], decide, retier=False)
