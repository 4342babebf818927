"""API keys: GET/POST /api-keys and DELETE /api-keys/{id} (admin); a revoked key
fails within 5 seconds in every container; the last admin key stays."""

from __future__ import annotations

import hashlib
import re

import pytest

from chalicelib import auth, settings
from chalicelib.auth import ApiKeys, LastAdminKeyError
from chalicelib.runtime import services
from tests.checks import assert_error


class Monotonic:
    """time.monotonic for the auth module, moved by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def monotonic(monkeypatch):
    fake = Monotonic()
    monkeypatch.setattr(auth.time, "monotonic", fake)
    return fake


def create(api, name="pos-2", role="storefront"):
    response = api.post("/api-keys", {"name": name, "role": role}, key="admin")
    assert response.status == 201, response
    return response.json


def listing(api) -> dict[str, dict]:
    response = api.get("/api-keys?limit=100", key="admin")
    assert response.status == 200, response
    return {k["key_id"]: k for k in response.json["items"]}


def test_a_new_key_is_shown_once_works_at_once_and_is_listed_without_its_secret(api, clock):
    key = create(api, "pos-2", "storefront")
    secret = key.pop("secret")
    assert re.fullmatch(auth.SECRET_PATTERN, secret) and auth.looks_like_secret(secret)
    assert not auth.looks_like_secret(secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    assert key == {
        "key_id": key["key_id"],
        "name": "pos-2",
        "role": "storefront",
        "created_at": "2027-01-15T03:00:00Z",
        "last_used_at": None,
        "revoked_at": None,
    }
    assert api.get("/rewards", key=secret).status == 200
    assert_error(api.get("/stats", key=secret), 403, "FORBIDDEN")

    clock.advance(days=1)
    api.client.http.get("/rewards", headers={"Authorization": f"Bearer {secret}"})
    shown = listing(api)
    assert shown[key["key_id"]]["last_used_at"] in ("2027-01-15", "2027-01-16")
    raw = api.get("/api-keys?limit=100", key="admin").body.decode()
    assert secret not in raw and hashlib.sha256(secret.encode()).hexdigest() not in raw
    assert "dgl_" not in raw
    assert {k["role"] for k in shown.values()} == {"admin", "storefront"}


def test_only_admins_manage_keys_and_bad_bodies_are_refused(api):
    assert_error(api.get("/api-keys"), 403, "FORBIDDEN")
    assert_error(api.post("/api-keys", {"name": "x", "role": "admin"}), 403, "FORBIDDEN")
    before = listing(api)
    for body in (
        {"name": "x", "role": "owner"},
        {"role": "admin"},
        {"name": "", "role": "admin"},
        {"name": "x", "role": "admin", "secret": "dgl_mine"},
        {"name": 5, "role": "admin"},
        {"name": "x" * 201, "role": "storefront"},
    ):
        assert_error(api.post("/api-keys", body, key="admin"), 400, "VALIDATION_ERROR")
    assert listing(api) == before
    assert_error(api.delete("/api-keys/0123456789abcdef", key="admin"), 404, "NOT_FOUND")
    assert_error(api.delete("/api-keys/not-a-key", key="admin"), 404, "NOT_FOUND")
    some = next(iter(before))
    assert_error(api.delete(f"/api-keys/{some}"), 403, "FORBIDDEN")


def test_revocation_holds_in_every_container_within_five_seconds(api, monotonic):
    assert settings.load().auth_cache_seconds <= 5
    key = create(api)
    secret = key["secret"]
    other = ApiKeys(services().store, settings.load().auth_cache_seconds)  # another warm container
    assert other.authenticate(f"Bearer {secret}", "storefront").key_id == key["key_id"]

    revoked = api.delete(f"/api-keys/{key['key_id']}", key="admin")
    assert revoked.status == 200, revoked
    assert revoked.json["revoked_at"] is not None and "secret" not in revoked.json
    # the container that revoked it refuses it at once
    assert_error(api.get("/rewards", key=secret), 403, "FORBIDDEN")
    # the other one may still serve it from its cache, but not after 5 seconds
    monotonic.now += 5.01
    with pytest.raises(auth.ForbiddenError):
        other.authenticate(f"Bearer {secret}", "storefront")
    # revoking again changes nothing
    again = api.delete(f"/api-keys/{key['key_id']}", key="admin")
    assert again.status == 200 and again.json == revoked.json
    assert listing(api)[key["key_id"]]["revoked_at"] == revoked.json["revoked_at"]


def test_the_last_admin_key_cannot_be_revoked(api):
    admins = [k for k in listing(api).values() if k["role"] == "admin"]
    assert len(admins) == 1
    assert_error(api.delete(f"/api-keys/{admins[0]['key_id']}", key="admin"), 422, "LAST_ADMIN_KEY")
    second = create(api, "owner", "admin")
    # revoking a storefront key never counts against admins
    shop_key = create(api, "pos-3", "storefront")
    assert api.delete(f"/api-keys/{shop_key['key_id']}", key="admin").status == 200
    # the first admin may now go; then the second is the last one
    assert api.delete(f"/api-keys/{admins[0]['key_id']}", key=second["secret"]).status == 200
    assert_error(api.delete(f"/api-keys/{second['key_id']}", key=second["secret"]), 422, "LAST_ADMIN_KEY")
    assert api.get("/stats", key=second["secret"]).status == 200


def test_two_admin_keys_revoked_at_once_leave_one(api):
    """Two containers each revoke one of the two admin keys, the second
    revocation committing between the first one's reads and its write: the
    counter's condition refuses the first, whatever the interleaving."""
    first = [k for k in listing(api).values() if k["role"] == "admin"][0]
    second = create(api, "owner", "admin")
    store = services().store
    container_a = ApiKeys(store, 5)
    container_b = ApiKeys(store, 5)
    original = store.commit
    interleaved = []

    def commit_after_b(unit):
        if not interleaved:
            interleaved.append(None)
            interleaved[0] = container_b.revoke(second["key_id"])
        return original(unit)

    store.commit = commit_after_b
    try:
        with pytest.raises(LastAdminKeyError):
            container_a.revoke(first["key_id"])
    finally:
        store.commit = original
    assert interleaved and interleaved[0]["revoked_at"]
    shown = listing(api)
    assert shown[first["key_id"]]["revoked_at"] is None
    assert shown[second["key_id"]]["revoked_at"] is not None
    assert api.get("/stats", key="admin").status == 200
