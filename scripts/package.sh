#!/usr/bin/env bash
# Builds the deployable SAM template and bundle into build/ (deploy with `sam deploy`
# or `aws cloudformation package/deploy`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-venv.sh
AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-ap-northeast-2} \
  .venv/bin/chalice package --merge-template .chalice/resources.json "${1:-build}"
