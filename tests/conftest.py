"""Shared fixtures: a fresh moto AWS per test, the Chalice test client, keys."""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import sys
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
EXAMPLES = ROOT / "examples"  # the demo café shipped with the repository
DEMO_PROGRAM = json.loads((EXAMPLES / "cafe-program-v1.json").read_text())

os.environ.setdefault("AWS_DEFAULT_REGION", "ap-northeast-2")
for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
    os.environ[name] = "testing"
os.environ.pop("AWS_ENDPOINT_URL", None)

# moto with a cost per request that does not grow with the table
# (DANGOL_STOCK_MOTO=1 runs the suite on stock moto instead).
from devtools import moto_patches  # noqa: E402

moto_patches.apply()

# every AWS client carries the fault hook of the crash-injection tests (inert until armed)
from chalicelib import aws as _aws  # noqa: E402
from devtools import faults as _faults  # noqa: E402

_aws.client_hooks.append(_faults.attach)


@pytest.fixture
def aws():
    from moto import mock_aws

    from chalicelib import local, runtime

    with mock_aws():
        runtime.reset()
        local.create_resources()
        yield
        runtime.reset()


class Api:
    """A thin JSON client over chalice.test.Client with API keys."""

    def __init__(self, client, admin_key: str, storefront_key: str):
        self.client = client
        self.admin_key = admin_key
        self.storefront_key = storefront_key

    def call(
        self,
        method: str,
        path: str,
        body=None,
        *,
        key="storefront",
        idem="auto",
        raw: bytes | str | None = None,
        headers: dict | None = None,
    ):
        secret = {"storefront": self.storefront_key, "admin": self.admin_key}.get(key, key)
        sent = {"Content-Type": "application/json"}
        if secret is not None:
            sent["Authorization"] = f"Bearer {secret}"
        if idem == "auto":
            idem = str(uuid.uuid4()) if method == "POST" else None
        if idem is not None:
            sent["Idempotency-Key"] = idem
        sent.update(headers or {})
        payload = raw if raw is not None else (json.dumps(body) if body is not None else None)
        response = getattr(self.client.http, method.lower())(path, headers=sent, body=payload)
        return Response(response.status_code, response.body)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.call("PUT", path, body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    def patch(self, path, body=None, **kw):
        return self.call("PATCH", path, body, **kw)

    # conveniences for setting up scenarios
    def program(self, config: dict):
        response = self.put("/program", config, key="admin")
        assert response.status == 200, response.json
        return response.json

    def member(self, member_id: str, **fields):
        body = {"member_id": member_id, "name": fields.pop("name", member_id.title()), **fields}
        response = self.post("/members", body)
        assert response.status == 201, response.json
        return response.json

    def balance(self, member_id: str) -> int:
        return self.get(f"/members/{member_id}").json["balance"]


class Response:
    def __init__(self, status: int, body: bytes):
        self.status = status
        self.body = body

    @property
    def json(self):
        return json.loads(self.body) if self.body else None

    @property
    def error(self):
        return (self.json or {}).get("error", {}).get("code")

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


@pytest.fixture
def api(aws):
    from chalice.test import Client

    import app as app_module
    from chalicelib import local

    admin = local.create_api_key("admin", "hq")
    storefront = local.create_api_key("storefront", "pos-1")
    with Client(app_module.app) as client:
        yield Api(client, admin, storefront)


@pytest.fixture
def demo(api):
    """The demo café program loaded."""
    api.program(DEMO_PROGRAM)
    return api


class FrozenClock:
    def __init__(self, start: dt.datetime):
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta) -> dt.datetime:
        self.now = self.now + dt.timedelta(**delta)
        return self.now

    def set(self, text: str) -> dt.datetime:
        self.now = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return self.now


@pytest.fixture
def clock(monkeypatch):
    """Freeze the wall clock (default 2027-01-15T03:00:00Z); move it with .advance/.set."""
    from chalicelib import clock as clock_module

    frozen = FrozenClock(dt.datetime(2027, 1, 15, 3, 0, 0, tzinfo=dt.UTC))
    monkeypatch.setattr(clock_module, "now", frozen)
    return frozen
