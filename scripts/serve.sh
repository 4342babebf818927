#!/usr/bin/env bash
# Starts Dangol locally: embedded moto, API on 127.0.0.1, scheduler and queue worker.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-venv.sh
exec .venv/bin/python scripts/serve_local.py "$@"
