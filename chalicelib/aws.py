"""boto3 clients, created on first use (after moto starts) and cached."""
from __future__ import annotations

import functools

import boto3
from botocore.config import Config

from chalicelib import settings

_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"})

# Called with each new client. Empty in Lambda; the crash-injection tests add
# devtools.faults.attach here (tests/conftest.py), so no test code ships.
client_hooks: list = []


@functools.lru_cache(maxsize=None)
def client(service: str):
    made = boto3.client(service, region_name=settings.load().region, config=_CONFIG)
    for hook in client_hooks:
        hook(made)
    return made


def reset() -> None:
    """Forget cached clients (tests that restart moto call this)."""
    client.cache_clear()
