"""Every error Dangol raises on purpose, under one base class.

Each error names its contract code; `app.py` maps codes to HTTP statuses in
one table, so nothing else knows about HTTP.
"""


class DangolError(Exception):
    code = "INTERNAL_ERROR"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ValidationError(DangolError):
    code = "VALIDATION_ERROR"


class UnauthorizedError(DangolError):
    code = "UNAUTHORIZED"


class ForbiddenError(DangolError):
    code = "FORBIDDEN"


class NotFoundError(DangolError):
    code = "NOT_FOUND"


class MemberExistsError(DangolError):
    code = "MEMBER_EXISTS"


class RewardExistsError(DangolError):
    code = "REWARD_EXISTS"


class IdempotencyKeyReusedError(DangolError):
    code = "IDEMPOTENCY_KEY_REUSED"


class DuplicateOrderError(DangolError):
    code = "DUPLICATE_ORDER"


class DuplicateActivityError(DangolError):
    code = "DUPLICATE_ACTIVITY"


class InsufficientPointsError(DangolError):
    code = "INSUFFICIENT_POINTS"


class BelowMinimumRedemptionError(DangolError):
    code = "BELOW_MINIMUM_REDEMPTION"


class OutOfStockError(DangolError):
    code = "OUT_OF_STOCK"


class TransferNotAllowedError(DangolError):
    code = "TRANSFER_NOT_ALLOWED"


class ReversalNotAllowedError(DangolError):
    code = "REVERSAL_NOT_ALLOWED"


class ConcurrentUpdateError(DangolError):
    """The member changed under us more times than we retry; safe to retry."""

    code = "CONCURRENT_UPDATE"


class LedgerInvariantError(DangolError):
    """A ledger rule would be broken (a bug, never a user error)."""

    code = "INTERNAL_ERROR"


class TemplateExistsError(DangolError):
    code = "TEMPLATE_EXISTS"


class CouponNotForSaleError(DangolError):
    code = "COUPON_NOT_FOR_SALE"


class CouponNotUsableError(DangolError):
    code = "COUPON_NOT_USABLE"


class LimitExceededError(DangolError):
    code = "LIMIT_EXCEEDED"


class MemberSuspendedError(DangolError):
    code = "MEMBER_SUSPENDED"


class ReferralNotAllowedError(DangolError):
    code = "REFERRAL_NOT_ALLOWED"


class SegmentExistsError(DangolError):
    code = "SEGMENT_EXISTS"


class ThrottledError(DangolError):
    """DynamoDB or another AWS service refused for throughput, after the few
    retries Dangol allows itself; nothing changed. The caller is to retry after
    `retry_after` seconds (with the same Idempotency-Key: it is safe)."""

    code = "THROTTLED"

    def __init__(self, message: str = "the service is busy; retry shortly", retry_after: int = 1):
        super().__init__(message)
        self.retry_after = retry_after


# The error codes with which AWS services refuse a request for throughput
# (DynamoDB's provisioned or on-demand limits, account request limits, SES's
# "Throttling", SNS's "Throttled" (HTTP 429), SQS's "RequestThrottled").
THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ThrottledException",
        "Throttled",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
    }
)


def throttling_code(error: BaseException) -> str | None:
    """The AWS error code when `error` is a throttling refusal (a botocore
    ClientError with one of THROTTLING_CODES), else None."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    code = (response.get("Error") or {}).get("Code")
    return code if code in THROTTLING_CODES else None


class CampaignExistsError(DangolError):
    code = "CAMPAIGN_EXISTS"


class CampaignStartedError(DangolError):
    code = "CAMPAIGN_STARTED"


class WebhookLimitError(DangolError):
    """§24: there are as many webhooks as a program may have (MAX_WEBHOOKS)."""

    code = "WEBHOOK_LIMIT_REACHED"
