"""A member's running offers for the member page (§22): rewarded arms of running campaigns."""

from chalicelib.domain.offers import running_offers

NOW = "2027-01-20T03:00:00Z"


def entry(campaign_id, reward, starts="2027-01-15T00:00:00Z", ends="2027-02-15T00:00:00Z", **more):
    return {
        "campaign_id": campaign_id,
        "arm": "a",
        "reward": reward,
        "starts_at": starts,
        "ends_at": ends,
        "assigned_at": starts,
        **more,
    }


def test_only_rewarded_arms_of_running_campaigns_are_offers_soonest_end_first():
    double = {"type": "multiplier", "multiplier": "2"}
    bonus = {"type": "bonus", "points": 500, "min_amount": 0}
    entries = [
        entry("later", double, ends="2027-03-01T00:00:00Z"),
        entry("control", None),
        entry("future", double, starts="2027-01-21T00:00:00Z"),
        entry("over", double, ends=NOW),  # ends_at is not included
        entry("used", bonus, bonus_used=True),
        entry("bonus", bonus, bonus_used=False),
        entry("starts-now", double, starts=NOW),
    ]
    assert [o["campaign_id"] for o in running_offers(entries, NOW)] == ["bonus", "starts-now", "later"]
    assert running_offers(entries, NOW)[0] == {
        "campaign_id": "bonus",
        "arm": "a",
        "reward": bonus,
        "starts_at": "2027-01-15T00:00:00Z",
        "ends_at": "2027-02-15T00:00:00Z",
    }
    assert running_offers([], NOW) == []
