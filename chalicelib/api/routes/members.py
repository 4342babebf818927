"""Members: enrol, find, read, change, suspend, erase (contract §3, §10, §15)."""

from __future__ import annotations

from chalicelib import errors
from chalicelib.api import schemas
from chalicelib.api.edge import Routes, page_params, query_params
from chalicelib.ledger.member_changes import Result
from chalicelib.runtime import services

routes = Routes(__name__)


@routes.call("POST", "/members", "storefront", model=schemas.CreateMember, idempotent=True)
def create_member(actor, body, idem):
    return services().ledger.create_member(actor, idem, body)


@routes.call("GET", "/members", "storefront")
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


@routes.call("GET", "/members/{member_id}", "storefront")
def get_member(actor, member_id):
    return services().ledger.get_member(member_id)


@routes.call("PATCH", "/members/{member_id}", "storefront", model=schemas.UpdateMember)
def update_member(actor, body, member_id):
    return services().ledger.update_member(actor, member_id, body)


@routes.call("POST", "/members/{member_id}/suspension", "admin", model=schemas.Suspension, idempotent=True)
def suspend_member(actor, body, idem, member_id):
    return services().ledger.suspend(actor, idem, member_id, body)


@routes.call("DELETE", "/members/{member_id}/suspension", "admin")
def lift_suspension(actor, member_id):
    return services().ledger.lift_suspension(actor, member_id)


@routes.call("DELETE", "/members/{member_id}", "admin")
def delete_member(actor, member_id):
    services().ledger.erase_member(actor, member_id)
    return Result.removed()


@routes.call("GET", "/members/{member_id}/notifications", "admin")
def notifications(actor, member_id):
    return services().ledger.notifications(member_id, *page_params())
