#!/usr/bin/env bash
# Runs the checks and the whole test suite: ruff (lint and format), mypy, then pytest
# (unit, integration, property, race, crash, fuzz, browser). DANGOL_SKIP_LINT=1 runs the tests only.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-venv.sh dev
if [ "${DANGOL_SKIP_LINT:-0}" != 1 ]; then
  .venv/bin/ruff check .
  .venv/bin/ruff format --check .
  .venv/bin/mypy
fi
# both cores by default (DANGOL_TEST_WORKERS=0 runs in one process)
exec .venv/bin/python -m pytest -n "${DANGOL_TEST_WORKERS:-2}" tests "$@"
