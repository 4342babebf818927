"""Analytics: the refresh, program summary, cohorts, RFM and member insights (contract §17–§20).

Every answer is read from the results the last refresh stored
(chalicelib/ledger/analytics_views.py); no query runs here and no analytics
engine is imported."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.api.edge import Routes, query_params
from chalicelib.ledger.member_changes import Result
from chalicelib.runtime import services

if TYPE_CHECKING:
    from chalicelib.ledger.analytics_views import AnalyticsViews

routes = Routes(__name__)
REFRESH_JOB = {"job": "refresh_analytics"}


def views() -> AnalyticsViews:
    """The stored results' reads, loaded by these routes only (not at a cold start)."""
    from chalicelib.ledger.analytics_views import AnalyticsViews

    return AnalyticsViews(services().ledger.changes)


@routes.route("/analytics/refresh", "POST", "admin")
def refresh_analytics(actor):
    """§17: the refresh runs off the request, from its own queue (the daily schedule too)."""
    services().analytics_queue.send([REFRESH_JOB])
    return Result.queued({**REFRESH_JOB, "status": "queued"})


@routes.route("/analytics/summary", "GET", "admin")
def analytics_summary(actor):
    query = query_params("month", "days")
    return views().summary(query.get("month"), query.get("days"))


@routes.route("/analytics/cohorts", "GET", "admin")
def analytics_cohorts(actor):
    query = query_params("from", "to")
    return views().cohorts(query.get("from"), query.get("to"))


@routes.route("/analytics/rfm", "GET", "admin")
def analytics_rfm(actor):
    query_params()
    return views().rfm()


@routes.route("/members/{member_id}/insights", "GET", "admin")
def member_insights(actor, member_id):
    return views().insights(member_id)
