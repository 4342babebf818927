"""Campaigns and experiments (contract §22): define, list, read and delete campaigns,
and a member's campaigns. The launch is the `launch_campaigns` job (chalicelib/jobs)."""

from __future__ import annotations

from chalicelib import clock
from chalicelib.api import schemas
from chalicelib.api.edge import Routes, page_params, query_params
from chalicelib.ledger.campaigns import Campaigns
from chalicelib.ledger.member_changes import Result
from chalicelib.runtime import services

routes = Routes(__name__)


def campaigns() -> Campaigns:
    return Campaigns(services().store)


@routes.route("/campaigns", "POST", "admin", model=schemas.CreateCampaign)
def create_campaign(actor, body: schemas.CreateCampaign):
    return Result.created(campaigns().create(body.model_dump(), clock.now()))


@routes.route("/campaigns", "GET", "admin")
def list_campaigns(actor):
    query_params()
    return campaigns().page(*page_params(), clock.now())


@routes.route("/campaigns/{campaign_id}", "GET", "admin")
def get_campaign(actor, campaign_id):
    return campaigns().get(campaign_id, clock.now())


@routes.route("/campaigns/{campaign_id}", "DELETE", "admin")
def delete_campaign(actor, campaign_id):
    campaigns().delete(campaign_id)
    return Result.removed()


@routes.route("/campaigns/{campaign_id}/results", "GET", "admin")
def campaign_results(actor, campaign_id):
    """§22, as of the last refresh: read from what it stored (no query runs here)."""
    from chalicelib.ledger.campaign_results import campaign_results as stored_results

    query_params()
    return stored_results(services().store, campaign_id)


@routes.route("/members/{member_id}/campaigns", "GET", "admin")
def member_campaigns(actor, member_id):
    query_params()
    return campaigns().member_campaigns(member_id)
