"""Response bodies, as pydantic models: what the API answers, for the OpenAPI document.

The routes build their answers as plain dicts (chalicelib/ledger/service.py); these
models describe them. Fields the contract may grow are allowed (`extra="allow"`):
a client must ignore fields it does not know (contract: fields may be added,
never removed or renamed).
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorDetail(Answer):
    code: str = Field(description="a contract error code, e.g. VALIDATION_ERROR, NOT_FOUND")
    message: str = Field(description="human text; a 500's message carries a correlation id")


class Error(Answer):
    """Every error, whatever raises it: `{"error": {"code", "message"}}`."""

    error: ErrorDetail


class NextTier(Answer):
    name: str
    spend_needed: int


class Expiring(Answer):
    points: int
    expires_at: str


class PendingPoints(Answer):
    points: int
    available_at: str = Field(description="when these points become spendable (the earn's return window ends)")


class MemberSuspension(Answer):
    reason: str
    since: str


class Member(Answer):
    member_id: str
    name: Optional[str] = None
    email: Optional[str] = None
    phone: Optional[str] = None
    birthday: Optional[str] = None
    tier: str
    balance: int = Field(description="spendable points (pending points excluded)")
    pending_points: int = Field(default=0, description="earned points not spendable yet (§25 return window)")
    pending: list[PendingPoints] = Field(default_factory=list, description="pending points, soonest available first")
    lifetime_points: int
    quarter_spend: int
    next_tier: Optional[NextTier] = None
    expiring: list[Expiring]
    referral_code: Optional[str] = None
    created_at: Optional[str] = None
    suspension: Optional[MemberSuspension] = None
    coupons_available: int = 0
    last_activity_at: Optional[str] = None
    dormant: bool = False
    locale: Optional[str] = None


class MemberPage(Answer):
    items: list[Member]
    next_cursor: Optional[str]


class BreakdownLine(Answer):
    rule: str
    points: int


class Transaction(Answer):
    transaction_id: str
    member_id: str
    type: str = Field(
        description="bonus, earn, activity, redeem, reversal, transfer_out, transfer_in, adjust, expire, ..."
    )
    points: int
    balance_after: int
    created_at: str
    storefront: Optional[str] = None
    order_id: Optional[str] = None
    reason: Optional[str] = None
    breakdown: Optional[list[BreakdownLine]] = None
    reward_id: Optional[str] = None
    reversed_transaction_id: Optional[str] = None
    unrecovered_points: Optional[int] = None
    amount: Optional[int] = None
    counterparty_member_id: Optional[str] = None
    coupon_id: Optional[str] = Field(default=None, description="the coupon bought with these points")
    available_at: Optional[str] = Field(
        default=None, description="an earn's: when its points become spendable (occurred_at + pending_days)"
    )


class EarnAnswer(Transaction):
    tier: str


class ActivityAnswer(Transaction):
    reference_id: str


class Voucher(Answer):
    reward_id: str
    name: str
    code: str


class RedeemAnswer(Transaction):
    cash_value: Optional[int] = None
    reward: Optional[Voucher] = None


class TransferAnswer(Answer):
    transfer_out: Transaction
    transfer_in: Transaction


class TransactionPage(Answer):
    items: list[Transaction]
    next_cursor: Optional[str]


class Notification(Answer):
    notification_id: Optional[str] = None
    type: Optional[str] = None
    channel: Optional[str] = None
    status: Optional[str] = None
    created_at: Optional[str] = None
    sent_at: Optional[str] = None


class NotificationPage(Answer):
    items: list[Notification]
    next_cursor: Optional[str]


class Reward(Answer):
    reward_id: str
    name: str
    points_cost: int
    stock: Optional[int] = None
    created_at: Optional[str] = None


class VoucherStatus(Answer):
    code: str
    member_id: str
    reward_id: str
    transaction_id: str
    status: str  # issued | void
    issued_at: Optional[str] = None


class ApiKey(Answer):
    key_id: str
    name: str
    role: str
    created_at: Optional[str] = None
    last_used_at: Optional[str] = None
    revoked_at: Optional[str] = None


class NewApiKeyAnswer(ApiKey):
    secret: str  # shown this once


class ApiKeyPage(Answer):
    items: list[ApiKey]
    next_cursor: Optional[str]


class RewardPage(Answer):
    items: list[Reward]
    next_cursor: Optional[str]


class Stats(Answer):
    members: int
    members_by_tier: dict[str, int]
    points_earned: int
    points_redeemed: int
    points_expired: int
    points_adjusted: int
    points_reversed: int
    points_outstanding: int
    points_pending: int = Field(
        default=0, description="points of lots whose available_at is after the read (included in points_outstanding)"
    )
    liability: int
    coupons_issued: int = 0
    coupons_used: int = 0


class DailyFigures(Answer):
    date: str
    members_joined: int
    earns: int
    purchase_amount: int
    points_earned: int
    points_redeemed: int
    points_expired: int
    coupons_used: int


class DailyStats(Answer):
    items: list[DailyFigures]


class CouponTemplate(Answer):
    template_id: str
    name: str
    discount: dict[str, Any] = Field(
        description='{"type": "amount", "amount"} or {"type": "percent", "percent", "max_amount"}'
    )
    min_order_amount: int
    valid_days: int
    points_cost: Optional[int] = None
    created_at: Optional[str] = None


class CouponTemplatePage(Answer):
    items: list[CouponTemplate]
    next_cursor: Optional[str]


class Coupon(Answer):
    coupon_id: str
    code: str
    member_id: str
    template_id: str
    name: str
    discount: dict[str, Any]
    min_order_amount: int
    source: str = Field(description="manual, points, signup, birthday, tier_up, win_back or campaign (§22)")
    status: str = Field(description="available, used or expired")
    issued_at: str
    expires_at: str
    used_at: Optional[str] = None
    order_id: Optional[str] = None
    discount_amount: Optional[int] = None
    transaction: Optional[Transaction] = Field(
        default=None,
        description="a coupon bought with points (a storefront's POST "
        "/members/{member_id}/coupons): the redeem transaction that paid it",
    )
    campaign_id: Optional[str] = Field(default=None, description="a campaign's coupon (source campaign): its campaign")


class CouponPage(Answer):
    items: list[Coupon]
    next_cursor: Optional[str]


class Health(Answer):
    status: str = Field(description="ok, or degraded when DynamoDB does not answer")
    version: str
    dynamodb: bool = Field(description="whether the table answered a read just now")


class OpenApiDocument(Answer):
    """This document."""

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


# -- dashboards ----------------------------------------------------------------
class WidgetToken(Answer):
    token: str = Field(
        description="`Authorization: Bearer <token>` on the member page's read routes; good for nothing else"
    )
    expires_at: str


class RecommendedProduct(Answer):
    sku: str
    category: str = Field(description="the category of the sku's latest purchase item")
    score: int


class WidgetRecommendations(Answer):
    as_of: Optional[str] = Field(description="the refresh that computed the list (null before the first refresh)")
    items: list[RecommendedProduct] = Field(
        description="the member's recommended products (or the shop's most bought, for a member without any), at most 5"
    )


class ProgramPreviewAnswer(Answer):
    points: int
    breakdown: list[BreakdownLine]
    tier: str = Field(description="the tier the sample purchase was computed with")


# -- analytics (§17–§21): every answer read from what the last refresh stored --------
AS_OF = "when the refresh these figures come from started (null before the first refresh)"
RATE = "a decimal string with 4 places (rounded half away from zero), null when the denominator is 0"


class RefreshQueued(Answer):
    job: str = Field(description="refresh_analytics")
    status: str = Field(description="queued: the refresh runs in the background")


class Summary(Answer):
    as_of: Optional[str] = Field(description=AS_OF)
    from_: Optional[str] = Field(alias="from", description="the first date (program timezone)")
    to: Optional[str] = Field(description="the last date (a month's last date, capped at as_of's date)")
    members_at_end: int
    new_members: int
    active_members: int
    repeat_members: int
    active_rate: Optional[str] = Field(description=RATE)
    repeat_rate: Optional[str] = Field(description=RATE)
    purchases: int
    purchase_amount: int = Field(description="net of refunds")
    average_order_value: int
    points_earned: int
    points_redeemed: int
    points_expired: int
    redemption_rate: Optional[str] = Field(description=RATE)
    breakage_rate: Optional[str] = Field(description=RATE)
    coupons_issued: int
    coupons_used: int


class Cohort(Answer):
    cohort: str = Field(description="YYYY-MM")
    members: int = Field(description="enrolled in that month, not erased")
    active: list[int] = Field(description="active[k]: how many purchased in the k-th month after the cohort month")


class Cohorts(Answer):
    as_of: Optional[str] = Field(description=AS_OF)
    items: list[Cohort]


class RfmSegment(Answer):
    rfm_segment: str = Field(description="champions, loyal, promising, at_risk, hibernating or needs_attention")
    members: int
    avg_monetary: int
    avg_clv: int


class Rfm(Answer):
    as_of: Optional[str] = Field(description=AS_OF)
    items: list[RfmSegment]


class RfmScores(Answer):
    r: int
    f: int
    m: int


class MemberInsights(Answer):
    member_id: str
    as_of: Optional[str] = Field(description=AS_OF)
    recency_days: Optional[int] = Field(description="days since the latest purchase; null: never purchased")
    frequency: int
    monetary: int
    clv: int
    rfm: Optional[RfmScores] = None
    rfm_segment: Optional[str] = None
    segments: list[str] = Field(description="the member's segments as of the last refresh, sorted")


class Recommendation(Answer):
    sku: str
    category: Optional[str] = Field(description="the category of the sku's latest purchase item")
    score: int = Field(
        description="the sum of co-buyers over the skus the member bought; on the cold-start list, its buyers"
    )


class Recommendations(Answer):
    as_of: Optional[str] = Field(description=AS_OF)
    items: list[Recommendation] = Field(
        description="score descending, then buyers descending, then sku; the cold-start list for a member "
        "who bought nothing in the 365 dates ending with as_of's date"
    )


class SegmentRule(Answer):
    field: str
    op: str
    value: Any


class Segment(Answer):
    segment_id: str
    name: str
    rules: list[SegmentRule]
    members: Optional[int] = Field(description="null until a refresh has computed it")
    avg_clv: Optional[int] = Field(description="null until a refresh has computed it; 0 for an empty segment")
    as_of: Optional[str] = Field(description="the refresh that computed members and avg_clv")


class SegmentPage(Answer):
    items: list[Segment]
    next_cursor: Optional[str]


class CampaignRewardShown(Answer):
    type: str = Field(description="multiplier, bonus or coupon")
    multiplier: Optional[str] = None
    points: Optional[int] = None
    min_amount: Optional[int] = None
    template_id: Optional[str] = None


class CampaignArmShown(Answer):
    name: str
    weight: int
    reward: Optional[CampaignRewardShown] = Field(description="null: a control arm")


class Campaign(Answer):
    campaign_id: str
    name: str
    segment_id: Optional[str] = Field(description="null: every member not erased at launch")
    starts_at: str
    ends_at: str
    arms: list[CampaignArmShown]
    notify: bool
    created_at: str
    status: str = Field(description="scheduled, running, or ended once now >= ends_at")
    audience: Optional[int] = Field(description="the number of audience members; null before launch")
    launched_at: Optional[str] = Field(description="when the launch completed; null before")


class CampaignPage(Answer):
    items: list[Campaign]
    next_cursor: Optional[str]


class CampaignArmResults(Answer):
    name: str
    members: int = Field(description="the arm's audience members")
    purchasers: int = Field(description="members with at least one purchase dated in the campaign's dates")
    purchases: int
    purchase_amount: int = Field(description="net of refunds")
    points_awarded: int = Field(description="the campaign's breakdown lines as recorded, before any clawback")
    coupons_used: int = Field(description="the campaign's coupons used (less released)")


class CampaignComparison(Answer):
    arm: str
    baseline: str = Field(description="the first arm whose reward is null, else the first arm")
    purchase_rate: Optional[str] = Field(description="purchasers / members, 4 places; null: an arm has no members")
    baseline_rate: Optional[str]
    diff: Optional[str] = Field(description="purchase_rate - baseline_rate")
    ci95: Optional[list[str]] = Field(description="[low, high] = diff -/+ 1.96 se; null: an arm has no members")
    significant: bool = Field(description="low > 0 or high < 0")
    revenue_per_member_diff: Optional[int] = Field(
        description="floor(amount_a / n_a) - floor(amount_b / n_b); null: an arm has no members"
    )


class CampaignResults(Answer):
    campaign_id: str
    as_of: Optional[str] = Field(description="the refresh the figures are of; null before the first refresh")
    arms: list[CampaignArmResults]
    comparisons: list[CampaignComparison]


class MemberCampaign(Answer):
    campaign_id: str
    arm: str


class MemberCampaigns(Answer):
    items: list[MemberCampaign]


class ImportQueued(Answer):
    import_id: str = Field(description="GET /imports/{import_id} reports on it")


class ImportLineError(Answer):
    line: int = Field(description="1-based line number in the data as sent (blank lines counted)")
    code: str = Field(description="a contract error code, e.g. VALIDATION_ERROR")
    message: str


class ImportReport(Answer):
    import_id: str
    status: str = Field(description="running | done")
    lines: int = Field(description="non-blank lines read so far")
    imported: int
    skipped_existing: int = Field(description="lines whose member_id exists or repeats an earlier line")
    errors: list[ImportLineError] = Field(description="the first 100 bad lines, by line")
    error_count: int = Field(description="bad lines in all")
    created_at: Optional[str]


class Webhook(Answer):
    webhook_id: str
    url: str
    events: list[str]
    created_at: str


class NewWebhook(Webhook):
    secret: str = Field(description="signs every delivery (Dangol-Signature); shown only in this answer")


class WebhookPage(Answer):
    items: list[Webhook]
    next_cursor: Optional[str]


class WebhookDelivery(Answer):
    event_id: str
    type: str
    status: str = Field(description="pending, delivered or failed")
    attempts: int
    last_status_code: Optional[int] = Field(description="null before an attempt, or when none got an HTTP answer")
    last_attempt_at: Optional[str]
    last_error: Optional[str] = Field(
        default=None, description="why the last attempt got no answer: TIMEOUT, CIRCUIT_OPEN, a connection error"
    )
    created_at: Optional[str] = Field(default=None, description="when the event happened")
    next_attempt_at: Optional[str] = Field(default=None, description="when a pending delivery is next attempted")


class WebhookDeliveryPage(Answer):
    items: list[WebhookDelivery]
    next_cursor: Optional[str]
