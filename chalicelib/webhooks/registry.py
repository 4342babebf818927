"""The webhooks an operator registers (contract §24), and the deliveries they list.

Loaded by the API: the standard library, the store and the queue sender only (the
delivery worker, with its HTTP client and threads, is chalicelib/webhooks/delivery.py).

- `WEBHOOKS / WEBHOOK#<ulid>`: url, events, the signing secret, created_at; written
  once. The secret signs every delivery, so it is kept (the table is encrypted at
  rest) and shown only in the answer that creates the webhook.
- `WEBHOOKS / COUNT`: how many there are, moved in the same transaction as the
  webhook's Put or Delete, on condition that it stays at most MAX_WEBHOOKS.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from typing import Any, Optional
from urllib.parse import urlsplit

from chalicelib.domain.calendar import format_instant
from chalicelib.domain.ids import new_id
from chalicelib.errors import NotFoundError, ValidationError, WebhookLimitError
from chalicelib.storage.queues import QueueSender
from chalicelib.storage.repository import (
    DELIVERY_PREFIX,
    WEBHOOK_COUNT_KEY,
    WEBHOOK_PREFIX,
    WEBHOOKS_PK,
    delivery_key,
    key_of,
    webhook_key,
    webhook_pk,
)
from chalicelib.storage.store import NONE, STALE, Commit, CommitConflict, Store, refuse
from chalicelib.webhooks.events import DUE_AT, DUE_KEY, EVENT_TYPES

MAX_WEBHOOKS = 20
MAX_URL_LENGTH = 2000
LOCAL_HOSTS = ("127.0.0.1", "localhost")
CREATE_ATTEMPTS = 5


def check_url(url: str, environ: Any = os.environ) -> str:
    """§24: `https://...`; `http://127.0.0.1` and `http://localhost` only outside AWS
    Lambda (the local service and tests); anything else is refused (400)."""
    if len(url) > MAX_URL_LENGTH:
        raise ValidationError(f"url: at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        raise ValidationError("url: not a URL") from None
    if any(c.isspace() for c in url) or not host or parts.username is not None or parts.password is not None:
        raise ValidationError("url: an absolute https:// URL with a host (and no user or password)")
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and host in LOCAL_HOSTS:
        if environ.get("AWS_LAMBDA_FUNCTION_NAME"):
            raise ValidationError("url: http:// is accepted for 127.0.0.1 and localhost outside AWS only")
        return url
    raise ValidationError("url: must be https:// (http://127.0.0.1 and http://localhost only when run locally)")


def check_events(events: list[str]) -> list[str]:
    if not events:
        raise ValidationError("events: at least one event type")
    unknown = [name for name in events if name not in EVENT_TYPES]
    if unknown:
        raise ValidationError(f"events: unknown event type {unknown[0][:80]!r}; one of {', '.join(EVENT_TYPES)}")
    return list(dict.fromkeys(events))


def webhook_view(item: dict) -> dict:
    """A webhook as GET /webhooks lists it: never its secret."""
    return {
        "webhook_id": item["webhook_id"],
        "url": item["url"],
        "events": list(item["events"]),
        "created_at": item["created_at"],
    }


def delivery_view(item: dict) -> dict:
    return {
        "event_id": item["event_id"],
        "type": item["type"],
        "status": item["status"],
        "attempts": int(item.get("attempts") or 0),
        "last_status_code": item.get("last_status_code"),
        "last_attempt_at": item.get("last_attempt_at"),
        "last_error": item.get("last_error"),
        "created_at": item.get("created_at"),
        "next_attempt_at": item.get("next_attempt_at") if item["status"] == "pending" else None,
    }


class Webhooks:
    def __init__(self, store: Store, queue: QueueSender, clock: Callable[[], Any], environ: Any = os.environ):
        self.store = store
        self.queue = queue
        self.clock = clock
        self.environ = environ

    def create(self, url: str, events: list[str]) -> dict:
        url = check_url(url, self.environ)
        events = check_events(events)
        for _ in range(CREATE_ATTEMPTS):
            webhook_id = new_id()
            item = {
                **key_of(webhook_key(webhook_id)),
                "webhook_id": webhook_id,
                "url": url,
                "events": events,
                "secret": "whsec_" + secrets.token_hex(32),
                "created_at": format_instant(self.clock()),
            }
            commit = Commit(self.store.table)
            commit.put_new(item, STALE)  # written once: an id that repeats takes another
            commit.update(
                key_of(WEBHOOK_COUNT_KEY),
                "ADD #n :one",
                {"#n": "webhooks"},
                {":one": 1, ":max": MAX_WEBHOOKS},
                refuse(lambda: WebhookLimitError(f"at most {MAX_WEBHOOKS} webhooks; delete one first")),
                condition="attribute_not_exists(#n) OR #n < :max",
            )
            try:
                self.store.commit(commit)
            except CommitConflict as conflict:
                refused = conflict.found("refuse")
                if refused:
                    error = refused[0][0].error
                    assert error is not None
                    raise error() from None
                continue
            return {**webhook_view(item), "secret": item["secret"]}  # the only time the secret is shown
        raise RuntimeError("could not find a free webhook id")

    def get(self, webhook_id: str) -> dict:
        item = self.store.get(*webhook_key(webhook_id)) if len(webhook_id) <= 64 else None
        if item is None:
            raise NotFoundError(f"webhook {webhook_id[:80]!r} not found")
        return item

    def page(self, limit: int, cursor: Optional[str]) -> dict:
        items, next_cursor = self.store.query_page(WEBHOOKS_PK, WEBHOOK_PREFIX, limit, cursor, newest_first=False)
        return {"items": [webhook_view(i) for i in items], "next_cursor": next_cursor}

    def all(self) -> list[dict]:
        """Every webhook, with its secret (at most MAX_WEBHOOKS: one Query)."""
        return self.store.query_all(WEBHOOKS_PK, WEBHOOK_PREFIX)

    def delete(self, webhook_id: str) -> None:
        """The webhook goes; its deliveries stay listed nowhere and expire (TTL)."""
        if len(webhook_id) > 64:
            raise NotFoundError(f"webhook {webhook_id[:80]!r} not found")
        commit = Commit(self.store.table)
        commit.delete(
            key_of(webhook_key(webhook_id)),
            refuse(lambda: NotFoundError(f"webhook {webhook_id!r} not found")),
            must_exist=True,
        )
        commit.update(key_of(WEBHOOK_COUNT_KEY), "ADD #n :minus", {"#n": "webhooks"}, {":minus": -1}, NONE)
        try:
            self.store.commit(commit)
        except CommitConflict as conflict:
            refused = conflict.found("refuse")
            if not refused:
                raise
            error = refused[0][0].error
            assert error is not None
            raise error() from None

    def deliveries(self, webhook_id: str, limit: int, cursor: Optional[str]) -> dict:
        self.get(webhook_id)
        items, next_cursor = self.store.query_page(
            webhook_pk(webhook_id), DELIVERY_PREFIX, limit, cursor, newest_first=True
        )
        return {"items": [delivery_view(i) for i in items], "next_cursor": next_cursor}

    def retry(self, webhook_id: str, event_id: str) -> dict:
        """A `failed` delivery is sent again: one more attempt, at once (400 for any other)."""
        self.get(webhook_id)
        if len(event_id) > 64:
            raise NotFoundError(f"delivery {event_id[:80]!r} not found")
        pk, sk = delivery_key(webhook_id, event_id)
        now = format_instant(self.clock())
        updated = self.store.update(
            pk,
            sk,
            "SET #s = :pending, #m = :true, #n = :now, #due = :hook, #at = :now",
            {"#s": "status", "#m": "manual", "#n": "next_attempt_at", "#due": DUE_KEY, "#at": DUE_AT},
            {":pending": "pending", ":failed": "failed", ":true": True, ":now": now, ":hook": pk},
            condition="#s = :failed",
        )
        if updated is None:
            stored = self.store.get(pk, sk)
            if stored is None:
                raise NotFoundError(f"delivery {event_id!r} not found")
            raise ValidationError(f"only a failed delivery can be retried (this one is {stored['status']})")
        try:
            self.queue.send([{"webhook_id": webhook_id, "event_ids": [event_id]}])
        except Exception:  # the dispatcher finds it due within a minute
            pass
        return delivery_view(updated)
