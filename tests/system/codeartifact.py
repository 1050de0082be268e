"""A stand-in for CodeArtifact's GetAuthorizationToken (moto does not
serve CodeArtifact): POST /v1/authorization-token?domain=&domain-owner=&duration=
answers a token and its expiration, only for a SigV4-signed request whose
credential scope names the codeartifact service. Every request is logged.

    python3 codeartifact.py PORT LOGFILE
"""

import json
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        auth = self.headers.get("Authorization", "")
        with open(sys.argv[2], "a") as log:
            log.write(json.dumps({"path": url.path, "query": query, "signed": "/codeartifact/aws4_request" in auth}) + "\n")
        if url.path != "/v1/authorization-token":
            return self.answer(404, {"message": "no such operation"})
        if "/codeartifact/aws4_request" not in auth:
            return self.answer(403, {"message": "not signed for codeartifact"}, "AccessDeniedException")
        if query.get("domain") != ["nbwarden"]:
            return self.answer(404, {"message": "domain not found"}, "ResourceNotFoundException")
        duration = int(query.get("duration", ["43200"])[0])
        token = "CA-TOKEN-" + uuid.uuid4().hex
        self.answer(200, {"authorizationToken": token, "expiration": time.time() + duration})

    def answer(self, code, body, error_type=None):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
