"""boto3 clients, created on first use (after moto starts) and cached."""
from __future__ import annotations

import functools

import boto3
from botocore.config import Config

from . import settings

_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"})


@functools.lru_cache(maxsize=None)
def client(service: str):
    return boto3.client(service, region_name=settings.load().region, config=_CONFIG)


def reset() -> None:
    """Forget cached clients (tests that restart moto call this)."""
    client.cache_clear()
