"""A custom handler written from the Azure Functions docs, on Python's http.server alone.

The host starts it with FUNCTIONS_CUSTOMHANDLER_PORT and POSTs /<FunctionName> with
{Data, Metadata}; the answer is {Outputs, Logs, ReturnValue}.
"""
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def hello(invocation):
    req = invocation["Data"]["req"]
    name = req["Params"].get("name") or req["Query"].get("name") or "world"
    return {
        "Outputs": {
            "res": {
                "statusCode": 200,
                "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"hello": name, "from": "python"}),
            }
        },
        "Logs": [f"greeting {name}"],
        "ReturnValue": None,
    }


def echo(invocation):
    req = invocation["Data"]["req"]
    return {
        "Outputs": {},
        "Logs": [],
        "ReturnValue": {"statusCode": 200, "body": req["Body"],
                        "headers": {"Content-Type": "text/plain"}},
    }


FUNCTIONS = {"hello": hello, "echo": echo}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the host reuses connections
    # http.server sends the head and the body in two writes; with Nagle on, the second waits
    # for the host's delayed ACK (~40 ms per call). TCP_NODELAY sends both at once.
    disable_nagle_algorithm = True

    def _answer(self, status, body=b"", content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # readiness and health probes
        self._answer(200)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        payload = json.loads(self.rfile.read(length) or b"{}")
        fn = FUNCTIONS.get(self.path.lstrip("/").split("?")[0])
        if fn is None:
            self._answer(404)
            return
        self._answer(200, json.dumps(fn(payload)).encode())

    def log_message(self, fmt, *args):  # the host logs every invocation already
        pass


if __name__ == "__main__":
    port = int(os.environ.get("FUNCTIONS_CUSTOMHANDLER_PORT", "3000"))
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
