"""IAM Identity Center's portal on loopback, for the admin credential tests:
answers GetRoleCredentials (GET /federation/credentials) with short-lived
keys, and records each request's role, account and bearer token, so a test
can tell that the SDK's SSO provider read the sign-in's cached token.

    sso_standin.py PORT LOGFILE
"""
import http.server
import json
import sys
import time
import urllib.parse

port, log_path = int(sys.argv[1]), sys.argv[2]


class Portal(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        with open(log_path, "a") as log:
            log.write(json.dumps({
                "path": url.path,
                "role": query.get("role_name"),
                "account": query.get("account_id"),
                "token": self.headers.get("x-amz-sso_bearer_token"),
            }) + "\n")
        body = json.dumps({"roleCredentials": {
            "accessKeyId": "ASIASSOSTANDIN",
            "secretAccessKey": "standin",
            "sessionToken": "standin",
            "expiration": int(time.time() + 3600) * 1000,
        }}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", port), Portal).serve_forever()
