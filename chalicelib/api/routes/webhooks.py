"""Webhooks (contract §24): register URLs for events, list their deliveries, retry one.

The registry is chalicelib/webhooks/registry.py; the deliveries themselves happen off
every request's path (chalicelib/webhooks/delivery.py)."""

from __future__ import annotations

from chalicelib.api import schemas
from chalicelib.api.edge import Routes, page_params, query_params
from chalicelib.ledger.member_changes import Result
from chalicelib.runtime import services

routes = Routes(__name__)


@routes.route("/webhooks", "POST", "admin", model=schemas.CreateWebhook)
def create_webhook(actor, body: schemas.CreateWebhook):
    return Result.created(services().webhooks.create(body.url, list(body.events)))


@routes.route("/webhooks", "GET", "admin")
def list_webhooks(actor):
    query_params()
    return services().webhooks.page(*page_params())


@routes.route("/webhooks/{webhook_id}", "DELETE", "admin")
def delete_webhook(actor, webhook_id):
    services().webhooks.delete(webhook_id)
    return Result.removed()


@routes.route("/webhooks/{webhook_id}/deliveries", "GET", "admin")
def list_webhook_deliveries(actor, webhook_id):
    query_params()
    return services().webhooks.deliveries(webhook_id, *page_params())


@routes.route("/webhooks/{webhook_id}/deliveries/{event_id}/retry", "POST", "admin")
def retry_webhook_delivery(actor, webhook_id, event_id):
    return Result.queued(services().webhooks.retry(webhook_id, event_id))
