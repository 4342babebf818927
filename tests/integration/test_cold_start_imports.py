"""What a cold start loads: `import app` in a fresh interpreter, then which modules
are in sys.modules. The OpenAPI document (and the response models it is made of),
the docs page and the console are loaded by their own routes only, and so are
libraries only some requests need. (The CPU this saves is measured by
scripts/benchmark_cold_start.py; this test checks the structure, not the time.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

NOT_AT_COLD_START = [
    "chalicelib.api.openapi",  # the document: built on GET /openapi.json
    "chalicelib.api.operations",  # the table it is built from
    "chalicelib.api.responses",  # the response models, for the document only
    "chalicelib.api.docs_page",  # GET /docs and its assets
    "chalicelib.api.ui",  # GET /console, /widget and their assets
    "email_validator",  # the first request with an email address
    "phonenumbers",  # the first phone number read
    # analytics (§17): the API only reads stored results, it never loads the analytics
    # package (facts, engines, queries, refresh); the stream function needs boto3 alone
    "chalicelib.analytics",
    "duckdb",
    "pyarrow",
    "sqlglot",
    # webhooks (§24): the API records events and registers webhooks; the delivery worker
    # (its HTTP client) is loaded by the webhook queue's handler and the dispatcher only
    "chalicelib.webhooks.delivery",
]


def loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter has after running `code` (`import app` first)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_DEFAULT_REGION": "ap-northeast-2",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "PYTHONPATH": str(ROOT),
        }
    )
    program = f"import json, sys\nimport app\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_import_app_loads_no_openapi_document_docs_page_or_console():
    loaded = loaded_after("")
    assert "app" in loaded and "chalicelib.ledger.service" in loaded  # the API itself is loaded
    assert [name for name in NOT_AT_COLD_START if name in loaded] == []


def test_request_body_models_are_built_on_first_use():
    """A body model's validator is built by the first request that needs it: a cold
    start builds none of them (the program's models, read by almost every request, are)."""
    loaded = loaded_after(
        "from chalicelib.api import schemas\n"
        "from chalicelib.domain.program import Program\n"
        "built = sorted(name for name, model in vars(schemas).items() if isinstance(model, type)\n"
        "               and issubclass(model, schemas.Request) and model.__pydantic_complete__)\n"
        "assert built == [] and Program.__pydantic_complete__, built\n"
        'schemas.Earn.model_validate_json(\'{"order_id": "A-1", "amount": 5}\')\n'
        "assert schemas.Earn.__pydantic_complete__\n"
    )
    assert "chalicelib.api.schemas" in loaded


def test_the_document_and_docs_page_are_loaded_by_their_routes():
    loaded = loaded_after(
        "from chalice.test import Client\n"
        "with Client(app.app) as client:\n"
        "    assert client.http.get('/openapi.json').status_code == 200\n"
        "    assert client.http.get('/docs').status_code == 200\n"
    )
    assert {"chalicelib.api.openapi", "chalicelib.api.responses", "chalicelib.api.docs_page"} <= loaded


def test_the_analytics_answers_load_no_analytics_engine():
    """§17: /analytics, /segments, insights and recommendations are read from stored results; answering
    them loads neither an engine nor the refresh."""
    loaded = loaded_after(
        "from chalice.test import Client\n"
        "from moto import mock_aws\n"
        "from chalicelib import local\n"
        "with mock_aws():\n"
        "    local.create_resources()\n"
        "    admin = {'Authorization': 'Bearer ' + local.create_api_key('admin', 'hq')}\n"
        "    with Client(app.app) as client:\n"
        "        for path in ('/analytics/summary?days=30', '/analytics/cohorts?from=2027-01&to=2027-02',\n"
        "                     '/analytics/rfm', '/segments', '/members/nobody/insights',\n"
        "                     '/members/nobody/recommendations'):\n"
        "            assert client.http.get(path, headers=admin).status_code in (200, 404), path\n"
        "        assert client.http.post('/analytics/refresh', headers=admin).status_code == 202\n"
    )
    assert "chalicelib.ledger.analytics_views" in loaded
    assert [name for name in ("chalicelib.analytics", "duckdb", "pyarrow", "sqlglot") if name in loaded] == []
