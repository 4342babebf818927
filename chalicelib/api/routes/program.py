"""The program, its preview, rewards and the figures (contract §2, §5, §8, §16)."""

from __future__ import annotations

from chalicelib import errors
from chalicelib.api import schemas
from chalicelib.api.edge import Routes, page_params, query_params
from chalicelib.api.program_preview import ProgramPreview
from chalicelib.api.program_preview import preview as preview_purchase
from chalicelib.domain.program import Program
from chalicelib.ledger.member_changes import Result
from chalicelib.runtime import services

routes = Routes(__name__)


@routes.route("/program", "GET", "admin")
def get_program(actor):
    return services().ledger.program().model_dump(mode="json")


@routes.route("/program", "PUT", "admin", model=Program)
def put_program(actor, body: Program):
    return services().ledger.put_program(body)


@routes.route("/program/preview", "POST", "admin", model=ProgramPreview)
def preview_program(actor, body: ProgramPreview):
    return preview_purchase(body)


@routes.route("/rewards", "POST", "admin", model=schemas.CreateReward)
def create_reward(actor, body):
    return Result.created(services().ledger.create_reward(body))


@routes.route("/rewards", "GET", "storefront")
def list_rewards(actor):
    return services().ledger.rewards(*page_params())


@routes.route("/stats", "GET", "admin")
def stats(actor):
    return services().ledger.stats()


@routes.route("/stats/daily", "GET", "admin")
def daily_stats(actor):
    query = query_params("from", "to")
    if "from" not in query or "to" not in query:
        raise errors.ValidationError("from and to (YYYY-MM-DD) are required")
    return services().ledger.daily_stats(query["from"], query["to"])
