"""A scripted OpenAI-compatible server on 127.0.0.1 for tests that need exact judge replies: it
serves /v1/models and /v1/chat/completions, answers each request with `reply(body)` and records
every request body it received, byte for byte (`bodies`, `raw`). `reply` may return a dict instead of
a text, for served-engine tests: {"content", "token_ids", "prompt_token_ids", "top_logprobs":
[(token, logprob)], "status": an HTTP error code}, sent as vLLM sends them."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


class ScriptedServer:
    def __init__(self, reply: Callable[[dict], str], models=("gpt-4-0314",), fail_first: int = 0,
                 api_key: str | None = None):
        self.reply = reply
        self.models = None if models is None else list(models)
        self.bodies: list[dict] = []
        self.raw: list[bytes] = []
        self.fail_first = fail_first  # answer this many requests with HTTP 500 first (retry tests)
        self.api_key = api_key  # when set, other keys get HTTP 401; models=None: no /models endpoint (404)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code: int, payload: dict):
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self) -> bool:
                if server.api_key is None or self.headers.get("authorization") == f"Bearer {server.api_key}":
                    return True
                self._send(401, {"error": {"message": "Incorrect API key provided"}})
                return False

            def do_GET(self):
                if not self._authorised():
                    return
                if self.path.rstrip("/").endswith("/models") and server.models is not None:
                    self._send(200, {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "test"}
                                                                for m in server.models]})
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                if not self._authorised():
                    return
                with server._lock:
                    if server.fail_first > 0:
                        server.fail_first -= 1
                        self._send(500, {"error": {"message": "scripted failure"}})
                        return
                    body = json.loads(raw)
                    server.raw.append(raw)
                    server.bodies.append(body)
                text = server.reply(body)
                extra = text if isinstance(text, dict) else {"content": text}
                if extra.get("status"):
                    self._send(extra["status"], {"error": {"message": "scripted refusal"}})
                    return
                choice = {"index": 0, "finish_reason": "stop",
                          "message": {"role": "assistant", "content": extra["content"]}}
                if "token_ids" in extra:
                    choice["token_ids"] = extra["token_ids"]
                if "top_logprobs" in extra:
                    choice["logprobs"] = {"content": [{"token": extra["top_logprobs"][0][0], "logprob": 0.0,
                                                       "top_logprobs": [{"token": t, "logprob": lp}
                                                                        for t, lp in extra["top_logprobs"]]}]}
                payload = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                           "choices": [choice],
                           "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}}
                if "prompt_token_ids" in extra:
                    payload["prompt_token_ids"] = extra["prompt_token_ids"]
                self._send(200, payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> "ScriptedServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
