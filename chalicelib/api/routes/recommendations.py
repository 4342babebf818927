"""Recommendations (contract §23): a member's list as the last analytics refresh stored it.

No query runs here and no analytics engine is imported (chalicelib/ledger/analytics_views.py)."""

from __future__ import annotations

from chalicelib import errors
from chalicelib.api.edge import LIMIT, Routes, query_params
from chalicelib.runtime import services

routes = Routes(__name__)
DEFAULT_LIMIT = "5"
MAX_LIMIT = 10


@routes.route("/members/{member_id}/recommendations", "GET", "storefront")
def member_recommendations(actor, member_id):
    query = query_params()
    if "cursor" in query:
        raise errors.ValidationError("unknown query parameter 'cursor'")
    limit = query.get("limit", DEFAULT_LIMIT)
    if not LIMIT.fullmatch(limit) or not 1 <= int(limit) <= MAX_LIMIT:
        raise errors.ValidationError(f"limit must be an integer from 1 to {MAX_LIMIT}")
    from chalicelib.ledger.analytics_views import AnalyticsViews  # loaded by this route only

    return AnalyticsViews(services().ledger.changes).recommendations(member_id, int(limit))
