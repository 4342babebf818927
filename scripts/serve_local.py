"""Dangol on this machine: an embedded moto (one request at a time, patched so a
request's cost does not grow with the data), the API on 127.0.0.1, and a worker
that runs the daily jobs and drains the queues.

HTTP is served by a thread per connection; the app itself handles one request
at a time (Chalice keeps the current request on the app object), and an idle
keep-alive connection is closed after --idle-timeout seconds without holding
up anyone else. Every request is logged as `access METHOD PATH STATUS MS ms`.

Once it serves, it writes ONE JSON object on stdout (flushed; the process keeps
running): the API's address, a new admin key and storefront key, the console's,
the docs' and the member page's URLs, and a widget token (15 minutes) for the demo
member `demo`, enrolled with a purchase if the shop lacks it. Everything else
(progress, access lines, the app's JSON logs) goes to stderr, so
`bash scripts/serve.sh | jq` works.

Local-only routes (served here, never part of the AWS build), admin key:
  POST /local/jobs/{name}   run a daily job now, then deliver the queued notifications
  GET  /local/status        process memory, members seeded, state file
  POST /local/bulk-members  {"template": id, "begin": true}, then the member made through
                            the API, then {"template": id, "count": n}: n copies of it (load tests)

State lives in memory unless --data PATH is given: then it is restored from
PATH at start and saved there every --save-every seconds (when it changed) and
at shutdown.
"""

from __future__ import annotations

import argparse
import errno
import functools
import json
import logging
import os
import pathlib
import re
import signal
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from urllib.parse import urlsplit

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools import demo_shop  # noqa: E402 (after sys.path)
from devtools.demo_shop import DEMO_MEMBER, demo_widget_token  # noqa: E402 (tests call demo_widget_token here)

JOB_EVERY_SECONDS = 24 * 60 * 60
STARTED = time.monotonic()

access_log = logging.getLogger("local.access")
log = logging.getLogger("local.service")

APP_LOCK = threading.Lock()  # one request at a time through the Chalice app
JOB_LOCK = threading.Lock()  # one job or queue drain at a time


class FrontServer(ThreadingHTTPServer):
    daemon_threads = True
    # the handler is set once the app is imported; the port is bound first so
    # a busy port is reported before anything slow happens
    RequestHandlerClass = None  # type: ignore[assignment]


def bind(port: int) -> FrontServer:
    try:
        return FrontServer(("127.0.0.1", port), None)  # type: ignore[arg-type]
    except OSError as error:
        if error.errno in (errno.EADDRINUSE, errno.EACCES):
            reason = "is in use" if error.errno == errno.EADDRINUSE else "is not allowed"
            print(
                f"dangol: port {port} on 127.0.0.1 {reason}; choose another with --port N (e.g. --port {port + 1})",
                file=sys.stderr,
            )
            raise SystemExit(1) from None
        raise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("DANGOL_PORT", "8000")),
        help="API port on 127.0.0.1 (0: any free port)",
    )
    parser.add_argument("--moto-port", type=int, default=int(os.environ.get("DANGOL_MOTO_PORT", "0")))
    parser.add_argument(
        "--program", default=str(demo_shop.PROGRAM), help="program configuration loaded into a new shop (JSON file)"
    )
    parser.add_argument(
        "--coupons",
        default=str(demo_shop.COUPONS),
        help="coupon templates (a JSON list) added to a new shop before its program, which may name them",
    )
    parser.add_argument(
        "--jobs-every",
        type=float,
        default=JOB_EVERY_SECONDS,
        help="seconds between runs of the daily jobs (default: a day)",
    )
    parser.add_argument(
        "--data",
        metavar="PATH",
        help="keep the local state in PATH between runs (restored at start, saved periodically and at shutdown)",
    )
    parser.add_argument(
        "--save-every",
        type=float,
        default=120.0,
        help="with --data: seconds between saves when something changed (default 120)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help="fill the shop with N members and a few months of their purchases",
    )
    parser.add_argument(
        "--idle-timeout", type=float, default=10.0, help="seconds an idle keep-alive connection stays open (default 10)"
    )
    args = parser.parse_args()
    if args.seed < 0:
        parser.error("--seed must be 0 or more")
    # stdout carries the one JSON document; anything else that writes to stdout
    # (chalice's app.log handler, a stray print) writes to stderr instead
    document_out, sys.stdout = sys.stdout, sys.stderr
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("werkzeug", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    front = bind(args.port)
    port = front.server_address[1]
    log.info("starting: embedded DynamoDB/SQS/SES/SNS (moto) and the API on 127.0.0.1:%d ...", port)

    from devtools import local_state, moto_patches
    from devtools.serial_moto import SerialMotoServer

    patched = moto_patches.apply()
    if patched:
        moto_patches.enable_compaction()  # stored items packed between requests
    restored = False
    if args.data:
        started = time.monotonic()
        try:
            restored = local_state.restore(args.data)
        except local_state.StateFileError as error:
            print(f"dangol: {error}", file=sys.stderr)
            raise SystemExit(1) from None
        if restored:
            log.info("restored the local state from %s in %.1f s", args.data, time.monotonic() - started)
    moto = SerialMotoServer(port=args.moto_port).start()
    os.environ["AWS_ENDPOINT_URL"] = moto.endpoint
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "local")
    os.environ.setdefault("AWS_DEFAULT_REGION", "ap-northeast-2")

    from chalice.config import Config

    import app as app_module
    from chalicelib import local
    from chalicelib.runtime import services

    local.create_resources()
    if restored and services().store.get("PROGRAM", "CONFIG") is not None:
        program_note = f"kept from {args.data}"
    else:
        program_note = demo_shop.load_program(args.program, args.coupons)
    admin = local.create_api_key("admin", "local-admin")
    storefront = local.create_api_key("storefront", "local-pos")

    seeded = 0
    if args.seed and restored:
        log.info("--seed %d ignored: the shop restored from %s keeps the members it has", args.seed, args.data)
    elif args.seed:
        from devtools import seed_shop

        started = time.monotonic()
        log.info("seeding %d members with nine months of visits ...", args.seed)
        with seed_shop.in_process_calls():
            seeded = seed_shop.seed(app_module.app, args.seed, progress=log.info, admin_key=admin)
        log.info("seeded %d members in %.0f s", seeded, time.monotonic() - started)

    demo_token = demo_widget_token(app_module.app, storefront)

    saver = StateSaver(args.data, moto, args.save_every) if args.data else None
    stop = threading.Event()
    worker = threading.Thread(target=work, args=(args.jobs_every, stop, saver), daemon=True, name="dangol-worker")
    worker.start()

    front.RequestHandlerClass = functools.partial(
        LocalHandler, app_object=app_module.app, config=Config(chalice_stage="dev")
    )
    LocalHandler.timeout = args.idle_timeout
    LocalHandler.context = {"data": args.data, "saver": saver, "seeded": seeded, "moto": moto}
    api = f"http://127.0.0.1:{port}"
    document_out.write(
        json.dumps(
            {
                "api": api,
                "admin_key": admin,
                "storefront_key": storefront,
                "console": f"{api}/console",
                "docs": f"{api}/docs",
                "openapi": f"{api}/openapi.json",
                "widget": f"{api}/widget",
                "widget_token": demo_token["token"],
                "widget_token_member": DEMO_MEMBER,
                "widget_token_expires_at": demo_token["expires_at"],
                "moto": moto.endpoint,
                "program": program_note,
                "data": args.data or "in memory only",
                "moto_patches": "on" if patched else "off (DANGOL_STOCK_MOTO)",
                "hints": {
                    "console": "sign in with admin_key",
                    "widget": "paste widget_token",
                    "run_a_job_now": f"curl -XPOST {api}/local/jobs/expire_points "
                    "-H 'Authorization: Bearer <admin_key>'",
                    "new_widget_token": f"curl -XPOST {api}/members/{DEMO_MEMBER}/widget-tokens "
                    "-H 'Authorization: Bearer <storefront_key>'",
                },
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )
    document_out.flush()

    def terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        front.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        front.server_close()
        with JOB_LOCK:
            if saver is not None:
                saver.save("at shutdown")
        moto.stop()


class StateSaver:
    """Saves moto's state to a file while no request is being served."""

    def __init__(self, path: str, moto, every: float):
        self.path = path
        self.moto = moto
        self.every = every
        self.next_at = time.monotonic() + every
        self.saved_changes = -1

    def due(self) -> bool:
        return time.monotonic() >= self.next_at

    def save(self, why: str) -> None:
        from devtools import local_state

        with self.moto.lock:
            if self.moto.changes == self.saved_changes:
                self.next_at = time.monotonic() + self.every
                return
            started = time.monotonic()
            size = local_state.save(self.path)
            self.saved_changes = self.moto.changes
        self.next_at = time.monotonic() + self.every
        log.info(
            "saved the local state to %s (%s, %.1f MB in %.1f s)",
            self.path,
            why,
            size / 1e6,
            time.monotonic() - started,
        )


def work(jobs_every: float, stop: threading.Event, saver: StateSaver | None) -> None:
    """Run each daily job now and then every `jobs_every` seconds; drain queues each
    second; save the state when due."""
    from chalicelib import local

    worker_log = logging.getLogger("local.worker")
    next_jobs = 0.0
    while not stop.is_set():
        try:
            with JOB_LOCK:
                if time.monotonic() >= next_jobs:
                    for job in local.SCHEDULED_JOBS + local.HOUSEKEEPING + local.IMPORT_JOBS:
                        local.run_job(job)
                    next_jobs = time.monotonic() + jobs_every
                delivered = local.drain_queues()
                if delivered:
                    worker_log.info("delivered %d queue messages", delivered)
                if saver is not None and saver.due():
                    saver.save("periodic")
        except Exception:
            worker_log.exception("worker step failed")
        stop.wait(1)


# -- HTTP ---------------------------------------------------------------------
def _local_handler_base():
    from chalice.local import ChaliceRequestHandler, LocalGatewayException

    return ChaliceRequestHandler, LocalGatewayException


_Base, _GatewayError = _local_handler_base()


class LocalHandler(_Base):
    """Chalice's request handler, with the app called under APP_LOCK (the body is
    read and the response written outside it), an access log line per request
    and the local-only routes."""

    timeout = 10.0
    disable_nagle_algorithm = True  # headers and body leave in two writes: no 40 ms delayed-ACK stall
    context: dict = {}

    def send_response(self, code, message=None):
        self._status = code
        super().send_response(code, message)

    def log_request(self, code="-", size="-"):
        pass  # one access line per request, written by _generic_handle

    def log_message(self, format, *args):
        log.info("%s", format % args)

    def _generic_handle(self) -> None:
        started = time.perf_counter()
        self._status = 0
        path = urlsplit(self.path).path
        try:
            headers, body = self._parse_payload()
            if path == "/local" or path.startswith("/local/"):
                self._local_route(path, body)
                return
            try:
                with APP_LOCK:
                    response = self.local_gateway.handle_request(
                        method=self.command, path=self.path, headers=headers, body=body
                    )
            except _GatewayError as error:
                # chalice's local gateway: 403 for a path no route matches, with a message
                # that quotes the Authorization header; answer in the contract's shape instead
                status = getattr(error, "CODE", 403)
                shown = re.sub(r"dgl_[A-Za-z0-9_-]*", "dgl_***", path)[:200]
                if status == 403:
                    self._error(404, "NOT_FOUND", f"no such route: {self.command} {shown}")
                elif status == 401:
                    self._error(401, "UNAUTHORIZED", "missing or unknown API key")
                else:
                    self._error(500, "INTERNAL_ERROR", "the local gateway failed")
                return
            out_headers = response["headers"].copy()
            out_headers.update(response["multiValueHeaders"])
            response = self._handle_binary(response)
            self._send_http_response(response["statusCode"], out_headers, response["body"])
        finally:
            access_log.info(
                "%s %s %s %.1f ms",
                self.command,
                path[:200],
                self._status or "-",
                (time.perf_counter() - started) * 1000,
            )

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _generic_handle

    # -- local-only routes ----------------------------------------------------
    def _json(self, status: int, body: dict, extra: dict | None = None) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", **(extra or {})}
        self._send_http_response(status, headers, data)

    def _dynamodb_footprint(self) -> dict:
        """Partitions, bytes of their packed blobs and index records (read between requests)."""
        from devtools import moto_patches

        with self.context["moto"].lock:
            return moto_patches.footprint()

    def _error(self, status: int, code: str, message: str, extra: dict | None = None) -> None:
        self._json(status, {"error": {"code": code, "message": message}}, extra)

    def _admin(self) -> bool:
        from chalicelib.errors import ForbiddenError, UnauthorizedError
        from chalicelib.runtime import services

        try:
            services().keys.authenticate(self.headers.get("Authorization"), "admin")
            return True
        except UnauthorizedError as error:
            self._error(401, error.code, error.message)
        except ForbiddenError as error:
            self._error(403, error.code, error.message)
        return False

    def _local_route(self, path: str, body: bytes | None) -> None:
        from chalicelib import local

        parts = path.strip("/").split("/")
        routes = {("local", "jobs"): "POST", ("local", "status"): "GET", ("local", "bulk-members"): "POST"}
        shape = tuple(parts[:2])
        if shape not in routes or (shape == ("local", "jobs")) != (len(parts) == 3) or len(parts) > 3:
            self._error(404, "NOT_FOUND", f"no local route {path}")
            return
        if self.command != routes[shape]:
            self._error(405, "METHOD_NOT_ALLOWED", f"{path} accepts {routes[shape]}", {"Allow": routes[shape]})
            return
        if not self._admin():
            return
        if shape == ("local", "jobs"):
            name = parts[2]
            if name not in local.SCHEDULED_JOBS:
                self._error(404, "NOT_FOUND", f"no job {name!r}; one of {', '.join(local.SCHEDULED_JOBS)}")
                return
            started = time.monotonic()
            with JOB_LOCK:
                local.run_job(name)
                delivered = local.drain_queues()
            self._json(
                200,
                {"job": name, "seconds": round(time.monotonic() - started, 3), "notifications_delivered": delivered},
            )
        elif shape == ("local", "status"):
            self._json(
                200,
                {
                    "rss_bytes": rss_bytes(),
                    "dynamodb": self._dynamodb_footprint(),
                    "uptime_seconds": round(time.monotonic() - STARTED, 1),
                    "seeded_members": self.context.get("seeded", 0),
                    "data": self.context.get("data"),
                },
            )
        else:
            from devtools import bulk_members

            try:
                request = json.loads(body or b"{}")
                template, count = str(request["template"]), int(request.get("count", 0))
                prefix = str(request.get("prefix", "bulk"))
            except (ValueError, KeyError, TypeError, AttributeError):
                self._error(
                    400,
                    "VALIDATION_ERROR",
                    'expected {"template": member id, "begin": true} or {"template": id, "count": n}',
                )
                return
            started = time.monotonic()
            try:
                with APP_LOCK, JOB_LOCK, self.context["moto"].lock:
                    if request.get("begin"):
                        bulk_members.begin(template)
                        made = 0
                    else:
                        made = bulk_members.copy_member(template, count, prefix)
            except bulk_members.BulkError as error:
                self._error(400, "VALIDATION_ERROR", str(error))
                return
            self._json(201, {"created": made, "seconds": round(time.monotonic() - started, 3)})


def rss_bytes() -> int:
    """Resident memory of this process (Linux /proc; else the peak from getrusage)."""
    try:
        for line in pathlib.Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


if __name__ == "__main__":
    main()
