"""Coupons: templates, giving and buying, use and release (contract §11)."""

from __future__ import annotations

from chalicelib.api import schemas
from chalicelib.api.edge import Routes, page_params, query_params
from chalicelib.ledger.member_changes import Result
from chalicelib.runtime import services

routes = Routes(__name__)


@routes.route("/coupon-templates", "POST", "admin", model=schemas.CreateCouponTemplate)
def create_coupon_template(actor, body):
    return Result.created(services().ledger.add_coupon_template(body))


@routes.route("/coupon-templates", "GET", "storefront")
def list_coupon_templates(actor):
    return services().ledger.coupon_templates(*page_params())


@routes.route("/members/{member_id}/coupons", "POST", "storefront", model=schemas.IssueCoupon, idempotent=True)
def issue_coupon(actor, body, idem, member_id):
    return services().ledger.issue_coupon(actor, idem, member_id, body)


@routes.route("/members/{member_id}/coupons", "GET", "storefront")
def member_coupons(actor, member_id):
    status = query_params("status").get("status")
    return services().ledger.member_coupons(member_id, status, *page_params())


@routes.route("/coupons/{code}/redemption", "POST", "storefront", model=schemas.UseCoupon, idempotent=True)
def use_coupon(actor, body, idem, code):
    return services().ledger.use_coupon(actor, idem, code, body)


@routes.route("/coupons/{code}/release", "POST", "storefront", model=schemas.ReleaseCoupon, idempotent=True)
def release_coupon(actor, body, idem, code):
    return services().ledger.release_coupon(actor, idem, code, body)
