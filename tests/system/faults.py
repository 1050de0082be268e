"""A fault-injecting HTTP proxy for AWS JSON APIs (SSM), on loopback.

    python3 faults.py --port P --upstream http://127.0.0.1:45010 --mode throttle:2

Modes:
  throttle:N   answer the first N requests with ThrottlingException (HTTP 400),
               then forward everything to the upstream
  deny         answer every request with AccessDeniedException (HTTP 400)
  slow:S       wait S seconds before forwarding each request
  error500     answer every request with HTTP 500
  tricklebody:S  forward everything, but send an S3 GetObject's body at 4
               bytes a second (fast enough for the SDK's stalled-stream
               check), for S seconds, then hang up
  forward      forward everything

With --count-file F, every request appends one line to F: its X-Amz-Target
header (JSON APIs), else its method and path, so tests can count calls.
"""

import argparse
import json
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Proxy(BaseHTTPRequestHandler):
    mode = "forward"
    upstream = ""
    remaining = 0
    count_file = None

    def fail(self, status, kind, message):
        body = json.dumps({"__type": kind, "message": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("x-amzn-ErrorType", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def forward(self, body):
        req = urllib.request.Request(self.upstream + self.path, data=body, method=self.command)
        for k, v in self.headers.items():
            if k.lower() not in ("host", "content-length", "connection"):
                req.add_header(k, v)
        try:
            resp = urllib.request.urlopen(req, timeout=30)
            status, headers, data = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            status, headers, data = e.code, e.headers, e.read()
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if Proxy.count_file:
            target = self.headers.get("X-Amz-Target") or f"{self.command} {self.path}"
            with open(Proxy.count_file, "a") as f:
                f.write(target + "\n")
        kind, _, arg = self.mode.partition(":")
        if kind == "throttle" and Proxy.remaining > 0:
            Proxy.remaining -= 1
            return self.fail(400, "ThrottlingException", "Rate exceeded")
        if kind == "deny":
            return self.fail(
                400,
                "AccessDeniedException",
                "User: arn:aws:sts::123456789012:assumed-role/nbwarden-notebook-role/i-0 "
                "is not authorized to perform: ssm:GetParameters",
            )
        if kind == "error500":
            return self.fail(500, "InternalServerError", "injected")
        if kind == "slow":
            time.sleep(float(arg))
        getobject = "x-id=GetObject" in self.path or "?" not in self.path
        if kind == "tricklebody" and self.command == "GET" and getobject:
            return self.trickle(float(arg))
        return self.forward(body)

    def trickle(self, seconds):
        req = urllib.request.Request(self.upstream + self.path, method="GET")
        for k, v in self.headers.items():
            if k.lower() not in ("host", "connection"):
                req.add_header(k, v)
        data = urllib.request.urlopen(req, timeout=30).read()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        until = time.monotonic() + seconds
        for i in range(len(data)):
            if time.monotonic() > until:
                break
            self.wfile.write(data[i:i + 1])
            self.wfile.flush()
            time.sleep(0.25)
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any

    def log_message(self, fmt, *args):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--mode", required=True)
    ap.add_argument("--count-file")
    args = ap.parse_args()
    Proxy.count_file = args.count_file
    Proxy.mode = args.mode
    Proxy.upstream = args.upstream.rstrip("/")
    if args.mode.startswith("throttle:"):
        Proxy.remaining = int(args.mode.split(":")[1])
    ThreadingHTTPServer(("127.0.0.1", args.port), Proxy).serve_forever()


if __name__ == "__main__":
    main()
