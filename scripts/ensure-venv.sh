#!/usr/bin/env bash
# Creates .venv (Python 3.11+) and installs requirements-dev.txt when they changed.
# Says what it is doing on stderr: the first run installs for a minute or two.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "dangol: creating the virtualenv .venv with $("$python" --version 2>&1) ..." >&2
  "$python" -m venv .venv
fi
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat .venv/.requirements.sha 2>/dev/null)" != "$want" ]; then
  echo "dangol: installing the Python packages of requirements-dev.txt into .venv" \
       "(first run or changed requirements; usually one to two minutes) ..." >&2
  started=$(date +%s)
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  echo "$want" > .venv/.requirements.sha
  echo "dangol: packages installed in $(( $(date +%s) - started )) s" >&2
fi
