"""Cold-start benchmark: the CPU a fresh process spends on `import app`, against
a fresh process that imports boto3 and makes one DynamoDB client (what any
Python Lambda that talks to DynamoDB pays before its first request).

Each case runs in its own interpreter (`-c`), the cases interleaved round by
round so that a busy machine slows them alike; the CPU time (user + system,
`resource.getrusage`) is read at the end of the snippet, so the interpreter's
own start-up is in every case. It prints the median per case and the ratio
`import app` / boto3 client; the goal is at most 1.3.

    .venv/bin/python scripts/benchmark_cold_start.py [--runs 15] [--json] [--modules] [--write-docs]

`--write-docs` also writes the table into docs/clients.md (block `cold-start`).

`--modules` also lists the slowest imports under `import app`
(`python -X importtime`, self time, one run): what a cold start loads.

The OpenAPI document, its response models and the docs page are not loaded by
`import app` (tests/integration/test_cold_start_imports.py checks which modules
are); the case "import app + GET /openapi.json" shows what the first request
for the document pays instead. The case "import app + services()" adds what
any first request makes before it reads the table: the settings, the DynamoDB
client (the baseline's one client) and the ledger (no SQS client: made by the
first request that queues something).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
GOAL = 1.3
BASELINE = "boto3 + one DynamoDB client"
CASES = {
    BASELINE: "import boto3\nboto3.client('dynamodb', region_name='ap-northeast-2')",
    "import app": "import app",
    "import app + services()": "import app\nfrom chalicelib.runtime import services\nservices()",
    "import app + GET /openapi.json": (
        "import app\nfrom chalice.test import Client\nClient(app.app).http.get('/openapi.json')"
    ),
}
SNIPPET = "{body}\nimport resource\nr = resource.getrusage(resource.RUSAGE_SELF)\nprint(r.ru_utime + r.ru_stime)\n"


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))}
    env.update(
        {
            "AWS_DEFAULT_REGION": "ap-northeast-2",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def cpu_seconds(body: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", SNIPPET.format(body=body)],
        cwd=ROOT,
        env=environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the case failed:\n{body}\n{done.stderr}")
    return float(done.stdout.strip().splitlines()[-1])


def slowest_imports(count: int = 15) -> list[tuple[int, str]]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import app"],
        cwd=ROOT,
        env=environment(),
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = line.removeprefix("import time:").split("|")
        rows.append((int(self_us), name.strip()))
    return sorted(rows, reverse=True)[:count]


def write_docs(runs: int, samples: dict[str, list[float]], medians: dict[str, float], ratio: float) -> None:
    from devtools import doc_figures

    rows = [(name, f"{medians[name]:.3f}", f"{min(samples[name]):.3f}", f"{max(samples[name]):.3f}") for name in CASES]
    table = doc_figures.markdown_table(
        ["fresh process", f"CPU s, median of {runs}", "min", "max"], rows, right=(1, 2, 3)
    )
    text = f"{table}\n\n`import app` / {BASELINE}: **{ratio:.2f}x** (goal at most {GOAL}x)."
    doc_figures.write_block(ROOT / "docs" / "clients.md", "cold-start", text, doc_figures.command_line())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--modules", action="store_true")
    parser.add_argument(
        "--write-docs", action="store_true", help="also write the table into docs/clients.md (block cold-start)"
    )
    args = parser.parse_args()
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.runs):
        for name, body in CASES.items():
            samples[name].append(cpu_seconds(body))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratio = medians["import app"] / medians[BASELINE]
    if args.write_docs:
        write_docs(args.runs, samples, medians, ratio)
    if args.json:
        print(
            json.dumps(
                {
                    "runs": args.runs,
                    "median_cpu_seconds": medians,
                    "ratio_import_app_to_boto3_client": round(ratio, 3),
                    "goal": GOAL,
                }
            )
        )
        return
    print(f"CPU seconds per fresh process, median of {args.runs} (user + system):")
    width = max(map(len, CASES))
    for name in CASES:
        low, high = min(samples[name]), max(samples[name])
        print(f"  {name:<{width}}  {medians[name]:.3f}  (min {low:.3f}, max {high:.3f})")
    print(f"import app / {BASELINE}: {ratio:.2f}x (goal <= {GOAL}x)")
    if args.modules:
        print("slowest imports under `import app` (self time, one run):")
        for micros, name in slowest_imports():
            print(f"  {micros / 1000:7.1f} ms  {name}")


if __name__ == "__main__":
    main()
