#!/usr/bin/env bash
# Runs the whole test suite (unit, integration, property and race tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-venv.sh
exec .venv/bin/python -m pytest tests "$@"
