"""`chalice local --stage local`: the app on an embedded moto with the demo café.

The `local` stage of `.chalice/config.json` sets DANGOL_LOCAL_AWS=embedded-moto;
app.py then calls `start` (through chalicelib/local.py) once its routes exist.
A one-request-at-a-time moto server starts on a free port of 127.0.0.1 in a
thread of this process, the table, queues and sender identity are made, the
demo café's coupons and program are loaded, and one line on stderr gives an
admin key, a storefront key and a widget token for the demo member.

The state lives in memory: chalice's reloader starts a new process (a new,
empty shop and new keys) when a file changes. There is no scheduler or queue
worker here; `bash scripts/serve.sh` has both (and keeps state with --data).
This module is never part of the AWS build.
"""

from __future__ import annotations

import json
import logging
import os
import sys


def start(app_object) -> dict:
    from devtools import demo_shop

    for noisy in ("botocore", "urllib3", "werkzeug"):  # chalice local logs INFO on stdout
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from devtools.serial_moto import SerialMotoServer

    moto = SerialMotoServer(port=int(os.environ.get("DANGOL_MOTO_PORT", "0"))).start()
    os.environ["AWS_ENDPOINT_URL"] = moto.endpoint
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "local")
    os.environ.setdefault("AWS_DEFAULT_REGION", "ap-northeast-2")

    from chalicelib import local
    from chalicelib.runtime import reset

    reset()  # clients made from here on use the embedded moto
    local.create_resources()
    program = demo_shop.load_program(
        os.environ.get("DANGOL_PROGRAM", str(demo_shop.PROGRAM)),
        os.environ.get("DANGOL_COUPONS", str(demo_shop.COUPONS)),
    )
    keys = {
        "admin_key": local.create_api_key("admin", "local-admin"),
        "storefront_key": local.create_api_key("storefront", "local-pos"),
    }
    token = demo_shop.demo_widget_token(app_object, keys["storefront_key"])
    keys.update(
        widget_token=token["token"], widget_token_member=demo_shop.DEMO_MEMBER, program=program, moto=moto.endpoint
    )
    print(
        "dangol: chalice local on an embedded moto (in memory; a reload starts an empty shop "
        "with new keys; no jobs or notifications: bash scripts/serve.sh has them): "
        + json.dumps(keys, ensure_ascii=False),
        file=sys.stderr,
        flush=True,
    )
    return keys
