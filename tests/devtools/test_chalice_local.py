"""`chalice local`, a Chalice user's first habit, on a fresh clone: the `local`
stage serves the demo café on an embedded moto; any stage without AWS stops at
once with one line naming what works, instead of answering 500 on every route."""

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

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHALICE = str(pathlib.Path(sys.executable).parent / "chalice")
READY = "dangol: chalice local on an embedded moto"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def clean_env() -> dict:
    """A developer's shell: no AWS endpoint, table or credentials configured."""
    drop = (
        "AWS_ENDPOINT_URL",
        "DANGOL_TABLE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_FUNCTION_NAME",
        "DANGOL_LOCAL_AWS",
        "CHALICE_WORKER",
    )
    return {k: v for k, v in os.environ.items() if k not in drop}


def call(port: int, method: str, path: str, key: str, body=None, idem=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    if idem:
        headers["Idempotency-Key"] = idem
    connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, json.loads(data) if data else None


def test_chalice_local_with_the_local_stage_serves_the_demo_cafe_on_embedded_moto():
    port = free_port()
    # chalice's reloader runs the server in a child process: both are stopped through the group
    process = subprocess.Popen(
        [CHALICE, "local", "--stage", "local", "--port", str(port)],
        cwd=ROOT,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    err: list[str] = []
    ready = threading.Event()

    def read_stderr():
        for line in iter(process.stderr.readline, ""):
            err.append(line)
            if line.startswith(READY):
                ready.set()

    threading.Thread(target=read_stderr, daemon=True).start()
    try:
        assert ready.wait(120), "".join(err)[-2000:]
        line = next(line for line in err if line.startswith(READY))
        keys = json.loads(line[line.index("{") :])
        deadline = time.monotonic() + 30
        while True:  # the keys are printed just before chalice binds the port
            try:
                status, demo = call(port, "GET", "/members/demo", keys["storefront_key"])
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert status == 200 and demo["balance"] == 1000 + 1200  # signup bonus, a ₩120,000 purchase
        status, member = call(
            port,
            "POST",
            "/members",
            keys["storefront_key"],
            {"member_id": "jiyoon", "name": "김지윤"},
            idem="enrol-jiyoon",
        )
        assert status == 201 and member["balance"] == 1000 and member["coupons_available"] == 1
        status, earned = call(
            port,
            "POST",
            "/members/jiyoon/earn",
            keys["storefront_key"],
            {"order_id": "o-1", "amount": 12000},
            idem="earn-o-1",
        )
        assert status == 201 and earned["points"] == 120, earned
        status, program = call(port, "GET", "/program", keys["admin_key"])
        assert status == 200 and program["auto_coupons"]["signup"] == "welcome-2000"
        assert call(port, "GET", "/stats", keys["storefront_key"])[0] == 403
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_plain_chalice_local_stops_at_once_with_one_line_naming_what_works():
    port = free_port()
    for extra in ([], ["--no-autoreload"]):
        started = time.monotonic()
        process = subprocess.Popen(
            [CHALICE, "local", "--port", str(port), *extra],
            cwd=ROOT,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the reloader's server process too
            stdout, stderr = process.communicate()
        done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        assert time.monotonic() - started < 60, "chalice local kept running"
        lines = done.stderr.strip().splitlines()
        assert (
            lines == [lines[-1]]
            and "`chalice local --stage local`" in lines[-1]
            and "`bash scripts/serve.sh`" in lines[-1]
        ), done.stderr[-2000:]
        assert "Serving on" not in done.stdout
        if extra:
            assert done.returncode == 2  # (under the reloader chalice's parent process exits 0)
    with socket.socket() as probe:  # nothing was left listening
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_the_app_outside_chalice_local_never_loads_moto_or_devtools():
    """What Lambda (and `chalice package`) import: app.py with the stage flag or not."""
    script = (
        "import sys, app; "
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('moto', 'devtools')); "
        "print(loaded)"
    )
    for env in (
        {
            "AWS_LAMBDA_FUNCTION_NAME": "dangol-dev-api_handler",
            "DANGOL_LOCAL_AWS": "embedded-moto",
            "AWS_CHALICE_CLI_MODE": "true",
        },
        {"AWS_CHALICE_CLI_MODE": "true"},
        {},
    ):
        done = subprocess.run(
            [sys.executable, "-c", script, "package", "--stage", "dev"],
            cwd=ROOT,
            env={**clean_env(), **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0 and done.stdout.strip() == "[]", (env, done.stdout, done.stderr[-1000:])


def test_the_chalice_subcommand_is_read_past_its_global_options():
    from chalicelib.local import chalice_command

    assert chalice_command(["chalice", "local", "--port", "8001"]) == "local"
    assert chalice_command(["chalice", "--debug", "--project-dir", "local", "package", "out"]) == "package"
    assert chalice_command(["chalice"]) is None
