"""Runs CODE in a new kernel of a Jupyter server through the server's own
REST and websocket API, as a notebook does, prints what the cell printed,
and shuts the kernel down.

    kernel_exec.py URL TOKEN KERNEL_NAME CODE
"""

import json
import sys
import urllib.request
import uuid

import websocket  # websocket-client, a dependency of jupyter_server

url, token, name, code = sys.argv[1:5]


def api(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"{url}{path}",
        method=method,
        data=data,
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        text = r.read()
        return json.loads(text) if text else None


kernel = api("POST", "/api/kernels", {"name": name})
try:
    ws = websocket.create_connection(
        f"{url.replace('http', 'ws', 1)}/api/kernels/{kernel['id']}/channels",
        header=[f"Authorization: token {token}"],
        timeout=180,
    )
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "username": "nbwarden-test", "session": uuid.uuid4().hex,
                   "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {},
        "metadata": {},
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False},
        "channel": "shell",
    }))
    out = []
    while True:
        m = json.loads(ws.recv())
        if m.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = m["msg_type"]
        if kind == "stream":
            out.append(m["content"]["text"])
        elif kind == "error":
            out.append("\n".join(m["content"]["traceback"]))
        elif kind == "status" and m["content"]["execution_state"] == "idle":
            break
    ws.close()
    sys.stdout.write("".join(out))
finally:
    api("DELETE", f"/api/kernels/{kernel['id']}")
