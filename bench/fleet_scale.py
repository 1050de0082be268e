"""`fleet summary` over 10,000 and 100,000 reports: a loopback S3 stand-in
(moto holds every object in memory and takes minutes to seed 100,000) that
answers the two calls the summary makes, ListObjectsV2 with a `/` delimiter
(1,000 common prefixes a page, continuation tokens, URL encoding) and
GetObject, for a synthetic fleet of COUNT notebooks under one account and
region, each `latest.json` a copy of a real report with its own finish time
and one in ten failing. Times the summary (wall, median of RUNS) and reads
its peak RSS with GNU time; checks it listed every notebook.

    python bench/fleet_scale.py --bin NBWARDEN --report REPORT.json --out DIR [--counts 10000,100000] [--runs 3]

Writes OUT/fleet-scale.json. The stand-in binds 127.0.0.1 on a free port
and stops with this script."""

import argparse
import http.server
import json
import os
import socketserver
import statistics
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

BUCKET = "nbwarden-reports"
ACCOUNT = "123456789012"
REGION = "us-east-1"
PAGE = 1000


class Fleet:
    """COUNT notebooks under PREFIX/ACCOUNT/REGION/, reports made on demand."""

    def __init__(self, prefix, count, report):
        self.prefix, self.count = prefix, count
        self.report = json.loads(report)

    def name(self, i):
        return f"nb-{i:06d}"

    def levels(self, prefix):
        """The common prefixes right below `prefix`."""
        if prefix == f"{self.prefix}/":
            return [f"{self.prefix}/{ACCOUNT}/"]
        if prefix == f"{self.prefix}/{ACCOUNT}/":
            return [f"{self.prefix}/{ACCOUNT}/{REGION}/"]
        if prefix == f"{self.prefix}/{ACCOUNT}/{REGION}/":
            return None  # the notebooks: paged by index, never held
        return []

    def body(self, key):
        parts = key.split("/")
        if len(parts) != 5 or parts[4] != "latest.json" or not parts[3].startswith("nb-"):
            return None
        i = int(parts[3][3:])
        r = dict(self.report)
        r["finished_at"] = f"2026-12-06T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000Z"
        r["exit_code"] = 1 if i % 10 == 0 else 0
        return json.dumps(r).encode()


def listing(fleet, prefix, token):
    start = int(token) if token else 0
    levels = fleet.levels(prefix)
    if levels is None:
        end = min(start + PAGE, fleet.count)
        names = [f"{prefix}{fleet.name(i)}/" for i in range(start, end)]
        more = end < fleet.count
    else:
        names, end, more = levels, 0, False
    common = "".join(
        f"<CommonPrefixes><Prefix>{urllib.parse.quote(n)}</Prefix></CommonPrefixes>" for n in names
    )
    nxt = f"<NextContinuationToken>{end}</NextContinuationToken>" if more else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"<Name>{BUCKET}</Name><Prefix>{urllib.parse.quote(prefix)}</Prefix>"
        f"<KeyCount>{len(names)}</KeyCount><MaxKeys>{PAGE}</MaxKeys><Delimiter>/</Delimiter>"
        f"<EncodingType>url</EncodingType><IsTruncated>{'true' if more else 'false'}</IsTruncated>"
        f"{nxt}{common}</ListBucketResult>"
    ).encode()


def handler(fleet):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without this, Nagle's
        # algorithm and the client's delayed ACK hold each answer ~40 ms.
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def reply(self, status, body, kind):
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", '"0"')
            self.send_header("Last-Modified", "Sun, 06 Dec 2026 00:00:00 GMT")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            path = urllib.parse.unquote(url.path).lstrip("/")
            if path in (BUCKET, f"{BUCKET}/") and query.get("list-type") == ["2"]:
                prefix = query.get("prefix", [""])[0]
                token = query.get("continuation-token", [None])[0]
                return self.reply(200, listing(fleet, prefix, token), "application/xml")
            body = fleet.body(path[len(BUCKET) + 1:]) if path.startswith(f"{BUCKET}/") else None
            if body is None:
                err = b"<Error><Code>NoSuchKey</Code><Message>no such key</Message></Error>"
                return self.reply(404, err, "application/xml")
            return self.reply(200, body, "application/json")

    return Handler


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def measure(binary, fleet, runs, endpoint):
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_REGION=REGION,
               AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_EC2_METADATA_DISABLED="true")
    env.pop("AWS_PROFILE", None)
    argv = [binary, "fleet", "summary", "--bucket", BUCKET, "--prefix", fleet.prefix,
            "--output", "json", "--deadline", "30m"]
    walls, peaks = [], []
    for _ in range(runs):
        t = time.perf_counter()
        out = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], capture_output=True,
                             text=True, env=env)
        walls.append((time.perf_counter() - t) * 1000)
        if out.returncode not in (0, 1):
            raise SystemExit(f"fleet summary exited {out.returncode}: {out.stderr[-2000:]}")
        rows = json.loads(out.stdout)["notebooks"]
        if len(rows) != fleet.count:
            raise SystemExit(f"fleet summary listed {len(rows)} notebooks, not {fleet.count}")
        if sum(1 for r in rows if r["exit_code"] == 1) != (fleet.count + 9) // 10:
            raise SystemExit("fleet summary did not read every report")
        peaks.append(int(out.stderr.strip().splitlines()[-1]))
    return {
        "reports": fleet.count,
        "runs": runs,
        "wall_ms_median": statistics.median(walls),
        "wall_ms_min": min(walls),
        "wall_ms_max": max(walls),
        "peak_rss_kib_max": max(peaks),
        "us_per_report_median": statistics.median(walls) * 1000 / fleet.count,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--report", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--counts", default="10000,100000")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    report = Path(args.report).read_text()
    results = []
    for count in [int(c) for c in args.counts.split(",")]:
        fleet = Fleet(f"scale-{count}", count, report)
        server = Server(("127.0.0.1", 0), handler(fleet))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            endpoint = f"http://127.0.0.1:{server.server_address[1]}"
            results.append(measure(args.bin, fleet, args.runs, endpoint))
        finally:
            server.shutdown()
            server.server_close()
    Path(args.out, "fleet-scale.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


main()
