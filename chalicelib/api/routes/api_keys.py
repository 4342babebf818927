"""API keys: list, issue, revoke (admin)."""

from __future__ import annotations

import re

from chalicelib import errors
from chalicelib.api.edge import Routes, page_params
from chalicelib.auth import NewApiKey
from chalicelib.ledger.member_changes import Result
from chalicelib.runtime import services

routes = Routes(__name__)
KEY_ID = re.compile(r"[0-9a-f]{16}")


@routes.route("/api-keys", "GET", "admin")
def list_api_keys(actor):
    return services().keys.list(*page_params())


@routes.route("/api-keys", "POST", "admin", model=NewApiKey)
def create_api_key(actor, body: NewApiKey):
    secret, key = services().keys.issue(body.role, body.name)
    return Result.created({**key, "secret": secret})  # the only time the secret is shown


@routes.route("/api-keys/{key_id}", "DELETE", "admin")
def revoke_api_key(actor, key_id):
    if not KEY_ID.fullmatch(key_id):
        raise errors.NotFoundError(f"API key {key_id[:80]!r} not found")
    return services().keys.revoke(key_id)
