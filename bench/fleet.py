"""`fleet summary` over many notebooks' reports in moto: seeds COUNT
`latest.json` objects (copies of a real report, each with its own name and
time, plus one older report beside each, as a fleet's history has), then
times `fleet summary` and reads its peak RSS with GNU time.

    python bench/fleet.py --bin NBWARDEN --report REPORT.json --out DIR [--count 10000] [--runs 3]

Needs AWS_ENDPOINT_URL (moto) and credentials in the environment, as
scripts/bench sets them. Writes OUT/fleet.json."""

import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

import boto3

BUCKET = "nbwarden-reports"


def seed(prefix, count, report):
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
    body = json.loads(report)

    def put(i):
        r = dict(body)
        r["finished_at"] = f"2026-11-30T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000Z"
        r["exit_code"] = 1 if i % 10 == 0 else 0
        base = f"{prefix}/123456789012/us-east-1/nb-{i:05d}"
        s3.put_object(Bucket=BUCKET, Key=f"{base}/latest.json", Body=json.dumps(r).encode())
        s3.put_object(Bucket=BUCKET, Key=f"{base}/2026-11-29T00-00-00.000Z.json", Body=b"{}")

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(count)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--report", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    prefix = f"bench-fleet-{os.getpid()}"
    report = Path(args.report).read_text()
    started = time.perf_counter()
    seed(prefix, args.count, report)
    seeded_s = time.perf_counter() - started
    walls, peaks = [], []
    argv = [args.bin, "fleet", "summary", "--bucket", BUCKET, "--prefix", prefix,
            "--output", "json", "--deadline", "10m"]
    for _ in range(args.runs):
        t = time.perf_counter()
        out = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], capture_output=True, text=True)
        walls.append((time.perf_counter() - t) * 1000)
        if out.returncode not in (0, 1):
            raise SystemExit(f"fleet summary exited {out.returncode}: {out.stderr[-2000:]}")
        rows = json.loads(out.stdout)
        if len(rows) != args.count:
            raise SystemExit(f"fleet summary listed {len(rows)} notebooks, not {args.count}")
        peaks.append(int(out.stderr.strip().splitlines()[-1]))
    result = {
        "notebooks": args.count,
        "report_bytes": len(report.encode()),
        "seed_s": seeded_s,
        "runs": args.runs,
        "wall_ms_median": statistics.median(walls),
        "wall_ms_min": min(walls),
        "wall_ms_max": max(walls),
        "peak_rss_kib_max": max(peaks),
    }
    Path(args.out, "fleet.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


main()
