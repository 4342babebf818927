"""The analytics answers (contract §17–§21), read from the results the refresh stored.

The API never runs a query: every answer here is one or two DynamoDB requests —
one BatchGetItem of the last refresh (`ANALYTICS / REFRESH`, whose `as_of` every
answer carries), the program when it is not cached, and the stored result itself;
a second request only where the result is a range (cohorts) or hangs off a member
(insights, recommendations). Before the first refresh each answer is its empty shape, never an error.

Segment definitions are written here too (§21): the definition and its listing
item in one transaction; the refresh fills in `members`, `avg_clv` and `as_of`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Optional

from chalicelib import clock
from chalicelib.domain.calendar import format_instant, local_date, parse_instant
from chalicelib.domain.rfm import scores as rfm_scores
from chalicelib.domain.rfm import segment_of
from chalicelib.errors import ConcurrentUpdateError, NotFoundError, SegmentExistsError, ValidationError
from chalicelib.ledger.member_changes import MemberChanges
from chalicelib.storage.repository import (
    ANALYTICS_PK,
    COHORT_PREFIX,
    COLD_RECOMMENDATIONS_KEY,
    REFRESH_KEY,
    RFM_KEY,
    SEGMENTS_PK,
    cohort_sk,
    insights_key,
    key_of,
    recommendations_key,
    segment_definition_key,
    segment_listing_key,
    summary_days_key,
    summary_month_key,
)
from chalicelib.storage.store import Commit, CommitConflict, refuse

SUMMARY_DAYS = (7, 30, 90, 365)
SUMMARY_COUNTS = (
    "members_at_end",
    "new_members",
    "active_members",
    "repeat_members",
    "purchases",
    "purchase_amount",
    "average_order_value",
    "points_earned",
    "points_redeemed",
    "points_expired",
    "coupons_issued",
    "coupons_used",
)
SUMMARY_RATES = ("active_rate", "repeat_rate", "redemption_rate", "breakage_rate")
SUMMARY_FIELDS = (
    "members_at_end",
    "new_members",
    "active_members",
    "repeat_members",
    "active_rate",
    "repeat_rate",
    "purchases",
    "purchase_amount",
    "average_order_value",
    "points_earned",
    "points_redeemed",
    "points_expired",
    "redemption_rate",
    "breakage_rate",
    "coupons_issued",
    "coupons_used",
)
RFM_SEGMENTS = ("champions", "loyal", "promising", "at_risk", "hibernating", "needs_attention")
MAX_COHORT_MONTHS = 24
RESERVED_SEGMENTS = frozenset({"dormant"})  # §10's own segment
SEGMENT_FIELDS = ("segment_id", "name", "rules", "members", "avg_clv", "as_of")
MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])", re.ASCII)


def parse_month(name: str, text: Optional[str]) -> int:
    """`YYYY-MM` as a month number (year × 12 + month − 1); 400 for anything else."""
    if text is None or not MONTH.fullmatch(text):
        raise ValidationError(f"{name} must be a month as YYYY-MM")
    return int(text[:4]) * 12 + int(text[5:7]) - 1


def month_text(number: int) -> str:
    return f"{number // 12:04d}-{number % 12 + 1:02d}"


def month_of(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def first_day(number: int) -> dt.date:
    return dt.date(number // 12, number % 12 + 1, 1)


def last_day(number: int) -> dt.date:
    return first_day(number + 1) - dt.timedelta(days=1)


def empty_summary() -> dict:
    return {
        "as_of": None,
        "from": None,
        "to": None,
        **{name: (None if name in SUMMARY_RATES else 0) for name in SUMMARY_FIELDS},
    }


def summary_view(as_of: str, first: dt.date, last: dt.date, stored: Optional[dict]) -> dict:
    """§18 for the dates first..last: the stored figures (zeros and null rates for a
    month nothing was stored for), dated by this refresh."""
    answer = empty_summary()
    answer.update({"as_of": as_of, "from": first.isoformat(), "to": last.isoformat()})
    for name in SUMMARY_FIELDS:
        if stored is not None and stored.get(name) is not None:
            answer[name] = stored[name] if name in SUMMARY_RATES else int(stored[name])
    return answer


def segment_view(item: dict) -> dict:
    view: dict[str, Any] = {name: item.get(name) for name in SEGMENT_FIELDS}
    for name in ("members", "avg_clv"):
        value = view[name]
        view[name] = None if value is None else int(value)
    return view


def insights_view(
    member_id: str,
    as_of: Optional[str],
    stored: Optional[dict],
    segments: list[str],
    as_of_date: Optional[dt.date] = None,
    thresholds: Optional[dict] = None,
) -> dict:
    """The §20 answer. A refresh rewrites a member's INSIGHTS item only when its purchases
    changed, so the item's recency_days and rfm are as of its own `as_of`: with the item's
    `last_purchase_date`, recency_days is counted to the last refresh's date (`as_of_date`),
    and with the RFM quintile boundaries that refresh stored (`thresholds`), the scores and
    rfm_segment are that refresh's. An item without them is taken as it is."""
    stored = stored or {}
    rfm = stored.get("rfm")
    recency = None if stored.get("recency_days") is None else int(stored["recency_days"])
    rfm_segment = stored.get("rfm_segment")
    last = stored.get("last_purchase_date")
    if last is not None and as_of_date is not None:
        recency = (as_of_date - dt.date.fromisoformat(str(last))).days
        if isinstance(thresholds, dict):
            rfm = rfm_scores(str(last), int(stored.get("frequency") or 0), int(stored.get("monetary") or 0), thresholds)
            rfm_segment = None if rfm is None else segment_of(rfm["r"], rfm["f"], rfm["m"])
    return {
        "member_id": member_id,
        "as_of": as_of,
        "recency_days": recency,
        "frequency": int(stored.get("frequency") or 0),
        "monetary": int(stored.get("monetary") or 0),
        "clv": int(stored.get("clv") or 0),
        "rfm": {k: int(rfm[k]) for k in ("r", "f", "m")} if isinstance(rfm, dict) else None,
        "rfm_segment": rfm_segment,
        "segments": sorted(segments),
    }


class AnalyticsViews:
    def __init__(self, changes: MemberChanges):
        self.changes = changes
        self.store = changes.store

    def _with_refresh(self, keys: list[tuple[str, str]]) -> tuple[Optional[str], Optional[dt.date], dict]:
        """One BatchGetItem: the last refresh, the program (unless cached) and `keys`.
        Returns as_of, as_of's date in the program timezone (None before the first
        refresh) and the items found."""
        program, _, found = self.changes.read([], [REFRESH_KEY, *keys])
        refresh = found.get(REFRESH_KEY)
        if refresh is None or not refresh.get("as_of"):
            return None, None, found
        as_of = refresh["as_of"]
        return as_of, local_date(parse_instant(as_of), program.timezone), found

    # -- §18 ------------------------------------------------------------------
    def summary(self, month: Optional[str], days: Optional[str]) -> dict:
        if (month is None) == (days is None):
            raise ValidationError("give exactly one of month (YYYY-MM) or days (7, 30, 90 or 365)")
        if month is not None:
            number = parse_month("month", month)
            key = summary_month_key(month_text(number))
        else:
            if days not in {str(n) for n in SUMMARY_DAYS}:
                raise ValidationError("days must be one of 7, 30, 90, 365")
            key = summary_days_key(int(days or 0))
        as_of, today, found = self._with_refresh([key])
        if as_of is None or today is None:
            return empty_summary()
        if month is not None:
            if number > month_of(today):
                raise ValidationError(f"month {month} is after the month of as_of ({as_of})")
            first, last = first_day(number), min(last_day(number), today)
        else:
            first, last = today - dt.timedelta(days=int(days or 0) - 1), today
        return summary_view(as_of, first, last, found.get(key))

    # -- §19 ------------------------------------------------------------------
    def cohorts(self, first_text: Optional[str], last_text: Optional[str]) -> dict:
        first, last = parse_month("from", first_text), parse_month("to", last_text)
        if first > last:
            raise ValidationError("from must not be after to")
        if last - first + 1 > MAX_COHORT_MONTHS:
            raise ValidationError(f"at most {MAX_COHORT_MONTHS} months at a time")
        as_of, today, _ = self._with_refresh([])
        if as_of is None or today is None:
            return {"as_of": None, "items": []}
        stored = {
            item["sk"][len(COHORT_PREFIX) :]: item
            for item in self.store.query_range(ANALYTICS_PK, cohort_sk(month_text(first)), cohort_sk(month_text(last)))
        }
        now_month = month_of(today)
        items = []
        for number in range(first, last + 1):
            cohort = month_text(number)
            if number > now_month:
                items.append({"cohort": cohort, "members": 0, "active": []})
                continue
            item = stored.get(cohort) or {}
            active = [int(a) for a in item.get("active") or []][: now_month - number + 1]
            active += [0] * (now_month - number + 1 - len(active))
            items.append({"cohort": cohort, "members": int(item.get("members") or 0), "active": active})
        return {"as_of": as_of, "items": items}

    # -- §20 ------------------------------------------------------------------
    def rfm(self) -> dict:
        as_of, _, found = self._with_refresh([RFM_KEY])
        stored = {}
        if as_of is not None:
            stored = {row.get("rfm_segment"): row for row in (found.get(RFM_KEY) or {}).get("items") or []}
        return {
            "as_of": as_of,
            "items": [
                {
                    "rfm_segment": name,
                    "members": int(stored.get(name, {}).get("members") or 0),
                    "avg_monetary": int(stored.get(name, {}).get("avg_monetary") or 0),
                    "avg_clv": int(stored.get(name, {}).get("avg_clv") or 0),
                }
                for name in RFM_SEGMENTS
            ],
        }

    def insights(self, member_id: str) -> dict:
        """One BatchGetItem (profile, last refresh, program) and, for a member the
        refresh has seen, one GetItem of the member's stored values."""
        program, records, found = self.changes.read([member_id], [REFRESH_KEY, RFM_KEY])
        record = records.get(member_id)
        if record is None or record.get("erased"):
            raise NotFoundError(f"member {member_id!r} not found")
        refresh = found.get(REFRESH_KEY) or {}
        as_of = refresh.get("as_of")
        enrolled = record.get("created_at")
        if as_of is None or (enrolled and parse_instant(enrolled) > parse_instant(as_of)):
            return insights_view(member_id, as_of, None, [])
        stored = self.store.get(*insights_key(member_id, int(record.get("generation", 0))))
        thresholds = (found.get(RFM_KEY) or {}).get("thresholds")
        as_of_date = local_date(parse_instant(as_of), program.timezone)
        return insights_view(member_id, as_of, stored, list(record.get("segments") or []), as_of_date, thresholds)

    # -- §23 ------------------------------------------------------------------
    def recommendations(self, member_id: str, limit: int) -> dict:
        """The member's stored list (its first `limit` entries), or the cold-start list when the
        last refresh left it none. One BatchGetItem (profile, last refresh, cold list, the
        generation-0 list, program when not cached); a GetItem more for a later generation."""
        first = recommendations_key(member_id, 0)
        program, records, found = self.changes.read([member_id], [REFRESH_KEY, COLD_RECOMMENDATIONS_KEY, first])
        record = records.get(member_id)
        if record is None or record.get("erased"):
            raise NotFoundError(f"member {member_id!r} not found")
        as_of = (found.get(REFRESH_KEY) or {}).get("as_of")
        if as_of is None:
            return {"as_of": None, "items": []}
        generation = int(record.get("generation", 0))
        own = found.get(first) if generation == 0 else self.store.get(*recommendations_key(member_id, generation))
        chosen = own if own is not None else found.get(COLD_RECOMMENDATIONS_KEY) or {}
        items = [
            {"sku": entry.get("sku"), "category": entry.get("category"), "score": int(entry.get("score") or 0)}
            for entry in (chosen.get("items") or [])[:limit]
        ]
        return {"as_of": as_of, "items": items}

    # -- §21 ------------------------------------------------------------------
    def create_segment(self, segment_id: str, name: str, rules: list[dict]) -> dict:
        if segment_id in RESERVED_SEGMENTS:
            raise ValidationError(f"segment_id: {segment_id!r} is reserved (GET /members?segment=dormant)")
        from chalicelib.domain.segments import validate_rules

        checked = validate_rules(rules)
        if checked is not None:
            rules = checked
        definition = {
            **key_of(segment_definition_key(segment_id)),
            "segment_id": segment_id,
            "name": name,
            "rules": rules,
            "created_at": format_instant(clock.now()),
        }
        listing = {
            **key_of(segment_listing_key(segment_id)),
            "segment_id": segment_id,
            "name": name,
            "rules": rules,
        }
        exists = refuse(lambda: SegmentExistsError(f"segment {segment_id!r} already exists"))
        commit = Commit(self.store.table)
        commit.put_new(definition, exists)
        commit.put_new(listing, exists)
        try:
            self.store.commit(commit)
        except CommitConflict as conflict:
            if conflict.failed:
                raise SegmentExistsError(f"segment {segment_id!r} already exists") from None
            raise ConcurrentUpdateError("the segment changed under the request; retry") from None
        return segment_view(listing)

    def segments(self, limit: int, cursor: Optional[str]) -> dict:
        items, next_cursor = self.store.query_page(SEGMENTS_PK, "", limit, cursor, newest_first=False)
        return {"items": [segment_view(i) for i in items], "next_cursor": next_cursor}

    def segment(self, segment_id: str) -> dict:
        item = self.store.get(*segment_listing_key(segment_id))
        if item is None:
            raise NotFoundError(f"segment {segment_id[:80]!r} not found")
        return segment_view(item)

    def delete_segment(self, segment_id: str) -> None:
        """The definition and its listing item, in one transaction; its membership
        items and members' `segments` entries go at the next refresh."""
        commit = Commit(self.store.table)
        missing = refuse(lambda: NotFoundError(f"segment {segment_id[:80]!r} not found"))
        commit.delete(key_of(segment_definition_key(segment_id)), missing, must_exist=True)
        commit.delete(key_of(segment_listing_key(segment_id)))
        try:
            self.store.commit(commit)
        except CommitConflict as conflict:
            if conflict.failed:
                raise NotFoundError(f"segment {segment_id[:80]!r} not found") from None
            raise ConcurrentUpdateError("the segment changed under the request; retry") from None
