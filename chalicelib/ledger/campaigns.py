"""Campaigns as the API keeps them (contract §22): create, read, list, delete, and a
member's campaigns. The launch is a job (chalicelib/jobs/plans.py); the rules are
chalicelib/domain/campaigns.py; keys are in chalicelib/storage/repository.py."""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from botocore.exceptions import ClientError

from chalicelib.domain import campaigns as rules
from chalicelib.domain.calendar import format_instant
from chalicelib.errors import CampaignExistsError, CampaignStartedError, NotFoundError, ValidationError
from chalicelib.storage.repository import (
    CAMPAIGNS_PK,
    campaign_assignment_sk,
    campaign_key,
    key_of,
    profile_key,
    segment_listing_key,
    template_key,
)
from chalicelib.storage.store import Store, member_pk, to_attrs

CAMPAIGN_FIELDS = ("campaign_id", "name", "segment_id", "starts_at", "ends_at", "arms", "notify", "created_at")


def reward_view(reward: Optional[dict]) -> Optional[dict]:
    if reward is None:
        return None
    if reward["type"] == "multiplier":
        return {"type": "multiplier", "multiplier": str(reward["multiplier"])}
    if reward["type"] == "bonus":
        return {"type": "bonus", "points": int(reward["points"]), "min_amount": int(reward.get("min_amount") or 0)}
    return {"type": "coupon", "template_id": reward["template_id"]}


def campaign_view(item: dict, now: dt.datetime) -> dict:
    view: dict[str, Any] = {name: item.get(name) for name in CAMPAIGN_FIELDS}
    view["arms"] = [
        {"name": arm["name"], "weight": int(arm["weight"]), "reward": reward_view(arm.get("reward"))}
        for arm in item.get("arms") or []
    ]
    view["notify"] = bool(item.get("notify", True))
    view["status"] = rules.status(item, format_instant(now))
    view["audience"] = None if item.get("audience") is None else int(item["audience"])
    view["launched_at"] = item.get("launched_at")
    return view


class Campaigns:
    def __init__(self, store: Store):
        self.store = store

    def create(self, body: dict, now: dt.datetime) -> dict:
        """A new campaign (`status` scheduled). The segment and every coupon template must
        exist (one BatchGetItem); an existing id → 409 CAMPAIGN_EXISTS (a conditional put)."""
        wanted = []
        if body.get("segment_id") is not None:
            wanted.append(segment_listing_key(body["segment_id"]))
        templates = [
            arm["reward"]["template_id"] for arm in body["arms"] if (arm.get("reward") or {}).get("type") == "coupon"
        ]
        wanted += [template_key(t) for t in templates]
        found = self.store.get_many(wanted) if wanted else {}
        if body.get("segment_id") is not None and segment_listing_key(body["segment_id"]) not in found:
            raise ValidationError(f"segment_id: unknown segment {body['segment_id'][:80]!r}")
        for template_id in templates:
            if template_key(template_id) not in found:
                raise ValidationError(f"arms: unknown coupon template {template_id[:80]!r}")
        item = {
            **key_of(campaign_key(body["campaign_id"])),
            **{name: body.get(name) for name in CAMPAIGN_FIELDS if name != "created_at"},
            "created_at": format_instant(now),
        }
        if not self.store.put(item, condition="attribute_not_exists(pk)"):
            raise CampaignExistsError(f"campaign {body['campaign_id']!r} already exists")
        return campaign_view(item, now)

    def get(self, campaign_id: str, now: dt.datetime) -> dict:
        item = self.store.get(*campaign_key(campaign_id))
        if item is None:
            raise NotFoundError(f"campaign {campaign_id[:80]!r} not found")
        return campaign_view(item, now)

    def page(self, limit: int, cursor: Optional[str], now: dt.datetime) -> dict:
        items, next_cursor = self.store.query_page(CAMPAIGNS_PK, "", limit, cursor, newest_first=False)
        return {"items": [campaign_view(i, now) for i in items], "next_cursor": next_cursor}

    def delete(self, campaign_id: str) -> None:
        """Before the launch only: a delete conditioned on the launch not having begun."""
        try:
            self.store.client.delete_item(
                TableName=self.store.table,
                Key=to_attrs(key_of(campaign_key(campaign_id))),
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(launch_started_at)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            if self.store.get(*campaign_key(campaign_id)) is not None:
                raise CampaignStartedError(f"campaign {campaign_id[:80]!r} has been launched") from None
            raise NotFoundError(f"campaign {campaign_id[:80]!r} not found") from None

    def member_campaigns(self, member_id: str) -> dict:
        """The campaigns whose audience the member is in, and its arm in each (the
        assignment items, written once at launch), in campaign_id order."""
        profile = self.store.get(*profile_key(member_id))
        if profile is None or profile.get("erased"):
            raise NotFoundError(f"member {member_id!r} not found")
        generation = int(profile.get("generation") or 0)
        items = self.store.query_all(member_pk(member_id), campaign_assignment_sk(generation, ""))
        return {"items": [{"campaign_id": i["campaign_id"], "arm": i["arm"]} for i in items]}
