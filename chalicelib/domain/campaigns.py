"""Campaigns and experiments (contract §22): pure rules, no storage.

- `bucket` / `arm_for`: a member's arm, reproducible by anyone from the campaign id,
  the member id and the arms' weights: b = int(sha256("<campaign_id>:<member_id>")
  .hexdigest()[:8], 16) % 100, and the arms take consecutive ranges of b in their
  listed order (weights 10, 45, 45: 0-9, 10-54, 55-99).
- `campaign_lines`: the breakdown lines an earn gets from the campaigns whose audience
  the member is in (the entries on its profile, see `entry`).
- `status`: scheduled, running or ended, from the stored campaign and the time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from decimal import ROUND_FLOOR, Decimal, Inexact, localcontext
from typing import Any, Optional

MAX_ARMS = 5
# A profile keeps a campaign's entry this long after the campaign ended (an earn may lie 90
# days back; the rest is margin); older entries are dropped when the profile is next written.
KEEP_AFTER_END = dt.timedelta(days=400)


def bucket(campaign_id: str, member_id: str) -> int:
    """0-99: where the member falls in the campaign's arms."""
    return int(hashlib.sha256(f"{campaign_id}:{member_id}".encode()).hexdigest()[:8], 16) % 100


def arm_for(campaign_id: str, member_id: str, arms: Sequence[dict]) -> dict:
    """The arm whose range of buckets holds the member's bucket (weights sum to 100)."""
    b = bucket(campaign_id, member_id)
    upper = 0
    for arm in arms:
        upper += int(arm["weight"])
        if b < upper:
            return arm
    raise ValueError("the arms' weights do not sum to 100")


def validate_arms(arms: Sequence[dict]) -> None:
    """1-5 arms with unique names and positive integer weights summing to 100 (ValueError)."""
    if not 1 <= len(arms) <= MAX_ARMS:
        raise ValueError(f"arms: 1 to {MAX_ARMS} arms")
    names = [arm["name"] for arm in arms]
    if len(set(names)) != len(names):
        raise ValueError("arms: names must be unique")
    if any(int(arm["weight"]) < 1 for arm in arms):
        raise ValueError("arms: weights are positive integers")
    if sum(int(arm["weight"]) for arm in arms) != 100:
        raise ValueError("arms: weights must sum to 100")


def status(campaign: dict, now_text: str) -> str:
    """`ended` once now >= ends_at (with or without a job), `running` once launched, else
    `scheduled`."""
    if now_text >= campaign["ends_at"]:
        return "ended"
    return "running" if campaign.get("launch_started_at") else "scheduled"


def entry(campaign: dict, arm: dict, assigned_at: str) -> dict:
    """What a member's profile keeps of a campaign it is in (the earn needs nothing else)."""
    reward = arm.get("reward")
    kept: dict[str, Any] = {
        "campaign_id": campaign["campaign_id"],
        "arm": arm["name"],
        "reward": reward,
        "starts_at": campaign["starts_at"],
        "ends_at": campaign["ends_at"],
        "assigned_at": assigned_at,
    }
    if reward is not None and reward.get("type") == "bonus":
        kept["bonus_used"] = False
    return kept


def prune(entries: Sequence[dict], now: dt.datetime) -> list[dict]:
    """The entries of campaigns that ended less than KEEP_AFTER_END ago (bounded)."""
    cutoff = (now - KEEP_AFTER_END).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [e for e in entries if str(e["ends_at"]) > cutoff]


def _floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def campaign_lines(
    entries: Sequence[dict], amount: int, base_rate: str, occurred_at: str
) -> tuple[list[tuple[str, int]], list[str]]:
    """The lines `campaign:<campaign_id>` an earn of `amount` that occurred at `occurred_at`
    gets, and the campaigns whose bonus it uses up. Only campaigns whose window
    [starts_at, ends_at) holds occurred_at count:
    - multiplier: floor(amount x base_rate x (multiplier - 1));
    - bonus: `points`, on the first such earn with amount >= min_amount (then used);
    - coupon and control arms: nothing."""
    lines: list[tuple[str, int]] = []
    used: list[str] = []
    with localcontext() as exact:
        exact.prec = 200
        exact.traps[Inexact] = True
        for kept in entries:
            reward: Optional[dict] = kept.get("reward")
            if reward is None or not kept["starts_at"] <= occurred_at < kept["ends_at"]:
                continue
            rule = f"campaign:{kept['campaign_id']}"
            if reward["type"] == "multiplier":
                extra = amount * Decimal(base_rate) * (Decimal(str(reward["multiplier"])) - 1)
                lines.append((rule, _floor(extra)))
            elif reward["type"] == "bonus" and not kept.get("bonus_used"):
                if amount >= int(reward.get("min_amount") or 0):
                    lines.append((rule, int(reward["points"])))
                    used.append(str(kept["campaign_id"]))
    return lines, used
