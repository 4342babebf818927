"""A change of the tier ladder (names or thresholds) re-tiers every member (§2, §6, §8).

PUT /program queues one pass over all members (through the `members` index);
`recompute_tiers` also runs it if the queued pass was lost. Afterwards each
member holds the tier §6 gives for its spend under the new ladder, and
`members_by_tier` counts every member in a configured tier.
"""

from __future__ import annotations

from chalicelib import local
from tests.checks import stats

LADDER = [
    {"name": "bronze", "min_spend": 0, "earn_multiplier": "1"},
    {"name": "silver", "min_spend": 50000, "earn_multiplier": "1"},
    {"name": "gold", "min_spend": 100000, "earn_multiplier": "1"},
]


def spend(api, member_id, amount, order_id):
    response = api.post(f"/members/{member_id}/earn", {"order_id": order_id, "amount": amount})
    assert response.status == 201, response
    return response.json


def tiers(api, *member_ids):
    return {m: api.get(f"/members/{m}").json["tier"] for m in member_ids}


def shop(api):
    api.program({"signup_bonus": 0, "tiers": LADDER})
    local.drain_queues()
    for member_id, amount in (("low", 10000), ("mid", 60000), ("high", 120000)):
        api.member(member_id)
        spend(api, member_id, amount, f"{member_id}-1")
    api.member("erased")
    assert api.delete("/members/erased", key="admin").status == 204
    assert tiers(api, "low", "mid", "high") == {"low": "bronze", "mid": "silver", "high": "gold"}
    local.drain_queues()  # the members' own notifications


def test_new_thresholds_move_members_up_and_down_once_the_queued_pass_ran(api, clock):
    shop(api)
    # silver now from 5,000 (low's 10,000 qualifies); gold from 150,000 (high's 120,000 does not)
    api.program(
        {"signup_bonus": 0, "tiers": [LADDER[0], {**LADDER[1], "min_spend": 5000}, {**LADDER[2], "min_spend": 150000}]}
    )
    assert local.drain_queues() >= 1
    assert tiers(api, "low", "mid", "high") == {"low": "silver", "mid": "silver", "high": "silver"}
    counts = stats(api)
    assert counts["members"] == 3
    assert counts["members_by_tier"] == {"bronze": 0, "silver": 3, "gold": 0}
    changed = [
        n for n in api.get("/members/high/notifications", key="admin").json["items"] if n["type"] == "tier_changed"
    ]
    assert len(changed) == 2  # up to gold on the earn, down to silver with the new ladder


def test_renamed_tiers_are_held_and_counted_under_their_new_names(api, clock):
    shop(api)
    renamed = [{**LADDER[0], "name": "새싹"}, {**LADDER[1], "name": "열매"}, {**LADDER[2], "name": "숲"}]
    api.program({"signup_bonus": 0, "tiers": renamed})
    # the queued pass is lost: the daily job catches up
    from chalicelib import aws, settings

    sqs = aws.client("sqs")
    sqs.purge_queue(QueueUrl=sqs.get_queue_url(QueueName=settings.load().notifications_queue_name)["QueueUrl"])
    assert stats(api)["members_by_tier"] == {"새싹": 0, "열매": 0, "숲": 0}  # not yet re-tiered
    local.run_job("recompute_tiers")
    assert tiers(api, "low", "mid", "high") == {"low": "새싹", "mid": "열매", "high": "숲"}
    assert stats(api)["members_by_tier"] == {"새싹": 1, "열매": 1, "숲": 1}


def test_the_pass_runs_once_per_ladder_and_an_unchanged_ladder_queues_nothing(api, clock):
    shop(api)
    local.run_job("recompute_tiers")  # the ladder is already applied: nothing due, nothing changes
    before = {m: api.get(f"/members/{m}").json for m in ("low", "mid", "high")}
    # the same ladder again, with other earning rules: no pass queued
    api.program({"signup_bonus": 0, "base_rate": "0.02", "tiers": LADDER})
    assert local.drain_queues() == 0
    local.run_job("recompute_tiers")
    assert {m: api.get(f"/members/{m}").json for m in ("low", "mid", "high")} == before


def test_before_the_pass_runs_members_are_shown_and_served_under_the_new_tiers(api, clock):
    shop(api)
    # silver from 5,000 earning x1.5; gold renamed platinum and raised to 150,000
    api.program(
        {
            "signup_bonus": 0,
            "tiers": [
                LADDER[0],
                {**LADDER[1], "min_spend": 5000, "earn_multiplier": "1.5"},
                {"name": "platinum", "min_spend": 150000, "earn_multiplier": "2"},
            ],
        }
    )
    # the queued pass has not run: reads show the tier §6 gives under the new ladder
    high = api.get("/members/high").json
    assert high["tier"] == "silver"
    assert high["next_tier"] == {"name": "platinum", "spend_needed": 150000 - 120000}
    assert stats(api)["members_by_tier"] == {"bronze": 1, "silver": 1, "platinum": 0}  # mid is still silver

    # a request re-tiers its member first: low earns as silver (held before the purchase)
    earn = spend(api, "low", 10000, "low-2")
    lines = {line["rule"]: line["points"] for line in earn["breakdown"]}
    assert lines == {"base": 100, "tier:silver": 50}  # 10,000 x 0.01, and x (1.5 - 1)
    assert stats(api)["members_by_tier"] == {"bronze": 0, "silver": 2, "platinum": 0}

    # the pass re-tiers the rest (high) and leaves low alone
    assert local.drain_queues() >= 1
    assert tiers(api, "low", "mid", "high") == {"low": "silver", "mid": "silver", "high": "silver"}
    assert stats(api)["members_by_tier"] == {"bronze": 0, "silver": 3, "platinum": 0}
    # low: bronze -> silver when its earn re-tiered it; high: up to gold, then down to silver
    for member_id, moves in (("low", 1), ("high", 2)):
        changed = [
            n
            for n in api.get(f"/members/{member_id}/notifications", key="admin").json["items"]
            if n["type"] == "tier_changed"
        ]
        assert len(changed) == moves, (member_id, changed)


def profile(member_id):
    from chalicelib.runtime import services
    from chalicelib.storage.store import PROFILE, member_pk

    return services().store.get(member_pk(member_id), PROFILE)


RAISED = [
    LADDER[0],
    {**LADDER[1], "min_spend": 5000},
    {"name": "platinum", "min_spend": 150000, "earn_multiplier": "2"},
]


def test_a_ladder_changed_and_changed_back_before_the_pass_is_still_passed_over(api, clock):
    shop(api)
    local.run_job("recompute_tiers")
    api.program({"signup_bonus": 0, "tiers": RAISED})  # pass queued, not run yet
    spend(api, "low", 1000, "low-2")  # low is re-tiered on the way: silver under RAISED
    api.program({"signup_bonus": 0, "tiers": LADDER})  # back again before any pass ran
    local.drain_queues()
    local.run_job("recompute_tiers")
    assert tiers(api, "low", "mid", "high") == {"low": "bronze", "mid": "silver", "high": "gold"}
    counts = stats(api)
    assert counts["members_by_tier"] == {"bronze": 1, "silver": 1, "gold": 1}
    assert profile("low")["tier"] == "bronze"


def test_erasing_a_member_not_yet_re_tiered_tells_nobody_of_a_tier_change(api, clock):
    shop(api)
    api.program({"signup_bonus": 0, "tiers": RAISED})
    assert api.delete("/members/low", key="admin").status == 204
    from chalicelib.runtime import services
    from chalicelib.storage.store import member_pk

    kinds = [i["type"] for i in services().store.query_all(member_pk("low"), "NOTIFICATION#")]
    assert "tier_changed" not in kinds, kinds
    local.drain_queues()
    counts = stats(api)
    assert counts["members"] == 2
    assert counts["members_by_tier"] == {"bronze": 0, "silver": 2, "platinum": 0}


def test_a_referrer_paid_nothing_is_not_written_by_the_referees_first_earn(api, clock):
    api.program({"signup_bonus": 0, "tiers": LADDER, "referral": {"referrer_points": 0, "referee_points": 0}})
    referrer = api.member("r")
    api.member("e", referral_code=referrer["referral_code"])
    api.program({"signup_bonus": 0, "tiers": RAISED, "referral": {"referrer_points": 0, "referee_points": 0}})
    version = profile("r")["version"]
    spend(api, "e", 100, "e-1")
    assert profile("r")["version"] == version
