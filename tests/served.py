"""The app served over HTTP on 127.0.0.1, in this process, on in-process moto.

chalice's LocalDevServer (the same gateway emulation `chalice local` and the
local service use) answers one request at a time in a background thread, so
the in-process moto, which is not safe under concurrent threads, sees one
request at a time.
"""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Optional


@dataclass
class Served:
    url: str
    admin_key: str
    storefront_key: str

    def request(
        self,
        method: str,
        path: str,
        body: Optional[bytes | str | dict] = None,
        headers: Optional[dict] = None,
        key: Optional[str] = None,
    ) -> tuple[int, dict, bytes]:
        """Status, headers (lower-case names) and raw body; never raises on an HTTP status."""
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        sent = dict(headers or {})
        secret = {"admin": self.admin_key, "storefront": self.storefront_key}.get(key, key)
        if secret:
            sent["Authorization"] = f"Bearer {secret}"
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
        except urllib.error.HTTPError as error:
            return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


@contextlib.contextmanager
def served_app() -> Iterator[Served]:
    from chalice.config import Config
    from chalice.local import HTTPServer, LocalDevServer
    from moto import mock_aws

    import app as app_module
    from chalicelib import local, runtime

    with mock_aws():
        runtime.reset()
        local.create_resources()
        admin = local.create_api_key("admin", "hq")
        storefront = local.create_api_key("storefront", "pos-1")
        server = LocalDevServer(app_module.app, Config(chalice_stage="dev"), "127.0.0.1", 0, server_cls=HTTPServer)
        port = server.server.server_address[1]
        thread = threading.Thread(target=server.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield Served(f"http://127.0.0.1:{port}", admin, storefront)
        finally:
            server.server.shutdown()
            server.server.server_close()
            thread.join(10)
            runtime.reset()
