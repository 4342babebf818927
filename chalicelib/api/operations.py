"""Every HTTP operation of the API in one declarative table.

The OpenAPI document (chalicelib/openapi.py) is generated from this table and
the pydantic models it names; tests/integration/test_openapi.py checks that
the table and app.py's routes are the same set, with the same role, body
model and Idempotency-Key rule. To add a route: add its row here, the route
in app.py, and the response model in chalicelib/responses.py if it is new.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from pydantic import BaseModel

from chalicelib.api import responses, schemas
from chalicelib.api.program_preview import ProgramPreview
from chalicelib.auth import NewApiKey
from chalicelib.domain.program import Program

# Contract §1 codes, by status, that an operation may answer besides its own.
AUTH_ERRORS = {401: ["UNAUTHORIZED"], 403: ["FORBIDDEN"]}
BODY_ERRORS = {400: ["VALIDATION_ERROR"], 413: ["PAYLOAD_TOO_LARGE"]}
IDEMPOTENCY_ERRORS = {409: ["IDEMPOTENCY_KEY_REUSED"], 503: ["CONCURRENT_UPDATE"]}
ALWAYS = {500: ["INTERNAL_ERROR"]}
# v3: every route with a key (or a widget token) reads DynamoDB, so may answer
# 503 THROTTLED (with a Retry-After header)
DATABASE_ERRORS = {503: ["THROTTLED"]}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    name: str  # the view function's name in app.py = operationId
    summary: str
    tag: str
    role: Optional[str]  # "storefront", "admin", "widget" (a widget token) or None
    status: int = 200
    answer: Optional[type[BaseModel]] = None  # None: no body (204) or not JSON (docs)
    body: Optional[type[BaseModel]] = None
    idempotent: bool = False  # requires an Idempotency-Key header
    optional_body: bool = False  # an empty body means {}
    paged: bool = False  # ?limit= and ?cursor=
    errors: dict[int, list[str]] = field(default_factory=dict)
    media_type: str = "application/json"
    query: tuple[tuple[str, dict, str], ...] = ()  # (name, schema, description) of query parameters

    def error_codes(self) -> dict[int, list[str]]:
        """Every status and code this operation may answer with an error."""
        merged: dict[int, list[str]] = {}
        parts = [self.errors, ALWAYS]
        if self.role is not None:
            parts.append(AUTH_ERRORS)
            parts.append(DATABASE_ERRORS)
        if self.body is not None or self.paged:
            parts.append(BODY_ERRORS if self.body is not None else {400: ["VALIDATION_ERROR"]})
        if self.idempotent:
            parts.append(IDEMPOTENCY_ERRORS)
        for part in parts:
            for status, codes in part.items():
                merged.setdefault(status, [])
                merged[status] += [c for c in codes if c not in merged[status]]
        return dict(sorted(merged.items()))


MEMBER_404 = {404: ["NOT_FOUND"]}

OPERATIONS: list[Operation] = [
    # -- service ----------------------------------------------------------------
    Operation(
        "GET", "/health", "health", "Version and whether DynamoDB answers", "service", None, answer=responses.Health
    ),
    Operation(
        "GET",
        "/openapi.json",
        "openapi_document",
        "This OpenAPI 3.1 document",
        "service",
        None,
        answer=responses.OpenApiDocument,
    ),
    Operation(
        "GET", "/docs", "docs_page", "The API documentation page (HTML)", "service", None, media_type="text/html"
    ),
    Operation(
        "GET",
        "/docs/{asset}",
        "docs_asset",
        "Scripts and styles of the documentation page",
        "service",
        None,
        media_type="text/plain",
        errors={404: ["NOT_FOUND"]},
    ),
    # -- dashboards: the operator console and the member page ----------------------
    Operation(
        "GET",
        "/console",
        "console_page",
        "The operator console (HTML; signs in with an admin key kept in the tab)",
        "dashboards",
        None,
        media_type="text/html",
    ),
    Operation(
        "GET",
        "/widget",
        "widget_page",
        "The member page (HTML; reads with a widget token)",
        "dashboards",
        None,
        media_type="text/html",
    ),
    Operation(
        "POST",
        "/widget",
        "widget_page_with_token",
        "The member page, opened by a form post carrying `token` (form-encoded): the "
        "token travels in the body, never in a URL",
        "dashboards",
        None,
        media_type="text/html",
    ),
    Operation(
        "GET",
        "/ui/{asset}",
        "ui_asset",
        "Scripts, styles and libraries of the console and the member page",
        "dashboards",
        None,
        media_type="text/plain",
        errors={404: ["NOT_FOUND"]},
    ),
    Operation(
        "POST",
        "/members/{member_id}/widget-tokens",
        "create_widget_token",
        "A widget token for the member page: 15 minutes, this member only, the member page's read routes only",
        "dashboards",
        "storefront",
        status=201,
        answer=responses.WidgetToken,
        errors=MEMBER_404,
    ),
    Operation(
        "GET",
        "/widget/api/member",
        "widget_member",
        "The token's member (widget token)",
        "dashboards",
        "widget",
        answer=responses.Member,
    ),
    Operation(
        "GET",
        "/widget/api/transactions",
        "widget_transactions",
        "The token's member's ledger, newest first (widget token)",
        "dashboards",
        "widget",
        answer=responses.TransactionPage,
        paged=True,
    ),
    Operation(
        "GET",
        "/widget/api/coupons",
        "widget_coupons",
        "The token's member's available coupons, newest first (widget token)",
        "dashboards",
        "widget",
        answer=responses.CouponPage,
        paged=True,
    ),
    Operation(
        "GET",
        "/widget/api/recommendations",
        "widget_recommendations",
        "The token's member's recommended products as of the last refresh, at most 5 (widget token)",
        "dashboards",
        "widget",
        answer=responses.WidgetRecommendations,
    ),
    # -- program ----------------------------------------------------------------
    Operation("GET", "/program", "get_program", "The program configuration", "program", "admin", answer=Program),
    Operation(
        "PUT",
        "/program",
        "put_program",
        "Replace the program configuration",
        "program",
        "admin",
        answer=Program,
        body=Program,
    ),
    # -- members ----------------------------------------------------------------
    Operation(
        "POST",
        "/members",
        "create_member",
        "Enrol a member",
        "members",
        "storefront",
        status=201,
        answer=responses.Member,
        body=schemas.CreateMember,
        idempotent=True,
        errors={409: ["MEMBER_EXISTS"], 422: ["REFERRAL_NOT_ALLOWED"]},
    ),
    Operation(
        "GET",
        "/members",
        "find_members",
        "Find members by phone or email (storefront), by tier or segment (admin)",
        "members",
        "storefront",
        answer=responses.MemberPage,
        paged=True,
        errors={403: ["FORBIDDEN"], 404: ["NOT_FOUND"]},
        query=(
            ("phone", {"type": "string", "maxLength": 200}, "digits compared only"),
            ("email", {"type": "string", "maxLength": 200}, "compared case-insensitively"),
            ("tier", {"type": "string", "maxLength": 200}, "admin: members in this tier"),
            (
                "segment",
                {"type": "string", "maxLength": 200},
                "admin: dormant members, or the members of a segment (POST /segments) as of the last refresh",
            ),
        ),
    ),
    Operation(
        "PATCH",
        "/members/{member_id}",
        "update_member",
        "Change a member's name, email, phone, birthday or locale",
        "members",
        "storefront",
        answer=responses.Member,
        body=schemas.UpdateMember,
        errors=MEMBER_404,
    ),
    Operation(
        "POST",
        "/members/{member_id}/suspension",
        "suspend_member",
        "Suspend a member's points and coupon operations, with a reason",
        "members",
        "admin",
        answer=responses.Member,
        body=schemas.Suspension,
        idempotent=True,
        errors=MEMBER_404,
    ),
    Operation(
        "DELETE",
        "/members/{member_id}/suspension",
        "lift_suspension",
        "Lift a member's suspension",
        "members",
        "admin",
        answer=responses.Member,
        errors=MEMBER_404,
    ),
    Operation(
        "GET",
        "/members/{member_id}",
        "get_member",
        "A member with balance and tier",
        "members",
        "storefront",
        answer=responses.Member,
        errors=MEMBER_404,
    ),
    Operation(
        "DELETE",
        "/members/{member_id}",
        "delete_member",
        "Erase a member (personal data removed, balance forfeited)",
        "members",
        "admin",
        status=204,
        errors=MEMBER_404,
    ),
    Operation(
        "POST",
        "/members/{member_id}/earn",
        "earn",
        "Earn points on a purchase",
        "points",
        "storefront",
        status=201,
        answer=responses.EarnAnswer,
        body=schemas.Earn,
        idempotent=True,
        errors={**MEMBER_404, 409: ["DUPLICATE_ORDER"], 422: ["LIMIT_EXCEEDED", "MEMBER_SUSPENDED"]},
    ),
    Operation(
        "POST",
        "/members/{member_id}/activities",
        "activity",
        "Earn points for an activity",
        "points",
        "storefront",
        status=201,
        answer=responses.ActivityAnswer,
        body=schemas.Activity,
        idempotent=True,
        errors={**MEMBER_404, 409: ["DUPLICATE_ACTIVITY"], 422: ["MEMBER_SUSPENDED"]},
    ),
    Operation(
        "POST",
        "/members/{member_id}/redeem",
        "redeem",
        "Redeem points or a reward",
        "points",
        "storefront",
        status=201,
        answer=responses.RedeemAnswer,
        body=schemas.Redeem,
        idempotent=True,
        errors={
            **MEMBER_404,
            422: ["INSUFFICIENT_POINTS", "BELOW_MINIMUM_REDEMPTION", "OUT_OF_STOCK", "MEMBER_SUSPENDED"],
        },
    ),
    Operation(
        "POST",
        "/members/{member_id}/transactions/{transaction_id}/reversal",
        "reversal",
        "Refund an earn or cancel a redemption (an empty body means {})",
        "points",
        "storefront",
        status=201,
        answer=responses.Transaction,
        body=schemas.Reversal,
        idempotent=True,
        optional_body=True,
        errors={**MEMBER_404, 422: ["REVERSAL_NOT_ALLOWED", "INSUFFICIENT_POINTS"]},
    ),
    Operation(
        "POST",
        "/members/{member_id}/transfers",
        "transfer",
        "Gift points to a member",
        "points",
        "storefront",
        status=201,
        answer=responses.TransferAnswer,
        body=schemas.Transfer,
        idempotent=True,
        errors={**MEMBER_404, 422: ["TRANSFER_NOT_ALLOWED", "INSUFFICIENT_POINTS", "MEMBER_SUSPENDED"]},
    ),
    Operation(
        "POST",
        "/members/{member_id}/adjustments",
        "adjustment",
        "Credit or debit points by hand",
        "points",
        "admin",
        status=201,
        answer=responses.Transaction,
        body=schemas.Adjustment,
        idempotent=True,
        errors={**MEMBER_404, 422: ["INSUFFICIENT_POINTS"]},
    ),
    Operation(
        "GET",
        "/members/{member_id}/transactions",
        "transactions",
        "A member's ledger, newest first",
        "points",
        "storefront",
        answer=responses.TransactionPage,
        paged=True,
        errors=MEMBER_404,
    ),
    Operation(
        "GET",
        "/members/{member_id}/notifications",
        "notifications",
        "A member's notifications, newest first",
        "members",
        "admin",
        answer=responses.NotificationPage,
        paged=True,
        errors=MEMBER_404,
    ),
    Operation(
        "GET",
        "/vouchers/{code}",
        "get_voucher",
        "A reward voucher: issued or void",
        "rewards",
        "storefront",
        answer=responses.VoucherStatus,
        errors={404: ["NOT_FOUND"]},
    ),
    # -- coupons ------------------------------------------------------------------
    Operation(
        "POST",
        "/coupon-templates",
        "create_coupon_template",
        "Add a coupon template",
        "coupons",
        "admin",
        status=201,
        answer=responses.CouponTemplate,
        body=schemas.CreateCouponTemplate,
        errors={409: ["TEMPLATE_EXISTS"]},
    ),
    Operation(
        "GET",
        "/coupon-templates",
        "list_coupon_templates",
        "The coupon templates",
        "coupons",
        "storefront",
        answer=responses.CouponTemplatePage,
        paged=True,
    ),
    Operation(
        "POST",
        "/members/{member_id}/coupons",
        "issue_coupon",
        "Give a coupon (admin) or buy one with points (storefront)",
        "coupons",
        "storefront",
        status=201,
        answer=responses.Coupon,
        body=schemas.IssueCoupon,
        idempotent=True,
        errors={404: ["NOT_FOUND"], 422: ["COUPON_NOT_FOR_SALE", "INSUFFICIENT_POINTS", "MEMBER_SUSPENDED"]},
    ),
    Operation(
        "GET",
        "/members/{member_id}/coupons",
        "member_coupons",
        "A member's coupons, newest first",
        "coupons",
        "storefront",
        answer=responses.CouponPage,
        paged=True,
        errors=MEMBER_404,
        query=(
            ("status", {"type": "string", "enum": ["available", "used", "expired"]}, "only coupons in this status"),
        ),
    ),
    Operation(
        "POST",
        "/coupons/{code}/redemption",
        "use_coupon",
        "Use a coupon on an order",
        "coupons",
        "storefront",
        status=201,
        answer=responses.Coupon,
        body=schemas.UseCoupon,
        idempotent=True,
        errors={404: ["NOT_FOUND"], 422: ["COUPON_NOT_USABLE", "MEMBER_SUSPENDED"]},
    ),
    Operation(
        "POST",
        "/coupons/{code}/release",
        "release_coupon",
        "Make a used coupon available again (the order was cancelled)",
        "coupons",
        "storefront",
        answer=responses.Coupon,
        body=schemas.ReleaseCoupon,
        idempotent=True,
        errors={404: ["NOT_FOUND"], 422: ["COUPON_NOT_USABLE"]},
    ),
    # -- rewards and stats --------------------------------------------------------
    Operation(
        "POST",
        "/rewards",
        "create_reward",
        "Add a reward to the catalog",
        "rewards",
        "admin",
        status=201,
        answer=responses.Reward,
        body=schemas.CreateReward,
        errors={409: ["REWARD_EXISTS"]},
    ),
    Operation(
        "GET",
        "/rewards",
        "list_rewards",
        "The reward catalog",
        "rewards",
        "storefront",
        answer=responses.RewardPage,
        paged=True,
    ),
    Operation(
        "POST",
        "/program/preview",
        "preview_program",
        "The points a sample purchase would earn under a program configuration, without saving it",
        "program",
        "admin",
        answer=responses.ProgramPreviewAnswer,
        body=ProgramPreview,
    ),
    Operation("GET", "/stats", "stats", "Program totals", "program", "admin", answer=responses.Stats),
    Operation(
        "GET",
        "/stats/daily",
        "daily_stats",
        "Figures per program day (at most 366 days)",
        "program",
        "admin",
        answer=responses.DailyStats,
        errors={400: ["VALIDATION_ERROR"]},
        query=(
            ("from", {"type": "string", "format": "date"}, "first day, YYYY-MM-DD"),
            ("to", {"type": "string", "format": "date"}, "last day, YYYY-MM-DD"),
        ),
    ),
    # -- analytics (§17–§21): answers read from what the last refresh stored ----------
    Operation(
        "POST",
        "/analytics/refresh",
        "refresh_analytics",
        "Start an analytics refresh in the background",
        "analytics",
        "admin",
        status=202,
        answer=responses.RefreshQueued,
    ),
    Operation(
        "GET",
        "/analytics/summary",
        "analytics_summary",
        "Program summary for a month or the last 7, 30, 90 or 365 days (exactly one)",
        "analytics",
        "admin",
        answer=responses.Summary,
        errors={400: ["VALIDATION_ERROR"]},
        query=(
            ("month", {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}, "YYYY-MM, not after as_of's month"),
            ("days", {"type": "string", "enum": ["7", "30", "90", "365"]}, "the N dates ending with as_of's date"),
        ),
    ),
    Operation(
        "GET",
        "/analytics/cohorts",
        "analytics_cohorts",
        "Monthly enrolment cohorts and how many of each purchased in each later month (at most 24)",
        "analytics",
        "admin",
        answer=responses.Cohorts,
        errors={400: ["VALIDATION_ERROR"]},
        query=(
            ("from", {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}, "first cohort, YYYY-MM"),
            ("to", {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}, "last cohort, YYYY-MM"),
        ),
    ),
    Operation(
        "GET",
        "/analytics/rfm",
        "analytics_rfm",
        "Members, average monetary value and CLV per RFM segment",
        "analytics",
        "admin",
        answer=responses.Rfm,
    ),
    Operation(
        "GET",
        "/members/{member_id}/insights",
        "member_insights",
        "A member's recency, frequency, monetary value, CLV, RFM scores and segments",
        "analytics",
        "admin",
        answer=responses.MemberInsights,
        errors=MEMBER_404,
    ),
    Operation(
        "GET",
        "/members/{member_id}/recommendations",
        "member_recommendations",
        "Skus to recommend to a member, from what members who bought the same skus also bought",
        "analytics",
        "storefront",
        answer=responses.Recommendations,
        errors={400: ["VALIDATION_ERROR"], **MEMBER_404},
        query=(("limit", {"type": "integer", "minimum": 1, "maximum": 10, "default": 5}, "how many skus, 1-10"),),
    ),
    Operation(
        "POST",
        "/segments",
        "create_segment",
        "Define a segment by rules over the members' analytics values",
        "analytics",
        "admin",
        status=201,
        answer=responses.Segment,
        body=schemas.CreateSegment,
        errors={409: ["SEGMENT_EXISTS"]},
    ),
    # -- imports (§25) -------------------------------------------------------------
    Operation(
        "POST",
        "/imports",
        "create_import",
        "Import members from JSON lines (data, at most 5 MiB, or s3_key of an upload); applied in the background",
        "members",
        "admin",
        status=202,
        answer=responses.ImportQueued,
        body=schemas.CreateImport,
        idempotent=True,
    ),
    Operation(
        "GET",
        "/imports/{import_id}",
        "get_import",
        "An import's progress: lines, imported, skipped_existing and the first 100 errors by line",
        "members",
        "admin",
        answer=responses.ImportReport,
        errors={404: ["NOT_FOUND"]},
    ),
    Operation(
        "GET",
        "/segments",
        "list_segments",
        "Segments, with their sizes as of the last refresh",
        "analytics",
        "admin",
        answer=responses.SegmentPage,
        paged=True,
    ),
    Operation(
        "GET",
        "/segments/{segment_id}",
        "get_segment",
        "One segment",
        "analytics",
        "admin",
        answer=responses.Segment,
        errors={404: ["NOT_FOUND"]},
    ),
    Operation(
        "DELETE",
        "/segments/{segment_id}",
        "delete_segment",
        "Delete a segment (its members are let go at the next refresh)",
        "analytics",
        "admin",
        status=204,
        errors={404: ["NOT_FOUND"]},
    ),
    # -- campaigns (§22) -------------------------------------------------------------
    Operation(
        "POST",
        "/campaigns",
        "create_campaign",
        "Define a campaign: a segment, a time window and arms (an A/B test of a reward)",
        "campaigns",
        "admin",
        status=201,
        answer=responses.Campaign,
        body=schemas.CreateCampaign,
        errors={409: ["CAMPAIGN_EXISTS"]},
    ),
    Operation(
        "GET",
        "/campaigns",
        "list_campaigns",
        "Campaigns, by campaign_id",
        "campaigns",
        "admin",
        answer=responses.CampaignPage,
        paged=True,
    ),
    Operation(
        "GET",
        "/campaigns/{campaign_id}",
        "get_campaign",
        "One campaign, with its status and audience",
        "campaigns",
        "admin",
        answer=responses.Campaign,
        errors={404: ["NOT_FOUND"]},
    ),
    Operation(
        "DELETE",
        "/campaigns/{campaign_id}",
        "delete_campaign",
        "Delete a campaign before its launch",
        "campaigns",
        "admin",
        status=204,
        errors={404: ["NOT_FOUND"], 409: ["CAMPAIGN_STARTED"]},
    ),
    Operation(
        "GET",
        "/campaigns/{campaign_id}/results",
        "campaign_results",
        "A campaign's results per arm and each arm against the baseline, as of the last refresh",
        "campaigns",
        "admin",
        answer=responses.CampaignResults,
        errors={404: ["NOT_FOUND"]},
    ),
    Operation(
        "GET",
        "/members/{member_id}/campaigns",
        "member_campaigns",
        "The campaigns a member is in, and its arm in each",
        "campaigns",
        "admin",
        answer=responses.MemberCampaigns,
        errors={400: ["VALIDATION_ERROR"], **MEMBER_404},
    ),
    # -- webhooks (§24) ---------------------------------------------------------------
    Operation(
        "POST",
        "/webhooks",
        "create_webhook",
        "Register a URL for events (the signing secret is shown only here)",
        "webhooks",
        "admin",
        status=201,
        answer=responses.NewWebhook,
        body=schemas.CreateWebhook,
        errors={409: ["WEBHOOK_LIMIT_REACHED"]},
    ),
    Operation(
        "GET",
        "/webhooks",
        "list_webhooks",
        "Webhooks, without their secrets",
        "webhooks",
        "admin",
        answer=responses.WebhookPage,
        paged=True,
    ),
    Operation(
        "DELETE",
        "/webhooks/{webhook_id}",
        "delete_webhook",
        "Delete a webhook (nothing more is sent to it)",
        "webhooks",
        "admin",
        status=204,
        errors={404: ["NOT_FOUND"]},
    ),
    Operation(
        "GET",
        "/webhooks/{webhook_id}/deliveries",
        "list_webhook_deliveries",
        "A webhook's deliveries, newest first",
        "webhooks",
        "admin",
        answer=responses.WebhookDeliveryPage,
        paged=True,
        errors={404: ["NOT_FOUND"]},
    ),
    Operation(
        "POST",
        "/webhooks/{webhook_id}/deliveries/{event_id}/retry",
        "retry_webhook_delivery",
        "Send a failed delivery again (one more attempt)",
        "webhooks",
        "admin",
        status=202,
        answer=responses.WebhookDelivery,
        errors={400: ["VALIDATION_ERROR"], 404: ["NOT_FOUND"]},
    ),
    # -- API keys -------------------------------------------------------------------
    Operation(
        "GET",
        "/api-keys",
        "list_api_keys",
        "API keys, without their secrets",
        "keys",
        "admin",
        answer=responses.ApiKeyPage,
        paged=True,
    ),
    Operation(
        "POST",
        "/api-keys",
        "create_api_key",
        "A new API key (its secret shown once)",
        "keys",
        "admin",
        status=201,
        answer=responses.NewApiKeyAnswer,
        body=NewApiKey,
    ),
    Operation(
        "DELETE",
        "/api-keys/{key_id}",
        "revoke_api_key",
        "Revoke an API key",
        "keys",
        "admin",
        answer=responses.ApiKey,
        errors={404: ["NOT_FOUND"], 422: ["LAST_ADMIN_KEY"]},
    ),
]


def by_route() -> dict[tuple[str, str], Operation]:
    return {(op.method, op.path): op for op in OPERATIONS}
