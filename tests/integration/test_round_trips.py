"""DynamoDB round trips per request and per job, as the benchmark counts them.

The benchmark (`scripts/benchmark.py`) records every DynamoDB call the app makes
through botocore events; here it runs small and its counts (not its timings)
are held to the design: every change of points is one read (BatchGetItem) and
one write (TransactWriteItems), a replay writes nothing, and nothing scans.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

ONE_READ_ONE_WRITE = [
    "POST /members (enrol)",
    "POST /members/{id}/earn",
    "POST /members/{id}/redeem (1 lot)",
    "POST /members/{id}/redeem (reward)",
    "POST .../reversal (refund an earn)",
    # v2: the frequency bonus and the daily limits live in the profile read anyway
    "POST /members/{id}/earn (v2 program: frequency bonus, limits)",
    # v3: the member's stored recommendations and the cold-start list come with the profile
    "POST /members/{id}/earn (v3: recommendation bonus)",
    # v3: the member's campaign arms (§22) are on the profile
    "POST /members/{id}/earn (v3: campaign arms)",
    # v3: pending points live on the profile until a debit makes them lot items
    "POST /members/{id}/earn (v3: pending points)",
    "POST .../reversal (v3: refund of pending points)",
    "POST /members/{id}/redeem (v3: pending points come due)",
    # v2: a coupon use or release reads the profile and the code item together
    "POST /coupons/{code}/redemption (use)",
    "POST /coupons/{code}/release",
]
# A coupon template is read once per container (templates never change): the first
# coupon a container issues from a template reads it, the next ones do not.
TEMPLATE_READ_ONCE = [
    "POST /members/{id}/coupons (give)",
    "POST /members/{id}/coupons (buy with points)",
    "POST /members/{id}/earn (v2, tier up issuing a coupon)",
]
LOOKUPS = ["GET /members?phone= (lookup)", "GET /members?email= (lookup)"]
# Lots are items of their own: a debit that reaches past the lot at the head of
# its run reads the next ones (one Query), and a cancel reads the lots its
# redemption drew.
TWO_READS_ONE_WRITE = [
    "POST /members/{id}/redeem (20 lots)",
    "POST .../reversal (cancel a redeem)",
]
# A debit that uses up its run's head lot leaves the next head to be read by the
# next debit: of a member's transfers, the first reads nothing more, the next one Query.
UP_TO_TWO_READS = ["POST /members/{id}/transfers"]


@pytest.fixture(scope="module")
def counts() -> dict:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "benchmark.py"), "--repeat", "3", "--members", "12", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return {row["name"]: row for row in json.loads(done.stdout)["rows"]}


@pytest.mark.parametrize("name", ONE_READ_ONE_WRITE)
def test_a_change_of_points_is_one_read_and_one_write(counts, name):
    row = counts[name]
    assert (row["reads"]["max"], row["writes"]["max"]) == (1, 1), row["typical_ops"]
    assert row["typical_ops"].startswith("BatchGetItem, TransactWriteItems"), row["typical_ops"]


@pytest.mark.parametrize("name", TWO_READS_ONE_WRITE)
def test_a_change_that_reads_lots_is_two_reads_and_one_write(counts, name):
    row = counts[name]
    assert (row["reads"]["max"], row["writes"]["max"]) == (2, 1), row["typical_ops"]
    assert row["typical_ops"].startswith("BatchGetItem, Query, TransactWriteItems"), row["typical_ops"]


@pytest.mark.parametrize("name", UP_TO_TWO_READS)
def test_a_debit_after_a_used_up_head_reads_once_more(counts, name):
    row = counts[name]
    assert row["reads"]["max"] <= 2 and row["writes"]["max"] == 1, row["typical_ops"]
    assert row["reads"]["min"] == 1, row["typical_ops"]


def test_a_redeem_of_twenty_lots_writes_as_few_actions_as_a_redeem_of_one(counts):
    assert (
        counts["POST /members/{id}/redeem (20 lots)"]["transact_items"]["max"]
        == counts["POST /members/{id}/redeem (1 lot)"]["transact_items"]["max"]
    )


def test_a_replay_is_one_read_and_no_write(counts):
    row = counts["POST /members/{id}/earn (replayed key)"]
    assert (row["reads"]["max"], row["writes"]["max"]) == (1, 0), row["typical_ops"]


def test_reads_are_single_requests(counts):
    assert counts["GET /members/{id}"]["reads"]["max"] == 1
    assert counts["GET /members/{id}/transactions"]["reads"]["max"] <= 2
    assert counts["GET /stats"]["reads"]["max"] == 1
    # §25: a second BatchGetItem only when points become available in the current hour
    assert counts["GET /stats (v3: points pending on later days)"]["reads"]["max"] == 1
    row = counts["GET /stats (v3: points becoming available this hour)"]
    assert (row["reads"]["min"], row["reads"]["max"]) == (2, 2), row["typical_ops"]
    assert row["typical_ops"] == "BatchGetItem, BatchGetItem", row["typical_ops"]


def test_nothing_scans_and_a_rerun_job_writes_nothing(counts):
    assert all(row["scans"] == 0 for row in counts.values()), {name: row["scans"] for name, row in counts.items()}
    jobs = [name for name in counts if name.startswith("job ")]
    from chalicelib import local

    assert len(jobs) == 2 * len(local.SCHEDULED_JOBS), jobs  # each job, then its rerun
    for name in jobs:
        if name.endswith("(rerun)"):
            assert counts[name]["writes"]["max"] == 0, counts[name]["op_totals"]
        elif name == "job recompute_tiers":
            # every change re-tiers its member first: expire_points, which ran first,
            # already kept the downgrades of the members it touched
            continue
        else:
            assert counts[name]["touched"] > 0, counts[name]


@pytest.mark.parametrize("name", TEMPLATE_READ_ONCE)
def test_issuing_a_coupon_reads_its_template_once_per_container(counts, name):
    row = counts[name]
    assert (row["reads"]["min"], row["reads"]["max"], row["writes"]["max"]) == (1, 2, 1), row["typical_ops"]
    assert row["typical_ops"].startswith("BatchGetItem, TransactWriteItems"), row["typical_ops"]


@pytest.mark.parametrize("name", LOOKUPS)
def test_a_lookup_is_one_query_and_one_batch_get(counts, name):
    row = counts[name]
    assert (row["reads"]["min"], row["reads"]["max"], row["writes"]["max"]) == (2, 2, 0), row["typical_ops"]
    assert row["typical_ops"] == "Query, BatchGetItem", row["typical_ops"]
