"""Notifications: an outbox item written with the ledger change, a queue
message that points at it, and delivery through SES (email) or SNS (SMS).

Delivery happens at most once per notification: a handler first claims the
outbox item (`queued` -> `sending`, conditionally) and only the claimant sends.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Optional

from .domain.calendar import format_instant
from .store import PROFILE, Store, member_pk, member_sk

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


def message_text(type_: str, data: dict) -> str:
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


class QueuePublisher:
    """Sends outbox pointers to the notifications queue (10 per request)."""

    def __init__(self, sqs, queue_name: str):
        self.sqs = sqs
        self.queue_name = queue_name
        self._url: Optional[str] = None

    @property
    def url(self) -> str:
        if self._url is None:
            self._url = self.sqs.get_queue_url(QueueName=self.queue_name)["QueueUrl"]
        return self._url

    def publish(self, messages: list[dict]) -> None:
        for start in range(0, len(messages), 10):
            batch = messages[start:start + 10]
            response = self.sqs.send_message_batch(
                QueueUrl=self.url,
                Entries=[{"Id": str(i), "MessageBody": json.dumps(m)} for i, m in enumerate(batch)],
            )
            if response.get("Failed"):
                raise RuntimeError(f"SQS refused {len(response['Failed'])} messages")


@dataclass
class Delivery:
    status: str
    channel: str


class NotificationSender:
    def __init__(self, store: Store, ses, sns, sender: str, clock):
        self.store = store
        self.ses = ses
        self.sns = sns
        self.sender = sender
        self.clock = clock

    def deliver(self, member_id: str, notification_id: str, generation: int = 0) -> Optional[Delivery]:
        """Deliver one notification; None when it was already handled. `generation`
        says which enrolment of the member id it is for (see `member_sk`)."""
        pk, sk = member_pk(member_id), member_sk(generation, f"NOTIFICATION#{notification_id}")
        claimed = self.store.update(
            pk, sk, "SET #s = :sending", {"#s": "status"},
            {":sending": "sending", ":queued": "queued"},
            condition="#s = :queued",
        )
        if claimed is None:
            return None
        profile = self.store.get(pk, PROFILE) or {}
        data = claimed.get("data") or {}
        text = message_text(claimed["type"], data)
        if profile.get("erased") or int(profile.get("generation", 0)) != generation:
            profile = {}  # erased (or the id is now another member's): nobody to tell
        if profile.get("email"):
            channel = "email"
        elif profile.get("phone"):
            channel = "sms"
        else:
            channel = "none"
        status = "skipped"
        try:
            if channel == "email":
                self.ses.send_email(
                    Source=self.sender,
                    Destination={"ToAddresses": [profile["email"]]},
                    Message={"Subject": {"Data": SUBJECTS.get(claimed["type"], "Dangol")},
                             "Body": {"Text": {"Data": text}}},
                )
                status = "sent"
            elif channel == "sms":
                self.sns.publish(PhoneNumber=profile["phone"], Message=text)
                status = "sent"
        except Exception as error:
            # the notification id and the error code only: the error's text may quote the address
            log.error("delivery of %s failed: %s", notification_id,
                      getattr(error, "response", {}).get("Error", {}).get("Code") or type(error).__name__)
            status = "failed"
        names = {"#s": "status", "#c": "channel"}
        values = {":status": status, ":channel": channel}
        expression = "SET #s = :status, #c = :channel"
        if status == "sent":
            names["#t"], values[":t"] = "sent_at", format_instant(self.clock())
            expression += ", #t = :t"
        self.store.update(pk, sk, expression, names, values)
        return Delivery(status, channel)
