#!/usr/bin/env bash
# Creates .venv (Python 3.11+) and installs what a command needs when it changed:
#   bash scripts/ensure-venv.sh serve   the local service (scripts/serve.sh): requirements-serve.lock,
#                                       exact versions with their hashes (about 50 packages)
#   bash scripts/ensure-venv.sh [dev]   tests and tools (scripts/test.sh): requirements-dev.txt, the
#                                       local service's packages and the test tools (playwright,
#                                       schemathesis, hypothesis, cfn-lint)
# Installs with uv (pinned here, put into .venv by pip first: one wheel), or with pip
# when uv cannot be had (DANGOL_INSTALLER=pip forces pip). Everything it says is on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-dev}
python=${PYTHON:-python3}
uv_version=0.13.8
case "$profile" in serve|dev) ;; *) echo "usage: ensure-venv.sh [serve|dev]" >&2; exit 2 ;; esac
exec 1>&2  # nothing this script runs writes to its stdout
if [ ! -x .venv/bin/python ]; then
  echo "dangol: creating the virtualenv .venv with $("$python" --version 2>&1) ..."
  "$python" -m venv .venv
fi
dev_want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
dev_have=$(cat .venv/.requirements.sha 2>/dev/null || true)
if [ "$profile" = serve ]; then
  # the full set includes the service's packages
  [ "$dev_have" = "$dev_want" ] && exit 0
  want=$(sha256sum < requirements-serve.lock | cut -d' ' -f1)
  marker=.venv/.requirements-serve.sha
  what="the local service's Python packages (requirements-serve.lock)"
  requirements=(--require-hashes -r requirements-serve.lock)
else
  want=$dev_want
  marker=.venv/.requirements.sha
  what="the Python packages of requirements-dev.txt (tests and tools)"
  requirements=(-r requirements-dev.txt)
fi
[ "$(cat "$marker" 2>/dev/null || true)" = "$want" ] && exit 0

echo "dangol: installing $what into .venv (first run or changed requirements) ..."
started=$(date +%s)
if [ "${DANGOL_INSTALLER:-uv}" != pip ] && [ ! -x .venv/bin/uv ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "uv==$uv_version" \
    || echo "dangol: uv could not be installed; installing with pip (slower)"
fi
if [ "${DANGOL_INSTALLER:-uv}" != pip ] && [ -x .venv/bin/uv ]; then
  .venv/bin/uv pip install --quiet --python .venv/bin/python "${requirements[@]}"
else
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "${requirements[@]}"
fi
echo "$want" > "$marker"
echo "dangol: installed in $(( $(date +%s) - started )) s"
