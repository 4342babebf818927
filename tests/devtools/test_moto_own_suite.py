"""moto's own DynamoDB and SQS test suites (from moto 5.2.5's sdist on PyPI)
on each patch set of devtools/moto_patches.py: stock moto, the in-process
patches and the patches with compaction (the local service's engine) must
fail exactly the same tests (scripts/moto_own_tests.py; it downloads the
sdist once into .cache/moto-own-tests/).

Covers all of moto's tests/test_dynamodb and tests/test_sqs but those marked
requires_docker: about 890 tests per patch set, three runs in one process of
the suite (a few minutes; bounded by TIMEOUT).
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
TIMEOUT = 1500  # seconds for the three runs


def test_moto_s_own_suites_fail_the_same_tests_on_every_patch_set(tmp_path):
    out = tmp_path / "moto-own-tests.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "moto_own_tests.py"),
            "--json",
            str(out),
            "--timeout",
            str(TIMEOUT // 3),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    results = report["results"]
    assert set(results) == {"stock", "patches", "compaction"}
    assert results["stock"]["passed"] > 800  # both suites ran
    for patch_set in ("patches", "compaction"):
        assert results[patch_set]["failures"] == results["stock"]["failures"], report["differences"]
        assert results[patch_set]["passed"] == results["stock"]["passed"]
    assert done.returncode == 0
