"""boto3 clients, created on first use (after moto starts) and cached."""
from __future__ import annotations

import functools

import boto3
from botocore.config import Config

from . import faults, settings

_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"})


@functools.lru_cache(maxsize=None)
def client(service: str):
    made = boto3.client(service, region_name=settings.load().region, config=_CONFIG)
    faults.attach(made)  # inert unless a crash-injection test arms a plan
    return made


def reset() -> None:
    """Forget cached clients (tests that restart moto call this)."""
    client.cache_clear()
