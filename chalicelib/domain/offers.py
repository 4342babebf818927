"""A member's running offers (§22, for the member page): the campaigns whose audience the
member is in, on an arm with a reward, running now (starts_at <= now < ends_at). A bonus arm's
offer ends once its bonus is used (once per member and campaign). Pure: the entries are the
profile's `campaigns` (chalicelib/domain/campaigns.py `entry`), read with the member."""

from __future__ import annotations

from collections.abc import Iterable

OFFER_FIELDS = ("campaign_id", "arm", "reward", "starts_at", "ends_at")


def running_offers(entries: Iterable[dict], now_text: str) -> list[dict]:
    """The offers running at `now_text` (ISO `...Z`: text order is time order), soonest end first."""
    offers = [
        {name: entry.get(name) for name in OFFER_FIELDS}
        for entry in entries
        if entry.get("reward") is not None
        and str(entry.get("starts_at")) <= now_text < str(entry.get("ends_at"))
        and not entry.get("bonus_used")
    ]
    return sorted(offers, key=lambda offer: (str(offer["ends_at"]), str(offer["campaign_id"])))
