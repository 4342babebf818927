#!/usr/bin/env bash
# Starts Dangol locally: embedded moto, API on 127.0.0.1, scheduler and queue worker.
# stdout: one JSON object (API address, keys, URLs) once the API answers; the
# process keeps running. Everything else (installs, progress, logs) is on stderr:
#   bash scripts/serve.sh | jq
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-venv.sh serve >&2
exec .venv/bin/python scripts/serve_local.py "$@"
