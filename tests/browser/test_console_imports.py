"""The console's imports view in headless Chromium: paste lines or choose a file, start the
import, and read its report with the errors by line once the job has applied it."""

from __future__ import annotations

import json

import pytest

from tests.browser import shop
from tests.browser.conftest import screenshot, served_to_a_browser
from tests.browser.test_console import UNLABELLED, sign_in

LINES = [
    {"member_id": "new1", "name": "Choi Yuna", "email": "yuna@example.com", "opening_balance": 3000},
    {"member_id": "kim", "name": "Kim again"},  # exists
    {"member_id": "new2", "name": "Jung Ho", "lifetime_spend": 400000},
    {"member_id": "bad", "name": "Bad", "phone": "not a phone"},
]


@pytest.fixture
def served():
    with served_to_a_browser() as served:
        served.data = shop.fill(served)
        yield served


def run_the_job(served):
    from chalicelib import local

    with served.one_at_a_time:  # moto in-process: one caller at a time
        local.run_job("run_imports")


def test_pasted_lines_are_imported_and_the_report_lists_the_errors_by_line(page, served):
    sign_in(page, served)
    page.click("#nav [data-view=imports]")
    page.fill(
        "#import-data",
        "\n".join(json.dumps(line) for line in LINES[:2])
        + "\n\n"
        + "\n".join(json.dumps(line) for line in LINES[2:])
        + "\n{not json",
    )
    page.click("#import-start")
    page.wait_for_selector("#import-report:not([hidden])")
    assert page.inner_text("#import-status") == "Running…"
    run_the_job(served)
    page.wait_for_selector("#import-status:has-text('Done')")  # the page looks again by itself
    assert [page.inner_text(f"#import-{name}") for name in ("lines", "imported", "skipped", "error-count")] == [
        "5",
        "2",
        "1",
        "2",
    ]
    rows = [row.split("\t") for row in page.inner_text("#import-errors tbody").splitlines()]
    assert [(row[0], row[1]) for row in rows] == [("5", "VALIDATION_ERROR"), ("6", "VALIDATION_ERROR")]
    assert "phone" in rows[0][2] and "not valid JSON" in rows[1][2]
    assert shop.call(served, "GET", "/members/new2")["tier"] == "열매"
    screenshot(page, "console-import-report")
    # the same report, opened by its id
    import_id = page.inner_text("#import-report-title").split()[-1]
    page.reload()
    page.click("#nav [data-view=imports]")
    page.fill("#import-id", import_id)
    page.click("#import-open-form button[type=submit]")
    page.wait_for_selector("#import-status:has-text('Done')")
    page.fill("#import-id", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
    page.click("#import-open-form button[type=submit]")
    page.wait_for_selector("#import-open-error:has-text('No import')")


def test_a_chosen_file_is_imported(page, served, tmp_path):
    sign_in(page, served)
    page.click("#nav [data-view=imports]")
    path = tmp_path / "members.jsonl"
    path.write_text(json.dumps(LINES[0]) + "\n", encoding="utf-8")
    page.set_input_files("#import-file", str(path))
    page.click("#import-start")
    page.wait_for_selector("#import-report:not([hidden])")
    run_the_job(served)
    page.click("#import-refresh")
    page.wait_for_selector("#import-status:has-text('Done')")
    assert page.inner_text("#import-imported") == "1"
    assert page.inner_text("#import-errors-note") == "No errors."
    assert shop.call(served, "GET", "/members/new1")["balance"] == 3000


def test_nothing_to_import_is_said_next_to_the_form(page, served):
    sign_in(page, served)
    page.click("#nav [data-view=imports]")
    page.click("#import-start")
    page.wait_for_selector("#import-error:has-text('Choose a file or paste')")
    assert page.evaluate(UNLABELLED) == []
