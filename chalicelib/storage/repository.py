"""Where every item lives: keys, item shapes and the reads the ledger makes.

One table, items addressed by (pk, sk):

  PROGRAM / CONFIG                       program configuration
  PROGRAM / TIER_LADDER_APPLIED          the tier ladder members were last tiered by
  APIKEY#<sha256> / APIKEY               API keys (hashed)
  APIKEYS / KEY#<key_id>                 the listing of API keys (-> digest); APIKEYS / ADMINS: live admin keys
  MEMBER#<id> / PROFILE                  member, spend, lot runs, balance (versioned)
  MEMBER#<id> / TX#<ulid>                ledger transactions (written once)
  MEMBER#<id> / LOT#<space>#<key>        lots (written once; a refund's `taken` aside)
  MEMBER#<id> / BUNDLE#<id>              the lots of a large transfer (written once)
  MEMBER#<id> / ORDER#<order_id>         one earn per order
  MEMBER#<id> / LINES#<tx>#<part>        a large purchase's lines, beside its transaction
  MEMBER#<id> / ACTIVITY#<sha256>        one reward per (type, reference)
  MEMBER#<id> / NOTIFICATION#<ulid>      notification outbox
  MEMBER#<id> / REPLY#<idempotency pk>   pointer to a stored reply that shows the member (erasure
                                         finds them here; TTL as the record's)
  MEMBER#<id> / G<n>#...                 the same for an id enrolled again after an erasure
  REFERRAL#<code> / REFERRAL             referral code -> member
  VOUCHER#<code> / VOUCHER               reward vouchers (status issued / void)
  REWARD / <reward_id>                   reward catalog and stock
  IDEMPOTENCY#<key id>#<key> / IDEMPOTENCY   stored responses (TTL)
  STATS#<nnn> / STATS                    /stats counter shards, each its own partition
                                         (`pending@<date>`: points becoming available that UTC day)
  STATS#<nnn> / PENDING#<date>           the same day's pending points by hour (`HH`), TTL
  STATS#<nnn> / PENDING#<date>T<HH>      ... that hour's by minute (`MM`), TTL
  STATS#<nnn> / PENDING#<date>T<HH>:<MM> ... that minute's by second (`SS`), TTL

  COUPON_TEMPLATE / <template_id>        coupon templates (written once)
  MEMBER#<id> / COUPON#<ulid>            a member's coupons, newest last (state kept in step
  COUPON#<code> / COUPON                 with the code's item: both change in one transaction)
  DAILY#<nnn> / <date>                   /stats/daily counter shards, one item per program day

  ANALYTICS / REFRESH                    the last completed analytics refresh (written last)
  ANALYTICS / SUMMARY#MONTH#<YYYY-MM>    §18 answers per month and per last 7/30/90/365 days
  ANALYTICS / SUMMARY#DAYS#<n>
  ANALYTICS / COHORT#<YYYY-MM>           §19 cohorts with members; ANALYTICS / RFM: §20's table
  MEMBER#<id> / INSIGHTS                 a member's §20 values (G<n>#INSIGHTS for later generations)
  MEMBER#<id> / RECOMMENDATIONS          a buyer's §23 recommendations (G<n>#RECOMMENDATIONS later)
  ANALYTICS / RECOMMENDATIONS#COLD       §23's cold-start list (members without their own item)
  ANALYTICS / CAMPAIGN#<campaign_id>     §22 a campaign's results (arms, comparisons) as of the refresh
  SEGMENT#<id> / DEFINITION              §21 segment definitions
  SEGMENT#<id> / M#<member_id>           a segment's members as of the last refresh
  SEGMENTS / <segment_id>                the listing of segments with the refresh's figures
  (the profile's `segments` attribute: the member's segment ids, sorted, set by the refresh)

  CAMPAIGNS / <campaign_id>              §22 campaigns (launch_started_at, launched_at, audience)
  CAMPAIGN#<id> / COUNT#<nn>             the campaign's audience counters (32 shards)
  MEMBER#<id> / CAMPAIGN#<campaign_id>   the member's arm (written once at launch; G<n># later)
  (the profile's `campaigns` attribute: the member's recent campaigns, arm and reward, for the earn)

  EVENTS#<ulid> / EVENTS                 §24 webhook events of one change (written once, with it)
  WEBHOOKS / WEBHOOK#<webhook_id>        webhooks: url, events, signing secret, created_at
  WEBHOOKS / COUNT                       how many webhooks there are (at most MAX_WEBHOOKS)
  WEBHOOK#<id> / DELIVERY#<event ulid>   one event's delivery to the webhook (written once by the
                                         fan-out; then its attempts), newest first
  WEBHOOK#<id> / CIRCUIT                 the webhook's consecutive failures and back-off
  WEBHOOK#<id> / SLOT#<n>                the webhook's delivery slots (leases: its concurrency cap)

Indexes (sparse, keys only): `expiry` (expiry_shard, next_expiry),
`tier-review` (tier_shard, tier_review), `birthday` (birthday_key, pk),
`members` (member_shard, pk), and for lookups and segments (§10, §14) `phone`
(phone_digits, member_id), `email` (email_lower, member_id), `tier`
(listed_tier, member_id), `dormant` (dormant_segment, member_id) and
`activity` (activity_shard, last_activity_at); `webhook-due` (webhook_due, due_at):
webhook events not yet fanned out (`EVENTS#<shard>`) and deliveries due
(`WEBHOOK#<id>`, when the next attempt is due).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from typing import Any, Optional

from chalicelib.domain.member import Member
from chalicelib.domain.wallet import NewBundle, NewLot, Page, Piece, Run, Taken
from chalicelib.storage.store import PROFILE, Store, from_attrs, member_pk, member_sk, to_attrs

PROGRAM_KEY = ("PROGRAM", "CONFIG")
LADDER_KEY = {"pk": "PROGRAM", "sk": "TIER_LADDER_APPLIED"}
PAGE_SIZES = (25, 200, 1000)  # lots read per page of a run; then 1 MB pages


STATS_PREFIX = "STATS#"


def stats_shard_key(shard: int) -> tuple[str, str]:
    return f"{STATS_PREFIX}{shard:03d}", "STATS"


def is_stats_shard(pk: str) -> bool:
    return pk.startswith(STATS_PREFIX)


# §25: `points_pending` is a function of the time of the read. Each shard counts the
# points still pending by the UTC day they become available (`pending@<date>` on the
# shard item: one attribute per day of the return window, the past ones pruned) and,
# below it, in small items of their own, each at most 60 counters whatever the
# traffic: `PENDING#<date>` by hour of that day (`HH`, 24), `PENDING#<date>T<HH>` by
# minute of that hour (`MM`, 60) and `PENDING#<date>T<HH>:<MM>` by second of that
# minute (`SS`, 60), all with a TTL two days after the day. /stats sums the days after
# today, today's hours after the current one, the current hour's minutes after the
# current one and the current minute's seconds after now: exact to the second.
PENDING_DAY_PREFIX = "pending@"
PENDING_ITEM_PREFIX = "PENDING#"
NOT_COUNTERS = ("pk", "sk", "expires_at")


def pending_stats_sk(day: str) -> str:
    """The day's hour counters."""
    return f"{PENDING_ITEM_PREFIX}{day}"


def pending_hour_sk(instant: str) -> str:
    """The minute counters of the hour of `instant` (`YYYY-MM-DDTHH...`)."""
    return f"{PENDING_ITEM_PREFIX}{instant[:13]}"


def pending_minute_sk(instant: str) -> str:
    """The second counters of the minute of `instant` (`YYYY-MM-DDTHH:MM...`)."""
    return f"{PENDING_ITEM_PREFIX}{instant[:16]}"


def pending_stats_expiry(day: str) -> int:
    """The counters of a day are of no use once it is over (TTL two days later)."""
    start = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)
    return int((start + dt.timedelta(days=2)).timestamp())


PENDING_DAYS_PRUNED = 31


def past_pending_days(today: str) -> list[str]:
    """The `pending@<date>` counters of the days before `today` that a shard write
    removes (no write adds to a past day: its points are no longer pending). A
    shard written at least once a month keeps only the days still to come."""
    start = dt.date.fromisoformat(today)
    return [PENDING_DAY_PREFIX + (start - dt.timedelta(days=n)).isoformat() for n in range(1, PENDING_DAYS_PRUNED + 1)]


def pending_day_counters(pending: dict[str, int]) -> dict[str, int]:
    """`pending@<date>` deltas of pending points keyed by available_at."""
    days: dict[str, int] = {}
    for available_at, points in pending.items():
        name = PENDING_DAY_PREFIX + available_at[:10]
        days[name] = days.get(name, 0) + points
    return days


def pending_item_counters(pending: dict[str, int]) -> dict[str, dict[str, int]]:
    """The sort keys of a shard's day, hour and minute items -> {counter: delta},
    of pending points keyed by available_at (`YYYY-MM-DDTHH:MM:SS...`)."""
    items: dict[str, dict[str, int]] = {}
    for available_at, points in sorted(pending.items()):
        for sk, name in (
            (pending_stats_sk(available_at[:10]), available_at[11:13]),
            (pending_hour_sk(available_at), available_at[14:16]),
            (pending_minute_sk(available_at), available_at[17:19]),
        ):
            counters = items.setdefault(sk, {})
            counters[name] = counters.get(name, 0) + points
    return items


# A change writes at most this many of those items in its own transaction; the rest
# (only an erasure forfeiting many pending lots has more: 3 items a lot) wait in an
# item of the member's (`PENDING_COUNTS#<generation>`) and are written right after,
# the same number at a time (see commands/erase.py).
PENDING_ITEMS_PER_COMMIT = 60
PENDING_COUNTS = "PENDING_COUNTS#"


def pending_counts_key(member_id: str, generation: int) -> dict:
    return {"pk": member_pk(member_id), "sk": f"{PENDING_COUNTS}{generation}"}


def pending_items_day(sk: str) -> str:
    """The day of a `PENDING#...` item (for its TTL)."""
    return sk[len(PENDING_ITEM_PREFIX) : len(PENDING_ITEM_PREFIX) + 10]


def _counters_after(item: dict, mark: str) -> int:
    return sum(int(value) for name, value in item.items() if name not in NOT_COUNTERS and name > mark)


def pending_detail_keys(day_items: list[dict], now_text: str) -> list[tuple[str, str]]:
    """The current hour's and current minute's items of the shards whose points
    pending today include some of the current hour (counters never go below zero:
    a zero hour has nothing pending in any of its seconds)."""
    hour = now_text[11:13]
    keys: list[tuple[str, str]] = []
    for item in day_items:
        if int(item.get(hour, 0)):
            keys += [(item["pk"], pending_hour_sk(now_text)), (item["pk"], pending_minute_sk(now_text))]
    return keys


def points_pending(shards: list[dict], day_items: list[dict], now_text: str, detail_items: Sequence[dict] = ()) -> int:
    """§25: points of lots whose available_at is after `now_text`: the shards' days
    after today, today's hours after the current one and, from `detail_items` (the
    current hour's and minute's items), the minutes and seconds after now."""
    today = now_text[:10]
    total = 0
    for shard in shards:
        for name, value in shard.items():
            if name.startswith(PENDING_DAY_PREFIX) and name[len(PENDING_DAY_PREFIX) :] > today:
                total += int(value)
    total += sum(_counters_after(item, now_text[11:13]) for item in day_items)
    for item in detail_items:
        if item["sk"] == pending_hour_sk(now_text):
            total += _counters_after(item, now_text[14:16])
        elif item["sk"] == pending_minute_sk(now_text):
            total += _counters_after(item, now_text[17:19])
    return total


def daily_shard_pk(shard: int) -> str:
    return f"DAILY#{shard:03d}"


def template_key(template_id: str) -> tuple[str, str]:
    return "COUPON_TEMPLATE", template_id


def coupon_code_key(code: str) -> tuple[str, str]:
    return f"COUPON#{code}", "COUPON"


def profile_key(member_id: str) -> tuple[str, str]:
    return member_pk(member_id), PROFILE


def schedule_shard(member_id: str, shards: int) -> str:
    return f"{int(hashlib.sha256(member_id.encode()).hexdigest(), 16) % shards}"


def profile_item(member: Member, schedule_shards: int) -> dict:
    record = member.to_record()
    shard = schedule_shard(member.member_id, schedule_shards)
    item = {"pk": member_pk(member.member_id), "sk": PROFILE, **record}
    if record["next_expiry"]:
        item["expiry_shard"] = shard
    if record["tier_review"]:
        item["tier_shard"] = shard
    if member.birthday and not member.erased:
        item["birthday_key"] = member.birthday[5:]
    if not member.erased:
        item["member_shard"] = shard
        # lookups (§10): keys-only indexes, each holding live members only
        if member.phone:
            item["phone_digits"] = phone_digits(member.phone)
        if member.email:
            item["email_lower"] = member.email.lower()
        item["listed_tier"] = member.tier
        if member.dormant_since:
            item["dormant_segment"] = DORMANT_SEGMENT
        # §14: in the `activity` index until the dormant spell that follows its last
        # activity has been won back; the job reads only members whose spell is due
        if member.won_back_for != member.active_since:
            item["activity_shard"] = shard
            item["last_activity_at"] = member.active_since
    return item


DORMANT_SEGMENT = "dormant"


def phone_digits(phone: str) -> str:
    """§10: phones compare as digits only (010-1234-5678 = 01012345678)."""
    return "".join(ch for ch in phone if ch.isdigit())


def lot_sk(generation: int, base: str, key: str) -> str:
    return member_sk(generation, f"LOT#{base}#{key}")


def lot_item(member: Member, lot: NewLot) -> dict:
    return {
        "pk": member_pk(member.member_id),
        "sk": lot_sk(member.generation, lot.base, lot.key),
        "base": lot.base,
        "key": lot.key,
        "points": lot.points,
        "taken": lot.taken,
    }


def bundle_item(member: Member, bundle: NewBundle) -> dict:
    return {
        "pk": member_pk(member.member_id),
        "sk": member_sk(member.generation, f"BUNDLE#{bundle.bundle_id}"),
        "segments": [[key, points] for key, points in bundle.segments],
    }


def taken_key(member: Member, taken: Taken) -> dict:
    return {"pk": member_pk(member.member_id), "sk": lot_sk(member.generation, taken.base, taken.key)}


def piece_from(item: dict) -> Piece:
    return Piece(item["key"], int(item["points"]), int(item.get("taken", 0)))


class LotReader:
    """Reads the lots of a member's runs, page by page, from the run's floor."""

    def __init__(self, store: Store):
        self.store = store

    def next_page(self, member: Member, run: Run, page: Optional[Page], until: Optional[str] = None) -> Page:
        """The next page of the run's lots; with `until`, every lot expiring up to
        then in one request (what a view of the next 30 days needs)."""
        page = page or Page()
        if page.complete:
            return page
        if run.kind == "bundle":
            return Page(self._segments(member, run.base), complete=True)
        prefix = lot_sk(member.generation, run.base, "")
        run_end = prefix + (run.ceil if run.ceil is not None else "\uffff")
        end, limit = run_end, (PAGE_SIZES[page.reads] if page.reads < len(PAGE_SIZES) else None)
        if until is not None:
            end, limit = min(run_end, prefix + until + "#\uffff"), None
        start_after = page.cursor
        if start_after is None and page.pieces:  # a page that ended at a bound: go on after its last lot
            start_after = to_attrs({"pk": member_pk(member.member_id), "sk": prefix + page.pieces[-1].key})
        response = self._query(member, prefix + run.floor, end, limit, start_after)
        pieces = page.pieces + [piece_from(from_attrs(a)) for a in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return Page(
            pieces,
            complete=last is None and end == run_end,
            cursor=last,
            reads=page.reads + 1,
            until=until if until is not None and last is None else page.until,
        )

    def range_pieces(self, member: Member, base: str, kind: str, start: str, end: str) -> list[Piece]:
        """Every lot of `base` with start <= key <= end, in key order."""
        if kind == "bundle":
            return [piece for piece in self._segments(member, base) if start <= piece.key <= end]
        prefix = lot_sk(member.generation, base, "")
        pieces: list[Piece] = []
        start_after = None
        while True:
            response = self._query(member, prefix + start, prefix + end, None, start_after)
            pieces.extend(piece_from(from_attrs(a)) for a in response.get("Items", []))
            start_after = response.get("LastEvaluatedKey")
            if start_after is None:
                return pieces

    def _segments(self, member: Member, bundle_id: str) -> list[Piece]:
        item = self.store.get(member_pk(member.member_id), member_sk(member.generation, f"BUNDLE#{bundle_id}"))
        return [Piece(str(k), int(p)) for k, p in (item or {}).get("segments") or []]

    def _query(self, member: Member, first: str, last: str, limit: Optional[int], start_after: Optional[dict]) -> dict:
        """The member's items with first <= sk <= last (strongly consistent)."""
        kwargs: dict[str, Any] = {
            "TableName": self.store.table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :a AND :b",
            "ExpressionAttributeValues": to_attrs({":pk": member_pk(member.member_id), ":a": first, ":b": last}),
            "ConsistentRead": True,
        }
        if limit:
            kwargs["Limit"] = limit
        if start_after:
            kwargs["ExclusiveStartKey"] = start_after
        return self.store.client.query(**kwargs)


# -- keys of the items outside the ledger's reads above ------------------
API_KEY_LISTING_PK = "APIKEYS"  # APIKEYS / KEY#<key_id>: the listing of API keys; APIKEYS / ADMINS: live admin keys
API_KEY_ADMIN_COUNTER_SK = "ADMINS"
API_KEY_LISTING_PREFIX = "KEY#"
IDEMPOTENCY_SK = "IDEMPOTENCY"
REWARD_PK = "REWARD"
REPLY_POINTER = "REPLY#"  # MEMBER#<id> / REPLY#<idempotency pk>: a stored reply that shows the member
COUPON_PREFIX = "COUPON#"


def api_key_key(digest: str) -> tuple[str, str]:
    """APIKEY#<sha256 of the secret> / APIKEY."""
    return f"APIKEY#{digest}", "APIKEY"


def api_key_listing_sk(key_id: str) -> str:
    return f"{API_KEY_LISTING_PREFIX}{key_id}"


def idempotency_pk(scope: str, key: str) -> str:
    """IDEMPOTENCY#<key id>#<Idempotency-Key> (with IDEMPOTENCY_SK): a stored reply."""
    return f"IDEMPOTENCY#{scope}#{key}"


def reward_key(reward_id: str) -> tuple[str, str]:
    return REWARD_PK, reward_id


def referral_key(code: str) -> tuple[str, str]:
    return f"REFERRAL#{code}", "REFERRAL"


def reply_pointer_sk(reply_pk: str) -> str:
    """Sort key of the pointer to a stored reply, in the member's partition. Not per
    generation: an erasure finds the pointers every earlier enrolment left too."""
    return f"{REPLY_POINTER}{reply_pk}"


def tx_sk(generation: int, tx_id: str) -> str:
    return member_sk(generation, f"TX#{tx_id}")


def earn_lines_sk(generation: int, tx_id: str, part: int) -> str:
    """MEMBER#<id> / [G<n>#]LINES#<tx>#<part>: a large purchase's lines (sku, category,
    amount), when they do not go on its transaction (commands/earn.py; written once)."""
    return member_sk(generation, f"LINES#{tx_id}#{part:03d}")


def order_sk(generation: int, order_id: str) -> str:
    return member_sk(generation, f"ORDER#{order_id}")


def notification_sk(generation: int, notification_id: str) -> str:
    return member_sk(generation, f"NOTIFICATION#{notification_id}")


def coupon_sk(generation: int, coupon_id: str) -> str:
    """A coupon in its member's history (`coupon_sk(generation, "")`: where they begin)."""
    return member_sk(generation, f"{COUPON_PREFIX}{coupon_id}")


def activity_sk(generation: int, activity_type: str, reference_id: str) -> str:
    """One reward per (type, reference): a digest keeps the sort key within DynamoDB's
    1 KB for any 200-character type and reference."""
    digest = hashlib.sha256(json.dumps([activity_type, reference_id], ensure_ascii=False).encode()).hexdigest()
    return member_sk(generation, f"ACTIVITY#{digest}")


def voucher_key(code: str) -> tuple[str, str]:
    return f"VOUCHER#{code}", "VOUCHER"


def key_of(key: tuple[str, str]) -> dict[str, str]:
    """A (pk, sk) pair as the key of an item to write or update."""
    return {"pk": key[0], "sk": key[1]}


BIRTHDAYS_DONE_KEY = ("PROGRAM", "BIRTHDAYS_DONE_THROUGH")  # the last day whose birthday run completed
STATEMENTS_DONE_KEY = ("PROGRAM", "STATEMENTS_DONE")  # §13: the month whose statements were all sent


def warned_sk(generation: int, day: str) -> str:
    """MEMBER#<id> / WARNED#<date>: the member was warned of expiring points that day."""
    return member_sk(generation, f"WARNED#{day}")


def member_of_profile(pk: str, sk: str) -> Optional[str]:
    """The member id of a profile's key; None for any other item."""
    prefix = member_pk("")
    return pk[len(prefix) :] if sk == PROFILE and pk.startswith(prefix) else None


# -- analytics results (§17-§21), written by the refresh_analytics job ---
ANALYTICS_PK = "ANALYTICS"  # ANALYTICS / REFRESH, SUMMARY#..., COHORT#..., RFM
ANALYTICS_REFRESH_SK = "REFRESH"  # {"as_of", "finished_at", ...}: written last by a refresh
ANALYTICS_RFM_SK = "RFM"
SUMMARY_MONTH_PREFIX = "SUMMARY#MONTH#"
SUMMARY_DAYS_PREFIX = "SUMMARY#DAYS#"
COHORT_PREFIX = "COHORT#"
INSIGHTS = "INSIGHTS"  # MEMBER#<id> / [G<n>#]INSIGHTS: a member's §20 values
SEGMENTS_PK = "SEGMENTS"  # SEGMENTS / <segment_id>: the listing of segments, with the refresh's figures
SEGMENT_DEFINITION_SK = "DEFINITION"  # SEGMENT#<id> / DEFINITION
SEGMENT_MEMBER_PREFIX = "M#"  # SEGMENT#<id> / M#<member_id>: the segment's members, by member_id


def analytics_key(sk: str) -> tuple[str, str]:
    return ANALYTICS_PK, sk


def analytics_refresh_key() -> tuple[str, str]:
    return ANALYTICS_PK, ANALYTICS_REFRESH_SK


def analytics_rfm_key() -> tuple[str, str]:
    return ANALYTICS_PK, ANALYTICS_RFM_SK


def summary_month_key(month: str) -> tuple[str, str]:
    """ANALYTICS / SUMMARY#MONTH#YYYY-MM."""
    return ANALYTICS_PK, f"{SUMMARY_MONTH_PREFIX}{month}"


def summary_days_key(days: int) -> tuple[str, str]:
    """ANALYTICS / SUMMARY#DAYS#7|30|90|365."""
    return ANALYTICS_PK, f"{SUMMARY_DAYS_PREFIX}{days}"


def cohort_key(month: str) -> tuple[str, str]:
    """ANALYTICS / COHORT#YYYY-MM."""
    return ANALYTICS_PK, f"{COHORT_PREFIX}{month}"


def insights_key(member_id: str, generation: int) -> tuple[str, str]:
    return member_pk(member_id), member_sk(generation, INSIGHTS)


RECOMMENDATIONS = "RECOMMENDATIONS"  # MEMBER#<id> / [G<n>#]RECOMMENDATIONS: a buyer's §23 list
COLD_RECOMMENDATIONS_KEY = (ANALYTICS_PK, "RECOMMENDATIONS#COLD")  # §23's cold-start list


def recommendations_key(member_id: str, generation: int) -> tuple[str, str]:
    """MEMBER#<id> / [G<n>#]RECOMMENDATIONS: {"items": [{"sku", "category", "score"}...], "as_of"}."""
    return member_pk(member_id), member_sk(generation, RECOMMENDATIONS)


CAMPAIGN_RESULTS_PREFIX = "CAMPAIGN#"  # ANALYTICS / CAMPAIGN#<campaign_id>: §22 results of a campaign


def campaign_results_key(campaign_id: str) -> tuple[str, str]:
    """ANALYTICS / CAMPAIGN#<campaign_id>: {"campaign_id", "as_of", "arms", "comparisons"}."""
    return ANALYTICS_PK, f"{CAMPAIGN_RESULTS_PREFIX}{campaign_id}"


def segment_pk(segment_id: str) -> str:
    return f"SEGMENT#{segment_id}"


def segment_definition_key(segment_id: str) -> tuple[str, str]:
    return segment_pk(segment_id), SEGMENT_DEFINITION_SK


# the names the API's reads use
REFRESH_KEY = (ANALYTICS_PK, ANALYTICS_REFRESH_SK)
RFM_KEY = (ANALYTICS_PK, ANALYTICS_RFM_SK)


def cohort_sk(month: str) -> str:
    return f"{COHORT_PREFIX}{month}"


def segment_listing_key(segment_id: str) -> tuple[str, str]:
    return SEGMENTS_PK, segment_id


def segment_member_key(segment_id: str, member_id: str) -> tuple[str, str]:
    return segment_pk(segment_id), f"{SEGMENT_MEMBER_PREFIX}{member_id}"


def segment_member_of(sk: str) -> Optional[str]:
    """The member id of a segment member item's sort key; None for any other item."""
    return sk[len(SEGMENT_MEMBER_PREFIX) :] if sk.startswith(SEGMENT_MEMBER_PREFIX) else None


def segment_member_sk(member_id: str) -> str:
    return f"{SEGMENT_MEMBER_PREFIX}{member_id}"


# -- campaigns (§22) ---------------------------------------------------------
CAMPAIGNS_PK = "CAMPAIGNS"  # CAMPAIGNS / <campaign_id>: the campaign (definition, launch state, audience)
CAMPAIGN_ASSIGNMENT = "CAMPAIGN#"  # MEMBER#<id> / [G<n>#]CAMPAIGN#<campaign_id>: the member's arm (written once)
CAMPAIGN_COUNT_SHARDS = 32  # CAMPAIGN#<id> / COUNT#<nn>: audience counters, ADDed with each assignment


def campaign_key(campaign_id: str) -> tuple[str, str]:
    return CAMPAIGNS_PK, campaign_id


def campaign_assignment_sk(generation: int, campaign_id: str) -> str:
    """A member's assignment to a campaign (`campaign_assignment_sk(generation, "")`: where they begin)."""
    return member_sk(generation, f"{CAMPAIGN_ASSIGNMENT}{campaign_id}")


def campaign_count_key(campaign_id: str, shard: int) -> tuple[str, str]:
    return f"CAMPAIGN#{campaign_id}", f"COUNT#{shard:02d}"


def campaign_count_shard(member_id: str) -> int:
    return int(hashlib.sha256(member_id.encode()).hexdigest()[:8], 16) % CAMPAIGN_COUNT_SHARDS


# §25 imports: IMPORT#<id> / IMPORT (the import: its file, plan and counters), IMPORT#<id> /
# CHUNK#<nnnnnn> (one chunk's result, written once), IMPORTS / OPEN#<id> (imports not finished)
IMPORT_SK = "IMPORT"
IMPORT_CHUNK_PREFIX = "CHUNK#"
OPEN_IMPORTS_PK = "IMPORTS"
OPEN_IMPORT_PREFIX = "OPEN#"


def import_pk(import_id: str) -> str:
    return f"IMPORT#{import_id}"


def import_key(import_id: str) -> tuple[str, str]:
    return import_pk(import_id), IMPORT_SK


def import_chunk_key(import_id: str, chunk: int) -> tuple[str, str]:
    return import_pk(import_id), f"{IMPORT_CHUNK_PREFIX}{chunk:06d}"


def open_import_key(import_id: str) -> tuple[str, str]:
    return OPEN_IMPORTS_PK, f"{OPEN_IMPORT_PREFIX}{import_id}"


def import_file_key(import_id: str) -> str:
    """The S3 object (in the imports bucket) holding an import's lines as received."""
    return f"imports/{import_id}.jsonl"


# -- webhooks (§24; chalicelib/webhooks/) ------------------------------------------
WEBHOOKS_PK = "WEBHOOKS"
WEBHOOK_PREFIX = "WEBHOOK#"
WEBHOOK_COUNT_KEY = (WEBHOOKS_PK, "COUNT")
DELIVERY_PREFIX = "DELIVERY#"


def events_key(event_id: str) -> tuple[str, str]:
    """EVENTS#<ulid> / EVENTS: the webhook events of one change (its first event's id)."""
    return f"EVENTS#{event_id}", "EVENTS"


def webhook_key(webhook_id: str) -> tuple[str, str]:
    return WEBHOOKS_PK, f"{WEBHOOK_PREFIX}{webhook_id}"


def webhook_pk(webhook_id: str) -> str:
    """The partition of a webhook's deliveries, circuit and slots."""
    return f"{WEBHOOK_PREFIX}{webhook_id}"


def delivery_key(webhook_id: str, event_id: str) -> tuple[str, str]:
    return webhook_pk(webhook_id), f"{DELIVERY_PREFIX}{event_id}"


def webhook_circuit_key(webhook_id: str) -> tuple[str, str]:
    return webhook_pk(webhook_id), "CIRCUIT"


def webhook_slot_key(webhook_id: str, slot: int) -> tuple[str, str]:
    return webhook_pk(webhook_id), f"SLOT#{slot}"
