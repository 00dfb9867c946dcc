"""One client for OpenAI-compatible chat-completions endpoints (OpenAI, Azure, vLLM, SGLang,
llama.cpp, Ollama), shared by the concept LLM (step 0) and the openai judge.

- The API key comes from the environment variable the caller *names* (or is handed over
  directly); it is given to the ``openai`` client and never written to logs, results or cache
  keys, and every error message is scrubbed of it (some servers echo a rejected key).
- Retries are the openai SDK's own (``max_retries``: 408, 409, 429, 5xx, timeouts, connection
  errors, the server's Retry-After honoured); only its backoff curve is ours (``backoff_initial_s``
  doubling, capped at ``backoff_max_s``, minus up to 25% jitter). Our HTTP transport under the SDK
  counts every request and retry (the SDK numbers its attempts in ``x-stainless-retry-count``)
  and turns a 200 reply that is not a chat completion (a proxy's error page, a cut-off body, JSON
  without ``choices``) into a retryable 502, so the SDK retries that too. Any other HTTP error is
  a one-line ``UserError`` at once.
- A caller probes the endpoint with one request (``probe_hint``) before fanning out: when that
  request fails the same way ``PROBE_REPEATS`` times in a row (the same status and body, or the
  same timeout; a busy server's 429/502/503/504 excepted), the endpoint is refused as
  misconfigured with the hint, instead of backing off for many minutes on an error that will not
  go away (llama.cpp's server answers every ``json_schema`` request with HTTP 500).
- Every reply shape is a ``ChatReply``: no choices (a content filter), a refusal (``refusal``
  holds its text, ``text`` is empty), a reply cut at the token limit (``truncated``).
- Usage is counted across threads: requests (retries included), retries, prompt and completion
  tokens.
"""
from __future__ import annotations

import json
import logging
import os
import random
import threading
from dataclasses import dataclass, field
from typing import Any

from selfsynth.errors import UserError

log = logging.getLogger(__name__)

PROBE_REPEATS = 3
# a server saying it is busy: worth waiting for even when it says so on the probe
BUSY_STATUS = frozenset({408, 409, 429, 502, 503, 504})
NO_KEY = "no-key"  # the client insists on a string; keyless local servers ignore it
# set by our transport on the 502 it makes of a 200 reply that is not a chat completion
FAULT_HEADER = "x-selfsynth-fault"


@dataclass(frozen=True)
class ChatReply:
    text: str
    finish_reason: str | None
    served_model: str | None
    prompt_tokens: int
    completion_tokens: int
    refusal: str | None = None  # the model declined (structured outputs): its words, and text is ""

    @property
    def truncated(self) -> bool:
        """The reply stopped at max_tokens: its text is cut (a JSON grade may not parse)."""
        return self.finish_reason == "length"


class _Transport:
    """The HTTP transport under the openai client: counts requests and retries, remembers each
    attempt's failure per thread (for the probe), and makes a retryable 502 of a 200 reply that
    is not a chat completion, so the SDK's retry loop covers it."""

    def __init__(self, inner: Any, count: Any):
        self._inner, self._count, self.failures = inner, count, threading.local()

    def attempts(self) -> list[tuple[str, str]]:
        return getattr(self.failures, "seen", [])

    def reset(self) -> None:
        self.failures.seen = []

    def _failed(self, what: str, detail: str = "") -> None:
        if not hasattr(self.failures, "seen"):
            self.failures.seen = []
        self.failures.seen.append((what, detail))

    def handle_request(self, request: Any) -> Any:
        import httpx2

        retry = request.headers.get("x-stainless-retry-count", "0")
        self._count(requests=1, retries=1 if retry.isdigit() and int(retry) > 0 else 0)
        try:
            response = self._inner.handle_request(request)
        except httpx2.TimeoutException:
            self._failed("APITimeoutError")
            raise
        except httpx2.TransportError as exc:
            self._failed("APIConnectionError", type(exc).__name__)
            raise
        if response.status_code != 200:
            response.read()
            self._failed(f"HTTP {response.status_code}", response.text)
            return response
        try:
            body = response.read()
            data = json.loads(body)
            fault = None if isinstance(data, dict) and isinstance(data.get("choices"), list) else "a reply that is not a chat completion"
        except (ValueError, httpx2.HTTPError):
            fault = "a reply that is not valid JSON"
        if fault is None:
            return response
        self._failed(fault)
        return httpx2.Response(502, headers={FAULT_HEADER: fault, "content-type": "application/json"},
                               json={"error": {"message": fault}}, request=request)

    def close(self) -> None:
        self._inner.close()


@dataclass
class LLMClient:
    """``chat(messages, **request)`` → ``ChatReply``, retried and counted; safe to share between
    threads. ``name`` says who calls in error messages ("openai judge", "concept LLM");
    ``key_flag`` is the setting that names ``api_key_env``, for the missing-key message."""

    name: str
    model: str
    base_url: str | None
    api_key_env: str = ""
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 60.0
    max_retries: int = 5
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    key_flag: str = ""

    def __post_init__(self) -> None:
        key = self.api_key or (os.environ.get(self.api_key_env) if self.api_key_env else NO_KEY)
        if not key:
            named_by = f" (named by {self.key_flag})" if self.key_flag else ""
            raise UserError(f"{self.name}: environment variable {self.api_key_env}{named_by} is not set")
        self._key = key
        self._client: Any = None
        self._transport: _Transport | None = None
        self._lock = threading.Lock()
        self._used = dict.fromkeys(("requests", "retries", "prompt_tokens", "completion_tokens"), 0)

    def _count(self, **amounts: int) -> None:
        with self._lock:
            for what, amount in amounts.items():
                self._used[what] += amount

    def redact(self, text: str) -> str:
        return text.replace(self._key, "<redacted>") if self._key != NO_KEY else text

    def where(self) -> str:
        return f"{self.name} {self.model!r} at {self.base_url or 'the openai default endpoint'}"

    def usage(self) -> dict[str, int]:
        """Requests sent (retries included), retries, prompt and completion tokens, so far."""
        with self._lock:
            return dict(self._used)

    def _openai(self) -> Any:
        with self._lock:
            if self._client is None:
                import httpx2
                import openai

                initial, cap = self.backoff_initial_s, self.backoff_max_s

                class Client(openai.OpenAI):
                    # the SDK's retry loop with our backoff curve (its Retry-After handling kept)
                    def _calculate_retry_timeout(self, remaining_retries, options, response_headers=None):
                        retry_after = self._parse_retry_after_header(response_headers)
                        max_retries = options.get_max_retries(self.max_retries)
                        delay = min(cap, initial * 2.0 ** min(max_retries - remaining_retries, 60))
                        if retry_after is not None and 0 < retry_after <= 60:
                            delay = max(delay, min(cap, retry_after))
                        return delay * (1 - 0.25 * random.random())

                self._transport = _Transport(httpx2.HTTPTransport(), self._count)
                http = openai.DefaultHttpx2Client(transport=self._transport)
                self._client = Client(api_key=self._key, base_url=self.base_url, timeout=self.timeout_s,
                                      max_retries=self.max_retries, http_client=http)
            return self._client

    def chat(self, messages: list[dict[str, str]], about: str = "", bad_request_hint: str = "",
             gave_up_hint: str = "", probe_hint: str = "", **request: Any) -> ChatReply:
        """One chat completion of ``self.model`` (``request``: temperature, max_tokens, ...).
        ``about`` names the item in error messages; the hints are appended to a 400 and to giving
        up after the last retry. With ``probe_hint`` this is the probe request: the same failure
        ``PROBE_REPEATS`` times in a row stops with that hint."""
        import openai

        client = self._openai()
        transport = self._transport
        transport.reset()
        budgets = [self.max_retries]
        if probe_hint and self.max_retries >= PROBE_REPEATS - 1:
            budgets = [PROBE_REPEATS - 1, self.max_retries - (PROBE_REPEATS - 1)]
        for number, budget in enumerate(budgets):
            try:
                reply = client.with_options(max_retries=budget).chat.completions.create(model=self.model, messages=messages, **request)
                break
            except (openai.APIStatusError, openai.APIConnectionError, openai.APIResponseValidationError) as exc:
                status = getattr(exc, "status_code", None)
                response = getattr(exc, "response", None)
                fault = response.headers.get(FAULT_HEADER) if response is not None else None
                if isinstance(exc, openai.APIResponseValidationError):
                    fault = "a reply that is not a chat completion"
                elif fault is None and isinstance(exc, openai.APIStatusError) and status not in BUSY_STATUS and status < 500:
                    hint = bad_request_hint if status == 400 else ""
                    raise UserError(f"{self.where()}{about}: HTTP {status}: {_short(self.redact(str(exc)))}{hint}") from None
                what = fault or (f"HTTP {status}" if status is not None else type(exc).__name__)
                seen = transport.attempts()
                if number == 0 and len(budgets) == 2:  # the probe
                    same = len(seen) >= PROBE_REPEATS and len(set(seen[-PROBE_REPEATS:])) == 1
                    busy = status in BUSY_STATUS and fault is None  # our 502 stands for a reply that is not a completion
                    if same and not busy:
                        detail = seen[-1][1]
                        said = f" ({_short(self.redact(detail), 120)})" if detail and fault is None else ""
                        raise UserError(f"{self.where()}{about}: {what}{said} {PROBE_REPEATS} times in a row on the first request; "
                                        f"{probe_hint}") from None
                    if budgets[1] > 0:
                        log.info("%s: %s on the first request; retrying", self.name, what)
                        continue
                retries = max(len(seen) - 1, 0)
                raise UserError(f"{self.where()}{about}: {what} after {retries} retries{gave_up_hint}") from None
        return self._reply(reply, about)

    def _reply(self, reply: Any, about: str) -> ChatReply:
        choices = getattr(reply, "choices", None)
        if not isinstance(choices, list):  # the SDK hands back text it could not read as a completion
            raise UserError(f"{self.where()}{about}: a reply that is not a chat completion ({_short(self.redact(str(reply)), 120)})")
        usage = getattr(reply, "usage", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        self._count(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        choice = choices[0] if choices else None
        message = getattr(choice, "message", None)
        content = getattr(message, "content", None)
        refusal = getattr(message, "refusal", None) or None
        if choice is None:
            log.warning("%s%s: a reply with no choices (a content filter?)", self.name, about)
        return ChatReply(
            text=content if isinstance(content, str) and refusal is None else "",
            finish_reason=getattr(choice, "finish_reason", None) if choice is not None else "no_choices",
            served_model=getattr(reply, "model", None),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            refusal=str(refusal) if refusal is not None else None,
        )


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
