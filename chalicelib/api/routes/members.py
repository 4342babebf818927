"""Members: enrol, find, read, change, suspend, erase (contract §3, §10, §15)."""

from __future__ import annotations

from chalicelib import errors
from chalicelib.api import schemas
from chalicelib.api.edge import Routes, page_params, query_params
from chalicelib.ledger.member_changes import Result
from chalicelib.runtime import services

routes = Routes(__name__)


@routes.route("/members", "POST", "storefront", model=schemas.CreateMember, idempotent=True)
def create_member(actor, body, idem):
    return services().ledger.create_member(actor, idem, body)


@routes.route("/members", "GET", "storefront")
def find_members(actor):
    """§10: exactly one of phone, email (storefront), tier, segment (admin)."""
    query = query_params("phone", "email", "tier", "segment")
    criteria = {k: v for k, v in query.items() if k in ("phone", "email", "tier", "segment")}
    if len(criteria) != 1:
        raise errors.ValidationError("give exactly one of phone, email, tier or segment")
    if ("tier" in criteria or "segment" in criteria) and actor.role != "admin":
        raise errors.ForbiddenError("finding members by tier or segment needs an admin key")
    limit, cursor = page_params()
    return services().ledger.find_members(limit, cursor, **criteria)


@routes.route("/members/{member_id}", "GET", "storefront")
def get_member(actor, member_id):
    return services().ledger.get_member(member_id)


@routes.route("/members/{member_id}", "PATCH", "storefront", model=schemas.UpdateMember)
def update_member(actor, body, member_id):
    return services().ledger.update_member(actor, member_id, body)


@routes.route("/members/{member_id}/suspension", "POST", "admin", model=schemas.Suspension, idempotent=True)
def suspend_member(actor, body, idem, member_id):
    return services().ledger.suspend(actor, idem, member_id, body)


@routes.route("/members/{member_id}/suspension", "DELETE", "admin")
def lift_suspension(actor, member_id):
    return services().ledger.lift_suspension(actor, member_id)


@routes.route("/members/{member_id}", "DELETE", "admin")
def delete_member(actor, member_id):
    services().ledger.erase_member(actor, member_id)
    return Result.removed()


@routes.route("/members/{member_id}/notifications", "GET", "admin")
def notifications(actor, member_id):
    return services().ledger.notifications(member_id, *page_params())
