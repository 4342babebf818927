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
    "ulid",  # the first id made (a write; chalicelib/domain/ids.py)
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


# Every pydantic model the API has loaded, and whether its validator is built
BUILT_MODELS = (
    "import pydantic\n"
    "def built_models():\n"
    "    return sorted(f'{module_name}.{name}' for module_name, module in list(sys.modules.items())\n"
    "                  if module_name.startswith('chalicelib') for name, model in vars(module).items()\n"
    "                  if isinstance(model, type) and issubclass(model, pydantic.BaseModel)\n"
    "                  and model.__module__ == module_name and model.__pydantic_complete__)\n"
)


def test_request_body_models_are_built_on_first_use():
    """A body model's validator is built by the first request that needs it: a cold
    start builds none of them (nor any other model: the program's are built by the
    first PUT /program, see the next test)."""
    loaded = loaded_after(
        BUILT_MODELS + "from chalicelib.api import schemas\n"
        "assert built_models() == [], built_models()\n"
        'schemas.Earn.model_validate_json(\'{"order_id": "A-1", "amount": 5}\')\n'
        "assert schemas.Earn.__pydantic_complete__\n"
        "assert built_models() == ['chalicelib.api.schemas.Earn'], built_models()\n"
    )
    assert "chalicelib.api.schemas" in loaded


def test_reading_the_stored_program_builds_no_validator():
    """Nearly every request reads the stored program: it is made from the JSON the
    code wrote (chalicelib/domain/program.py stored_program) without a validator;
    PUT /program validates its body in full, and builds the program's validator."""
    from chalicelib.domain.program import Program

    example = (ROOT / "examples" / "cafe-program.json").read_text()
    stored = Program.model_validate_json(example).model_dump_json()  # what PUT /program stores
    loaded_after(
        BUILT_MODELS + "from chalicelib.domain.program import Program\n"
        "from chalicelib.ledger.programs import program_from\n"
        f"program = program_from({{'config': {stored!r}}})\n"
        "assert program.tiers[0].name and program_from(None).tiers[0].name == 'basic'\n"
        "assert built_models() == [], built_models()\n"
        f"assert Program.model_validate_json({example!r}) == program  # PUT /program\n"
        "assert built_models() == ['chalicelib.domain.program.Program'], built_models()\n"
    )


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


def test_the_first_request_makes_the_dynamodb_client_only():
    """The services a request works with make the DynamoDB client; the SQS client is
    made by the first request that queues something (chalicelib/aws.py LazyClient)."""
    loaded_after(
        "from chalicelib import aws\n"
        "from chalicelib.runtime import services\n"
        "made = []\n"
        "aws.client_hooks.append(lambda client: made.append(client.meta.service_model.service_name))\n"
        "ledger = services().ledger\n"
        "assert made == ['dynamodb'], made\n"
        "assert ledger.publisher.sqs.meta.service_model.service_name == 'sqs' and made == ['dynamodb', 'sqs']\n"
    )


def test_the_collector_runs_again_after_the_import_without_what_it_made():
    """app.py pauses the garbage collector while it is imported and then freezes what the
    import made (long-lived: modules, classes, models): the collector is on again for
    requests, and its collections no longer traverse the import's objects."""
    loaded_after(
        "import gc\n"
        "assert gc.isenabled()\n"
        "assert gc.get_freeze_count() > 10000, gc.get_freeze_count()\n"
        "made_by_the_import = sum(stats['collections'] for stats in gc.get_stats())\n"
        "assert made_by_the_import < 40, gc.get_stats()  # the interpreter's start-up only\n"
    )
