"""One client for OpenAI-compatible chat-completions endpoints (OpenAI, Azure, vLLM, SGLang,
llama.cpp, Ollama), shared by the concept LLM (step 0) and the openai judge.

- The API key comes from the environment variable the caller *names* (or is handed over
  directly); it is given to the ``openai`` client and never written to logs, results or cache
  keys, and every error message is scrubbed of it (some servers echo a rejected key).
- 429, 408/409, 5xx, timeouts and connection errors are retried up to ``max_retries`` times with
  exponential backoff (``backoff_initial_s`` doubling, capped at ``backoff_max_s``, at least the
  server's Retry-After, with jitter); the openai client's own retries are off so that the count
  is ours, and so is a reply whose body is not JSON (a proxy's error page, a cut-off body). Any
  other HTTP error is a one-line ``UserError`` at once.
- A caller probes the endpoint with one request (``probe_hint``) before fanning out: when that
  request fails the same way ``PROBE_REPEATS`` times in a row (the same status and body, or the
  same timeout; a busy server's 429/502/503/504 excepted), the endpoint is refused as misconfigured with the hint, instead of backing off
  for many minutes on an error that will not go away (llama.cpp's server answers every
  ``json_schema`` request with HTTP 500).
- Usage is counted across threads: requests (retries included), retries, prompt and completion
  tokens.
"""
from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from selfsynth.errors import UserError

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 409, 429})
PROBE_REPEATS = 3
# a server saying it is busy: worth waiting for even when it says so on the probe
BUSY_STATUS = frozenset({408, 409, 429, 502, 503, 504})
NO_KEY = "no-key"  # the client insists on a string; keyless local servers ignore it


@dataclass(frozen=True)
class ChatReply:
    text: str
    finish_reason: str | None
    served_model: str | None
    prompt_tokens: int
    completion_tokens: int


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
                from openai import OpenAI

                self._client = OpenAI(api_key=self._key, base_url=self.base_url, timeout=self.timeout_s, max_retries=0)
            return self._client

    def _backoff(self, attempt: int, exc: Exception) -> float:
        delay = min(self.backoff_max_s, self.backoff_initial_s * (2 ** attempt))
        response = getattr(exc, "response", None)
        retry_after = response.headers.get("retry-after") if response is not None else None
        if retry_after:
            try:
                delay = max(delay, min(self.backoff_max_s, float(retry_after)))
            except ValueError:
                pass  # an HTTP-date Retry-After: our own backoff applies
        # jitter spreads the retries of concurrent threads that were throttled together
        return delay * random.uniform(1.0, 1.25)

    def chat(self, messages: list[dict[str, str]], about: str = "", bad_request_hint: str = "",
             gave_up_hint: str = "", probe_hint: str = "", **request: Any) -> ChatReply:
        """One chat completion of ``self.model`` (``request``: temperature, max_tokens, ...).
        ``about`` names the item in error messages; the hints are appended to a 400 and to giving
        up after the last retry. With ``probe_hint`` this is the probe request: the same failure
        ``PROBE_REPEATS`` times in a row stops with that hint."""
        import openai

        client = self._openai()
        last_failure, repeats = None, 0
        for attempt in range(self.max_retries + 1):
            self._count(requests=1)
            try:
                reply = client.chat.completions.create(model=self.model, messages=messages, **request)
                break
            except (openai.APIConnectionError, openai.APIStatusError, openai.APIResponseValidationError, json.JSONDecodeError) as exc:
                # APITimeoutError is a connection error; a body that is not JSON fails in json.loads
                status = getattr(exc, "status_code", None)
                if status is not None and status not in RETRYABLE_STATUS and status < 500:
                    hint = bad_request_hint if status == 400 else ""
                    raise UserError(f"{self.where()}{about}: HTTP {status}: {_short(self.redact(str(exc)))}{hint}") from None
                if isinstance(exc, (json.JSONDecodeError, openai.APIResponseValidationError)):
                    what = "a reply that is not valid JSON"
                else:
                    what = f"HTTP {status}" if status is not None else type(exc).__name__
                failure = (what, str(exc) if status is not None else "")
                repeats = repeats + 1 if failure == last_failure else 1
                last_failure = failure
                if probe_hint and repeats >= PROBE_REPEATS and status not in BUSY_STATUS:
                    said = f" ({_short(self.redact(failure[1]), 120)})" if failure[1] else ""
                    raise UserError(f"{self.where()}{about}: {what}{said} {repeats} times in a row on the first request; {probe_hint}") from None
                if attempt == self.max_retries:
                    raise UserError(f"{self.where()}{about}: {what} after {self.max_retries} retries{gave_up_hint}") from None
                delay = self._backoff(attempt, exc)
                self._count(retries=1)
                log.info("%s: %s, retry %d in %.1fs", self.name, what, attempt + 1, delay)
                time.sleep(delay)
        choice = reply.choices[0] if reply.choices else None
        usage = getattr(reply, "usage", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        self._count(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        return ChatReply(
            text=(choice.message.content if choice is not None else None) or "",
            finish_reason=getattr(choice, "finish_reason", None),
            served_model=getattr(reply, "model", None),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
