"""API keys: stored hashed, looked up per request, cached briefly per container."""
from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Optional

from .errors import ForbiddenError, UnauthorizedError
from .store import Store

ROLES = ("storefront", "admin")


@dataclass(frozen=True)
class Actor:
    """Who makes a change: an API key, or a job (key_id and name None)."""

    key_id: Optional[str]
    name: Optional[str]
    role: str

    def allowed(self, role: str) -> bool:
        return self.role == "admin" or self.role == role


JOB = Actor(key_id=None, name=None, role="job")


def key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKeys:
    def __init__(self, store: Store, cache_seconds: float):
        self.store = store
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Actor]] = {}

    def create(self, role: str, name: str) -> str:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        secret = "dgl_" + secrets.token_urlsafe(32)
        digest = key_hash(secret)
        self.store.put(
            {
                "pk": f"APIKEY#{digest}",
                "sk": "APIKEY",
                "key_id": digest[:16],
                "name": name,
                "role": role,
                "revoked": False,
            },
            condition="attribute_not_exists(pk)",
        )
        return secret

    def revoke(self, secret: str) -> None:
        digest = key_hash(secret)
        self.store.update(f"APIKEY#{digest}", "APIKEY", "SET #r = :t", {"#r": "revoked"}, {":t": True})
        self._cache.pop(digest, None)

    def authenticate(self, header: Optional[str], role: str) -> Actor:
        if not header:
            raise UnauthorizedError("missing Authorization: Bearer <api key>")
        scheme, _, secret = header.strip().partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret or len(secret) > 200:
            raise UnauthorizedError("expected Authorization: Bearer <api key>")
        actor = self._lookup(key_hash(secret))
        if not actor.allowed(role):
            raise ForbiddenError(f"this key's role may not call {role} routes")
        return actor

    def _lookup(self, digest: str) -> Actor:
        cached = self._cache.get(digest)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        item = self.store.get(f"APIKEY#{digest}", "APIKEY", consistent=False)
        if item is None:
            raise UnauthorizedError("unknown API key")
        if item.get("revoked"):
            self._cache.pop(digest, None)
            raise ForbiddenError("this API key has been revoked")
        actor = Actor(key_id=item["key_id"], name=item["name"], role=item["role"])
        self._cache[digest] = (time.monotonic() + self.cache_seconds, actor)
        return actor
