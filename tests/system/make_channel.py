"""Builds the tiny conda channel the test mirror serves: one noarch package
made by hand (info/index.json, info/files, info/paths.json) and each
subdir's repodata.json, from nothing but tarfile.

    python3 make_channel.py OUTDIR      (the channel is OUTDIR/mirror)

Served with `python3 -m http.server`, whose access log shows which
channel a real conda asked.
"""

import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path

NAME, VERSION, BUILD = "nbwarden-conda-probe", "1.0", "0"
PAYLOAD = ("share/nbwarden-conda-probe.txt", b"served only by nbwarden's test channel\n")


def member(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1767225600
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def package():
    path, data = PAYLOAD
    index = {
        "name": NAME, "version": VERSION, "build": BUILD, "build_number": 0,
        "depends": [], "license": "MIT", "noarch": "generic", "subdir": "noarch",
        "arch": None, "platform": None, "timestamp": 1767225600000,
    }
    paths = {"paths_version": 1, "paths": [{
        "_path": path, "path_type": "hardlink",
        "sha256": hashlib.sha256(data).hexdigest(), "size_in_bytes": len(data),
    }]}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:bz2") as tar:
        member(tar, "info/index.json", json.dumps(index).encode())
        member(tar, "info/files", (path + "\n").encode())
        member(tar, "info/paths.json", json.dumps(paths).encode())
        member(tar, path, data)
    return index, buf.getvalue()


def main():
    # Under a path, as a real mirror's channels are (conda's channel
    # migrations rewrite only such URLs).
    out = Path(sys.argv[1]) / "mirror"
    index, blob = package()
    filename = f"{NAME}-{VERSION}-{BUILD}.tar.bz2"
    (out / "noarch").mkdir(parents=True, exist_ok=True)
    (out / "linux-64").mkdir(parents=True, exist_ok=True)
    (out / "noarch" / filename).write_bytes(blob)
    record = dict(index, md5=hashlib.md5(blob).hexdigest(),
                  sha256=hashlib.sha256(blob).hexdigest(), size=len(blob))
    for subdir, packages in (("noarch", {filename: record}), ("linux-64", {})):
        repodata = {"info": {"subdir": subdir}, "packages": packages,
                    "packages.conda": {}, "removed": [], "repodata_version": 1}
        (out / subdir / "repodata.json").write_text(json.dumps(repodata, indent=1))
    print(out)


if __name__ == "__main__":
    main()
