"""Builds the tiny wheel the test mirror serves, from nothing but zipfile.

    python3 make_wheel.py OUTDIR
"""

import base64
import hashlib
import sys
import zipfile
from pathlib import Path

NAME, VERSION = "nbwarden_probe", "1.0.0"
FILES = {
    f"{NAME}/__init__.py": 'SOURCE = "nbwarden test mirror"\n',
    f"{NAME}-{VERSION}.dist-info/METADATA": (
        f"Metadata-Version: 2.1\nName: nbwarden-probe\nVersion: {VERSION}\n"
        "Summary: Served only by nbwarden's test mirror\n"
    ),
    f"{NAME}-{VERSION}.dist-info/WHEEL": (
        "Wheel-Version: 1.0\nGenerator: nbwarden-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    ),
}


def digest(data):
    raw = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    record = f"{NAME}-{VERSION}.dist-info/RECORD"
    wheel = out / f"{NAME}-{VERSION}-py3-none-any.whl"
    lines = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in FILES.items():
            data = text.encode()
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            z.writestr(info, data)
            lines.append(f"{name},{digest(data)},{len(data)}")
        lines.append(f"{record},,")
        z.writestr(zipfile.ZipInfo(record, date_time=(2026, 1, 1, 0, 0, 0)), "\n".join(lines) + "\n")
    print(wheel)


if __name__ == "__main__":
    main()
