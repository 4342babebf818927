"""Dangol on this machine: an embedded moto (one request at a time), the API on
127.0.0.1, and a worker that runs the daily jobs and drains the queues.

State lives in memory and is gone when the process stops.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import pathlib
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.serial_moto import SerialMotoServer  # noqa: E402

JOB_EVERY_SECONDS = 24 * 60 * 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("DANGOL_PORT", "8000")))
    parser.add_argument("--moto-port", type=int, default=int(os.environ.get("DANGOL_MOTO_PORT", "0")))
    parser.add_argument("--program", default=str(ROOT.parent / "shared" / "demo-program.json"),
                        help="program configuration loaded at start (JSON file)")
    parser.add_argument("--jobs-every", type=float, default=JOB_EVERY_SECONDS,
                        help="seconds between runs of the daily jobs (default: a day)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("werkzeug", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    moto = SerialMotoServer(port=args.moto_port).start()
    os.environ["AWS_ENDPOINT_URL"] = moto.endpoint
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "local")
    os.environ.setdefault("AWS_DEFAULT_REGION", "ap-northeast-2")

    from chalice.config import Config
    from chalice.local import HTTPServer, LocalDevServer

    from chalicelib import local
    from chalicelib.domain.program import Program
    from chalicelib.runtime import services
    import app as app_module

    local.create_resources()
    program_path = pathlib.Path(args.program)
    if program_path.is_file():
        services().ledger.put_program(Program.model_validate_json(program_path.read_text()))
    admin = local.create_api_key("admin", "local-admin")
    storefront = local.create_api_key("storefront", "local-pos")

    worker = threading.Thread(target=work, args=(args.jobs_every,), daemon=True)
    worker.start()

    # One request at a time: Chalice keeps the current request on the app object.
    server = LocalDevServer(app_module.app, Config(chalice_stage="dev"), "127.0.0.1", args.port,
                            server_cls=HTTPServer)
    print(json.dumps({
        "api": f"http://127.0.0.1:{args.port}",
        "moto": moto.endpoint,
        "admin_key": admin,
        "storefront_key": storefront,
        "program": str(program_path) if program_path.is_file() else "defaults",
    }, indent=2), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        moto.stop()


def work(jobs_every: float) -> None:
    """Run each daily job now and then every `jobs_every` seconds; drain queues each second."""
    from chalicelib import local

    log = logging.getLogger("dangol.worker")
    next_jobs = 0.0
    while True:
        try:
            if time.monotonic() >= next_jobs:
                for job in local.SCHEDULED_JOBS + local.HOUSEKEEPING:
                    local.run_job(job)
                next_jobs = time.monotonic() + jobs_every
            delivered = local.drain_queues()
            if delivered:
                log.info("delivered %d queue messages", delivered)
        except Exception:
            log.exception("worker step failed")
        time.sleep(1)


if __name__ == "__main__":
    main()
