"""The operator console, the member page (widget), its tokens and its reads.

The pages' module (`ui`) is loaded by its own routes only: a cold start does not pay for it."""

from __future__ import annotations

from chalice import Response

from chalicelib import clock
from chalicelib.api.edge import Routes, current_request, page_params, widget_tokens
from chalicelib.api.routes.docs import file_response
from chalicelib.ledger.member_changes import Result
from chalicelib.runtime import services
from chalicelib.storage.repository import COLD_RECOMMENDATIONS_KEY, recommendations_key

routes = Routes(__name__)


def html_page(headers: dict, body: str) -> Response:
    return Response(body=body, status_code=200, headers=headers)


@routes.route("/console", "GET", None)
def console_page():
    from chalicelib.api import ui

    return html_page(*ui.page("console"))


@routes.route("/widget", "GET", None)
def widget_page():
    from chalicelib.api import ui

    return html_page(*ui.page("widget"))


@routes.route("/widget", "POST", None)
def widget_page_with_token():
    from chalicelib.api import ui

    body = current_request().raw_body or b""
    return html_page(*ui.widget_with_token(body.encode() if isinstance(body, str) else body))


@routes.route("/ui/{asset}", "GET", None)
def ui_asset(asset):
    from chalicelib.api import ui

    return file_response(
        ui.asset(asset, current_request().headers.get("if-none-match")), "no such file of the console or member page"
    )


@routes.route("/members/{member_id}/widget-tokens", "POST", "storefront")
def create_widget_token(actor, member_id):
    generation = services().ledger.changes.require_member(member_id)
    return Result.created(widget_tokens().mint(member_id, generation))


@routes.route("/widget/api/member", "GET", "widget")
def widget_member(grant):
    from chalicelib.domain.calendar import format_instant
    from chalicelib.domain.offers import running_offers
    from chalicelib.ledger.views import member_view

    now = clock.now()
    program, _, (member, offers) = services().ledger.changes.member_with_lots(
        grant.member_id,
        lambda program, found: (
            dict(member_view(program, found, now)),
            running_offers(found.campaigns, format_instant(now)),
        ),
    )
    # §15 (v3): the member sees that the account is suspended, never the admin's reason
    suspension = member.pop("suspension", None)
    return {
        **member,
        "suspended": suspension is not None,
        "currency": program.currency,
        "timezone": program.timezone,
        # §22: the member's running campaign offers (rewarded arms), read with the profile
        "offers": offers,
    }


@routes.route("/widget/api/transactions", "GET", "widget")
def widget_transactions(grant):
    return services().ledger.history(grant.member_id, *page_params())


@routes.route("/widget/api/coupons", "GET", "widget")
def widget_coupons(grant):
    return services().ledger.member_coupons(grant.member_id, "available", *page_params())


WIDGET_RECOMMENDATIONS = 5


@routes.route("/widget/api/recommendations", "GET", "widget")
def widget_recommendations(grant):
    """§23 on the member page: the member's stored list, else the cold-start list
    (one BatchGetItem after the token's member check)."""
    own = recommendations_key(grant.member_id, grant.generation)
    found = services().store.get_many([own, COLD_RECOMMENDATIONS_KEY])
    stored = found.get(own) or found.get(COLD_RECOMMENDATIONS_KEY) or {}
    items = [
        {"sku": entry["sku"], "category": entry["category"], "score": int(entry["score"])}
        for entry in stored.get("items", [])[:WIDGET_RECOMMENDATIONS]
    ]
    return {"as_of": stored.get("as_of"), "items": items}
