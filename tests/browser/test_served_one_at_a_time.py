"""The browser tests' server calls the app one request at a time, as moto in-process and
chalice's one `current_request` need: requests made at once by several connections (as a
page makes them) never overlap inside the app."""

from __future__ import annotations

import threading
import time
import urllib.request

from chalice.local import LocalGateway

from tests.browser.conftest import served_to_a_browser


def test_requests_made_at_once_are_handled_one_after_another(monkeypatch):
    inside, most, guard = [0], [0], threading.Lock()
    handle = LocalGateway.handle_request

    def counted(self, *args, **kwargs):
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        try:
            time.sleep(0.05)  # long enough for the others to arrive meanwhile
            return handle(self, *args, **kwargs)
        finally:
            with guard:
                inside[0] -= 1

    monkeypatch.setattr(LocalGateway, "handle_request", counted)
    with served_to_a_browser() as served:
        statuses: list[int] = []

        def get() -> None:
            with urllib.request.urlopen(f"{served.url}/health", timeout=30) as answer:
                statuses.append(answer.status)

        threads = [threading.Thread(target=get) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert statuses == [200] * 6
    assert most[0] == 1
