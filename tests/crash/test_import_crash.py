"""§25 imports under crashes and interleavings: the process dies before or after each
AWS call of the job (planning and chunks), the container is replaced and the queues are
drained again; and two workers run the same chunk at once. Each time the members, their
ledgers, /stats and the import's report are those of a run that never died: no line
applied twice, none lost, every count exact."""

from __future__ import annotations

import json

import pytest

from devtools import faults
from tests.crash.test_crash_injection import PROGRAM, fresh_world, normalized, observe, restart_container

LINES = [
    {"member_id": "n1", "name": "Kim", "opening_balance": 500, "opening_expires_at": "2028-01-01T00:00:00Z"},
    {"member_id": "old", "name": "Old"},  # exists
    {"member_id": "n2", "name": "Lee", "lifetime_spend": 400000},
    {"member_id": "n3", "name": ""},  # bad
    {"member_id": "n1", "name": "Again"},  # repeats line 1
    {"member_id": "n4", "name": "Park", "opening_balance": 20, "opening_expires_at": "2028-01-01T00:00:00Z"},
]
MEMBERS = ("old", "n1", "n2", "n3", "n4")


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setenv("DANGOL_IMPORT_CHUNK_LINES", "4")  # two chunks: lines 1-4, 5-6


def setup(api) -> str:
    api.program(PROGRAM)
    assert api.post("/members", {"member_id": "old", "name": "Old"}, idem="setup-old").status == 201
    data = "\n".join(json.dumps(line) for line in LINES[:3]) + "\n\n" + "\n".join(json.dumps(x) for x in LINES[3:])
    response = api.post("/imports", {"format": "jsonl", "data": data}, key="admin", idem="setup-import")
    assert response.status == 202, response
    return response.json["import_id"]


def of_job_runs(call) -> bool:
    """A request writing the job runs' items (JOBRUN / ...), not the import's."""
    body = (call.request or {}).get("body") or b""
    return (b'"JOBRUN"' if isinstance(body, bytes) else '"JOBRUN"') in body


def drain() -> None:
    from chalicelib import local

    local.drain_queues()


def seen(api, import_id: str) -> dict:
    return {"world": observe(api, MEMBERS), "import": normalized(api.get(f"/imports/{import_id}", key="admin").json)}


def test_dying_at_any_aws_call_of_an_import_then_draining_again_applies_it_once(clock, monkeypatch):
    monkeypatch.setenv("DANGOL_IMPORT_CHUNK_LINES", "10")  # one chunk (the other tests take two)
    with fresh_world(clock) as api:
        import_id = setup(api)
        plan = faults.Plan()
        faults.arm(plan)
        try:
            drain()
        finally:
            faults.arm(None)
        expected = seen(api, import_id)
    report = expected["import"]
    assert (report["status"], report["lines"], report["imported"], report["skipped_existing"]) == ("done", 6, 3, 2)
    assert [e["line"] for e in report["errors"]] == [5]
    calls = len(plan.calls)
    # three lines, the chunk's result (the job runs' own bookkeeping aside: JOBRUN items)
    assert sum(c.operation == "TransactWriteItems" and not of_job_runs(c) for c in plan.calls) == 3 + 1
    boundaries = [("before", n) for n in range(1, calls + 1)] + [("after", calls)]
    for side, n in boundaries:
        where = f"died {side} call {n} of {calls} ({plan.calls[n - 1].operation})"
        with fresh_world(clock) as api:
            import_id = setup(api)
            dying = faults.Plan(**{f"die_{side}": n})
            faults.arm(dying)
            try:
                with pytest.raises(faults.ProcessDeath):
                    drain()
            finally:
                faults.arm(None)
            restart_container(dying)
            drain()
            assert seen(api, import_id) == expected, where


def test_two_workers_on_the_same_chunk_count_it_once(clock, small_chunks):
    """Worker A applies a chunk; just before A records its result, worker B runs the
    whole chunk (a message delivered twice). The chunk's result is written once
    (attribute_not_exists): without that condition its lines would count twice."""
    from chalicelib import local
    from chalicelib.runtime import services

    with fresh_world(clock) as api:
        import_id = setup(api)
        sqs_messages = []
        services().import_jobs.queue.send = sqs_messages.extend  # keep the chunk tasks here
        local.drain_queues()  # the plan: two chunk tasks
        first, second = sqs_messages
        jobs = services().import_jobs
        transactions = 0

        def rival(phase, call):
            nonlocal transactions
            if phase == "before" and call.operation == "TransactWriteItems":
                transactions += 1
                if transactions == 3:  # A's three lines are in; its result comes next
                    faults.arm(None)
                    jobs.run_chunk(first)
                    faults.arm(racing)

        racing = faults.Plan(on_call=rival)
        faults.arm(racing)
        try:
            jobs.run_chunk(first)
        finally:
            faults.arm(None)
        jobs.run_chunk(second)
        got = api.get(f"/imports/{import_id}", key="admin").json
        assert (got["status"], got["lines"], got["imported"], got["skipped_existing"]) == ("done", 6, 3, 2)
        assert api.get("/stats", key="admin").json["members"] == 4


def test_a_member_enrolled_between_the_read_and_the_line_is_skipped(clock, small_chunks):
    """POST /members of a line's member_id lands after the chunk read its members and before
    the line's transaction: the profile's attribute_not_exists refuses the line, which
    counts as skipped_existing; the member is the one the request enrolled."""
    from chalicelib import local

    with fresh_world(clock) as api:
        import_id = setup(api)
        enrolled = []

        def rival(phase, call):
            if phase == "before" and call.operation == "TransactWriteItems" and not enrolled:
                faults.arm(None)
                enrolled.append(api.post("/members", {"member_id": "n1", "name": "First"}, idem="rival").status)
                faults.arm(racing)

        racing = faults.Plan(on_call=rival)
        faults.arm(racing)
        try:
            local.drain_queues()
        finally:
            faults.arm(None)
        assert enrolled == [201]
        got = api.get(f"/imports/{import_id}", key="admin").json
        assert (got["status"], got["lines"], got["imported"], got["skipped_existing"]) == ("done", 6, 2, 3)
        member = api.get("/members/n1").json
        assert (member["name"], member["balance"]) == ("First", 1000)  # the signup bonus of PROGRAM
