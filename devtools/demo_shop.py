"""The demo café a new local shop starts with (examples/), and its demo member.

Shared by the local service (`scripts/serve.sh`) and `chalice local --stage local`.
"""

from __future__ import annotations

import json
import logging
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PROGRAM = ROOT / "examples" / "cafe-program.json"
COUPONS = ROOT / "examples" / "cafe-coupons.json"
DEMO_MEMBER = "demo"

log = logging.getLogger("local.service")


def load_templates(path: str) -> int:
    """The coupon templates of `path` that the shop does not have yet; how many were added."""
    from chalicelib.api import schemas
    from chalicelib.errors import TemplateExistsError
    from chalicelib.runtime import services

    file = pathlib.Path(path)
    if not path or not file.is_file():
        return 0
    added = 0
    for entry in json.loads(file.read_text()):
        try:
            services().ledger.add_coupon_template(schemas.CreateCouponTemplate.model_validate_json(json.dumps(entry)))
            added += 1
        except TemplateExistsError:
            pass
    return added


def load_program(program: str, coupons: str) -> str:
    """The coupon templates, then the program naming them; what was loaded, in words."""
    from chalicelib.domain.program import Program
    from chalicelib.runtime import services

    program_path = pathlib.Path(program)
    if not program_path.is_file():
        return "defaults"
    templates = load_templates(coupons)
    services().ledger.put_program(Program.model_validate_json(program_path.read_text()))
    return str(program_path) + (f" with {templates} coupon templates" if templates else "")


def demo_widget_token(app_object, storefront_key: str) -> dict:
    """A widget token for the demo member (enrolled, with a purchase, when the shop
    does not have it yet), made through the app before it serves."""
    from chalice.test import Client

    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {storefront_key}"}
    with Client(app_object) as client:
        if client.http.get(f"/members/{DEMO_MEMBER}", headers=headers).status_code == 404:
            enrolled = client.http.post(
                "/members",
                headers={**headers, "Idempotency-Key": "demo-member"},
                body=json.dumps({"member_id": DEMO_MEMBER, "name": "Demo Member", "phone": "010-0000-0000"}),
            )
            if enrolled.status_code == 201:
                client.http.post(
                    f"/members/{DEMO_MEMBER}/earn",
                    headers={**headers, "Idempotency-Key": "demo-earn"},
                    body=json.dumps({"order_id": "demo-1", "amount": 120000}),
                )
        minted = client.http.post(f"/members/{DEMO_MEMBER}/widget-tokens", headers=headers)
        if minted.status_code != 201:
            log.warning("no widget token for the demo member: %s", minted.body[:200])
            return {"token": None, "expires_at": None}
        return json.loads(minted.body)
