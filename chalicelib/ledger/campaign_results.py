"""GET /campaigns/{id}/results (contract §22), read from what the last refresh stored.

One BatchGetItem: the campaign (CAMPAIGNS / <id>: an unknown campaign is 404), its results
(ANALYTICS / CAMPAIGN#<id>, the whole answer in one item) and the last refresh
(ANALYTICS / REFRESH). No query runs here (chalicelib/analytics/campaign_results.py computes
the answer in the refresh).

When no refresh has counted the campaign (no refresh yet, or the campaign was created after the
last one) the answer is §17's empty shape, never an error: every arm of the campaign with zeros,
each comparison null (an arm without members), and `as_of` the last refresh's (null before the
first refresh).
"""

from __future__ import annotations

from typing import Any

from chalicelib.domain import experiments
from chalicelib.errors import NotFoundError
from chalicelib.storage.repository import REFRESH_KEY, campaign_key, campaign_results_key
from chalicelib.storage.store import Store

ANSWER_FIELDS = ("campaign_id", "as_of", "arms", "comparisons")
ARM_COUNTS = ("members", "purchasers", "purchases", "purchase_amount", "points_awarded", "coupons_used")


def empty_results(campaign: dict, as_of: Any) -> dict:
    arms = [
        experiments.ArmFigures(name=arm["name"], members=0, purchasers=0, control=arm.get("reward") is None)
        for arm in campaign.get("arms") or []
    ]
    return experiments.results(campaign["campaign_id"], as_of, arms)


def stored_results(item: dict) -> dict:
    """The stored answer as the API writes it (numbers as integers)."""
    arms = [{"name": arm["name"], **{name: int(arm.get(name) or 0) for name in ARM_COUNTS}} for arm in item["arms"]]
    comparisons = []
    for found in item.get("comparisons") or []:
        entry = dict(found)
        if entry.get("revenue_per_member_diff") is not None:
            entry["revenue_per_member_diff"] = int(entry["revenue_per_member_diff"])
        entry["significant"] = bool(entry.get("significant"))
        comparisons.append(entry)
    return {"campaign_id": item["campaign_id"], "as_of": item.get("as_of"), "arms": arms, "comparisons": comparisons}


def campaign_results(store: Store, campaign_id: str) -> dict:
    found = store.get_many([campaign_key(campaign_id), campaign_results_key(campaign_id), REFRESH_KEY])
    campaign = found.get(campaign_key(campaign_id))
    if campaign is None:
        raise NotFoundError(f"campaign {campaign_id[:80]!r} not found")
    stored = found.get(campaign_results_key(campaign_id))
    if stored is not None:
        return stored_results(stored)
    return empty_results(campaign, (found.get(REFRESH_KEY) or {}).get("as_of"))
