"""A campaign launch (§22) killed before or after any AWS call, then run again (the
next hourly run, after the launch's lease): each audience member is assigned, offered
and given the campaign's coupon exactly once, and the audience counted on the campaign
is exact."""

from __future__ import annotations

import copy
import hashlib

import pytest

from devtools import faults
from tests.conftest import DEMO_PROGRAM
from tests.crash.test_crash_injection import fresh_world, restart_container

# buckets of "spring": m13 8 (control), m1 18 (double), m2 93 and m9 66 (coupon)
MEMBERS = ("m1", "m2", "m9", "m13")
WEIGHTS = (("control", 10), ("double", 45), ("coupon", 45))
CAMPAIGN = {
    "campaign_id": "spring",
    "name": "Spring",
    "starts_at": "2027-01-15T00:00:00Z",
    "ends_at": "2027-02-15T00:00:00Z",
    "arms": [
        {"name": "control", "weight": 10, "reward": None},
        {"name": "double", "weight": 45, "reward": {"type": "multiplier", "multiplier": "2"}},
        {"name": "coupon", "weight": 45, "reward": {"type": "coupon", "template_id": "t5"}},
    ],
}


def expected_arm(member_id: str) -> str:
    b = int(hashlib.sha256(f"spring:{member_id}".encode()).hexdigest()[:8], 16) % 100
    upper = 0
    for name, weight in WEIGHTS:
        upper += weight
        if b < upper:
            return name
    raise AssertionError


def setup(api) -> None:
    api.program(copy.deepcopy(DEMO_PROGRAM))
    api.post(
        "/coupon-templates",
        {"template_id": "t5", "name": "5,000 off", "discount": {"type": "amount", "amount": 5000}},
        key="admin",
    )
    for member_id in MEMBERS:
        api.member(member_id, email=f"{member_id}@example.com")
    assert api.post("/campaigns", CAMPAIGN, key="admin").status == 201


def launch() -> None:
    from chalicelib import local

    local.run_job("launch_campaigns")


def observe(api) -> dict:
    seen: dict = {"audience": api.get("/campaigns/spring", key="admin").json["audience"]}
    for member_id in MEMBERS:
        notes = api.get(f"/members/{member_id}/notifications?limit=100", key="admin").json["items"]
        coupons = api.get(f"/members/{member_id}/coupons?limit=100").json["items"]
        seen[member_id] = (
            api.get(f"/members/{member_id}/campaigns", key="admin").json["items"],
            sum(1 for n in notes if n["type"] == "campaign_offer"),
            sum(1 for c in coupons if c["source"] == "campaign"),
        )
    return seen


def expected() -> dict:
    seen: dict = {"audience": len(MEMBERS)}
    for member_id in MEMBERS:
        arm = expected_arm(member_id)
        seen[member_id] = ([{"campaign_id": "spring", "arm": arm}], int(arm != "control"), int(arm == "coupon"))
    return seen


def test_a_launch_killed_anywhere_then_run_again_assigns_offers_and_counts_exactly_once(clock, monkeypatch):
    monkeypatch.setenv("DANGOL_SCHEDULE_SHARDS", "1")  # one partition: every boundary in a few seconds
    assert {expected_arm(m) for m in MEMBERS} == {"control", "double", "coupon"}
    with fresh_world(clock) as api:
        setup(api)
        plan = faults.Plan()
        faults.arm(plan)
        try:
            launch()
        finally:
            faults.arm(None)
        assert observe(api) == expected()
    calls = len(plan.calls)
    boundaries = [("before", n) for n in range(1, calls + 1)] + [("after", calls)]
    for side, n in boundaries:
        where = f"died {side} call {n} of {calls} ({plan.calls[n - 1].operation})"
        with fresh_world(clock) as api:
            setup(api)
            dying = faults.Plan(**{f"die_{side}": n})
            faults.arm(dying)
            try:
                with pytest.raises(faults.ProcessDeath):
                    launch()
            finally:
                faults.arm(None)
            restart_container(dying)
            clock.advance(hours=3)  # the next hourly run after the launch's lease
            launch()
            assert observe(api) == expected(), where
