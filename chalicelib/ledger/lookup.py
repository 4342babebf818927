"""Member lookup and segments (contract §10, §21): by phone or email at the counter,
by tier, the dormant segment or a segment of the operator's (as of the last
analytics refresh) for operators.

Each is one Query of a sparse keys-only index (`phone`, `email`, `tier`,
`dormant`; range key `member_id`, so pages come in member_id order) and one
BatchGetItem of the profiles it names: the items read are the page itself plus
the members shown. An index answers eventually: a profile that no longer
matches (an erasure, a changed phone, a tier that moved) is left out.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from typing import Any, Optional

from chalicelib.domain.member import Member
from chalicelib.domain.program import Program
from chalicelib.errors import NotFoundError, ValidationError
from chalicelib.ledger.member_changes import MemberChanges
from chalicelib.ledger.views import member_view
from chalicelib.storage.repository import (
    DORMANT_SEGMENT,
    SEGMENT_MEMBER_PREFIX,
    phone_digits,
    profile_key,
    segment_definition_key,
    segment_listing_key,
)
from chalicelib.storage.store import DORMANT_INDEX, EMAIL_INDEX, PHONE_INDEX, TIER_INDEX, from_attrs, to_attrs


class MemberLookup:
    def __init__(self, changes: MemberChanges):
        self.changes = changes
        self.store = changes.store

    def find(
        self,
        now: dt.datetime,
        limit: int,
        cursor: Optional[str],
        phone: Optional[str] = None,
        email: Optional[str] = None,
        tier: Optional[str] = None,
        segment: Optional[str] = None,
    ) -> dict:
        program = self.changes.programs.current()
        if phone is not None:
            digits = phone_digits(phone)
            if not digits or len(phone) > 200:
                raise ValidationError("phone must hold digits (such as 010-1234-5678)")
            return self._page(
                program,
                now,
                PHONE_INDEX,
                "phone_digits",
                digits,
                limit,
                cursor,
                lambda m, view: phone_digits(m.phone or "") == digits,
            )
        if email is not None:
            wanted = email.strip().lower()
            if not wanted or len(email) > 200:
                raise ValidationError("email must be 1-200 characters")
            return self._page(
                program,
                now,
                EMAIL_INDEX,
                "email_lower",
                wanted,
                limit,
                cursor,
                lambda m, view: (m.email or "").lower() == wanted,
            )
        if tier is not None:
            if tier not in {t.name for t in program.tiers}:
                raise ValidationError(f"unknown tier {tier[:80]!r}")
            return self._page(
                program, now, TIER_INDEX, "listed_tier", tier, limit, cursor, lambda m, view: view["tier"] == tier
            )
        if segment is not None:
            if segment != DORMANT_SEGMENT:
                return self._segment_page(program, now, segment, limit, cursor)
            return self._page(
                program,
                now,
                DORMANT_INDEX,
                "dormant_segment",
                DORMANT_SEGMENT,
                limit,
                cursor,
                lambda m, view: view["dormant"],
            )
        raise ValidationError("give one of phone, email, tier or segment")

    def _page(
        self,
        program: Program,
        now: dt.datetime,
        index: str,
        hash_name: str,
        value: str,
        limit: int,
        cursor: Optional[str],
        keep: Callable[[Member, dict], bool],
    ) -> dict:
        kwargs: dict[str, Any] = {
            "TableName": self.store.table,
            "IndexName": index,
            "KeyConditionExpression": "#h = :h",
            "ExpressionAttributeNames": {"#h": hash_name},
            "ExpressionAttributeValues": to_attrs({":h": value}),
            "Limit": limit,
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = to_attrs(decode_index_cursor(cursor, hash_name, value))
        response = self.store.client.query(**kwargs)
        keys = [(item["pk"]["S"], item["sk"]["S"]) for item in response.get("Items", [])]
        records = self.store.get_many(keys) if keys else {}
        items = []
        for key in keys:
            record = records.get(key)
            if record is None or record.get("erased"):
                continue
            member, view = self.changes.view_of(program, record, lambda p, m: member_view(p, m, now))
            if keep(member, view):
                items.append(view)
        last = response.get("LastEvaluatedKey")
        return {"items": items, "next_cursor": encode_index_cursor(from_attrs(last)) if last else None}

    def _segment_page(
        self, program: Program, now: dt.datetime, segment_id: str, limit: int, cursor: Optional[str]
    ) -> dict:
        """§21: a segment's members as of the last refresh, in member_id order. One
        Query of the segment's membership items and one BatchGetItem of the profiles
        together with the segment's listing item (unknown segment: 404). A member
        erased (or enrolled again) since the refresh carries no such entry in its
        profile's `segments` and is left out."""
        if not 1 <= len(segment_id) <= 200:
            raise ValidationError("segment must be 1-200 characters")
        pk = segment_definition_key(segment_id)[0]
        members, next_cursor = self.store.query_page(pk, SEGMENT_MEMBER_PREFIX, limit, cursor, newest_first=False)
        keys = [profile_key(str(m["member_id"])) for m in members if m.get("member_id")]
        listing_key = segment_listing_key(segment_id)
        found = self.store.get_many([listing_key, *keys])
        listing = found.get(listing_key)
        if listing is None:
            raise NotFoundError(f"segment {segment_id[:80]!r} not found")
        if listing.get("as_of") is None:  # created since the last refresh: no members yet
            return {"items": [], "next_cursor": None}
        items = []
        for key in keys:
            record = found.get(key)
            if record is None or record.get("erased") or segment_id not in (record.get("segments") or []):
                continue
            _, view = self.changes.view_of(program, record, lambda p, m: member_view(p, m, now))
            items.append(view)
        return {"items": items, "next_cursor": next_cursor}


def encode_index_cursor(key: dict) -> str:
    raw = json.dumps(key, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_index_cursor(cursor: str, hash_name: str, value: str) -> dict:
    """A cursor of this very list: the index's keys and the table's, all strings."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if (
            not isinstance(key, dict)
            or set(key) != {"pk", "sk", "member_id", hash_name}
            or key[hash_name] != value
            or not all(isinstance(v, str) and v for v in key.values())
        ):
            raise ValueError
        return key
    except Exception:
        raise ValidationError("cursor is not valid") from None
