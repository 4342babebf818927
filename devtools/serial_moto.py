"""A moto server that handles one request at a time.

DynamoDB applies each request atomically; moto does not under concurrent
callers. A non-threaded werkzeug server in front of moto's backends serialises
requests, so concurrent clients (the local service's threads, or the race
tests' processes) only interleave between whole requests — which is where
read-then-write bugs live.

`SerialMotoServer` serves from a thread of the calling process (the local
service). `SerialMotoProcess` serves from a spawned process of its own, so its
backends are not the ones a `mock_aws()` in the caller resets (the race tests).
"""

from __future__ import annotations

import multiprocessing
import threading
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

HOST = "127.0.0.1"


READ_ACTIONS = ("GetItem", "BatchGetItem", "Query", "Scan", "Describe", "List", "GetQueue", "ReceiveMessage")


class Guarded:
    """Serves each request under `lock` (so a snapshot can pause the server
    between requests) and counts the requests that may change state."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.changes = 0

    def __call__(self, environ, start_response):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        from devtools import moto_patches

        with self.lock:
            if not target.rpartition(".")[2].startswith(READ_ACTIONS):
                self.changes += 1
            try:
                return list(self.app(environ, start_response))
            finally:
                moto_patches.compact()  # no-op unless the service turned compaction on


def make_serial_server(host: str = HOST, port: int = 0, quiet: bool = True):
    """A single-threaded werkzeug server around moto's backends.

    Port 0 lets the OS pick a free port while binding, so nothing can take it first.
    moto is patched (devtools/moto_patches.py) unless DANGOL_STOCK_MOTO=1."""
    from devtools import moto_patches

    moto_patches.apply()
    from moto.moto_server.threaded_moto_server import MotoRequestHandler
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    class Handler(MotoRequestHandler):
        disable_nagle_algorithm = True

        def log_request(self, *args, **kwargs):
            if not quiet:
                super().log_request(*args, **kwargs)

    return make_server(
        host, port, Guarded(DomainDispatcherApplication(create_backend_app)), threaded=False, request_handler=Handler
    )


class SerialMotoServer:
    """Serves from a daemon thread of this process."""

    def __init__(self, host: str = HOST, port: int = 0, quiet: bool = True):
        self.host = host
        self._server = make_serial_server(host, port, quiet)
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def lock(self) -> threading.Lock:
        """Held while a request is served: hold it to see moto between requests."""
        return self._server.app.lock

    @property
    def changes(self) -> int:
        """Requests served so far that may have changed state."""
        return self._server.app.changes

    def start(self) -> SerialMotoServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _serve_in_child(conn) -> None:
    server = SerialMotoServer().start()
    conn.send(server.port)
    try:
        conn.recv()  # anything (or the parent going away) means stop
    except (EOFError, OSError):
        pass
    server.stop()


class SerialMotoProcess:
    """`start()` spawns the server process and waits for its port; `stop()` ends it."""

    def __init__(self, start_timeout: float = 60.0):
        self.start_timeout = start_timeout
        self.port: int | None = None
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> SerialMotoProcess:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve_in_child, args=(child,), daemon=True, name="serial-moto")
        self._process.start()
        child.close()
        if not self._conn.poll(self.start_timeout):
            self.stop()
            raise RuntimeError("the moto server did not start")
        self.port = self._conn.recv()
        return self

    def stop(self) -> None:
        if self._process is None or self._conn is None:  # both are set by start()
            return
        try:
            self._conn.send("stop")
        except (BrokenPipeError, OSError):
            pass
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=5)
        self._conn.close()
        self._process = None
