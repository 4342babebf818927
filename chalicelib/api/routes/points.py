"""Points: earn, activities, redeem, reversals, transfers, adjustments, history,
vouchers (contract §4, §5)."""

from __future__ import annotations

from chalicelib.api import schemas
from chalicelib.api.edge import Routes, page_params
from chalicelib.runtime import services

routes = Routes(__name__)


@routes.route("/members/{member_id}/earn", "POST", "storefront", model=schemas.Earn, idempotent=True)
def earn(actor, body, idem, member_id):
    return services().ledger.earn(actor, idem, member_id, body)


@routes.route("/members/{member_id}/activities", "POST", "storefront", model=schemas.Activity, idempotent=True)
def activity(actor, body, idem, member_id):
    return services().ledger.activity(actor, idem, member_id, body)


@routes.route("/members/{member_id}/redeem", "POST", "storefront", model=schemas.Redeem, idempotent=True)
def redeem(actor, body, idem, member_id):
    return services().ledger.redeem(actor, idem, member_id, body)


@routes.route(
    "/members/{member_id}/transactions/{transaction_id}/reversal",
    "POST",
    "storefront",
    model=schemas.Reversal,
    idempotent=True,
    optional_body=True,
)
def reversal(actor, body, idem, member_id, transaction_id):
    return services().ledger.reverse(actor, idem, member_id, transaction_id, body)


@routes.route("/members/{member_id}/transfers", "POST", "storefront", model=schemas.Transfer, idempotent=True)
def transfer(actor, body, idem, member_id):
    return services().ledger.transfer(actor, idem, member_id, body)


@routes.route("/members/{member_id}/adjustments", "POST", "admin", model=schemas.Adjustment, idempotent=True)
def adjustment(actor, body, idem, member_id):
    return services().ledger.adjust(actor, idem, member_id, body)


@routes.route("/members/{member_id}/transactions", "GET", "storefront")
def transactions(actor, member_id):
    return services().ledger.history(member_id, *page_params())


@routes.route("/vouchers/{code}", "GET", "storefront")
def get_voucher(actor, code):
    return services().ledger.voucher(code)
