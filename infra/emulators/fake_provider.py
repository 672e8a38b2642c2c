"""A fake OpenAI for the local stack's tests (infra/scripts/local-api-test.sh): a real HTTP
server on 127.0.0.1 that answers the key check of the vault, `GET /v1/models`, and
an Azure OpenAI resource's, `GET /openai/models?api-version=…` with the key in
`api-key` (https://learn.microsoft.com/en-us/rest/api/azureopenai/models/list).

    python3 infra/emulators/fake_provider.py --port-file FILE [--good-key KEY]...

It listens on a free port and writes the port to FILE. A request whose
`Authorization: Bearer` names one of the good keys gets 200 and a model list;
any other gets OpenAI's 401 `invalid_api_key` answer
(https://platform.openai.com/docs/api-reference/models/list). It never prints a key.
"""

import argparse
import http.server
import json
import os
import socketserver

GOOD_KEY = "sk-proj-G00dKey0123456789abcdefghijklmnopQRST"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--good-key", action="append", default=[])
    args = parser.parse_args()
    good = set(args.good_key or [GOOD_KEY])

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            if self.path.split("?")[0] == "/openai/models" and "api-version=" in self.path:
                if self.headers.get("api-key", "") in good:
                    return self.answer(200, {"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})
                return self.answer(401, {"error": {
                    "code": "401",
                    "message": "Access denied due to invalid subscription key or wrong API endpoint.",
                }})
            if self.path.split("?")[0] != "/v1/models":
                return self.answer(404, {"error": {"message": "Not found", "type": "invalid_request_error"}})
            auth = self.headers.get("Authorization", "")
            key = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
            if key in good:
                return self.answer(200, {"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})
            return self.answer(401, {"error": {
                "message": "Incorrect API key provided.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }})

        def answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args) -> None:
            pass  # the request line carries no key, but the server has nothing to say

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
