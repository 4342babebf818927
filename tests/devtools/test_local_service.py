"""scripts/serve_local.py end to end, as a developer meets it: started as a
process on 127.0.0.1, driven over HTTP, stopped, started again with its data."""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from devtools.startup_json import read_document

ROOT = pathlib.Path(__file__).resolve().parents[2]
START_TIMEOUT = 180


class Running:
    def __init__(self, *args: str, command: tuple[str, ...] | None = None, unbuffered: bool = True):
        env = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "PYTHONUNBUFFERED")}
        if unbuffered:
            env["PYTHONUNBUFFERED"] = "1"
        self.process = subprocess.Popen(
            [*(command or (sys.executable, str(ROOT / "scripts" / "serve_local.py"))), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        self.err: list[str] = []
        threading.Thread(target=lambda: self.err.extend(iter(self.process.stderr.readline, "")), daemon=True).start()
        started = threading.Timer(START_TIMEOUT, self.process.kill)  # a start that hangs fails
        started.start()
        try:
            self.info = read_document(self.process.stdout)
            if self.info is None:
                pytest.fail("the local service did not start: " + "".join(self.err)[-2000:])
            if "api" not in self.info:
                pytest.fail(f"stdout began with something other than the keys: {self.info}")
        except BaseException:
            self.process.kill()
            raise
        finally:
            started.cancel()
        # the rest of stdout, read until the process ends: nothing but the document is written there
        self.after: list[str] = []
        threading.Thread(
            target=lambda: self.after.extend(iter(self.process.stdout.readline, "")), daemon=True, name="stdout-rest"
        ).start()
        self.port = int(self.info["api"].rsplit(":", 1)[1])

    def call(self, method, path, body=None, key="storefront_key", idem=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {self.info[key]}"
        if idem:
            headers["Idempotency-Key"] = idem
        connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        return response.status, json.loads(data) if data else None

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def test_the_local_service_serves_runs_jobs_keeps_its_data_and_explains_itself(tmp_path):
    data = tmp_path / "shop.state"
    service = Running("--port", "0", "--data", str(data), "--jobs-every", "86400")
    try:
        # an idle keep-alive connection does not hold up anyone else
        idle = socket.create_connection(("127.0.0.1", service.port))
        idle.sendall(b"GET /stats HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        started = time.monotonic()
        status, member = service.call(
            "POST", "/members", {"member_id": "jiyoon", "name": "김지윤"}, idem="enrol-jiyoon"
        )
        assert status == 201 and member["balance"] == 1000
        assert time.monotonic() - started < 30
        idle.close()
        # a new shop starts on the v2 demo: its coupon templates, then the program naming them
        status, templates = service.call("GET", "/coupon-templates?limit=100")
        assert status == 200 and {"welcome-2000", "latte-1000", "comeback-20"} <= {
            t["template_id"] for t in templates["items"]
        }
        status, program = service.call("GET", "/program", key="admin_key")
        assert program["auto_coupons"]["signup"] == "welcome-2000" and program["dormancy"] == {"after_days": 180}
        assert member["coupons_available"] == 1  # the welcome coupon
        # jobs on demand: admin key only, known jobs only
        status, ran = service.call("POST", "/local/jobs/expire_points", key="admin_key")
        assert status == 200 and ran["job"] == "expire_points"
        assert service.call("POST", "/local/jobs/expire_points")[0] == 403
        assert service.call("POST", "/local/jobs/expire_points", key=None)[1]["error"]["code"] == "UNAUTHORIZED"
        assert service.call("POST", "/local/jobs/make_coffee", key="admin_key")[1]["error"]["code"] == "NOT_FOUND"
        assert service.call("GET", "/local/jobs/expire_points", key="admin_key")[0] == 405
        # a path that is no route, however deep: 404 in the contract's shape, the key never echoed
        deep = "/" + "/".join(f"x{n}" for n in range(14))
        status, body = service.call("GET", deep)
        assert status == 404 and body["error"]["code"] == "NOT_FOUND", body
        assert service.info["storefront_key"] not in json.dumps(body)
        # a busy port: one line that names the port and --port
        second = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "serve_local.py"), "--port", str(service.port)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert second.returncode == 1
        assert second.stderr.strip().splitlines() == [
            f"dangol: port {service.port} on 127.0.0.1 is in use; choose another with --port N "
            f"(e.g. --port {service.port + 1})"
        ]
    finally:
        assert service.stop() in (0, -signal.SIGTERM)
    access = [line for line in service.err if " local.access " in line]
    assert any(line.rstrip().endswith(" ms") and " POST /members 201 " in line for line in access), access
    assert any(" POST /local/jobs/expire_points 403 " in line for line in access)
    assert not any(service.info["storefront_key"] in line or service.info["admin_key"] in line for line in service.err)
    assert data.exists()

    again = Running("--port", "0", "--data", str(data), "--jobs-every", "86400")
    try:
        status, member = again.call("GET", "/members/jiyoon")
        assert status == 200 and member["name"] == "김지윤" and member["balance"] == 1000
        # the first key still works, and the replayed enrolment still replays
        again.info = dict(again.info, storefront_key=service.info["storefront_key"])
        status, replay = again.call("POST", "/members", {"member_id": "jiyoon", "name": "김지윤"}, idem="enrol-jiyoon")
        assert status == 201 and replay["member_id"] == "jiyoon" and replay["balance"] == 1000
        status, other = again.call(
            "POST", "/members", {"member_id": "jiyoon", "name": "김지윤"}, idem="enrol-jiyoon-again"
        )
        assert status == 409  # a new request for the same id: the member exists
    finally:
        again.stop()


def test_serve_sh_writes_one_json_document_on_stdout_and_every_log_on_stderr():
    """`bash scripts/serve.sh | jq`: stdout is the keys' JSON object, flushed as soon
    as the API answers (stdout a pipe, Python's buffering as a user has it), and
    nothing else; the app's JSON log lines, the access lines and the progress
    lines all go to stderr."""
    service = Running(
        "--port", "0", "--jobs-every", "86400", command=("bash", str(ROOT / "scripts" / "serve.sh")), unbuffered=False
    )
    try:
        info = service.info
        assert info["api"] == f"http://127.0.0.1:{service.port}"
        assert info["admin_key"].startswith("dgl_") and info["storefront_key"].startswith("dgl_")
        assert info["widget_token"].startswith("dgw_") and info["widget_token_member"] == "demo"
        assert info["console"] == info["api"] + "/console" and info["docs"] == info["api"] + "/docs"
        status, member = service.call(
            "POST", "/members", {"member_id": "minjun", "name": "박민준"}, idem="enrol-minjun"
        )
        assert status == 201 and member["balance"] == 1000
        status, _ = service.call("POST", "/local/jobs/recompute_tiers", key="admin_key")
        assert status == 200
    finally:
        assert service.stop() in (0, -signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(t.is_alive() for t in threading.enumerate() if t.name == "stdout-rest"):
        time.sleep(0.05)
    assert "".join(service.after).strip() == "", service.after[:5]
    logged = "".join(service.err)
    assert " local.access POST /members 201 " in logged  # access lines
    assert '"logger": "dangol.requests"' in logged  # the app's own JSON log lines
    assert " local.service starting: " in logged  # progress
