"""The job pipeline: plan, fan out over a job queue, work in bounded slices.

    EventBridge cron ──> planner (scheduled function)
                           │ one task per index partition (shard / birthday key)
                           v
                     job queue (SQS, DLQ after 5 receives)
                           │ one task per invocation
                           v
                     job worker ──> page of the index (Limit, ExclusiveStartKey)
                           │        └─> per-member step (one conditional transaction)
                           │ time running short: the rest goes back on the queue
                           └────────> { cursor: LastEvaluatedKey, pending: [ids] }

A task names a job, one partition of that job's index (`Source`), the
parameters fixed when the run was planned, and a checkpoint: `cursor` (the
index page to read next) and `pending` (member ids of the page read last that
are not done yet). A worker processes the pending members one by one, then the
next page, until the partition is walked or `context.get_remaining_time_in_millis()`
falls below the reserve; then it sends the task with its checkpoint back to the
queue and returns. A worker killed at any point leaves its message on the queue,
and the next delivery starts again from that message's checkpoint: members done
since are done again, which changes nothing (each step is one conditional
transaction that is a no-op once applied).

A job whose work is every member (the monthly statement) fans out further: its
partition tasks only walk the index and send each page's members to the queue
as a task of its own, so as many workers as the queue feeds work at once.

A member whose step fails is set aside into a retry task of its own (retried by
SQS, then the DLQ), so it never holds up the rest of its partition.

Runs whose end matters (the tier-ladder pass marks the ladder applied; the
birthday run moves its catch-up mark) are tracked in a run item: a count of the task
parts still open, each open part an item of its own (`RunBook`). The worker
that closes the last part runs the job's completion.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

from botocore.exceptions import ClientError

from chalicelib.storage.index_pages import IndexPages, Source
from chalicelib.storage.queues import QueueSender

log = logging.getLogger(__name__)

RUN_PK = "JOBRUN"
TRANSACTION_ACTIONS = 100  # DynamoDB's limit per TransactWriteItems
CONFLICT_TRIES = 6  # a transaction cancelled by another on the run item is tried again this often
RETRIED_REASONS = {"None", "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}


def run_part_sk(run_id: str, attempt: str, part: str) -> str:
    """The sort key (under `JOBRUN`) of an open part of attempt `attempt` of a run."""
    return f"{run_id}#{attempt}#PART#{part}"


@dataclass
class Task:
    job: str
    source: Source
    params: dict = field(default_factory=dict)
    cursor: Optional[dict] = None  # LastEvaluatedKey of the page read last
    pending: list[str] = field(default_factory=list)
    started: bool = False  # a first page has been read (no cursor then means: walked)
    run: Optional[str] = None  # run item tracking completion
    part: Optional[str] = None  # this task's name in the run item
    retry: bool = False  # members set aside after a failure

    def to_message(self) -> dict:
        message: dict[str, Any] = {"job": self.job, "source": self.source.to_message(), "params": self.params}
        for name in ("cursor", "run", "part"):
            if getattr(self, name) is not None:
                message[name] = getattr(self, name)
        if self.pending:
            message["pending"] = self.pending
        if self.started:
            message["started"] = True
        if self.retry:
            message["retry"] = True
        return message

    @classmethod
    def from_message(cls, message: dict) -> Task:
        return cls(
            job=message["job"],
            source=Source.from_message(message["source"]),
            params=message.get("params") or {},
            cursor=message.get("cursor"),
            pending=list(message.get("pending") or []),
            started=bool(message.get("started")),
            run=message.get("run"),
            part=message.get("part"),
            retry=bool(message.get("retry")),
        )

    @property
    def walked(self) -> bool:
        return self.started and self.cursor is None and not self.pending


@dataclass(frozen=True)
class JobDefinition:
    """What the pipeline needs to know of a job."""

    step: Callable[[str, dict], Any]  # (member_id, params): apply the job to one member
    member_of: Callable[[str, str], Optional[str]]  # index entry's table key -> member id
    on_complete: Optional[Callable[[dict], None]] = None  # after the last part of a tracked run
    # each page's members become a task of their own (any number of workers at once); the
    # partition's task only walks the index
    fan_out_pages: bool = False


class JobIncompleteError(Exception):
    """Members of a retry task failed again; SQS delivers the task again."""


class JobQueue(QueueSender):
    """Sends tasks to the job queue (10 per request)."""

    what = "job messages"


class RunBook:
    """Which parts of a tracked run are still open, in items that stay small
    at any size of the run.

    The run item `JOBRUN / <run id>` holds `started_at`, `attempt` (a token new
    with each `begin`), `open_count` and, once the last part closed,
    `finished_at`. Each open part is an item of its own,
    `JOBRUN / <run id>#<attempt>#PART#<part>`. A part item is put and the count
    raised in one transaction (the put only if the item is not there), and
    deleted and the count lowered in one transaction (the delete only if it is
    there), so `open_count` is always the number of the attempt's part items,
    whatever is delivered twice or killed in between. Every item expires
    (`expires_at`, the table's TTL) `keep_days` after its run began.

    A run item without `attempt` (written before part items) is not tracked
    here: `add` passes it by and `close` returns False; the next `begin` after
    its lease starts it again.
    """

    def __init__(self, client, table: str, keep_days: int = 30):
        self.client = client
        self.table = table
        self.keep_days = keep_days

    def _key(self, run_id: str) -> dict:
        return {"pk": {"S": RUN_PK}, "sk": {"S": run_id}}

    def _part_key(self, run_id: str, attempt: str, part: str) -> dict:
        return {"pk": {"S": RUN_PK}, "sk": {"S": run_part_sk(run_id, attempt, part)}}

    def _run(self, run_id: str) -> Optional[dict]:
        return self.client.get_item(TableName=self.table, Key=self._key(run_id), ConsistentRead=True).get("Item")

    def _transact(self, actions: list[dict]) -> list[str]:
        """Write `actions` in one transaction, again after a conflict with another
        transaction on the same item (the run item is touched by every part).
        [] when written, else each action's cancellation reason (a condition failed)."""
        for attempt in range(CONFLICT_TRIES):
            try:
                self.client.transact_write_items(TransactItems=actions)
                return []
            except ClientError as error:
                if error.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                codes = [reason.get("Code", "None") for reason in error.response.get("CancellationReasons") or []]
                if "ConditionalCheckFailed" in codes:
                    return codes
                if attempt + 1 == CONFLICT_TRIES or not set(codes) <= RETRIED_REASONS:
                    raise
            time.sleep(random.uniform(0, 0.02 * 2**attempt))
        raise AssertionError("unreachable")

    def begin(self, run_id: str, parts: list[str], now: dt.datetime, stale_after: dt.timedelta) -> bool:
        """Start run `run_id` with `parts` open, unless it finished or another
        planner started it less than `stale_after` ago. True when started.

        Each begin is a new attempt: its part items are written first (in
        transactions of up to 100 actions), the run item naming the attempt
        last, with the lease condition. A planner killed before the run item
        leaves part items nothing names (they expire); one whose run item is
        refused leaves them too. A run begun again after its lease forgets the
        parts of the attempt before (their items are under the old attempt):
        the new attempt walks its partitions again, and a task of the old one
        that still closes its part changes nothing."""
        attempt = secrets.token_hex(8)
        expires = {"N": str(int((now + dt.timedelta(days=self.keep_days)).timestamp()))}
        names = sorted(set(parts))
        actions: list[dict] = [
            {"Put": {"TableName": self.table, "Item": {**self._part_key(run_id, attempt, name), "expires_at": expires}}}
            for name in names
        ]
        actions.append(
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        **self._key(run_id),
                        "started_at": {"S": now.isoformat()},
                        "expires_at": expires,
                        "attempt": {"S": attempt},
                        "open_count": {"N": str(len(names))},
                    },
                    "ConditionExpression": "attribute_not_exists(pk) OR "
                    "(attribute_not_exists(finished_at) AND started_at < :stale)",
                    "ExpressionAttributeValues": {":stale": {"S": (now - stale_after).isoformat()}},
                }
            }
        )
        chunks = [actions[i : i + TRANSACTION_ACTIONS] for i in range(0, len(actions), TRANSACTION_ACTIONS)]
        for chunk in chunks[:-1]:
            if self._transact(chunk):
                raise AssertionError("a part item of a new attempt has no condition")
        return not self._transact(chunks[-1])

    def finished(self, run_id: str) -> bool:
        item = self._run(run_id)
        return bool(item and "finished_at" in item)

    def add(self, run_id: str, parts: list[str]) -> None:
        """Open `parts` in the run: a task's page or retry task, opened before
        the task's own part closes (so the count cannot reach 0 while a part
        handed off is still to come). A part open already counts once (a task
        delivered again hands off the same pages again). Nothing is opened in a
        run item that is gone or not tracked here."""
        run = self._run(run_id)
        for part in sorted(set(parts)):
            for _ in range(CONFLICT_TRIES):
                if run is None or "attempt" not in run:
                    return
                attempt = run["attempt"]["S"]
                codes = self._transact(
                    [
                        {
                            "Put": {
                                "TableName": self.table,
                                "Item": {**self._part_key(run_id, attempt, part), "expires_at": run["expires_at"]},
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        },
                        self._count(run_id, attempt, 1),
                    ]
                )
                if codes[1:2] != ["ConditionalCheckFailed"]:
                    break  # opened, or open already
                run = self._run(run_id)  # begun again meanwhile: open the part in the new attempt
            else:
                raise RuntimeError(f"run {run_id}: begun again at every try of adding {part}")

    def close(self, run_id: str, part: str, now: dt.datetime) -> bool:
        """Close `part`; True for the one caller that finds the run complete.

        The part item is deleted and the count lowered together, so a close
        delivered again lowers nothing. Whoever then reads the count at 0
        sets `finished_at` (only if it is not set and the count is still 0):
        the one that does gets True. A close delivered again after its first
        delivery was killed between the two reads the count too, so the run
        finishes even then. The count cannot reach 0 early: a task opens the
        parts it hands off (`add`) before it closes its own."""
        run = self._run(run_id)
        for _ in range(CONFLICT_TRIES):
            if run is None or "attempt" not in run or "finished_at" in run:
                return False
            attempt = run["attempt"]["S"]
            codes = self._transact(
                [
                    {
                        "Delete": {
                            "TableName": self.table,
                            "Key": self._part_key(run_id, attempt, part),
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                    self._count(run_id, attempt, -1),
                ]
            )
            if codes[1:2] != ["ConditionalCheckFailed"]:
                break  # closed now, or closed before
            run = self._run(run_id)  # begun again meanwhile: the part is of the new attempt, if any
        else:
            raise RuntimeError(f"run {run_id}: begun again at every try of closing {part}")
        run = self._run(run_id)
        if run is None or "finished_at" in run or run.get("open_count", {}).get("N") != "0":
            return False
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._key(run_id),
                UpdateExpression="SET #f = :f",
                ConditionExpression="attribute_not_exists(#f) AND #n = :zero",
                ExpressionAttributeNames={"#f": "finished_at", "#n": "open_count"},
                ExpressionAttributeValues={":f": {"S": now.isoformat()}, ":zero": {"N": "0"}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _count(self, run_id: str, attempt: str, delta: int) -> dict:
        """The run item's count moved by `delta`, only while `attempt` holds the run."""
        return {
            "Update": {
                "TableName": self.table,
                "Key": self._key(run_id),
                "UpdateExpression": "ADD #n :d",
                "ConditionExpression": "#a = :a",
                "ExpressionAttributeNames": {"#n": "open_count", "#a": "attempt"},
                "ExpressionAttributeValues": {":d": {"N": str(delta)}, ":a": {"S": attempt}},
            }
        }


class JobWorker:
    def __init__(
        self,
        pages: IndexPages,
        queue: JobQueue,
        runs: RunBook,
        definitions: dict[str, JobDefinition],
        clock: Callable[[], dt.datetime],
        page_size: int = 100,
        reserve_ms: int = 20_000,
    ):
        self.pages = pages
        self.queue = queue
        self.runs = runs
        self.definitions = definitions
        self.clock = clock
        self.page_size = page_size
        self.reserve_ms = reserve_ms

    def start(self, tasks: list[Task]) -> None:
        """Send a planned run's tasks to the job queue."""
        self.queue.send([t.to_message() for t in tasks])

    def work(self, task: Task, remaining_ms: Callable[[], int]) -> str:
        """Work on `task` until its partition is walked ("done") or time runs
        short ("continued": the rest is back on the queue)."""
        definition = self.definitions[task.job]
        failed: list[str] = []
        while not task.walked:
            if remaining_ms() < self.reserve_ms:
                self._set_aside(task, failed)
                self.queue.send([task.to_message()])
                log.info("job %s %s: continued from a checkpoint", task.job, task.part or "")
                return "continued"
            if not task.pending:
                keys, task.cursor = self.pages.page(task.source, self.page_size, task.cursor)
                task.started = True
                task.pending = list(dict.fromkeys(m for m in (definition.member_of(pk, sk) for pk, sk in keys) if m))
                if definition.fan_out_pages and task.pending:
                    self._hand_off(task)
                continue
            member_id = task.pending[0]
            try:
                definition.step(member_id, task.params)
            except Exception as error:
                # a code, never the member's data: the id is enough to find it
                log.warning("job %s: member %s failed (%s)", task.job, member_id, type(error).__name__)
                failed.append(member_id)
            task.pending.pop(0)
        if task.retry and failed:
            raise JobIncompleteError(f"{len(failed)} members failed again; the task is retried")
        self._set_aside(task, failed)
        if task.run and task.part and self.runs.close(task.run, task.part, self.clock()):
            if definition.on_complete is not None:
                definition.on_complete(task.params)
        return "done"

    def _hand_off(self, task: Task) -> None:
        """The page just read goes to the queue as a task of its own, opened in
        the run before this task's part can close."""
        page = Task(
            job=task.job, source=task.source, params=task.params, pending=task.pending, started=True, run=task.run
        )
        if task.run:
            digest = hashlib.sha256("\n".join(task.pending).encode()).hexdigest()[:12]
            page.part = f"{task.part}@{digest}"
            self.runs.add(task.run, [page.part])
        self.queue.send([page.to_message()])
        task.pending = []

    def _set_aside(self, task: Task, failed: list[str]) -> None:
        """Members that failed go to a retry task of their own; it is opened in
        the run before this task's part can close."""
        if not failed:
            return
        retry = Task(
            job=task.job,
            source=task.source,
            params=task.params,
            pending=list(failed),
            started=True,
            run=task.run,
            retry=True,
        )
        if task.run:
            digest = hashlib.sha256("\n".join(failed).encode()).hexdigest()[:12]
            retry.part = f"{task.part}~{digest}"
            self.runs.add(task.run, [retry.part])
        self.queue.send([retry.to_message()])
        failed.clear()
