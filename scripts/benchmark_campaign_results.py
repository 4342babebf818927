"""§22 campaign results at shop scale: the refresh's one `campaign_results` query (and the
comparison arithmetic) on the embedded DuckDB engine, over synthetic facts made by DuckDB
itself: `--members` members, `--purchases` earns over the 120 days before as_of (each with a
base breakdown line, and a `campaign:<id>` line when its member is in a running campaign's
rewarded arm), ~3% refunded, `--campaigns` campaigns of `--audience` members each (arms
control / double / coupon, 34/33/33), every coupon-arm member issued a campaign coupon and
40% of those used.

    .venv/bin/python scripts/benchmark_campaign_results.py [--members N] [--purchases N]
        [--campaigns N] [--audience N] [--threads N]

This prints numbers; it passes or fails nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import pathlib
import resource
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

AS_OF = dt.datetime(2027, 5, 10, 3, 0, 0, tzinfo=dt.UTC)
DAYS = 120


def generate(engine, members: int, purchases: int, campaigns: int, audience: int) -> dict[str, int]:
    con = engine.connection
    con.execute("SELECT setseed(0.42)")
    as_of = AS_OF.strftime("%Y-%m-%d %H:%M:%S")
    con.execute(f"""
        INSERT INTO campaign_members
        SELECT 'c' || c, 'm' || lpad(((c * 7919 + k * 104729) % {members})::VARCHAR, 8, '0'), 0,
            CASE WHEN k % 100 < 34 THEN 'control' WHEN k % 100 < 67 THEN 'double' ELSE 'gift' END,
            TIMESTAMP '{as_of}' - INTERVAL 60 DAY
        FROM range({campaigns}) AS cs(c), range({audience}) AS ks(k)
        ON CONFLICT DO NOTHING
    """)
    con.execute(f"""
        CREATE TEMP TABLE p AS
        SELECT range AS n, 'm' || lpad(((random() * {members})::BIGINT % {members})::VARCHAR, 8, '0') AS m,
            TIMESTAMP '{as_of}' - to_seconds((random() * {DAYS * 86400})::BIGINT) AS ts,
            (1000 + (random() * 49)::BIGINT * 1000) AS amount, random() < 0.03 AS refunded
        FROM range({purchases})
    """)
    con.execute("""
        INSERT INTO transactions
        SELECT 'T' || n, m, 0, 'earn', amount // 100, ts, CAST(ts + INTERVAL 9 HOUR AS DATE), ts,
            CAST(ts + INTERVAL 9 HOUR AS DATE), 'O' || n, amount, CASE WHEN refunded THEN amount // 2 ELSE 0 END,
            lpad(n::VARCHAR, 40, '0')
        FROM p
    """)
    con.execute("""
        INSERT INTO breakdown_lines
        SELECT 'T' || n, m, 0, CAST(ts + INTERVAL 9 HOUR AS DATE), 0, 'base', amount // 100 FROM p
    """)
    con.execute("""
        INSERT INTO breakdown_lines
        SELECT 'T' || p.n, p.m, 0, CAST(p.ts + INTERVAL 9 HOUR AS DATE), 1 + row_number() OVER (PARTITION BY p.n),
            'campaign:' || cm.campaign_id, p.amount // 100
        FROM p JOIN campaign_members AS cm ON cm.member_id = p.m AND cm.arm = 'double'
        ON CONFLICT DO NOTHING
    """)
    con.execute("""
        INSERT INTO campaign_coupons
        SELECT 'K' || campaign_id || '-' || member_id, campaign_id, member_id, 0
        FROM campaign_members WHERE arm = 'gift'
    """)
    con.execute(f"""
        INSERT INTO coupon_events
        SELECT coupon_id, member_id, 0, 'issued', TIMESTAMP '{as_of}' - INTERVAL 60 DAY,
            CAST(TIMESTAMP '{as_of}' - INTERVAL 60 DAY AS DATE),
            lpad((1000000000 + row_number() OVER ())::VARCHAR, 40, '0')
        FROM campaign_coupons
    """)
    con.execute(f"""
        INSERT INTO coupon_events
        SELECT coupon_id, member_id, 0, 'used', TIMESTAMP '{as_of}' - INTERVAL 30 DAY,
            CAST(TIMESTAMP '{as_of}' - INTERVAL 30 DAY AS DATE),
            lpad((2000000000 + row_number() OVER ())::VARCHAR, 40, '0')
        FROM campaign_coupons WHERE hash(coupon_id) % 10 < 4
    """)
    con.execute("DROP TABLE p")
    tables = ("transactions", "breakdown_lines", "campaign_members", "campaign_coupons", "coupon_events")
    return {table: con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in tables}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--purchases", type=int, default=2_000_000)
    parser.add_argument("--campaigns", type=int, default=5)
    parser.add_argument("--audience", type=int, default=50_000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from chalicelib.analytics import campaign_results
    from chalicelib.analytics.engine import DuckDBEngine

    engine = DuckDBEngine()
    engine.connection.execute(f"SET threads = {args.threads}")
    started = time.perf_counter()
    rows = generate(engine, args.members, args.purchases, args.campaigns, args.audience)
    generated = time.perf_counter() - started
    arms = [
        {"name": "control", "weight": 34, "reward": None},
        {"name": "double", "weight": 33, "reward": {"type": "multiplier", "multiplier": "2"}},
        {"name": "gift", "weight": 33, "reward": {"type": "coupon", "template_id": "t"}},
    ]
    campaigns = [
        {
            "campaign_id": f"c{c}",
            "starts_at": "2027-03-11T00:00:00Z",
            "ends_at": "2027-06-01T00:00:00Z",
            "arms": arms,
        }
        for c in range(args.campaigns)
    ]
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        answers = campaign_results.compute(
            engine, campaigns, "Asia/Seoul", "2027-05-10T03:00:00Z", AS_OF, dt.date(2027, 5, 10)
        )
        timings.append(time.perf_counter() - started)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"facts: {', '.join(f'{n:,} {t}' for t, n in rows.items())} (made in {generated:.1f} s)")
    print(
        f"campaign_results for {args.campaigns} campaigns of {args.audience:,} members, threads={args.threads}: "
        f"{min(timings):.2f} s best of 3 (runs: {', '.join(f'{t:.2f}' for t in timings)}); peak RSS {peak_mb:,.0f} MB"
    )
    first = answers["c0"]
    print(
        "c0 arms:",
        [(a["name"], a["members"], a["purchasers"], a["points_awarded"], a["coupons_used"]) for a in first["arms"]],
    )
    print("c0 comparisons:", [(c["arm"], c["diff"], c["ci95"], c["significant"]) for c in first["comparisons"]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
