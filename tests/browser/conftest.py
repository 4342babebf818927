"""Headless Chromium (Debian's `chromium` package) driven by playwright-python,
against the app served over HTTP in this process (tests/served.py).

Playwright never downloads a browser here: it launches /usr/bin/chromium. Where no
Chromium is installed these tests are skipped with a message saying so (`.ci/run`
installs it). Screenshots go to tests/artifacts/ (git-ignored)."""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import tempfile
import threading

import pytest

CHROMIUM = os.environ.get("DANGOL_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = pathlib.Path(__file__).resolve().parents[1] / "artifacts"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")


def pytest_collection_modifyitems(config, items):
    if pathlib.Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK):
        return
    skip = pytest.mark.skip(
        reason=f"no Chromium at {CHROMIUM}: install Debian's chromium "
        "(apt-get install chromium) to run the browser tests"
    )
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="dangol-chromium-")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            args=ARGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
            locale="en-US",
            timezone_id="UTC",
        )
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(chromium, request):
    """A new tab, closed after the test; what its console logged is kept for failures."""
    tab = chromium.new_page()
    logged: list[str] = []
    tab.on("console", lambda message: logged.append(f"{message.type}: {message.text}"))
    tab.on("pageerror", lambda error: logged.append(f"pageerror: {error}"))
    tab.logged = logged
    yield tab
    tab.close()
    script_errors = [line for line in logged if line.startswith("pageerror")]
    assert not script_errors, script_errors


def screenshot(tab, name: str) -> pathlib.Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    tab.screenshot(path=str(path), full_page=True)
    return path


@contextlib.contextmanager
def served_to_a_browser():
    """tests/served.py's app on in-process moto, served by a thread per connection with
    the app called one request at a time (moto in-process is not thread-safe): a browser
    opens several connections at once, some of them idle (preconnects), which would hold
    a one-connection-at-a-time server. Each connection is closed after its answer."""
    from chalice.config import Config
    from chalice.local import ChaliceRequestHandler, LocalDevServer, ThreadedHTTPServer
    from moto import mock_aws

    import app as app_module
    from chalicelib import local, runtime
    from tests.served import Served

    one_at_a_time = threading.Lock()

    class OneRequestAtATime(ChaliceRequestHandler):
        protocol_version = "HTTP/1.0"
        timeout = 30  # an idle connection gives up its thread after this long

        def _generic_handle(self):
            with one_at_a_time:
                super()._generic_handle()

        # chalice binds its do_GET ... to its own _generic_handle at class creation: without
        # these, the override above is never called and requests run at once (the app's
        # current_request of one request seen by another: a cohorts request read without its
        # query string, a 400, now and then)
        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

        def log_message(self, format, *args):
            pass

    class Server(ThreadedHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):
            pass  # a tab closed while its answer was being written

    with mock_aws():
        runtime.reset()
        local.create_resources()
        admin = local.create_api_key("admin", "hq")
        storefront = local.create_api_key("storefront", "pos-1")
        server = LocalDevServer(
            app_module.app,
            Config(chalice_stage="dev"),
            "127.0.0.1",
            0,
            handler_cls=OneRequestAtATime,
            server_cls=Server,
        )
        port = server.server.server_address[1]
        thread = threading.Thread(target=server.server.serve_forever, daemon=True)
        thread.start()
        try:
            served = Served(f"http://127.0.0.1:{port}", admin, storefront)
            served.one_at_a_time = one_at_a_time  # work done beside the server (a job) takes it too
            yield served
        finally:
            server.server.shutdown()
            server.server.server_close()
            thread.join(10)
            runtime.reset()
