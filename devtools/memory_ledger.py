"""The ledger wired as `runtime.services()` wires it, over an in-memory table:
a `MemoryStore`, a publisher that keeps what it was given, and a clock that
moves only when told. The unit tier calls the ledger's commands on it."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Optional

from chalicelib import settings as service_settings
from chalicelib.ledger.service import Ledger

from .memory_store import MemoryStore


class FixedClock:
    """`clock.now` for tests: a fixed instant, moved by `advance`."""

    def __init__(self, at: dt.datetime):
        self.at = at

    def now(self) -> dt.datetime:
        return self.at

    def advance(self, **delta: float) -> dt.datetime:
        self.at = self.at + dt.timedelta(**delta)
        return self.at


class RecordingPublisher:
    """The notifications queue: keeps every message published, in order."""

    def __init__(self):
        self.messages: list[dict] = []

    def publish(self, messages: list[dict]) -> None:
        self.messages.extend(messages)


def memory_settings(**overrides) -> service_settings.Settings:
    """The service's defaults, with a few shards (fewer items to look at)."""
    base = service_settings.Settings(
        table_name="dangol",
        notifications_queue_name="notifications",
        notifications_dlq_name="dlq",
        region="ap-northeast-2",
        stats_shards=4,
        schedule_shards=4,
        auth_cache_seconds=5,
        idempotency_hours=48,
        commit_attempts=25,
        email_sender="no-reply@dangol.example",
        program_cache_seconds=5,
        jobs_queue_name="jobs",
        jobs_dlq_name="jobs-dlq",
        job_page_size=100,
        job_reserve_ms=20000,
        outbox_shards=4,
        outbox_lease_minutes=15,
        daily_shards=2,
    )
    return dataclasses.replace(base, **overrides)


@dataclasses.dataclass
class MemoryLedger:
    store: MemoryStore
    publisher: RecordingPublisher
    ledger: Ledger
    settings: service_settings.Settings


def memory_ledger(settings: Optional[service_settings.Settings] = None) -> MemoryLedger:
    settings = settings or memory_settings()
    store = MemoryStore(settings.table_name)
    publisher = RecordingPublisher()
    return MemoryLedger(store, publisher, Ledger(store, publisher, settings), settings)
