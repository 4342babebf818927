"""The environment of a benchmark or test run on moto in this process: a region,
credentials that reach no account, and no endpoint override (moto answers every call)."""

from __future__ import annotations

import os

REGION = "ap-northeast-2"


def use_moto_environment() -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
        os.environ[name] = "testing"
    os.environ.pop("AWS_ENDPOINT_URL", None)
