"""Widget tokens: what a storefront's backend hands its member's browser so the
member page (`GET /widget`) can read that one member, and nothing else.

A token is `dgw_` + base64url(JSON {"m": member id, "g": generation, "e":
expiry in Unix seconds}) + "." + base64url(HMAC-SHA256 of that payload). It is
good for WIDGET_TOKEN_MINUTES, for the member it names, in the generation it
names: erasing the member (a later enrolment of the same id is a new
generation) kills every token issued before. The routes that take a token take
no member id, so a token cannot ask for another member's data.

The signing key is one item of the app's table (pk WIDGET_SIGNING_KEY, sk KEY),
made on first use with a conditional put (the first writer wins when two
containers race), read strongly consistently and kept per container.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Callable, Optional

from chalicelib.domain.calendar import format_instant
from chalicelib.errors import UnauthorizedError
from chalicelib.storage.store import Store

PREFIX = "dgw_"
WIDGET_TOKEN_MINUTES = 15
KEY_ITEM = ("WIDGET_SIGNING_KEY", "KEY")
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
    def __init__(self, store: Store, now: Callable[[], dt.datetime]):
        self.store = store
        self.now = now
        self._key: Optional[bytes] = None

    def signing_key(self) -> bytes:
        if self._key is None:
            item = self.store.get(*KEY_ITEM, consistent=True)
            if item is None:
                pk, sk = KEY_ITEM
                self.store.put({"pk": pk, "sk": sk, "key": _b64(secrets.token_bytes(32)),
                                "created_at": format_instant(self.now())},
                               condition="attribute_not_exists(pk)")
                # ours, or the one another container put first
                item = self.store.get(*KEY_ITEM, consistent=True)
            self._key = _unb64(item["key"])
        return self._key

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self.signing_key(), payload.encode(), hashlib.sha256).digest())

    def mint(self, member_id: str, generation: int) -> dict:
        """A token for the member (its generation as the ledger has it now)."""
        expires = self.now().replace(microsecond=0) + dt.timedelta(minutes=WIDGET_TOKEN_MINUTES)
        payload = _b64(json.dumps({"m": member_id, "g": generation,
                                   "e": int(expires.timestamp())},
                                  separators=(",", ":")).encode())
        return {"token": f"{PREFIX}{payload}.{self._sign(payload)}",
                "expires_at": format_instant(expires)}

    def verify(self, header: Optional[str]) -> WidgetGrant:
        """The grant of `Authorization: Bearer <widget token>`; 401 for anything else
        (no header, an API key, a token tampered with or expired)."""
        if not header:
            raise UnauthorizedError("missing Authorization: Bearer <widget token>")
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token.startswith(PREFIX) or len(token) > MAX_TOKEN_CHARS:
            raise UnauthorizedError("expected Authorization: Bearer <widget token>")
        payload, _, signature = token[len(PREFIX):].partition(".")
        if not payload or not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            raise UnauthorizedError("the widget token is not valid")
        try:
            claims = json.loads(_unb64(payload))
            member_id, generation, expires = claims["m"], claims["g"], claims["e"]
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise UnauthorizedError("the widget token is not valid") from None
        if not (isinstance(member_id, str) and isinstance(generation, int)
                and isinstance(expires, int)):
            raise UnauthorizedError("the widget token is not valid")
        if self.now().timestamp() >= expires:
            raise UnauthorizedError("the widget token has expired; ask the shop for a new one")
        return WidgetGrant(member_id, generation)
