"""A local stand-in for an OpenAI-compatible server's /v1/models and /v1/completions, for the
faults a real server rarely shows on demand. The real server of the tests is `transformers
serve`; this one exists only to fail when told to.

Each completion is a well-formed Bonito task whose text names the request's seed, so a test can
tell which seed asked for which sample. `fail(kind, times)` makes the next `times` completion
requests fail in one way:

    429        a 429 with `Retry-After: 0` (or `retry_after` seconds)
    500        an internal server error
    401        a refusal of the key
    drop       the connection closed without an answer
    slow       an answer that comes after `slow_seconds` (past a short client timeout)
    malformed  a 200 whose body is not JSON
    trickle    a 200 whose body comes one byte every `slow_seconds / 10` (a per-read timeout never fires)
    huge       a 200 with a completion of 2 MB, far past any max_tokens
    long       a 200 with a completion of 400 words more than it was asked for
    error200   a 200 whose body is an error message (naming the key it was sent, as some proxies do)
    redirect   a 307 to another origin (`redirect_to`); redirect_same: a 307 to this server's own path

`ignore_n=True` answers every request with one choice, as servers that ignore `n` do;
`models_status` makes /v1/models answer with that status, and `listed=False` leaves the model
out of the list (transformers serve 5.17 lists only the models of its cache). A completion for
another model is a 404, as vLLM answers it.
Every completion request that got an answer is kept in `answered` (prompt, n, seed), and every
request in `requests` with its headers, so a test can check what was sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler

from standins.loopback import LoopbackServer

from bonito_hub.testing.engines import passage_of


def completion_text(prompt: str, seed: int, sample: int) -> str:
    """A Bonito task about the prompt's passage: its first word is the answer, so the span filter keeps it."""
    first = passage_of(prompt).split()[0].strip(".,;:!?")
    return f"{{{{context}}}}\nQuestion {seed}-{sample}: which word comes first?\n<|pipe|>\n{first}"


def lowered(headers) -> dict:
    """A request's headers by lower-case name (clients differ in how they spell them)."""
    return {k.lower(): v for k, v in headers.items()}


class FaultyServer(LoopbackServer):
    def __init__(self, model: str = "served", ignore_n: bool = False, slow_seconds: float = 1.5,
                 models_status: int | None = None, listed: bool = True, redirect_to: str = "http://127.0.0.2:9"):
        self.redirect_to = redirect_to
        self.model, self.ignore_n, self.slow_seconds, self.models_status = model, ignore_n, slow_seconds, models_status
        self.listed = listed
        self.retry_after = "0"
        self.faults: deque[str] = deque()
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.answered: list[tuple[str, int, int]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def send(self, status: int, body: bytes, headers: dict | None = None):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                server.requests.append({"path": self.path, "headers": lowered(self.headers)})
                if self.path.rstrip("/") != "/v1/models":
                    return self.send(404, b'{"error": {"message": "not found"}}')
                if server.models_status:
                    return self.send(server.models_status, b'{"error": {"message": "invalid api key"}}')
                listed = [{"id": server.model, "object": "model", "max_model_len": 2048}] if server.listed else []
                self.send(200, json.dumps({"object": "list", "data": listed}).encode())

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if body.get("model") != server.model:
                    message = {"error": {"message": f"The model `{body.get('model')}` does not exist."}}
                    return self.send(404, json.dumps(message).encode())
                with server.lock:
                    server.requests.append({"path": self.path, "headers": lowered(self.headers), "body": body})
                    fault = server.faults.popleft() if server.faults else None
                if fault == "429":
                    return self.send(429, b'{"error": {"message": "slow down"}}', {"Retry-After": server.retry_after})
                if fault in ("500", "401"):
                    return self.send(int(fault), json.dumps({"error": {"message": f"fault {fault}"}}).encode())
                if fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fault == "slow":
                    time.sleep(server.slow_seconds)
                if fault == "malformed":
                    return self.send(200, b"<html>upstream error</html>")
                if fault == "error200":
                    key = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    return self.send(200, json.dumps({"error": {"message": f"CUDA out of memory (key {key})"}}).encode())
                if fault in ("redirect", "redirect_same"):
                    where = server.redirect_to + self.path if fault == "redirect" else self.path
                    self.send_response(307)
                    self.send_header("Location", where)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if fault == "trickle":
                    body = json.dumps({"choices": [{"index": 0, "text": "x"}]}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    try:
                        for byte in body:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(server.slow_seconds / 10)
                    except OSError:  # the client gave up at its deadline
                        self.close_connection = True
                    return
                if fault == "long":
                    text = completion_text(body["prompt"], int(body.get("seed", -1)), 0) + " and more" * 200
                    return self.send(200, json.dumps({"choices": [{"index": 0, "text": text}]}).encode())
                if fault == "huge":
                    text = completion_text(body["prompt"], int(body.get("seed", -1)), 0) + " more" * 400_000
                    return self.send(200, json.dumps({"choices": [{"index": 0, "text": text}]}).encode())
                n = 1 if server.ignore_n else int(body.get("n") or 1)
                seed = int(body.get("seed", -1))
                choices = [{"index": i, "text": completion_text(body["prompt"], seed, i), "finish_reason": "stop"}
                           for i in range(n)]
                with server.lock:
                    server.answered.append((body["prompt"], n, seed))
                self.send(200, json.dumps({"id": "cmpl-1", "object": "text_completion", "model": server.model,
                                           "choices": choices}).encode())

        LoopbackServer.__init__(self, Handler)
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def fail(self, kind: str, times: int = 1) -> None:
        with self.lock:
            self.faults.extend([kind] * times)
