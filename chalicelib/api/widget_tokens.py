"""Widget tokens: what a storefront's backend hands its member's browser so the
member page (`GET /widget`) can read that one member, and nothing else.

A token is `dgw_` + base64url(JSON {"m": member id, "g": generation, "e":
expiry in Unix seconds, "k": key id}) + "." + base64url(HMAC-SHA256 of that
payload with the key named "k"). It is good for WIDGET_TOKEN_MINUTES, for the
member it names, in the generation it names: erasing the member (a later
enrolment of the same id is a new generation) kills every token issued before.
The routes that take a token take no member id, so a token cannot ask for
another member's data.

The keys live in AWS Secrets Manager (see `widget_keys.py`): new tokens are
signed with the current key; a token verifies with the current or the previous
key (the one before the last rotation), and with no other.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

from chalicelib.api.widget_keys import SigningKeys
from chalicelib.domain.calendar import format_instant
from chalicelib.errors import UnauthorizedError

PREFIX = "dgw_"
WIDGET_TOKEN_MINUTES = 15
MAX_TOKEN_CHARS = 400


@dataclass(frozen=True)
class WidgetGrant:
    """Who a valid token lets the member page read."""

    member_id: str
    generation: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class WidgetTokens:
    def __init__(self, keys: SigningKeys, now: Callable[[], dt.datetime]):
        self.keys = keys
        self.now = now

    @staticmethod
    def _signature(secret: bytes, payload: str) -> str:
        return _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())

    def sign(self, claims: dict) -> str:
        """A token of `claims` signed with the current key (whose id it carries)."""
        key = self.keys.current()
        payload = _b64(json.dumps({**claims, "k": key.kid}, separators=(",", ":")).encode())
        return f"{PREFIX}{payload}.{self._signature(key.secret, payload)}"

    def mint(self, member_id: str, generation: int) -> dict:
        """A token for the member (its generation as the ledger has it now)."""
        expires = self.now().replace(microsecond=0) + dt.timedelta(minutes=WIDGET_TOKEN_MINUTES)
        token = self.sign({"m": member_id, "g": generation, "e": int(expires.timestamp())})
        return {"token": token, "expires_at": format_instant(expires)}

    def verify(self, header: Optional[str]) -> WidgetGrant:
        """The grant of `Authorization: Bearer <widget token>`; 401 for anything else
        (no header, an API key, a token tampered with, expired, or signed with a key
        that is neither the current nor the previous one)."""
        if not header:
            raise UnauthorizedError("missing Authorization: Bearer <widget token>")
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token.startswith(PREFIX) or len(token) > MAX_TOKEN_CHARS:
            raise UnauthorizedError("expected Authorization: Bearer <widget token>")
        payload, _, signature = token[len(PREFIX) :].partition(".")
        try:
            claims = json.loads(_unb64(payload)) if payload else None
            if not isinstance(claims, dict):
                raise ValueError("the claims are not an object")
            kid = claims["k"]
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise UnauthorizedError("the widget token is not valid") from None
        key = self.keys.for_kid(kid) if isinstance(kid, str) and kid else None
        if key is None or not hmac.compare_digest(signature.encode(), self._signature(key.secret, payload).encode()):
            raise UnauthorizedError("the widget token is not valid")
        member_id, generation, expires = claims.get("m"), claims.get("g"), claims.get("e")
        if not (isinstance(member_id, str) and isinstance(generation, int) and isinstance(expires, int)):
            raise UnauthorizedError("the widget token is not valid")
        if self.now().timestamp() >= expires:
            raise UnauthorizedError("the widget token has expired; ask the shop for a new one")
        return WidgetGrant(member_id, generation)
