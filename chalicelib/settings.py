"""Every setting Dangol reads from the environment, in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    table_name: str
    notifications_queue_name: str
    notifications_dlq_name: str
    region: str
    stats_shards: int
    schedule_shards: int
    auth_cache_seconds: float
    idempotency_hours: int
    commit_attempts: int
    email_sender: str
    program_cache_seconds: float
    jobs_queue_name: str
    jobs_dlq_name: str
    job_page_size: int
    job_reserve_ms: int
    outbox_shards: int
    outbox_lease_minutes: int
    daily_shards: int = 8
    widget_key_secret: str = "dangol-widget-signing-key"
    # §24: webhook fan-outs and deliveries
    webhooks_queue_name: str = "dangol-webhooks"
    webhooks_dlq_name: str = "dangol-webhooks-dlq"
    # analytics (§17): each fact table's Firehose delivery stream (the stream function
    # sends there), the Glue database of the facts, and the Athena workgroup and
    # results location the refresh queries with
    facts_delivery_streams: tuple[tuple[str, str], ...] = ()
    facts_database: str = "dangol_facts"
    athena_workgroup: str = "dangol-analytics"
    athena_output: str = ""
    # imports (§25): the bucket holding each import's lines (and operators' uploads), and
    # how many non-blank lines one job task applies
    imports_bucket: str = "dangol-imports"
    import_chunk_lines: int = 1000
    # the analytics refresh's member writes: threads sending BatchWriteItem requests at once
    refresh_writers: int = 1
    # the analytics refresh's own queue: its function has the time and memory a refresh of a
    # large shop needs (the job queue's function is sized for short tasks)
    analytics_queue_name: str = "dangol-analytics"
    analytics_dlq_name: str = "dangol-analytics-dlq"


def load() -> Settings:
    env = os.environ
    return Settings(
        table_name=env.get("DANGOL_TABLE", "dangol"),
        notifications_queue_name=env.get("DANGOL_NOTIFICATIONS_QUEUE", "dangol-notifications"),
        notifications_dlq_name=env.get("DANGOL_NOTIFICATIONS_DLQ", "dangol-notifications-dlq"),
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "ap-northeast-2",
        stats_shards=int(env.get("DANGOL_STATS_SHARDS", "32")),
        schedule_shards=int(env.get("DANGOL_SCHEDULE_SHARDS", "4")),
        auth_cache_seconds=float(env.get("DANGOL_AUTH_CACHE_SECONDS", "5")),
        idempotency_hours=int(env.get("DANGOL_IDEMPOTENCY_HOURS", "48")),
        commit_attempts=int(env.get("DANGOL_COMMIT_ATTEMPTS", "25")),
        email_sender=env.get("DANGOL_EMAIL_SENDER", "no-reply@dangol.example"),
        program_cache_seconds=float(env.get("DANGOL_PROGRAM_CACHE_SECONDS", "5")),
        jobs_queue_name=env.get("DANGOL_JOBS_QUEUE", "dangol-jobs"),
        jobs_dlq_name=env.get("DANGOL_JOBS_DLQ", "dangol-jobs-dlq"),
        job_page_size=int(env.get("DANGOL_JOB_PAGE_SIZE", "100")),
        # a worker stops taking members when less than this much of its time is left
        job_reserve_ms=int(env.get("DANGOL_JOB_RESERVE_MS", "20000")),
        outbox_shards=int(env.get("DANGOL_OUTBOX_SHARDS", "4")),
        outbox_lease_minutes=int(env.get("DANGOL_OUTBOX_LEASE_MINUTES", "15")),
        # /stats/daily: a year is read with one Query per shard
        daily_shards=int(env.get("DANGOL_DAILY_SHARDS", "8")),
        # the Secrets Manager secret (name or ARN) holding the widget tokens' signing key
        widget_key_secret=env.get("DANGOL_WIDGET_KEY_SECRET", "dangol-widget-signing-key"),
        webhooks_queue_name=env.get("DANGOL_WEBHOOKS_QUEUE", "dangol-webhooks"),
        webhooks_dlq_name=env.get("DANGOL_WEBHOOKS_DLQ", "dangol-webhooks-dlq"),
        facts_delivery_streams=(
            ("members", env.get("DANGOL_FACTS_MEMBERS_STREAM", "dangol-facts-members")),
            ("transactions", env.get("DANGOL_FACTS_TRANSACTIONS_STREAM", "dangol-facts-transactions")),
            ("earn_items", env.get("DANGOL_FACTS_EARN_ITEMS_STREAM", "dangol-facts-earn-items")),
            ("coupon_events", env.get("DANGOL_FACTS_COUPON_EVENTS_STREAM", "dangol-facts-coupon-events")),
            ("breakdown_lines", env.get("DANGOL_FACTS_BREAKDOWN_LINES_STREAM", "dangol-facts-breakdown-lines")),
            ("campaign_members", env.get("DANGOL_FACTS_CAMPAIGN_MEMBERS_STREAM", "dangol-facts-campaign-members")),
            ("campaign_coupons", env.get("DANGOL_FACTS_CAMPAIGN_COUPONS_STREAM", "dangol-facts-campaign-coupons")),
        ),
        facts_database=env.get("DANGOL_FACTS_DATABASE", "dangol_facts"),
        athena_workgroup=env.get("DANGOL_ATHENA_WORKGROUP", "dangol-analytics"),
        athena_output=env.get("DANGOL_ATHENA_OUTPUT", ""),
        imports_bucket=env.get("DANGOL_IMPORTS_BUCKET", "dangol-imports"),
        import_chunk_lines=int(env.get("DANGOL_IMPORT_CHUNK_LINES", "1000")),
        refresh_writers=int(env.get("DANGOL_REFRESH_WRITERS", "1")),
        analytics_queue_name=env.get("DANGOL_ANALYTICS_QUEUE", "dangol-analytics"),
        analytics_dlq_name=env.get("DANGOL_ANALYTICS_DLQ", "dangol-analytics-dlq"),
    )
