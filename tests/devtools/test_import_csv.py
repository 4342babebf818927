"""scripts/import_csv.py: a CSV export becomes the JSON lines POST /imports takes, line for
record, won amounts as integers; the lines import through the API."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "import_csv.py"
CSV = (
    "\ufeffmember_id,name,email,phone,birthday,opening_balance,opening_expires_at,lifetime_spend\n"
    'c1,김민지,minji@example.com,010-1234-5678,1990-03-01,"5,000",2028-01-01T00:00:00Z,"₩650,000"\n'
    "c2,Lee,,,,3000원,,0\n"
    ",,,,,,,\n"
    "c3,Park,,,,12.5,,\n"
    'c4,"Choi, J",,,,,,1 000\n'
)


def convert(tmp_path, text: str, *args: str) -> subprocess.CompletedProcess:
    source = tmp_path / "members.csv"
    source.write_text(text, encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(source), *args], capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def test_a_csv_export_becomes_one_json_line_per_record(tmp_path):
    done = convert(tmp_path, CSV)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n")
    assert lines[-1] == "" and len(lines) == 6
    assert [json.loads(line) if line else None for line in lines[:-1]] == [
        {
            "member_id": "c1",
            "name": "김민지",
            "email": "minji@example.com",
            "phone": "010-1234-5678",
            "birthday": "1990-03-01",
            "opening_balance": 5000,
            "opening_expires_at": "2028-01-01T00:00:00Z",
            "lifetime_spend": 650000,
        },
        {"member_id": "c2", "name": "Lee", "opening_balance": 3000, "lifetime_spend": 0},
        None,  # a blank record stays a blank line: line numbers stay the records'
        {"member_id": "c3", "name": "Park", "opening_balance": "12.5"},  # reported by the import
        {"member_id": "c4", "name": "Choi, J", "lifetime_spend": 1000},
    ]
    out = tmp_path / "members.jsonl"
    assert convert(tmp_path, CSV, "-o", str(out)).returncode == 0
    assert out.read_text(encoding="utf-8") == done.stdout


def test_a_header_with_an_unknown_or_missing_column_is_refused(tmp_path):
    unknown = convert(tmp_path, "member_id,name,points\nc1,A,3\n")
    assert unknown.returncode == 2 and "unknown column 'points'" in unknown.stderr
    missing = convert(tmp_path, "member_id,email\nc1,a@example.com\n")
    assert missing.returncode == 2 and "'name'" in missing.stderr


def test_the_converted_lines_import(tmp_path, demo, clock):
    from chalicelib import local

    done = convert(tmp_path, CSV)
    response = demo.post("/imports", {"format": "jsonl", "data": done.stdout}, key="admin")
    assert response.status == 202, response
    local.run_job("run_imports")
    report = demo.get(f"/imports/{response.json['import_id']}", key="admin").json
    assert (report["lines"], report["imported"], report["skipped_existing"]) == (4, 3, 0)
    assert [(e["line"], e["code"]) for e in report["errors"]] == [(4, "VALIDATION_ERROR")]
    c1 = demo.get("/members/c1").json
    assert (c1["name"], c1["balance"], c1["tier"]) == ("김민지", 5000, "나무")
