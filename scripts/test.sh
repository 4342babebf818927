#!/usr/bin/env bash
# Runs the whole test suite (unit, integration, property and race tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-venv.sh dev
# both cores by default (DANGOL_TEST_WORKERS=0 runs in one process)
exec .venv/bin/python -m pytest -n "${DANGOL_TEST_WORKERS:-2}" tests "$@"
