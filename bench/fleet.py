"""`fleet summary` over many notebooks' reports in moto: seeds COUNT
`latest.json` objects (copies of a real report, each with its own name and
time, plus one older report beside each, as a fleet's history has), then
times `fleet summary` and reads its peak RSS with GNU time. With
`--cross-check N`, also makes N notebooks in moto, each with its report, and
times `fleet summary --cross-check` over them (a DescribeNotebookInstance
and a ListTags per notebook), then deletes them.

    python bench/fleet.py --bin NBWARDEN --report REPORT.json --out DIR [--count 10000] [--runs 3] [--cross-check 300]

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


def cross_check(binary, report, count, runs):
    """Times `fleet summary --cross-check` over COUNT notebooks in moto."""
    kw = dict(endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
    s3, sm = boto3.client("s3", **kw), boto3.client("sagemaker", **kw)
    prefix = f"bench-cc-{os.getpid()}"
    names = [f"cc{os.getpid()}-{i:05d}" for i in range(count)]
    body = json.loads(report)
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

    def make(name):
        sm.create_notebook_instance(
            NotebookInstanceName=name, InstanceType="ml.t3.medium",
            RoleArn="arn:aws:iam::123456789012:role/nbwarden/" + name,
            LifecycleConfigName="nbwarden", KmsKeyId=key, DirectInternetAccess="Disabled",
            RootAccess="Disabled",
            Tags=[{"Key": "owner", "Value": "ana"}, {"Key": "cost-center", "Value": "cc-1"}])
        r = dict(body)
        r["exit_code"] = 0
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}/123456789012/us-east-1/{name}/latest.json",
                      Body=json.dumps(r).encode())

    def remove(name):
        try:
            sm.stop_notebook_instance(NotebookInstanceName=name)
            sm.delete_notebook_instance(NotebookInstanceName=name)
        except Exception:
            pass

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(make, names))
    listed = sum(len(p["NotebookInstances"]) for p in
                 sm.get_paginator("list_notebook_instances").paginate())
    walls = []
    try:
        argv = [binary, "fleet", "summary", "--bucket", BUCKET, "--prefix", prefix,
                "--cross-check", "--output", "json", "--deadline", "10m"]
        for _ in range(runs):
            t = time.perf_counter()
            out = subprocess.run(argv, capture_output=True, text=True)
            walls.append((time.perf_counter() - t) * 1000)
            if out.returncode not in (0, 1):
                raise SystemExit(f"cross-check exited {out.returncode}: {out.stderr[-2000:]}")
            rows = json.loads(out.stdout)
            if sum(1 for r in rows if r["notebook"] in names) != count:
                raise SystemExit("the cross-check did not list every notebook")
    finally:
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(remove, names))
    return {
        "reports": count,
        "notebooks_listed": listed,
        "runs": runs,
        "wall_ms_median": statistics.median(walls),
        "wall_ms_min": min(walls),
        "wall_ms_max": max(walls),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--report", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cross-check", type=int, default=0)
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
    if args.cross_check:
        result["cross_check"] = cross_check(args.bin, report, args.cross_check, args.runs)
    Path(args.out, "fleet.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


main()
