"""Wires settings, clients and adapters into the use cases, once per container."""

from __future__ import annotations

import datetime as dt
import functools
import sys
from dataclasses import dataclass
from typing import Optional

from chalicelib import aws, clock, settings, telemetry
from chalicelib.auth import ApiKeys
from chalicelib.jobs.pipeline import JobQueue, JobWorker, RunBook
from chalicelib.jobs.plans import JobPlans, JobSteps
from chalicelib.ledger.service import Ledger
from chalicelib.notifications.delivery import Delivery, NotificationSender, QueuePublisher
from chalicelib.notifications.outbox import OutboxSweeper
from chalicelib.storage.index_pages import IndexPages
from chalicelib.storage.store import Commit, Store


class MeteredStore(Store):
    """A Store whose committed transactions also emit points earned/redeemed as metrics."""

    def commit(self, commit: Commit) -> None:
        telemetry.metered_commit(super().commit)(commit)


class MeteredSender(NotificationSender):
    """A NotificationSender that emits sent/failed as metrics and logs in the notification's context."""

    def deliver(self, member_id: str, notification_id: str, generation: int = 0) -> Optional[Delivery]:
        return telemetry.metered_delivery(super().deliver)(member_id, notification_id, generation)


@dataclass
class Services:
    store: Store
    keys: ApiKeys
    ledger: Ledger
    job_plans: JobPlans
    job_worker: JobWorker
    sender: NotificationSender
    sweeper: OutboxSweeper


@functools.cache
def services() -> Services:
    config = settings.load()
    dynamodb = aws.client("dynamodb")
    store = MeteredStore(dynamodb, config.table_name)
    publisher = QueuePublisher(aws.client("sqs"), config.notifications_queue_name)
    ledger = Ledger(store, publisher, config)
    runs = RunBook(dynamodb, config.table_name)
    sender = MeteredSender(
        store, aws.client("ses"), aws.client("sns"), config.email_sender, lambda: clock.now(), ledger.programs
    )
    return Services(
        store=store,
        keys=ApiKeys(store, config.auth_cache_seconds),
        ledger=ledger,
        job_plans=JobPlans(ledger, runs, config.schedule_shards),
        job_worker=JobWorker(
            IndexPages(dynamodb, config.table_name),
            JobQueue(aws.client("sqs"), config.jobs_queue_name),
            runs,
            JobSteps(ledger).definitions(),
            lambda: clock.now(),
            config.job_page_size,
            config.job_reserve_ms,
        ),
        sender=sender,
        sweeper=OutboxSweeper(
            dynamodb,
            config.table_name,
            publisher,
            lambda: clock.now(),
            config.outbox_shards,
            dt.timedelta(minutes=config.outbox_lease_minutes),
        ),
    )


def reset() -> None:
    """Forget clients and caches (tests that start a fresh moto call this)."""
    services.cache_clear()
    aws.reset()
    engine = sys.modules.get("chalicelib.analytics.engine")  # only if something used it (never the API)
    if engine is not None:
        engine.reset_local_engine()
