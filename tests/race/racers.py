"""What runs inside each racer process.

A racer is one warm Lambda container: its own Python process that imports the
app once and serves requests one at a time through `chalice.test.Client`, with
boto3 pointed at the shared serial moto server through `AWS_ENDPOINT_URL`.

Protocol with the test process (over a Pipe):
  -> task dict  {"requests": [request, ...], "unconditional_profile_put": bool,
                 "unconditional_coupon_use": bool}
     request    {"method", "path", "body"?, "key"?: "storefront"|"admin", "idem"?}
                (`idem` "auto" or absent: a fresh Idempotency-Key for a POST)
  <- ("ok", [[status, json], ...]) or ("error", traceback text)
  -> None       stop
Every racer waits on the shared Barrier after preparing and before its first
request, so all of them fire together.
"""

from __future__ import annotations

import contextlib
import json
import os
import traceback
import uuid

BARRIER_TIMEOUT = 60.0


def point_environment_at(endpoint: str) -> None:
    """Send every boto3 client of this process to `endpoint` (before any is made)."""
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    os.environ["AWS_ACCESS_KEY_ID"] = "testing"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
    os.environ["AWS_DEFAULT_REGION"] = "ap-northeast-2"
    for name in ("AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        os.environ.pop(name, None)


class Http:
    """JSON calls through the Chalice test client; returns [status, parsed body]."""

    def __init__(self, keys: dict[str, str]):
        from chalice.test import Client

        import app as app_module

        self.keys = keys
        self.client = Client(app_module.app)

    def call(self, method: str, path: str, body=None, key: str = "storefront", idem="auto"):
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.keys[key]}"}
        if idem == "auto":
            idem = str(uuid.uuid4()) if method == "POST" else None
        if idem is not None:
            headers["Idempotency-Key"] = idem
        payload = json.dumps(body) if body is not None else None
        response = getattr(self.client.http, method.lower())(path, headers=headers, body=payload)
        return [response.status_code, json.loads(response.body) if response.body else None]

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.call("PUT", path, body, **kw)


@contextlib.contextmanager
def unconditional_profile_puts():
    """A deliberately broken store: the member profile Put ignores the version
    it read (read-then-write). New profiles keep their must-not-exist check."""
    from chalicelib.storage import store

    original = store.Commit.put_versioned

    def put_versioned(self, item, expected_version, on_fail=store.STALE):
        if expected_version is None:
            return original(self, item, expected_version, on_fail)
        return self._add({"Put": {"TableName": self.table, "Item": store.to_attrs(item)}}, on_fail)

    store.Commit.put_versioned = put_versioned
    try:
        yield
    finally:
        store.Commit.put_versioned = original


@contextlib.contextmanager
def unconditional_coupon_uses():
    """A deliberately broken store: the coupon's status condition (`#st = :expected`
    on its code item) is left out of the TransactWriteItems of a use or release."""
    from chalicelib.storage import store

    original = store.Commit.update

    def update(self, key, expression, names, values, on_fail=store.NONE, condition=None):
        if condition == "#st = :expected":
            names = {k: v for k, v in names.items() if k != "#st"}
            values = {k: v for k, v in values.items() if k != ":expected"}
            condition = None
        return original(self, key, expression, names, values, on_fail, condition)

    store.Commit.update = update
    try:
        yield
    finally:
        store.Commit.update = original


def run_task(http: Http, task: dict, barrier) -> list:
    patched = contextlib.ExitStack()
    if task.get("unconditional_profile_put"):
        patched.enter_context(unconditional_profile_puts())
    if task.get("unconditional_coupon_use"):
        patched.enter_context(unconditional_coupon_uses())
    with patched:
        barrier.wait(BARRIER_TIMEOUT)
        return [
            http.call(r["method"], r["path"], r.get("body"), key=r.get("key", "storefront"), idem=r.get("idem", "auto"))
            for r in task["requests"]
        ]


def racer_main(endpoint: str, keys: dict[str, str], barrier, conn) -> None:
    """Entry point of a racer process."""
    try:
        point_environment_at(endpoint)
        http = Http(keys)
        # warm the container: imports, boto3 clients, the API-key cache
        for key, path, expected in (("admin", "/program", 200), ("storefront", "/members/warm-up-nobody", 404)):
            status, body = http.get(path, key=key)
            if status != expected:
                raise RuntimeError(f"warm-up GET {path} answered {status}: {body}")
    except BaseException:
        conn.send(("error", traceback.format_exc()))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        try:
            conn.send(("ok", run_task(http, task, barrier)))
        except BaseException:
            conn.send(("error", traceback.format_exc()))
