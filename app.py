"""Dangol's composition root: the API's blueprints, the schedules and the queue handlers.

Routes live in chalicelib/api/routes (one blueprint per area, all through
chalicelib/api/edge.py); what the schedules and queues do lives in
chalicelib/jobs/handlers.py."""

from __future__ import annotations

import gc
import logging
import os

# A cold start makes some 80,000 objects the collector tracks (modules, classes, functions, models),
# nearly all living as long as the container: while they are made the collector would traverse them
# again and again for nothing (about 7% of a cold start's CPU), and in every full collection after.
# It is paused while the app is imported; what the import made is then set aside for good
# (gc.freeze, at the end of this file: the few hundred objects it left as garbage stay too, once);
# requests are collected as usual.
_GC_WAS_ENABLED = gc.isenabled()
gc.disable()

# Dangol uses no pydantic plugins: pydantic then skips reading every installed package's entry
# points when it builds the first model (about 10% of a cold start's CPU).
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from chalice import Chalice, Cron, Rate  # noqa: E402

from chalicelib import telemetry  # noqa: E402
from chalicelib.api.edge import catch_all, edge  # noqa: E402
from chalicelib.api.routes import (  # noqa: E402
    analytics,
    api_keys,
    campaigns,
    coupons,
    dashboards,
    docs,
    imports,
    members,
    points,
    program,
    recommendations,
    segments,
    webhooks,
)
from chalicelib.jobs import handlers  # noqa: E402

app = Chalice(app_name="dangol")
app.log.setLevel(logging.INFO)
telemetry.configure(app.log)  # one JSON line per log record (see chalicelib/telemetry.py)

app.register_blueprint(edge)  # request logs and the contract's error shape, for every route
AREAS = (
    program,
    members,
    points,
    coupons,
    api_keys,
    docs,
    dashboards,
    analytics,
    segments,
    campaigns,
    recommendations,
    imports,
    webhooks,
)
for area in AREAS:
    app.register_blueprint(area.routes.blueprint)
app.register_blueprint(catch_all())  # any other path: 404 NOT_FOUND (last)


# Cron times are UTC (EventBridge); the program timezone is Asia/Seoul (UTC+9):
#   expire_points            23:00 UTC = 08:00 KST
#   recompute_tiers          23:20 UTC = 08:20 KST
#   send_expiry_warnings     00:00 UTC = 09:00 KST (after expiry: warns of what is left)
#   grant_birthday_bonuses   00:30 UTC = 09:30 KST
#   send_monthly_statements  00:40 UTC = 09:40 KST (the month's first run sends, later ones catch up)
#   win_back_dormant_members 00:50 UTC = 09:50 KST
#   refresh_analytics        00:55 UTC = 09:55 KST (after win-back's dormant flags; also POST /analytics/refresh)
@app.schedule(Cron(0, 23, "*", "*", "?", "*"))
def expire_points(event):
    handlers.plan("expire_points")


@app.schedule(Cron(20, 23, "*", "*", "?", "*"))
def recompute_tiers(event):
    handlers.plan("recompute_tiers")


@app.schedule(Cron(0, 0, "*", "*", "?", "*"))
def send_expiry_warnings(event):
    handlers.plan("send_expiry_warnings")


@app.schedule(Cron(30, 0, "*", "*", "?", "*"))
def grant_birthday_bonuses(event):
    handlers.plan("grant_birthday_bonuses")


@app.schedule(Cron(40, 0, "*", "*", "?", "*"))
def send_monthly_statements(event):
    handlers.plan("send_monthly_statements")


@app.schedule(Cron(50, 0, "*", "*", "?", "*"))
def win_back_dormant_members(event):
    handlers.plan("win_back_dormant_members")


@app.schedule(Cron(55, 0, "*", "*", "?", "*"))
def refresh_analytics(event):
    handlers.queue_refresh_analytics()


# §22: campaigns whose starts_at has come are launched within the hour (and first by every refresh)
@app.schedule(Rate(1, unit=Rate.HOURS))
def launch_campaigns(event):
    handlers.plan("launch_campaigns")


# §25: imports are applied from the job queue as soon as they are posted; this run queues
# again every import not finished (a lost message, a plan that died part-way).
@app.schedule(Rate(15, unit=Rate.MINUTES))
def run_imports(event):
    handlers.queue_open_imports()


@app.schedule(Rate(10, unit=Rate.MINUTES))
def sweep_outbox(event):
    handlers.sweep_outbox(event)


# §24: webhook events are fanned out and delivered from their own queue; every minute the
# dispatcher queues what is due again (retries, lost pointers, a circuit closed again).
@app.schedule(Rate(1, unit=Rate.MINUTES))
def send_due_webhooks(event):
    handlers.send_due_webhooks(event)


@app.on_sqs_message(queue_arn=handlers.webhooks_queue_arn(), batch_size=10)
def send_webhooks(event):
    return handlers.send_webhooks(event)


@app.on_sqs_message(queue_arn=handlers.jobs_queue_arn(), batch_size=1)
def run_job_tasks(event):
    return handlers.run_job_tasks(event)


# §17: the analytics refresh, one message at a time, in a function sized for it (15 minutes)
@app.on_sqs_message(queue_arn=handlers.analytics_queue_arn(), batch_size=1)
def run_analytics_refresh(event):
    return handlers.run_analytics_refresh(event)


@app.on_sqs_message(queue_arn=handlers.notifications_queue_arn(), batch_size=10)
def send_notifications(event):
    return handlers.send_notifications(event)


# The table's changes -> the analytics facts (Firehose -> S3 -> Athena; chalicelib/analytics/stream.py).
@app.on_dynamodb_record(stream_arn=handlers.ledger_stream_arn(), batch_size=100, starting_position="TRIM_HORIZON")
def record_facts(event):
    handlers.record_facts(event)


# `chalice local`: the local stage runs on an embedded moto with the demo café; another
# stage without AWS stops at once with one line (chalicelib/local.py). Inert in Lambda.
from chalicelib.local import prepare_chalice_local  # noqa: E402

prepare_chalice_local(app)

# everything the import made stays for the container's life: no collection traverses it again
gc.freeze()
if _GC_WAS_ENABLED:
    gc.enable()
