"""Turns hyperfine's JSON and bench/measure.py's figures into the Markdown
report scripts/bench prints, with each target of issue #10 checked."""

import json
import platform
import subprocess
import sys
from pathlib import Path

out, binary = Path(sys.argv[1]), sys.argv[2]
m = json.loads((out / "measure.json").read_text())


def hf(name):
    r = json.loads((out / f"{name}.json").read_text())["results"][0]
    return {k: r[k] * 1000 for k in ("median", "min", "max", "mean")} | {"runs": len(r["times"])}


def cpu_model():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


rows = [
    ("apply, fresh root", "apply-fresh", "apply-fresh"),
    ("apply again (nothing to change)", "apply-again", "apply-again"),
    ("verify", "verify", "verify"),
    ("verify, no network (example policy from a file)", "verify-local", None),
    ("plan", "plan", "plan"),
    ("status", "status", "status"),
    ("version (start-up)", "version", "version"),
    ("shell reference (bash + AWS CLI)", "reference", None),
]
print(f"# nbwarden benchmark\n")
print(f"Machine: {cpu_model()}, {subprocess.check_output(['nproc']).decode().strip()} cores, "
      f"Linux {platform.release()}. Binary: {binary} ({m['binary_bytes'] / 1e6:.1f} MB).\n")
print("| command | median ms | min ms | max ms | runs | peak RSS MiB | waiting on AWS, median ms |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for label, name, key in rows:
    t = hf(name)
    rss = f"{m[key]['peak_rss_kib_max'] / 1024:.1f}" if key else "n/a"
    aws = f"{m[key]['aws_wait_ms_median']:.1f}" if key and "aws_wait_ms_median" in m[key] else ""
    print(f"| {label} | {t['median']:.1f} | {t['min']:.1f} | {t['max']:.1f} | {t['runs']} | {rss} | {aws} |")

apply = hf("apply-fresh")["median"]
ref = hf("reference")["median"]
own = m["apply-fresh"]["without_aws_ms_median"]
verify_own = m["verify"]["without_aws_ms_median"]
verify_local = hf("verify-local")["median"]
mon = m["monitor"]
peak = max(v["peak_rss_kib_max"] for k, v in m.items() if isinstance(v, dict) and "peak_rss_kib_max" in v)
print()
print(f"- apply without the time spent waiting on AWS: median {own:.1f} ms "
      f"(min {m['apply-fresh']['without_aws_ms_min']:.1f}, max {m['apply-fresh']['without_aws_ms_max']:.1f})")
print(f"- verify of the bench policy, less its time waiting on AWS: median {verify_own:.1f} ms "
      "(the S3 and SSM clients' own set-up is not counted as waiting)")
print(f"- shell reference / nbwarden apply (medians): {ref / apply:.0f}x")
print(f"- monitor at a 1 s interval for {mon['rounds']} rounds: RSS {mon['rss_kib'] / 1024:.1f} MiB "
      f"(peak {mon['peak_rss_kib'] / 1024:.1f}), CPU {mon['cpu_s_per_round'] * 1000:.2f} ms per round "
      f"(start-up included) = {mon['cpu_percent_at_60s']:.4f} % of a core at a 60 s interval")
print()
targets = [
    ("apply <= 50 ms apart from AWS", own <= 50, f"{own:.1f} ms"),
    ("verify <= 15 ms without network probes", verify_local <= 15, f"{verify_local:.1f} ms"),
    (">= 50x faster than the shell reference", ref / apply >= 50, f"{ref / apply:.0f}x"),
    ("binary <= 10 MB", m["binary_bytes"] <= 10_000_000, f"{m['binary_bytes'] / 1e6:.2f} MB"),
    ("peak RSS <= 25 MB", peak <= 25 * 1024, f"{peak / 1024:.1f} MiB"),
    ("monitor <= 10 MB RSS", mon["peak_rss_kib"] <= 10 * 1024, f"{mon['peak_rss_kib'] / 1024:.1f} MiB"),
    ("monitor <= 0.1 % of a core at 60 s", mon["cpu_percent_at_60s"] <= 0.1, f"{mon['cpu_percent_at_60s']:.4f} %"),
]
print("| target | measured | met |")
print("| --- | ---: | --- |")
for name, ok, value in targets:
    print(f"| {name} | {value} | {'yes' if ok else 'NO'} |")

# Issue 20: environments and the fleet view.
if (out / "envs-2-apply.json").exists():
    py = hf("python-start")["median"]
    print()
    print("## Python environments (a real Debian notebook root)\n")
    print(f"One Python start-up as the notebook user (`python -I -c pass`, chroot + runuser): "
          f"median {py:.1f} ms.\n")
    print("| work | median ms | min ms | max ms | runs | peak RSS MiB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for n in (2, 12):
        peak = int((out / f"envs-{n}-peak-kib").read_text()) / 1024
        for label, name in ((f"apply, fresh root, {n} environments", f"envs-{n}-apply-fresh"),
                            (f"apply again, {n} environments", f"envs-{n}-apply"),
                            (f"shell reference, {n} environments", f"envs-{n}-reference")):
            t = hf(name)
            rss = f"{peak:.1f}" if "reference" not in name else "n/a"
            print(f"| {label} | {t['median']:.1f} | {t['min']:.1f} | {t['max']:.1f} | {t['runs']} | {rss} |")
    per_env = (hf("envs-12-apply")["median"] - hf("envs-2-apply")["median"]) / 10
    ratio = hf("envs-2-reference")["median"] / hf("envs-2-apply-fresh")["median"]
    print()
    print(f"- each environment beyond the first two: {per_env:.1f} ms "
          f"= {per_env / py:.2f} x one Python start-up (target <= 0.6)")
    print(f"- shell reference / apply on the 2-environment root (fresh, medians): {ratio:.1f}x (target >= 20x)")
if (out / "dataset-after.json").exists():
    before, after = hf("dataset-before"), hf("dataset-after")
    files = int((out / "dataset-files").read_text())
    print()
    print(f"## A dataset on the ML volume ({files:,} files)\n")
    print("| apply on the 2-environment root | median ms | min ms | max ms | runs |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, t in (("without the dataset", before), ("with the dataset", after)):
        print(f"| {label} | {t['median']:.1f} | {t['min']:.1f} | {t['max']:.1f} | {t['runs']} |")
    added = after["median"] - before["median"]
    print()
    print(f"- added by {files:,} files: {added:.1f} ms (medians; min {after['min'] - before['max']:.1f}, "
          f"max {after['max'] - before['min']:.1f}; target <= 5000)")
if (out / "fleet.json").exists():
    f = json.loads((out / "fleet.json").read_text())
    print()
    print(f"## fleet summary over {f['notebooks']:,} reports (moto, {f['report_bytes']:,} bytes each)\n")
    print(f"- median {f['wall_ms_median']:.0f} ms (min {f['wall_ms_min']:.0f}, max {f['wall_ms_max']:.0f}, "
          f"{f['runs']} runs); peak RSS {f['peak_rss_kib_max'] / 1024:.1f} MiB (target <= 100 MB)")
    if "cross_check" in f:
        c = f["cross_check"]
        print(f"- `--cross-check` over {c['reports']:,} reports ({c['notebooks_listed']:,} notebooks listed, "
              f"a DescribeNotebookInstance and a ListTags each): median {c['wall_ms_median']:.0f} ms "
              f"(min {c['wall_ms_min']:.0f}, max {c['wall_ms_max']:.0f}, {c['runs']} runs)")
if (out / "fleet-scale.json").exists():
    scale = json.loads((out / "fleet-scale.json").read_text())
    print()
    print("## fleet summary at scale (loopback S3 stand-in, bench/fleet_scale.py)\n")
    print("| reports | median ms | min ms | max ms | µs per report | peak RSS MiB | runs |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in scale:
        print(f"| {r['reports']:,} | {r['wall_ms_median']:.0f} | {r['wall_ms_min']:.0f} | "
              f"{r['wall_ms_max']:.0f} | {r['us_per_report_median']:.0f} | "
              f"{r['peak_rss_kib_max'] / 1024:.1f} | {r['runs']} |")
    print("\n- target: peak RSS <= 150 MB at 100,000 reports, time linear in the reports")
