"""Wires settings, clients and adapters into the use cases, once per container."""

from __future__ import annotations

import datetime as dt
import functools
import sys
from typing import TYPE_CHECKING, Optional

from chalicelib import aws, clock, settings, telemetry
from chalicelib.auth import ApiKeys
from chalicelib.ledger.service import Ledger
from chalicelib.notifications.delivery import Delivery, NotificationSender, QueuePublisher
from chalicelib.storage.queues import QueueSender
from chalicelib.storage.store import Commit, Store
from chalicelib.webhooks.registry import Webhooks

if TYPE_CHECKING:
    from chalicelib.jobs.imports import ImportJobs
    from chalicelib.jobs.pipeline import JobWorker, RunBook
    from chalicelib.jobs.plans import JobPlans
    from chalicelib.ledger.imports import Imports
    from chalicelib.notifications.outbox import OutboxSweeper
    from chalicelib.webhooks.delivery import WebhookDelivery


class MeteredStore(Store):
    """A Store whose committed transactions also emit points earned/redeemed as metrics."""

    def commit(self, commit: Commit) -> None:
        telemetry.metered_commit(super().commit)(commit)


class MeteredSender(NotificationSender):
    """A NotificationSender that emits sent/failed as metrics and logs in the notification's context."""

    def deliver(self, member_id: str, notification_id: str, generation: int = 0) -> Optional[Delivery]:
        return telemetry.metered_delivery(super().deliver)(member_id, notification_id, generation)


class WebhookQueue(QueueSender):
    """The webhook queue: committed events to fan out, deliveries to attempt."""

    what = "webhook messages"

    def announce(self, events_pk: str) -> None:
        self.send([{"events": events_pk}])


class Services:
    """The objects one container works with, made on first use: an API container makes the
    store, the API keys and the ledger; the job and notification parts (their clients too:
    SES and SNS) only where a job or the notification queue asks for them."""

    def __init__(self) -> None:
        self.config = settings.load()
        self.dynamodb = aws.client("dynamodb")
        self.store: Store = MeteredStore(self.dynamodb, self.config.table_name)
        # the SQS client is made by the first request that queues something
        self.publisher = QueuePublisher(aws.LazyClient("sqs"), self.config.notifications_queue_name)
        self.ledger = Ledger(self.store, self.publisher, self.config)
        self.keys = ApiKeys(self.store, self.config.auth_cache_seconds)
        self.webhook_queue = WebhookQueue(aws.LazyClient("sqs"), self.config.webhooks_queue_name)
        self.ledger.changes.event_publisher = self.webhook_queue  # committed events, to be fanned out
        self.webhooks = Webhooks(self.store, self.webhook_queue, lambda: clock.now())

    @functools.cached_property
    def runs(self) -> RunBook:
        from chalicelib.jobs.pipeline import RunBook

        return RunBook(self.dynamodb, self.config.table_name)

    @functools.cached_property
    def job_plans(self) -> JobPlans:
        from chalicelib.jobs.plans import JobPlans

        return JobPlans(self.ledger, self.runs, self.config.schedule_shards)

    @functools.cached_property
    def job_worker(self) -> JobWorker:
        from chalicelib.jobs.pipeline import JobQueue, JobWorker
        from chalicelib.jobs.plans import JobSteps
        from chalicelib.storage.index_pages import IndexPages

        config = self.config
        return JobWorker(
            IndexPages(self.dynamodb, config.table_name),
            JobQueue(aws.client("sqs"), config.jobs_queue_name),
            self.runs,
            JobSteps(self.ledger).definitions(),
            lambda: clock.now(),
            config.job_page_size,
            config.job_reserve_ms,
        )

    @functools.cached_property
    def analytics_queue(self) -> QueueSender:
        """The analytics refresh's own queue (§17): its messages start a refresh."""
        return QueueSender(aws.client("sqs"), self.config.analytics_queue_name)

    @functools.cached_property
    def imports(self) -> Imports:
        """§25, the API's side (the S3 client made on first use)."""
        from chalicelib.jobs.pipeline import JobQueue
        from chalicelib.ledger.imports import Imports
        from chalicelib.storage.import_files import ImportFiles

        files = ImportFiles(aws.client("s3"), self.config.imports_bucket)
        return Imports(self.store, self.ledger.changes, files, JobQueue(aws.client("sqs"), self.config.jobs_queue_name))

    @functools.cached_property
    def import_jobs(self) -> ImportJobs:
        """§25, the job's side: planning and chunks."""
        from chalicelib.jobs.imports import ImportJobs

        imports = self.imports
        return ImportJobs(self.store, self.ledger.changes, imports.files, imports.queue, self.config.import_chunk_lines)

    @functools.cached_property
    def sender(self) -> NotificationSender:
        return MeteredSender(
            self.store,
            aws.client("ses"),
            aws.client("sns"),
            self.config.email_sender,
            lambda: clock.now(),
            self.ledger.programs,
        )

    @functools.cached_property
    def sweeper(self) -> OutboxSweeper:
        from chalicelib.notifications.outbox import OutboxSweeper

        config = self.config
        return OutboxSweeper(
            self.dynamodb,
            config.table_name,
            self.publisher,
            lambda: clock.now(),
            config.outbox_shards,
            dt.timedelta(minutes=config.outbox_lease_minutes),
        )

    @functools.cached_property
    def webhook_delivery(self) -> WebhookDelivery:
        from chalicelib.webhooks.delivery import WebhookDelivery

        return WebhookDelivery(self.store, self.webhooks, self.webhook_queue, lambda: clock.now())


@functools.cache
def services() -> Services:
    return Services()


def reset() -> None:
    """Forget clients and caches (tests that start a fresh moto call this)."""
    services.cache_clear()
    aws.reset()
    engine = sys.modules.get("chalicelib.analytics.engine")  # only if something used it (never the API)
    if engine is not None:
        engine.reset_local_engine()
