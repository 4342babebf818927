"""API keys: created, listed and revoked by admins; stored hashed; looked up
strongly consistently and cached briefly per container.

Items (one table):
  APIKEY#<sha256 of secret> / APIKEY    the key: key_id, name, role, created_at,
                                        revoked, revoked_at, last_used_at (a day)
  APIKEYS / KEY#<key_id>                 the listing entry: key_id -> digest
  APIKEYS / ADMINS                       `live`: how many admin keys are not revoked

Revoking an admin key decrements `live` on the condition `live > 1` in the same
transaction that marks the key revoked, so no two concurrent revocations can
leave the service without an admin key.

A secret is `dgl_sk_` + 40 random base62 characters + a 6-character base62
CRC-32 of them: secret scanners can match `dgl_sk_[0-9A-Za-z]{46}` and check
the checksum without a lookup.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import string
import time
import zlib
from dataclasses import dataclass
from typing import Annotated, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from chalicelib import clock
from chalicelib.domain.calendar import format_instant
from chalicelib.errors import DangolError, ForbiddenError, NotFoundError, UnauthorizedError, throttling_code
from chalicelib.storage.repository import (
    API_KEY_ADMIN_COUNTER_SK,
    API_KEY_LISTING_PK,
    API_KEY_LISTING_PREFIX,
    api_key_key,
    api_key_listing_sk,
    key_of,
)
from chalicelib.storage.store import STALE, Commit, CommitConflict, Condition, Store

log = logging.getLogger(__name__)

LAST_ADMIN = Condition("last-admin")  # the live-admin count would reach 0

ROLES = ("storefront", "admin")
SECRET_PREFIX = "dgl_sk_"
SECRET_PATTERN = r"dgl_sk_[0-9A-Za-z]{46}"
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
LISTING = API_KEY_LISTING_PK
ADMIN_COUNTER = API_KEY_ADMIN_COUNTER_SK


class LastAdminKeyError(DangolError):
    code = "LAST_ADMIN_KEY"


class NewApiKey(BaseModel):
    """POST /api-keys."""

    # defer_build: built by the first POST /api-keys, not by a cold start
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, defer_build=True)
    name: Annotated[str, Field(min_length=1, max_length=200)]
    role: Literal["storefront", "admin"]


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


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        digits.append(BASE62[digit])
    return "".join(reversed(digits))


def new_secret() -> str:
    body = "".join(secrets.choice(BASE62) for _ in range(40))
    return SECRET_PREFIX + body + _base62(zlib.crc32(body.encode()), 6)


def looks_like_secret(text: str) -> bool:
    """The prefix, the length and the checksum match (what a secret scanner checks)."""
    if not text.startswith(SECRET_PREFIX) or len(text) != len(SECRET_PREFIX) + 46:
        return False
    body, check = text[len(SECRET_PREFIX) : -6], text[-6:]
    return all(c in BASE62 for c in body) and _base62(zlib.crc32(body.encode()), 6) == check


def _day() -> str:
    return clock.now().date().isoformat()


def shown(item: dict) -> dict:
    """A key as GET /api-keys shows it: never the secret or its hash."""
    return {
        "key_id": item["key_id"],
        "name": item["name"],
        "role": item["role"],
        "created_at": item.get("created_at"),
        "last_used_at": item.get("last_used_at"),
        "revoked_at": item.get("revoked_at"),
    }


class ApiKeys:
    def __init__(self, store: Store, cache_seconds: float):
        self.store = store
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Actor]] = {}

    # -- lifecycle ----------------------------------------------------------
    def create(self, role: str, name: str) -> str:
        """Store a new key; returns its secret (shown once, kept only as a hash)."""
        return self.issue(role, name)[0]

    def issue(self, role: str, name: str) -> tuple[str, dict]:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        secret = new_secret()
        digest = key_hash(secret)
        key_id = digest[:16]
        item = {
            **key_of(api_key_key(digest)),
            "key_id": key_id,
            "name": name,
            "role": role,
            "created_at": format_instant(clock.now()),
            "revoked": False,
        }
        commit = Commit(self.store.table)
        commit.put_new(item, STALE)
        commit.put_new({"pk": LISTING, "sk": api_key_listing_sk(key_id), "key_id": key_id, "digest": digest}, STALE)
        if role == "admin":
            commit.add_counters({"pk": LISTING, "sk": ADMIN_COUNTER}, {"live": 1})
        self.store.commit(commit)
        return secret, shown(item)

    def list(self, limit: int, cursor: Optional[str]) -> dict:
        entries, next_cursor = self.store.query_page(LISTING, API_KEY_LISTING_PREFIX, limit, cursor, newest_first=False)
        found = self.store.get_many([api_key_key(e["digest"]) for e in entries])
        items = [shown(found[api_key_key(e["digest"])]) for e in entries if api_key_key(e["digest"]) in found]
        return {"items": items, "next_cursor": next_cursor}

    def revoke(self, key_id: str) -> dict:
        """Revoke a key (again: no change). The last admin key cannot be revoked."""
        listing = self.store.get(LISTING, api_key_listing_sk(key_id)) if len(key_id) <= 64 else None
        if listing is None:
            raise NotFoundError(f"API key {key_id[:80]!r} not found")
        key = api_key_key(listing["digest"])
        while True:
            item = self.store.get(*key)
            if item is None:
                raise NotFoundError(f"API key {key_id!r} not found")
            if item.get("revoked"):
                return shown(item)
            now = format_instant(clock.now())
            commit = Commit(self.store.table)
            commit.update(
                key_of(key),
                "SET #r = :t, #at = :now",
                {"#r": "revoked", "#at": "revoked_at"},
                {":t": True, ":f": False, ":now": now},
                STALE,
                condition="#r = :f",
            )
            if item["role"] == "admin":
                commit.update(
                    {"pk": LISTING, "sk": ADMIN_COUNTER},
                    "ADD #live :minus",
                    {"#live": "live"},
                    {":minus": -1, ":one": 1},
                    LAST_ADMIN,
                    condition="#live > :one",
                )
            try:
                self.store.commit(commit)
            except CommitConflict as conflict:
                if conflict.found(LAST_ADMIN.kind) and not conflict.found(STALE.kind):
                    raise LastAdminKeyError("this is the last admin key: create another admin key first") from None
                continue  # revoked meanwhile, or contended: read again
            self._cache.pop(listing["digest"], None)
            return shown({**item, "revoked": True, "revoked_at": now})

    # -- requests -----------------------------------------------------------
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
        # strongly consistent: a revocation is seen by the next lookup in every container
        item = self.store.get(*api_key_key(digest), consistent=True)
        if item is None:
            raise UnauthorizedError("unknown API key")
        if item.get("revoked"):
            self._cache.pop(digest, None)
            raise ForbiddenError("this API key has been revoked")
        today = _day()
        if item.get("last_used_at") != today:
            # at most one write per key and day (per container that sees the old day);
            # bookkeeping: throttled, it is left to the next lookup, the request goes on
            try:
                self.store.update(
                    *api_key_key(digest),
                    "SET #u = :d",
                    {"#u": "last_used_at"},
                    {":d": today},
                    condition="attribute_not_exists(#u) OR #u < :d",
                )
            except Exception as error:
                if throttling_code(error) is None:
                    raise
                log.warning("key %s: last_used_at not recorded (%s)", item["key_id"], throttling_code(error))
        actor = Actor(key_id=item["key_id"], name=item["name"], role=item["role"])
        self._cache[digest] = (time.monotonic() + self.cache_seconds, actor)
        return actor
