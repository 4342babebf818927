"""A webhook receiver on 127.0.0.1 for tests and benchmarks: a real HTTP server in a
thread that records every POST and answers with the status its path asks for.

    with Receiver() as receiver:
        url = receiver.url("/ok")          # answers 200
        url = receiver.url("/fail")        # answers 500
        receiver.answers["/flaky"] = [500, 200]   # one status per request, then 200
        receiver.delay["/slow"] = 2.0      # seconds before answering
        receiver.requests                  # [Received(path, headers, body, at), ...]
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() when it arrived


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.answers: dict[str, list[int]] = {}
        self.delay: dict[str, float] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests.append(Received(self.path, dict(self.headers), body, time.time()))
                    queued = receiver.answers.get(self.path)
                    status = queued.pop(0) if queued else (500 if self.path.startswith("/fail") else 200)
                pause = receiver.delay.get(self.path, 0.0)
                if pause:
                    time.sleep(pause)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def to(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
