"""Segments of the operator's: rules over the members' analytics values (contract §21).

Members are assigned by the analytics refresh; a segment's members are listed by
GET /members?segment=<segment_id> (chalicelib/ledger/lookup.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.api import schemas
from chalicelib.api.edge import Routes, page_params, query_params
from chalicelib.ledger.member_changes import Result
from chalicelib.runtime import services

if TYPE_CHECKING:
    from chalicelib.ledger.analytics_views import AnalyticsViews

routes = Routes(__name__)


def views() -> AnalyticsViews:
    """The stored results' reads, loaded by these routes only (not at a cold start)."""
    from chalicelib.ledger.analytics_views import AnalyticsViews

    return AnalyticsViews(services().ledger.changes)


@routes.route("/segments", "POST", "admin", model=schemas.CreateSegment)
def create_segment(actor, body: schemas.CreateSegment):
    rules = [dict(rule) for rule in body.rules]
    return Result.created(views().create_segment(body.segment_id, body.name, rules))


@routes.route("/segments", "GET", "admin")
def list_segments(actor):
    query_params()
    return views().segments(*page_params())


@routes.route("/segments/{segment_id}", "GET", "admin")
def get_segment(actor, segment_id):
    return views().segment(segment_id)


@routes.route("/segments/{segment_id}", "DELETE", "admin")
def delete_segment(actor, segment_id):
    views().delete_segment(segment_id)
    return Result.removed()
