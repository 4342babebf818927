"""What the scheduled functions and the queue handlers do; app.py declares them.

Each schedule only plans: the work goes to the job queue, in tasks run by
`run_job_tasks`."""

from __future__ import annotations

import json
import logging

from chalicelib import clock, telemetry
from chalicelib.runtime import services
from chalicelib.settings import load as load_settings

LOG = logging.getLogger("dangol")


def plan(name: str) -> None:
    """Queue the tasks of job `name` (a JobPlans method of the same name)."""
    tasks = getattr(services().job_plans, name)()
    services().job_worker.start(tasks)
    LOG.info("%s: %d tasks queued", name, len(tasks))


REFRESH_ANALYTICS = {"job": "refresh_analytics"}  # also sent by POST /analytics/refresh


def queue_refresh_analytics() -> None:
    """§17: the refresh runs from its own queue (its function, `run_analytics_refresh`, has
    the time and the memory a large shop's refresh needs)."""
    services().analytics_queue.send([dict(REFRESH_ANALYTICS)])
    LOG.info("refresh_analytics: queued")


def run_analytics_refresh(event) -> dict:
    """The analytics queue's messages: one refresh each (batch size 1). A refresh that fails
    or runs out of time comes back (the queue's receives, then its DLQ); the next run writes
    only what still differs."""
    failures = []
    for record in event:
        message_id = record.to_dict().get("messageId")
        try:
            message = json.loads(record.body)
            if message.get("job") != REFRESH_ANALYTICS["job"]:
                raise ValueError(f"not an analytics message: {message.get('job')!r}")
            refresh_analytics()
        except Exception as error:
            LOG.warning("analytics message %s failed (%s)", message_id, type(error).__name__)
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


def refresh_analytics() -> dict:
    """Run the analytics refresh now (the engine and sqlglot load here, never at a cold start).
    §22: campaigns due are launched first, on the segments as of the previous refresh."""
    from chalicelib.analytics import refresh

    plan("launch_campaigns")
    return refresh.run_job(services().store, clock.now())


def queue_open_imports() -> None:
    """§25: every import not finished has its planning queued again (a lost message, a
    plan that died part-way); chunks already recorded are not queued again."""
    count = services().import_jobs.queue_open()
    LOG.info("run_imports: %d open imports queued", count)


def sweep_outbox(event) -> None:
    """Re-drive notifications left `queued` or `sending` for longer than the lease."""
    counts = services().sweeper.sweep(time_left(event))
    LOG.info("sweep_outbox: %s", counts)


def time_left(event):
    context = getattr(event, "context", None)
    return context.get_remaining_time_in_millis if context is not None else (lambda: 60_000)


def queue_arn(name: str) -> str:
    """A placeholder ARN: the packaged template replaces it with the queue's
    Fn::GetAtt and turns on ReportBatchItemFailures (.chalice/resources.json)."""
    return f"arn:aws:sqs:{load_settings().region}:000000000000:{name}"


def ledger_stream_arn() -> str:
    """A placeholder ARN for app.py: the packaged template replaces it with the
    table's Fn::GetAtt StreamArn (.chalice/resources.json)."""
    config = load_settings()
    return f"arn:aws:dynamodb:{config.region}:000000000000:table/{config.table_name}/stream/placeholder"


def record_facts(event) -> None:
    """The table's changes -> the analytics facts (chalicelib/analytics/stream.py), loaded
    by this function only: the API's cold start never loads the analytics package."""
    from chalicelib.analytics import stream

    stream.record_facts(event)


def analytics_queue_arn() -> str:
    return queue_arn(load_settings().analytics_queue_name)


def jobs_queue_arn() -> str:
    return queue_arn(load_settings().jobs_queue_name)


def notifications_queue_arn() -> str:
    return queue_arn(load_settings().notifications_queue_name)


def webhooks_queue_arn() -> str:
    return queue_arn(load_settings().webhooks_queue_name)


def send_webhooks(event) -> dict:
    """§24: the webhook queue's messages (fan-outs, deliveries), off every request's path.
    A message that raised comes back (and, after its receives, reaches the DLQ: its
    deliveries stay due in the index, where the dispatcher finds them)."""
    failures = []
    records = list(event)
    messages = []
    for record in records:
        message_id = record.to_dict().get("messageId")
        try:
            messages.append((message_id, json.loads(record.body)))
        except ValueError:
            LOG.warning("webhook message %s is not JSON", message_id)
    delivery = services().webhook_delivery
    try:
        delivery.handle(message for _, message in messages)
    except Exception as error:
        LOG.warning("webhook messages failed (%s)", type(error).__name__)
        failures = [{"itemIdentifier": message_id} for message_id, _ in messages]
    return {"batchItemFailures": failures}


def send_due_webhooks(event) -> None:
    """§24: queue what no message carries: events not fanned out, deliveries due."""
    counts = services().webhook_delivery.dispatch()
    LOG.info("send_due_webhooks: %s", counts)


def run_job_tasks(event) -> dict:
    """One job task per invocation, worked on until done or time runs short."""
    from chalicelib.jobs.pipeline import Task  # the job functions' own modules: not at the API's cold start

    remaining = time_left(event)
    failures = []
    for record in event:
        message_id = record.to_dict().get("messageId")
        try:
            message = json.loads(record.body)
            if message.get("job") == REFRESH_ANALYTICS["job"]:
                # queued on the job queue before the refresh had a queue of its own: sent on
                queue_refresh_analytics()
            elif message.get("job") == "launch_campaigns:finish":
                from chalicelib.jobs.plans import finish_launch

                finish_launch(services().store, message["params"]["campaign_id"], clock.now())
            elif message.get("job") == "run_imports":  # §25: an import's chunks are planned
                services().import_jobs.plan(message["import_id"])
            elif message.get("job") == "import_chunk":  # §25: one chunk of lines applied
                services().import_jobs.run_chunk(message)
            elif "source" not in message:
                # {"job": "recompute_tiers"}: a change of the tier ladder asks for its pass
                services().job_worker.start(services().job_plans.ladder_pass())
            else:
                services().job_worker.work(Task.from_message(message), remaining)
        except Exception as error:
            LOG.warning("job task %s failed (%s)", message_id, type(error).__name__)
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


def send_notifications(event) -> dict:
    from chalicelib.notifications.delivery import PassingDeliveryError

    failures = []
    for record in event:
        message_id = record.to_dict().get("messageId")
        telemetry.bind(correlation_id=message_id)  # each message's log lines carry its id
        try:
            message = json.loads(record.body)
            if message.get("job") == "recompute_tiers":
                # queued here by PUT /program: the pass itself runs on the job queue
                services().job_worker.queue.send([message])
            else:
                services().sender.deliver(
                    message["member_id"], message["notification_id"], int(message.get("generation", 0))
                )
        except PassingDeliveryError as error:
            retry_later(record, error.retry_in)
            failures.append({"itemIdentifier": message_id})
        except Exception as error:
            # the type only: an error's text may carry personal data
            LOG.warning("notification message %s failed (%s)", message_id, type(error).__name__)
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


def retry_later(record, seconds: int) -> None:
    """Back off: the message comes back after `seconds` instead of the queue's timeout."""
    from chalicelib.notifications.delivery import QueuePublisher

    try:
        publisher = services().ledger.publisher
        if not isinstance(publisher, QueuePublisher):
            raise RuntimeError("notifications are not published to a queue here")
        publisher.sqs.change_message_visibility(
            QueueUrl=publisher.url, ReceiptHandle=record.receipt_handle, VisibilityTimeout=seconds
        )
    except Exception as error:
        LOG.warning("could not delay a notification message (%s)", type(error).__name__)
