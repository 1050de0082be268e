"""A small, honest IMDSv2 server for tests.

moto's own metadata endpoint omits the x-aws-ec2-metadata-token-ttl-seconds
header, which the Rust SDK requires, so tests use this. It serves only
IMDSv2: a token from PUT /latest/api/token, then GETs carrying it; a GET
without a valid token gets 401, as on an instance that requires v2.
Values come from the "imds" section of the seed file.

    python3 imds.py --port 45011 --seed tests/fixtures/aws-seed.json
"""

import argparse
import json
import secrets
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def metadata(seed):
    d = seed["imds"]
    role = d["role"]
    doc = {
        "accountId": d["account_id"],
        "region": d["region"],
        "availabilityZone": d["region"] + "a",
        "instanceId": d["instance_id"],
        "instanceType": "ml.t3.medium",
    }
    creds = {
        "Code": "Success",
        "Type": "AWS-HMAC",
        "AccessKeyId": "testing",
        "SecretAccessKey": "testing",
        "Token": "testing",
        "Expiration": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 6 * 3600)),
        "LastUpdated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return {
        "/latest/meta-data/instance-id": d["instance_id"],
        "/latest/meta-data/placement/region": d["region"],
        "/latest/meta-data/placement/availability-zone": d["region"] + "a",
        "/latest/meta-data/iam/security-credentials/": role,
        "/latest/meta-data/iam/security-credentials/" + role: json.dumps(creds),
        "/latest/dynamic/instance-identity/document": json.dumps(doc),
    }


class Handler(BaseHTTPRequestHandler):
    tokens = {}
    paths = {}

    def reply(self, code, body="", headers=()):
        data = body.encode()
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):
        if self.path != "/latest/api/token":
            return self.reply(404, "not found")
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
        if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            return self.reply(400, "missing or invalid token TTL")
        token = secrets.token_urlsafe(24)
        self.tokens[token] = time.time() + int(ttl)
        self.reply(200, token, [("x-aws-ec2-metadata-token-ttl-seconds", ttl)])

    def do_GET(self):
        token = self.headers.get("X-aws-ec2-metadata-token", "")
        if self.tokens.get(token, 0) < time.time():
            return self.reply(401, "")
        if self.path not in self.paths:
            return self.reply(404, "not found")
        self.reply(200, self.paths[self.path])

    def log_message(self, fmt, *args):
        pass


class Server(ThreadingHTTPServer):
    # socketserver's listen backlog is 5: when more test runs than that
    # connect at once, the kernel drops the rest's SYNs, and the SDK's 1 s
    # connect timeout fails their credentials (seen in CI under load).
    request_queue_size = 128
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--seed", required=True)
    args = ap.parse_args()
    with open(args.seed) as f:
        Handler.paths = metadata(json.load(f))
    Server(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
