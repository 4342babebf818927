#!/usr/bin/env bash
# Builds the deployable SAM template and bundle of one stage into build/<stage>/
# (sam.json + deployment.zip): `bash scripts/package.sh prod`. See README "Deploy".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-venv.sh
stage=${1:-dev}
AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-ap-northeast-2} \
  .venv/bin/python -m deploy.stack --stage "$stage" "${2:-build/$stage}"
.venv/bin/cfn-lint "${2:-build/$stage}/sam.json"
echo "cfn-lint: no errors or warnings"
# every role's actions are IAM actions, on resources of the types they act on (offline catalogue)
.venv/bin/python -m deploy.iam_catalogue "${2:-build/$stage}/sam.json"
# Lambda's limit is 250 MB unzipped for a function's code and layers
.venv/bin/python - "${2:-build/$stage}/deployment.zip" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as bundle:
    unzipped = sum(info.file_size for info in bundle.infolist())
print(f"deployment.zip: {unzipped / 1e6:.1f} MB unzipped (Lambda's limit: 250 MB)")
PY
