"""A moto server that handles one request at a time, like DynamoDB applies each
request atomically (in-process moto is not atomic under threads)."""
from __future__ import annotations

import socket
import threading

from werkzeug.serving import make_server


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class SerialMotoServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, quiet: bool = True):
        from moto.moto_server.threaded_moto_server import MotoRequestHandler
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        class Handler(MotoRequestHandler):
            def log_request(self, *args, **kwargs):
                if not quiet:
                    super().log_request(*args, **kwargs)

        self.host = host
        self.port = port or free_port(host)
        self._server = make_server(
            host, self.port, DomainDispatcherApplication(create_backend_app),
            threaded=False, request_handler=Handler,
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "SerialMotoServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
