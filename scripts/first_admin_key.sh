#!/usr/bin/env bash
# Prints a new admin API key for a deployed stack (the API has no key until one is made):
#   bash scripts/first_admin_key.sh dangol-prod [NAME]
# Uses your AWS credentials to write the hashed key into the stack's table.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-venv.sh dev
stack=${1:?usage: first_admin_key.sh STACK_NAME [KEY_NAME]}
table=$(aws cloudformation describe-stacks --stack-name "$stack" \
  --query "Stacks[0].Outputs[?OutputKey=='LedgerTableName'].OutputValue" --output text)
DANGOL_TABLE="$table" .venv/bin/python -c \
  'import sys; from chalicelib import local; print(local.create_api_key("admin", sys.argv[1]))' "${2:-owner}"
