"""moto's own DynamoDB and SQS tests, run on each patch set of devtools/moto_patches.py.

moto's sdist on PyPI carries its test suite. This script downloads the sdist
of the moto the patches target (moto==5.2.5, from https://pypi.org only, its
sha256 checked, cached under .cache/moto-own-tests/, which git ignores),
extracts tests/test_dynamodb and tests/test_sqs (and the few helper modules
they import) and runs them with pytest once per patch set
(devtools/moto_patch_sets.py):

- stock       moto as installed;
- patches     the in-process patches (what the test suite runs on);
- compaction  the patches with compaction (what the local service runs on).

Tests marked `requires_docker` are left out on every set. A patch set
matches when the tests that fail on it are exactly those that fail on stock
moto (compared with the stock run, not a list kept here). Exit status 0 when
every set matches, 1 when one does not (the differences are printed), 2 when
the suite could not be fetched or run.

    .venv/bin/python scripts/moto_own_tests.py [--sets stock,patches,compaction]
        [--suites test_dynamodb,test_sqs] [--json OUT] [--timeout 1200]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ElementTree

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.moto_patch_sets import ENV, PATCH_SETS  # noqa: E402
from devtools.moto_patches import TARGET_VERSION  # noqa: E402

CACHE = ROOT / ".cache" / "moto-own-tests"
INDEX = "https://pypi.org/simple"
SDIST_SHA256 = {"5.2.5": "391857257d5dac144334013c2c10e599def5f0562f553e979160140bd7bd9cf6"}
SUITES = ("test_dynamodb", "test_sqs")
# modules of moto's other suites that tests/test_dynamodb and tests/test_sqs import
HELPERS = (
    "tests/__init__.py",
    "tests/conftest.py",
    "tests/markers.py",
    "tests/test_s3/__init__.py",
    "tests/test_awslambda/__init__.py",
    "tests/test_awslambda/test_lambda.py",
    "tests/test_awslambda/utilities.py",
    "tests/test_ecr/__init__.py",
    "tests/test_ecr/test_ecr_helpers.py",
    "setup.cfg",
)


class Unavailable(RuntimeError):
    """moto's test suite could not be fetched or run."""


def sdist(version: str = TARGET_VERSION, cache: pathlib.Path = CACHE) -> pathlib.Path:
    """moto's sdist, downloaded from PyPI once (pip, ignoring any configured mirror)."""
    path = cache / f"moto-{version}.tar.gz"
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--isolated",
                "--no-deps",
                "--no-binary",
                ":all:",
                "--index-url",
                INDEX,
                "--dest",
                str(cache),
                f"moto=={version}",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0 or not path.is_file():
            raise Unavailable(f"pip download moto=={version} from {INDEX} failed:\n{done.stderr[-2000:]}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    expected = SDIST_SHA256.get(version)
    if expected is None or digest != expected:
        path.unlink()
        raise Unavailable(f"{path.name}: sha256 {digest}, expected {expected}")
    return path


def extracted(version: str = TARGET_VERSION, cache: pathlib.Path = CACHE) -> pathlib.Path:
    """The directory holding moto's tests/test_dynamodb, tests/test_sqs and their helpers."""
    top = cache / f"moto-{version}"
    done = top / ".extracted"
    if done.is_file():
        return top
    prefix = f"moto-{version}/"
    wanted = tuple(f"tests/{suite}/" for suite in SUITES)
    with tarfile.open(sdist(version, cache)) as archive:
        members = []
        for member in archive.getmembers():
            name = member.name[len(prefix) :] if member.name.startswith(prefix) else None
            if name and member.isfile() and (name.startswith(wanted) or name in HELPERS):
                members.append(member)
        archive.extractall(cache, members=members, filter="data")
    missing = [h for h in HELPERS if not (top / h).is_file()]
    if missing or not all((top / "tests" / suite).is_dir() for suite in SUITES):
        raise Unavailable(f"the sdist of moto {version} lacks {missing or SUITES}")
    done.write_text("ok\n")
    return top


def outcomes(junit: pathlib.Path) -> dict[str, list[str]]:
    """{"passed"|"failed"|"skipped": [test ids]} from pytest's JUnit XML."""
    out = {"passed": [], "failed": [], "skipped": []}
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        test = f"{case.get('classname')}::{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            out["failed"].append(test)
        elif case.find("skipped") is not None:
            out["skipped"].append(test)
        else:
            out["passed"].append(test)
    return {kind: sorted(tests) for kind, tests in out.items()}


def run(patch_set: str, top: pathlib.Path, suites: list[str], timeout: float, extra: list[str]) -> dict:
    junit = top / f"junit-{patch_set}.xml"
    junit.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("DANGOL_STOCK_MOTO", "AWS_ENDPOINT_URL")}
    env[ENV] = patch_set
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
        "-p",
        "devtools.moto_patch_sets",
        "-m",
        "not requires_docker",
        "--rootdir",
        str(top),
        f"--junitxml={junit}",
        *extra,
        *[f"tests/{suite}" for suite in suites],
    ]
    started = time.monotonic()
    try:
        done = subprocess.run(command, cwd=top, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Unavailable(f"moto's tests on {patch_set} took more than {timeout:.0f} s") from None
    seconds = time.monotonic() - started
    if done.returncode not in (0, 1) or not junit.is_file():  # 1: some tests failed
        raise Unavailable(
            f"pytest on {patch_set} ended with {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
        )
    found = outcomes(junit)
    return {
        "seconds": round(seconds, 1),
        **{k: len(v) for k, v in found.items()},
        "failures": found["failed"],
        "summary": done.stdout.strip().splitlines()[-1:],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sets",
        default=",".join(PATCH_SETS),
        help="patch sets to run, stock first (default: stock,patches,compaction)",
    )
    parser.add_argument("--suites", default=",".join(SUITES), help="moto test directories (default: both)")
    parser.add_argument("--json", metavar="OUT", help="write the results as JSON to OUT")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per patch set (default 1200)")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --), e.g. -k query")
    args = parser.parse_args(argv)
    sets = args.sets.split(",")
    suites = args.suites.split(",")
    if sets[0] != "stock" or not set(sets) <= set(PATCH_SETS) or not set(suites) <= set(SUITES):
        parser.error(f"--sets: stock first, then any of {PATCH_SETS[1:]}; --suites: any of {SUITES}")
    import moto

    if moto.__version__ != TARGET_VERSION:
        print(f"moto {moto.__version__} is installed; the patches target {TARGET_VERSION}", file=sys.stderr)
        return 2
    try:
        top = extracted()
        results = {}
        for patch_set in sets:
            results[patch_set] = run(patch_set, top, suites, args.timeout, args.pytest_args)
            r = results[patch_set]
            print(
                f"{patch_set:11s} {r['passed']} passed, {r['failed']} failed, {r['skipped']} skipped "
                f"in {r['seconds']} s",
                flush=True,
            )
    except Unavailable as error:
        print(f"moto's own tests could not run: {error}", file=sys.stderr)
        return 2
    stock = set(results["stock"]["failures"])
    differences = {}
    for patch_set in sets[1:]:
        failures = set(results[patch_set]["failures"])
        if failures != stock:
            differences[patch_set] = {
                "fail only here": sorted(failures - stock),
                "fail only on stock": sorted(stock - failures),
            }
    if args.json:
        pathlib.Path(args.json).write_text(
            json.dumps(
                {"moto": TARGET_VERSION, "suites": suites, "results": results, "differences": differences}, indent=2
            )
        )
    for patch_set, difference in differences.items():
        print(f"{patch_set}: the failures differ from stock moto's: {json.dumps(difference, indent=2)}")
    if not differences:
        print(f"every patch set fails the same {len(stock)} tests as stock moto")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
