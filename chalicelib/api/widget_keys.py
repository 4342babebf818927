"""The widget tokens' signing keys, kept in AWS Secrets Manager.

One secret (`DANGOL_WIDGET_KEY_SECRET`, made by the stack's `WidgetSigningKey`
or, locally, by `local.create_resources`) holds the key as its SecretString.
Each version of the secret is a key; its `VersionId` is the key id (`kid`) a
token carries. Tokens are signed with the `AWSCURRENT` version and verified with
`AWSCURRENT` or `AWSPREVIOUS`, so a rotation (a new version becomes
AWSCURRENT, the old one AWSPREVIOUS: `scripts/rotate_widget_key.py`, or
`aws secretsmanager put-secret-value`) does not cut off the tokens already
handed out: they stay good until they expire.

A container keeps the two keys for `cache_seconds` (5 minutes), then reads them
again. A token whose kid it does not know (signed by a container that read a
newer key) makes it read them again at once, at most every `refresh_seconds`,
so made-up kids cannot make every request call Secrets Manager.

The API function's role may call `secretsmanager:GetSecretValue` on this one
secret and nothing else (.chalice/policy-api.json).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

from botocore.exceptions import ClientError

CURRENT, PREVIOUS = "AWSCURRENT", "AWSPREVIOUS"
CACHE_SECONDS = 300.0
REFRESH_SECONDS = 10.0  # the soonest an unknown kid reads the keys again


@dataclass(frozen=True)
class SigningKey:
    kid: str
    secret: bytes


class SigningKeys:
    def __init__(
        self,
        client,
        secret_id: str,
        cache_seconds: float = CACHE_SECONDS,
        refresh_seconds: float = REFRESH_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.client = client
        self.secret_id = secret_id
        self.cache_seconds = cache_seconds
        self.refresh_seconds = refresh_seconds
        self.monotonic = monotonic
        self._current: Optional[SigningKey] = None
        self._by_kid: dict[str, SigningKey] = {}
        self._read_at: Optional[float] = None
        self._lock = threading.Lock()

    def current(self) -> SigningKey:
        """The key new tokens are signed with."""
        self._fresh()
        if self._current is None:
            raise RuntimeError(f"the widget signing key secret {self.secret_id!r} has no current version")
        return self._current

    def for_kid(self, kid: str) -> Optional[SigningKey]:
        """The current or previous key named `kid`; None for any other."""
        self._fresh()
        key = self._by_kid.get(kid)
        read_at = self._read_at if self._read_at is not None else float("-inf")
        if key is None and self.monotonic() - read_at >= self.refresh_seconds:
            self._read()  # rotated since this container read the keys?
            key = self._by_kid.get(kid)
        return key

    def _fresh(self) -> None:
        if self._read_at is None or self.monotonic() - self._read_at >= self.cache_seconds:
            self._read()

    def _read(self) -> None:
        with self._lock:
            current = self._version(CURRENT)
            if current is None:
                raise RuntimeError(f"the widget signing key secret {self.secret_id!r} has no current version")
            previous = self._version(PREVIOUS)
            self._current = current
            self._by_kid = {key.kid: key for key in (current, previous) if key is not None}
            self._read_at = self.monotonic()

    def _version(self, stage: str) -> Optional[SigningKey]:
        try:
            answer = self.client.get_secret_value(SecretId=self.secret_id, VersionStage=stage)
        except ClientError as error:
            if stage == PREVIOUS and error.response["Error"]["Code"] == "ResourceNotFoundException":
                return None  # never rotated yet
            raise
        return SigningKey(answer["VersionId"], answer["SecretString"].encode())


# A key must stay verifiable while tokens it signed may still be in use: up to a
# container's cache (it signs with the old key until it reads the new one) plus a
# token's lifetime. Rotating again sooner would drop a key that is still needed
# (scripts/rotate_widget_key.py refuses it).
MIN_ROTATION_INTERVAL_SECONDS = CACHE_SECONDS + 15 * 60
