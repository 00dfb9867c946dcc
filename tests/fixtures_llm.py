"""A loopback OpenAI-compatible chat-completions server for the tests of the HTTP clients (the
concept LLM, the openai judge, ``selfsynth.llm_client``): real HTTP, no network."""
from __future__ import annotations

import json
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def completion(content: str, model: str, prompt_tokens: int = 10, completion_tokens: int = 10) -> dict[str, Any]:
    """A chat.completion response body with one choice."""
    return {
        "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens},
    }


STALL = "stall"  # hold the request until the client gives up (or stall_s passes); answer nothing
DROP = "drop"  # close the connection without an answer
GARBLED = "garbled"  # HTTP 200 with a body that is not JSON


class LoopbackChat:
    """``with Server() as url:`` serves POSTs on 127.0.0.1 with ``respond(body, auth)`` →
    (status, payload, headers), recording every request as {"path", "body", "auth", "retry"} (retry:
    the openai SDK's attempt number, its x-stainless-retry-count header). A status of
    STALL, DROP or GARBLED injects that fault instead of an answer. ``max_in_flight`` is the most
    requests the server held at once (a stalled one counts until its client hangs up)."""

    stall_s = 5.0

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                with outer._lock:
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                try:
                    self._answer()
                finally:
                    with outer._lock:
                        outer.in_flight -= 1

            def _answer(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer._lock:
                    outer.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization"),
                                           "retry": self.headers.get("x-stainless-retry-count")})
                status, payload, headers = outer.respond(body, self.headers.get("Authorization", ""))
                if status in (STALL, DROP):
                    if status == STALL:
                        self._wait_for_hang_up(outer.stall_s)
                    self.close_connection = True
                    return
                # bytes are sent as they are (a proxy's HTML page, say), with the Content-Type the headers name
                data = (b'{"id": "chatcmpl-cut", "choices": [{"index": 0, "mess' if status == GARBLED
                        else payload if isinstance(payload, bytes) else json.dumps(payload).encode())
                status = 200 if status == GARBLED else status
                self.send_response(status)
                if "Content-Type" not in headers:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _wait_for_hang_up(self, limit_s: float) -> None:
                deadline = time.monotonic() + limit_s
                while time.monotonic() < deadline:
                    readable, _, _ = select.select([self.connection], [], [], 0.01)
                    if readable and not self.connection.recv(1, socket.MSG_PEEK):
                        return  # the client timed out and closed the connection

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def respond(self, body: dict[str, Any], auth: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        """(status, JSON reply, headers) for one request: each test server subclass says how it answers."""
        raise NotImplementedError("a test server subclass defines how it answers")

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


class FaultyChat(LoopbackChat):
    """A flaky OpenAI-compatible server on a fixed schedule: of every 10 requests in arrival order,
    the 4th, 7th and 10th (30%) get a fault, cycling through 429, 500 (its body echoing the
    request's Authorization header and body, as some proxies do), a stall past the client's
    timeout, a dropped connection and a body that is not JSON. Other requests are answered: judge
    prompts with a grade (an answer containing "GARBLE" gets a reply that is not JSON: a parse
    failure, not a transport fault), anything else with a concept list. ``faults`` counts each
    kind injected."""

    KINDS = (429, 500, STALL, DROP, GARBLED)

    def __init__(self, stall_s: float = 5.0) -> None:
        super().__init__()
        self.stall_s = stall_s
        self.faults: dict[str, int] = {str(kind): 0 for kind in self.KINDS}
        self._arrivals = 0

    def respond(self, body: dict[str, Any], auth: str) -> tuple[Any, dict[str, Any], dict[str, str]]:
        with self._lock:
            n = self._arrivals
            self._arrivals += 1
            kind = self.KINDS[(n // 3) % len(self.KINDS)] if n % 10 in (3, 6, 9) else None
            if kind is not None:
                self.faults[str(kind)] += 1
        if kind == 429:
            return 429, {"error": {"message": "rate limited", "type": "rate_limit"}}, {"Retry-After": "0"}
        if kind == 500:
            return 500, {"error": {"message": f"upstream failed for {auth}: {json.dumps(body)[:300]}", "type": "server_error"}}, {}
        if kind is not None:
            return kind, {}, {}
        prompt = body["messages"][-1]["content"]
        if "<<<ANSWER" in prompt:
            answer = prompt.split("<<<ANSWER\n", 1)[1].split("\nANSWER>>>", 1)[0]
            content = "Looks fine to me." if "GARBLE" in answer else json.dumps({"rationale": "ok", "explanation": 1, "consistency": 3})
        else:
            content = "- red crown\n- short conical beak\n- forked tail"
        return 200, completion(content, body["model"]), {}

    def injected(self) -> int:
        return sum(self.faults.values())
