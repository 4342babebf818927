"""Notifications: an outbox item written with the ledger change, a queue
message that points at it, and delivery through SES (email) or SNS (SMS).

Delivery happens at most once per notification: a handler reads the member's
profile, then claims the outbox item (`queued` -> `sending`, conditionally) and
only the claimant sends. Nothing that can fail for a passing reason sits
between the claim and the provider call, so a throttled or failed read leaves
the item `queued` for the redelivery (never lost, never `failed` unsent).
A passing provider error (throttling, a timeout, a 5xx) puts the item back to
`queued` and the queue message is retried with backoff, for up to about an
hour; any other rejection makes it `failed` at once. Logs name the
notification id and the provider's error code, never an address or a number.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Optional

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import backoff
from chalicelib.domain.calendar import format_instant, local_date, parse_instant
from chalicelib.domain.phones import InvalidPhoneError, to_e164
from chalicelib.domain.program import Program
from chalicelib.errors import THROTTLING_CODES, ThrottledError
from chalicelib.ledger.programs import Programs
from chalicelib.notifications.outbox import OUTBOX_SHARD
from chalicelib.storage.queues import QueueSender
from chalicelib.storage.repository import PROGRAM_KEY, notification_sk
from chalicelib.storage.store import PROFILE, Store, member_pk

log = logging.getLogger(__name__)

SUBJECTS = {
    "welcome": "Welcome",
    "points_earned": "You earned points",
    "points_redeemed": "You redeemed points",
    "points_expiring": "Your points expire soon",
    "points_expired": "Your points have expired",
    "tier_changed": "Your membership tier changed",
    "transfer_received": "You received points",
    "birthday_bonus": "Happy birthday",
}
# Korean unless the member chose English (`locale` "en"): the texts of the v2 notifications
BRAND = {"ko": "[단골]", "en": "[Dangol]"}
MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
# currency -> (symbol, digits after the decimal point of its smallest unit)
CURRENCIES = {"KRW": ("₩", 0), "JPY": ("¥", 0), "USD": ("$", 2), "EUR": ("€", 2), "GBP": ("£", 2)}


def money(amount: int, currency: str) -> str:
    """An amount in the smallest unit of `currency`, as a shop writes it:
    ₩12,000; $1,234.05; 1,234 XYZ for a currency without a known symbol."""
    symbol, digits = CURRENCIES.get(currency, (None, 0))
    sign, amount = ("-" if amount < 0 else ""), abs(int(amount))
    if symbol is None:
        return f"{sign}{amount:,} {currency}"
    if digits == 0:
        return f"{sign}{symbol}{amount:,}"
    whole, cents = divmod(amount, 10**digits)
    return f"{sign}{symbol}{whole:,}.{cents:0{digits}d}"


def points_text(points: int) -> str:
    return f"{int(points):,} P"


def local_day(instant: str, timezone: str) -> str:
    """The program-timezone date of an instant (`2027-03-05`)."""
    return local_date(parse_instant(instant), timezone).isoformat()


def language(locale: Optional[str]) -> str:
    return "en" if locale == "en" else "ko"


def month_name(month: str, lang: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{MONTHS_EN[number - 1]} {year}" if lang == "en" else f"{year}년 {number}월"


def statement_text(data: dict, program: Program, lang: str) -> str:
    """§13: balance, tier and the way to the next one, what expires within 30 days."""
    month = month_name(data["month"], lang)
    balance, tier, upper = points_text(data["balance"]), data["tier"], data.get("next_tier")
    expiring = data.get("expiring") or []
    soon = sum(int(e["points"]) for e in expiring)
    by = local_day(expiring[-1]["expires_at"], program.timezone) if expiring else None
    if lang == "en":
        ladder = (
            f"{money(upper['spend_needed'], program.currency)} more to reach {upper['name']}" if upper else "top tier"
        )
        expiry = (
            f"{points_text(soon)} expire within 30 days (by {by})" if expiring else "no points expire within 30 days"
        )
        return f"{BRAND['en']} Your points for {month}: balance {balance}, tier {tier} ({ladder}), {expiry}."
    ladder = f"다음 등급 {upper['name']}까지 {money(upper['spend_needed'], program.currency)}" if upper else "최고 등급"
    expiry = f"30일 안에 소멸 예정 {points_text(soon)} ({by}까지)" if expiring else "30일 안에 소멸 예정 포인트 없음"
    return f"{BRAND['ko']} {month} 포인트 안내: 잔액 {balance}, 등급 {tier} ({ladder}), {expiry}"


def win_back_text(data: dict, program: Program, lang: str) -> str:
    """§14: a member dormant since `after_days` after their last earn or redeem."""
    last = local_day(data["last_activity_at"], program.timezone)
    coupon = data.get("coupon")
    if lang == "en":
        gift = f" A coupon is waiting for you: {coupon}." if coupon else ""
        return f"{BRAND['en']} We miss you! We have not seen you since {last}.{gift} Come back soon."
    gift = f" 특별 쿠폰 '{coupon}'을 드렸어요." if coupon else ""
    return f"{BRAND['ko']} 오랜만이에요! {last} 이후로 뵙지 못했네요.{gift} 다시 찾아 주세요."


def coupon_text(data: dict, program: Program, lang: str) -> str:
    until = local_day(data["expires_at"], program.timezone) if data.get("expires_at") else None
    if lang == "en":
        return f"{BRAND['en']} You have a new coupon: {data.get('name')}" + (f" (until {until})." if until else ".")
    return f"{BRAND['ko']} 쿠폰 '{data.get('name')}'이 발급되었어요" + (f" ({until}까지)." if until else ".")


def campaign_offer_text(data: dict, program: Program, lang: str) -> str:
    """§22: a member of a rewarded arm hears of its reward (until the campaign ends)."""
    until = local_day(data["ends_at"], program.timezone) if data.get("ends_at") else None
    reward = data.get("reward") or {}
    kind = reward.get("type")
    if lang == "en":
        if kind == "multiplier":
            offer = f"earn {reward.get('multiplier')}x points on your purchases"
        elif kind == "bonus":
            minimum = int(reward.get("min_amount") or 0)
            spend = f" of {money(minimum, program.currency)} or more" if minimum else ""
            offer = f"get {points_text(int(reward.get('points') or 0))} on your next purchase{spend}"
        else:
            offer = f"a coupon is waiting for you: {data.get('coupon')}" if data.get("coupon") else "a coupon for you"
        return f"{BRAND['en']} {data.get('campaign')}: {offer}" + (f" (until {until})." if until else ".")
    if kind == "multiplier":
        offer = f"구매 시 포인트 {reward.get('multiplier')}배 적립"
    elif kind == "bonus":
        minimum = int(reward.get("min_amount") or 0)
        spend = f"{money(minimum, program.currency)} 이상 " if minimum else ""
        offer = f"다음 {spend}구매 시 {points_text(int(reward.get('points') or 0))} 추가 적립"
    else:
        offer = f"쿠폰 '{data.get('coupon')}'을 드렸어요" if data.get("coupon") else "쿠폰을 드렸어요"
    return f"{BRAND['ko']} {data.get('campaign')}: {offer}" + (f" ({until}까지)." if until else ".")


LOCALIZED = {
    "monthly_statement": statement_text,
    "win_back": win_back_text,
    "coupon_issued": coupon_text,
    "campaign_offer": campaign_offer_text,
}


def subject_text(type_: str, data: dict, lang: str = "ko") -> str:
    if type_ == "monthly_statement":
        month = month_name(data["month"], lang)
        return f"{BRAND[lang]} " + (f"Your points for {month}" if lang == "en" else f"{month} 포인트 안내")
    if type_ == "win_back":
        return f"{BRAND[lang]} " + ("We miss you" if lang == "en" else "다시 만나고 싶어요")
    if type_ == "coupon_issued":
        return f"{BRAND[lang]} " + ("A coupon for you" if lang == "en" else "쿠폰이 도착했어요")
    if type_ == "campaign_offer":
        return f"{BRAND[lang]} " + ("An offer for you" if lang == "en" else "회원님을 위한 혜택")
    return SUBJECTS.get(type_, "Dangol")


def message_text(type_: str, data: dict, program: Optional[Program] = None, locale: Optional[str] = None) -> str:
    if type_ in LOCALIZED:
        return LOCALIZED[type_](data, program or Program(), language(locale))
    points = data.get("points")
    texts = {
        "welcome": "Welcome! Your membership is ready.",
        "points_earned": f"You earned {points} points.",
        "points_redeemed": f"You redeemed {points} points.",
        "points_expiring": f"{points} of your points expire by {data.get('expires_by')}.",
        "points_expired": f"{points} of your points have expired.",
        "tier_changed": f"Your tier is now {data.get('new_tier')}.",
        "transfer_received": f"You received {points} points.",
        "birthday_bonus": f"Happy birthday! We added {points} points.",
    }
    return texts.get(type_, type_)


class QueuePublisher(QueueSender):
    """Sends outbox pointers to the notifications queue (10 per request)."""

    def publish(self, messages: list[dict]) -> None:
        self.send(messages)


@dataclass
class Delivery:
    status: str
    channel: str


class PassingDeliveryError(Exception):
    """The provider failed for a passing reason; the claim is released and the
    queue message is to be retried later (after `retry_in` seconds)."""

    def __init__(self, code: str, retry_in: int):
        super().__init__(code)
        self.code = code
        self.retry_in = retry_in


PASSING_CODES = {
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalError",
    "InternalErrorException",
    "RequestTimeout",
    "RequestTimeoutException",
    "KMSThrottlingException",
}
# How long a notification is retried through passing errors before it is `failed`.
RETRY_WINDOW = dt.timedelta(hours=1, minutes=10)


def error_code(error: BaseException) -> tuple[str, bool]:
    """(code, passing) of a provider failure: throttling (SES "Throttling", SNS
    "Throttled"/429, DynamoDB's), timeouts, connection errors and 5xx pass; any
    other rejection is for good."""
    if isinstance(error, ThrottledError):  # Dangol's own bounded retries used up
        return error.code, True
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code") or "ClientError"
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return code, code in PASSING_CODES or code in THROTTLING_CODES or status == 429 or status >= 500
    if isinstance(error, (BotoCoreError, ConnectionError, TimeoutError)):
        return type(error).__name__, True
    return type(error).__name__, False


def backoff_seconds(attempt: int) -> int:
    """Delay before retry `attempt` (1, 2, ...): 30 s doubling, at most 15 min."""
    return min(900, 30 * 2 ** max(0, attempt - 1))


class NotificationSender:
    def __init__(self, store: Store, ses, sns, sender: str, clock, programs: Programs):
        self.store = store
        self.ses = ses
        self.sns = sns
        self.sender = sender
        self.clock = clock
        # the container's copy of the program (the ledger's), so that deliveries
        # do not all read the program item, the one item they would share
        self.programs = programs

    def _write(
        self, pk: str, sk: str, expression: str, names: dict, values: dict, condition: Optional[str] = None
    ) -> Optional[dict]:
        """A status write after the claim (the outcome, or the claim released): tried
        again a few times when it fails for a passing reason, since an item left
        `sending` is one the sweeper can only call unconfirmed."""
        policy = backoff.SETTLE_DELIVERY
        for attempt in range(1, policy.attempts + 1):
            try:
                return self.store.update(pk, sk, expression, names, values, condition=condition)
            except Exception as error:
                code, passing = error_code(error)
                if not passing or attempt == policy.attempts:
                    raise
            policy.wait(attempt)
        return None

    def deliver(self, member_id: str, notification_id: str, generation: int = 0) -> Optional[Delivery]:
        """Deliver one notification; None when it was already handled. `generation`
        says which enrolment of the member id it is for (see `member_sk`).

        Everything that may fail for a passing reason (the profile read) comes
        before the claim, so such a failure leaves the notification `queued` for
        the redelivery; after the claim, nothing but the provider call may fail.
        Raises PassingDeliveryError (claim released, or never made) when the
        database or the provider failed for a passing reason within the retry
        window."""
        pk, sk = member_pk(member_id), notification_sk(generation, notification_id)
        code: Optional[str]  # a failure's code; None while nothing failed
        now = self.clock()
        program = self.programs.cached()
        try:
            found = self.store.get_many([(pk, PROFILE)] + ([PROGRAM_KEY] if program is None else []))
        except Exception as error:
            code, passing = error_code(error)
            if not passing:
                raise
            log.warning("notification %s: reading the profile failed (%s), will retry", notification_id, code)
            raise PassingDeliveryError(code, backoff_seconds(1)) from None
        if program is None:
            program = self.programs.remember(found.get(PROGRAM_KEY))
        claimed = self.store.update(
            pk,
            sk,
            "SET #s = :sending, #c = :now, #f = if_not_exists(#f, :now)",
            {"#s": "status", "#c": "claimed_at", "#f": "first_attempt_at"},
            {":sending": "sending", ":queued": "queued", ":now": format_instant(now)},
            condition="#s = :queued",
        )
        if claimed is None:
            return None
        profile = found.get((pk, PROFILE)) or {}
        data = claimed.get("data") or {}
        if profile.get("erased") or int(profile.get("generation", 0)) != generation:
            profile = {}  # erased (or the id is now another member's): nobody to tell
        if profile.get("email"):
            channel = "email"
        elif profile.get("phone"):
            channel = "sms"
        else:
            channel = "none"
        status, code = "skipped", None
        try:
            text = message_text(claimed["type"], data, program, profile.get("locale"))
            if channel == "email":
                self.ses.send_email(
                    Source=self.sender,
                    Destination={"ToAddresses": [profile["email"]]},
                    Message={
                        "Subject": {"Data": subject_text(claimed["type"], data, language(profile.get("locale")))},
                        "Body": {"Text": {"Data": text}},
                    },
                )
                status = "sent"
            elif channel == "sms":
                region = program.phone_region
                try:
                    phone = to_e164(profile["phone"], region)
                except InvalidPhoneError:
                    status, code = "failed", "INVALID_PHONE"
                else:
                    self.sns.publish(PhoneNumber=phone, Message=text)
                    status = "sent"
        except Exception as error:
            code, passing = error_code(error)
            # the id and the code only: a provider's message names the recipient
            log.warning(
                "notification %s: delivery failed (%s%s)", notification_id, code, ", will retry" if passing else ""
            )
            first = claimed.get("first_attempt_at") or format_instant(now)
            if passing and format_instant(now - RETRY_WINDOW) < first:
                attempts = int(claimed.get("attempts", 0)) + 1
                retry_in = backoff_seconds(attempts)
                self._write(
                    pk,
                    sk,
                    "SET #s = :queued, #a = :n, #r = :r, #e = :code",
                    {"#s": "status", "#a": "attempts", "#r": "retry_at", "#e": "error_code"},
                    {
                        ":queued": "queued",
                        ":sending": "sending",
                        ":n": attempts,
                        ":code": code,
                        ":r": format_instant(now + dt.timedelta(seconds=retry_in)),
                    },
                    condition="#s = :sending",
                )
                raise PassingDeliveryError(code, retry_in) from None
            status = "failed"
        if status == "failed" and code:
            log.warning("notification %s: failed (%s)", notification_id, code)
        names = {"#s": "status", "#c": "channel", "#o": OUTBOX_SHARD}
        values = {":status": status, ":channel": channel}
        expression = "SET #s = :status, #c = :channel"
        if status == "sent":
            names["#t"], values[":t"] = "sent_at", format_instant(self.clock())
            expression += ", #t = :t"
        if code:
            names["#e"], values[":code"] = "error_code", code
            expression += ", #e = :code"
        self._write(pk, sk, expression + " REMOVE #o", names, values)
        return Delivery(status, channel)
