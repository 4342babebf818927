"""Wires settings, clients and adapters into the use cases, once per container."""
from __future__ import annotations

import functools
from dataclasses import dataclass

from . import aws, clock, settings, telemetry
from .auth import ApiKeys
from .jobs import Jobs
from .ledger import Ledger
from .notifications import NotificationSender, QueuePublisher
from .store import Store


@dataclass
class Services:
    store: Store
    keys: ApiKeys
    ledger: Ledger
    jobs: Jobs
    sender: NotificationSender


@functools.lru_cache(maxsize=None)
def services() -> Services:
    config = settings.load()
    store = Store(aws.client("dynamodb"), config.table_name)
    store.commit = telemetry.metered_commit(store.commit)  # points earned/redeemed as metrics
    publisher = QueuePublisher(aws.client("sqs"), config.notifications_queue_name)
    ledger = Ledger(store, publisher, config)
    sender = NotificationSender(store, aws.client("ses"), aws.client("sns"),
                                config.email_sender, lambda: clock.now())
    sender.deliver = telemetry.metered_delivery(sender.deliver)  # sent/failed as metrics
    return Services(
        store=store,
        keys=ApiKeys(store, config.auth_cache_seconds),
        ledger=ledger,
        jobs=Jobs(ledger, config.schedule_shards),
        sender=sender,
    )


def reset() -> None:
    """Forget clients and caches (tests that start a fresh moto call this)."""
    services.cache_clear()
    aws.reset()
