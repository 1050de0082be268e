"""What hyperfine cannot see: nbwarden's own peak RSS and time spent
waiting on AWS (both from its JSON report), the RSS of commands that write
no report (from wait4), and the monitor's RSS and CPU per round.

Called by scripts/bench; writes OUT/measure.json."""

import argparse
import json
import os
import re
import statistics
import subprocess
import time
from pathlib import Path


def run(argv):
    """Runs argv; returns (wall seconds, stdout, max RSS KiB of the process tree)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"{argv} exited {code}")
    return wall, out, usage.ru_maxrss


def reported(args, command, fresh):
    walls, own, rss, aws = [], [], [], []
    for _ in range(args.runs):
        if fresh:
            subprocess.run(args.fresh, shell=True, check=True)
        argv = [args.bin, command, "--root", args.root, "--policy", args.policy,
                "--output", "json"]
        wall, out, _ = run(argv)
        report = json.loads(out)
        walls.append(wall * 1000)
        aws.append(report["aws_wait_ms"])
        own.append(wall * 1000 - report["aws_wait_ms"])
        rss.append(report["peak_rss_kib"])
    return {
        "wall_ms_median": statistics.median(walls),
        "aws_wait_ms_median": statistics.median(aws),
        "without_aws_ms_median": statistics.median(own),
        "without_aws_ms_min": min(own),
        "without_aws_ms_max": max(own),
        "peak_rss_kib_max": max(rss),
    }


def monitor(args):
    """Runs `nbwarden monitor` at a 1 s interval and reads its cost from /proc."""
    work = Path(args.work)
    policy_text = Path("bench/policy.toml").read_text()
    policy_text = re.sub(r"(?m)^interval_s = 60$", "interval_s = 1", policy_text, count=1)
    policy = work / "monitor-policy.toml"
    policy.write_text(policy_text)
    metrics = Path(args.root) / "var/log/nbwarden/metrics.log"
    if metrics.exists():
        metrics.unlink()
    proc = subprocess.Popen([args.bin, "monitor", "--root", args.root, "--policy", str(policy), "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    def rounds():
        # One record per round carries CPUUtilization.
        text = metrics.read_text() if metrics.exists() else ""
        return sum('"CPUUtilization"' in line for line in text.splitlines())

    time.sleep(args.monitor_seconds)
    status = Path(f"/proc/{proc.pid}/status").read_text()
    done = rounds()
    proc.terminate()
    # wait4 gives the CPU time of every thread, exited ones included, in
    # microseconds; start-up is included, so the per-round figure is an
    # upper bound.
    _, _, usage = os.wait4(proc.pid, 0)
    cpu = usage.ru_utime + usage.ru_stime
    kib = lambda key: int(re.search(rf"{key}:\s+(\d+) kB", status).group(1))
    per_round = cpu / max(1, done)
    return {
        "rss_kib": kib("VmRSS"),
        "peak_rss_kib": kib("VmHWM"),
        "cpu_s_per_round": per_round,
        "rounds": done,
        "cpu_percent_at_60s": per_round / 60 * 100,
    }


def main():
    ap = argparse.ArgumentParser()
    for a in ("bin", "root", "policy", "fresh", "out", "work"):
        ap.add_argument(f"--{a}", required=True)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--monitor-seconds", type=int, default=30)
    args = ap.parse_args()
    result = {"apply-fresh": reported(args, "apply", True)}
    for command in ("apply", "verify", "plan"):
        result[f"{command}-again" if command == "apply" else command] = reported(args, command, False)
    # No report here: GNU time's %M. (wait4 from Python would count the
    # RSS the child had before exec, that is, Python's.)
    for name, argv in {
        "status": [args.bin, "--root", args.root, "status", "-q"],
        "version": [args.bin, "version"],
    }.items():
        peaks = []
        for _ in range(5):
            out = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], capture_output=True, text=True)
            peaks.append(int(out.stderr.strip().splitlines()[-1]))
        result[name] = {"peak_rss_kib_max": max(peaks)}
    result["monitor"] = monitor(args)
    result["binary_bytes"] = os.path.getsize(args.bin)
    Path(args.out, "measure.json").write_text(json.dumps(result, indent=2) + "\n")


main()
