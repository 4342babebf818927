"""boto3 clients, created on first use (after moto starts) and cached."""

from __future__ import annotations

import functools

import boto3
from botocore.config import Config

from chalicelib import settings

# botocore's own retries, under Dangol's (chalicelib/backoff.py): "standard" mode,
# 2 attempts per call. A throttled call is sent once more after a jittered delay
# of at most 1 s (botocore's throttling backoff: rand(0, 1) * 1 s before the
# second attempt), a 5xx or timeout after at most 25 ms (DynamoDB) / 50 ms; then
# the error reaches Dangol, which answers 503 THROTTLED rather than wait longer
# (the caller retries after Retry-After). Not "adaptive": its client-side rate
# limiter may wait without bound inside a request.
BOTOCORE_ATTEMPTS = 2
# (`total_max_attempts` counts the first attempt; botocore's `max_attempts` would not)
_CONFIG = Config(retries={"total_max_attempts": BOTOCORE_ATTEMPTS, "mode": "standard"})

# Called with each new client. Empty in Lambda; the crash-injection tests add
# devtools.faults.attach here (tests/conftest.py), so no test code ships.
client_hooks: list = []


@functools.cache
def client(service: str):
    made = boto3.client(service, region_name=settings.load().region, config=_CONFIG)
    for hook in client_hooks:
        hook(made)
    return made


class LazyClient:
    """`client(service)`, made on its first use: a container whose requests never send
    to a queue never makes its SQS client (a client costs a cold start ~10 ms of CPU)."""

    def __init__(self, service: str):
        self.service = service

    def __getattr__(self, name: str):
        return getattr(client(self.service), name)


def reset() -> None:
    """Forget cached clients (tests that restart moto call this)."""
    client.cache_clear()
