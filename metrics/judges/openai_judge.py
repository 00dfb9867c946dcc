"""``openai``: an LLM judge behind any OpenAI-compatible chat-completions endpoint (OpenAI, Azure,
vLLM, SGLang, llama.cpp, Ollama).

One request per answer grades both metrics with our rubric (``RUBRIC_VERSION``; the full text,
the JSON schema and the version are hashed into ``PROMPT_HASH``, recorded with every score):
``explanation`` 0/1 → EE, ``consistency`` 0..4 → CS = consistency / 4.

- Every setting is an explicit ``OpenAIJudgeConfig`` field (a ``--openai.*`` flag of
  ``selfsynth judge``): model, base URL (never the client's environment default), the *name* of the
  environment variable holding the key, concurrency, retries, timeout, temperature. The key itself
  is read once, handed to the client, and never written to logs, results or cache keys.
- Requests run on ``max_concurrency`` threads. 429, 408/409, 5xx, timeouts and connection errors
  are retried up to ``max_retries`` times with exponential backoff (``backoff_initial_s`` doubling,
  capped at ``backoff_max_s``, at least the server's Retry-After); every retry is counted. The
  client's own retries are off so that the count is ours.
- The reply is requested as structured JSON (``response_format``: a strict JSON schema, plain JSON
  mode, or nothing for servers that support neither) and always parsed by ``parse_reply``; a reply
  that does not parse is a counted parse failure with ee = cs = None, never a score.
- Token usage per request is recorded; with both per-million-token prices set, so is the cost.
- The cache key is (judge model, prompt hash, rubric version, temperature, max_tokens, response
  format, inputs). The base URL is not part of it: the model name is the identity, so the same
  model reached through another proxy is not paid for twice.
"""
from __future__ import annotations

import dataclasses
import json
import re
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Callable, Literal, Sequence

from tqdm.auto import tqdm

from selfsynth.cache import canonical_json
from selfsynth.config import field
from selfsynth.configs.sections import Endpoint
from selfsynth.errors import UserError
from selfsynth.llm_client import LLMClient
from selfsynth.metrics.judges.base import PARSE_ERROR, Judge, JudgeContext, JudgeItem, Verdict, text_hash


RUBRIC_VERSION = "ee-cs-rubric-v1"
CONSISTENCY_MAX = 4

SYSTEM_PROMPT = """You are grading answers written by an assistant that classifies images into fine-grained categories.
You do not see the image. Instead you are given the visual concepts that are known to be present in it; treat them as the ground truth about what the image shows.
Follow the rubric exactly and reply with a single JSON object and nothing else."""

USER_TEMPLATE = """The assistant was asked:
{question}

Correct category of the image: {label}
Visual concepts known to be present in the image:
{concepts}

The assistant's answer, between the markers:
<<<ANSWER
{answer}
ANSWER>>>

Grade the answer on two criteria.

explanation (0 or 1)
  1: the answer backs up its classification with at least one reason beyond naming a category, for example a visible trait, a comparison with a similar category, or ruling an alternative out.
  0: the answer only names a category, restates it in other words, or gives no reason at all.

consistency (integer 0 to 4): do the reasons agree with the known visual concepts, and does the reasoning hold together?
  4: every trait the answer relies on agrees with the known concepts and the reasoning follows from them without contradiction.
  3: the traits mostly agree; one is doubtful or a step of the reasoning is missing.
  2: agreeing and disagreeing traits are mixed, or the reasoning supports the stated category only in part.
  1: most traits disagree with the known concepts, or the reasoning contradicts itself.
  0: no reason is given, or every trait mentioned disagrees with the known concepts.
  Grade agreement with the known concepts only; whether the named category is correct is graded elsewhere.

Reply with exactly this JSON object:
{{"rationale": "<one short sentence>", "explanation": <0 or 1>, "consistency": <0 to 4>}}"""

RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "rationale": {"type": "string"},
        "explanation": {"type": "integer", "enum": [0, 1]},
        "consistency": {"type": "integer", "enum": list(range(CONSISTENCY_MAX + 1))},
    },
    "required": ["rationale", "explanation", "consistency"],
    "additionalProperties": False,
}

PROMPT_HASH = text_hash(RUBRIC_VERSION, SYSTEM_PROMPT, USER_TEMPLATE, canonical_json(RESPONSE_SCHEMA))

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


@dataclass
class OpenAIJudgeConfig(Endpoint):
    """The endpoint section, with the judge's defaults, plus the structured output it asks for."""

    base_url: str = field("https://api.openai.com/v1", help="OpenAI-compatible base URL (e.g. http://localhost:8000/v1 for vLLM)")
    response_format: Literal["json_schema", "json_object", "none"] = field("json_schema", help="structured output requested")


def render_messages(item: JudgeItem) -> list[dict[str, str]]:
    concepts = "\n".join(f"- {c}" for c in item.concepts)
    user = USER_TEMPLATE.format(question=item.question.strip(), label=item.label, concepts=concepts, answer=item.answer.strip())
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def parse_reply(text: str) -> tuple[int, float, str]:
    """(ee, cs, rationale) from a reply; raises ValueError saying what is wrong with it."""
    fenced = _FENCE.match(text or "")
    body = fenced.group(1) if fenced else (text or "").strip()
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"reply is not JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(data, dict):
        raise ValueError(f"reply is JSON {type(data).__name__}, expected an object")
    explanation, consistency = data.get("explanation"), data.get("consistency")
    if isinstance(explanation, bool):
        explanation = int(explanation)
    if isinstance(explanation, float) and explanation.is_integer():
        explanation = int(explanation)
    if isinstance(consistency, float) and consistency.is_integer():
        consistency = int(consistency)
    if not isinstance(explanation, int) or explanation not in (0, 1):
        raise ValueError(f"'explanation' is {explanation!r}, expected 0 or 1")
    if isinstance(consistency, bool) or not isinstance(consistency, int) or not 0 <= consistency <= CONSISTENCY_MAX:
        raise ValueError(f"'consistency' is {consistency!r}, expected an integer 0..{CONSISTENCY_MAX}")
    rationale = data.get("rationale")
    return explanation, consistency / CONSISTENCY_MAX, rationale if isinstance(rationale, str) else ""


REASK_TOKEN_FACTOR = 4  # the token limit of the one re-ask of a reply that did not parse


class OpenAIJudge(Judge):
    """LLM judge over any OpenAI-compatible endpoint; versioned, hashed rubric; cached calls"""

    name = "openai"
    proxy = False
    config_class = OpenAIJudgeConfig

    # the rubric and its prompt are constants of this module (a new wording is a new version)
    rubric_version = RUBRIC_VERSION
    prompt_hash = PROMPT_HASH
    _llm: LLMClient | None = None  # made on the first request (per judge): a cached re-run needs no key

    @property
    def model_id(self) -> str:
        return self.config.model

    def settings(self) -> dict[str, Any]:
        return {"temperature": self.config.temperature, "max_tokens": self.config.max_tokens, "response_format": self.config.response_format}

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "base_url": self.config.base_url}

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        return self.config.cost(prompt_tokens, completion_tokens)

    def usage_summary(self) -> dict[str, Any]:
        used = self._llm.usage() if self._llm is not None else {"requests": 0, "retries": 0, "prompt_tokens": 0, "completion_tokens": 0}
        return {**super().usage_summary(), **used, "cost_usd": self.cost(used["prompt_tokens"], used["completion_tokens"])}

    # -- calls ---------------------------------------------------------------------------------
    def _client(self) -> LLMClient:
        if self._llm is None:
            cfg = self.config
            self._llm = LLMClient(
                "openai judge", cfg.model, cfg.base_url, api_key_env=cfg.api_key_env, timeout_s=cfg.timeout_s,
                max_retries=cfg.max_retries, backoff_initial_s=cfg.backoff_initial_s, backoff_max_s=cfg.backoff_max_s,
                key_flag="--openai.api_key_env",
            )
        return self._llm

    def _request_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"temperature": self.config.temperature, "max_tokens": self.config.max_tokens}
        if self.config.response_format == "json_schema":
            kwargs["response_format"] = {"type": "json_schema", "json_schema": {"name": "grade", "strict": True, "schema": RESPONSE_SCHEMA}}
        elif self.config.response_format == "json_object":
            kwargs["response_format"] = {"type": "json_object"}
        return kwargs

    def _probe_hint(self) -> str:
        fmt = self.config.response_format
        if fmt == "json_schema":
            return ("if the server does not support response_format json_schema (llama.cpp's answers HTTP 500), "
                    "set --openai.response_format json_object (or none); else check --openai.base_url and --openai.model")
        if fmt == "json_object":
            return "if the server does not support JSON mode, set --openai.response_format none; else check --openai.base_url and --openai.model"
        return "check --openai.base_url, --openai.model and that the server answers within --openai.timeout_s"

    def _call(self, client: LLMClient, item: JudgeItem, probe: bool = False) -> dict[str, Any]:
        reply = client.chat(
            render_messages(item), bad_request_hint=" (try --openai.response_format json_object or none)",
            gave_up_hint="; answers judged so far are cached, re-run to go on",
            probe_hint=self._probe_hint() if probe else "", **self._request_kwargs(),
        )
        return {
            "reply": reply.text,
            "finish_reason": reply.finish_reason,
            "served_model": reply.served_model,
            "usage": {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens},
        }

    def _run(self, items: Sequence[JudgeItem], context: JudgeContext, progress: bool,
             store: Callable[[int, dict[str, Any]], None]) -> None:
        client = self._client()
        if not items:
            return
        # one request alone first: a misconfigured endpoint is refused in seconds, not after every
        # answer has backed off through its retries
        store(0, self._call(client, items[0], probe=True))
        pool = ThreadPoolExecutor(max_workers=self.config.max_concurrency)
        first_error: UserError | None = None
        try:
            futures = {pool.submit(self._call, client, item): position for position, item in enumerate(items) if position > 0}
            # no explicit disable when progress is wanted, so that TQDM_DISABLE (read by tqdm) still applies
            bar = tqdm(as_completed(futures), total=len(futures), desc=f"judge {self.config.model}", unit="answer",
                       **({} if progress else {"disable": True}))
            for future in bar:
                if future.cancelled():
                    continue
                try:
                    raw = future.result()
                except UserError as exc:
                    if first_error is None:
                        first_error = exc
                        # stop sending; requests already in flight still finish and are cached below
                        pool.shutdown(wait=False, cancel_futures=True)
                    continue
                store(futures[future], raw)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if first_error is not None:
            raise first_error

    def _reask(self, items: Sequence[JudgeItem], context: JudgeContext, progress: bool,
               store: Callable[[int, dict[str, Any]], None]) -> bool:
        # a reply that did not parse was most often cut at max_tokens: once more with room to finish
        saved = self.config
        self.config = dataclasses.replace(saved, max_tokens=saved.max_tokens * REASK_TOKEN_FACTOR)
        try:
            self._run(items, context, progress, store)
        finally:
            self.config = saved
        return True

    def _verdict(self, raw: dict[str, Any], item: JudgeItem) -> Verdict:
        usage = dict(raw.get("usage") or {})
        usage["cost_usd"] = self.cost(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))
        detail = {"reply": raw.get("reply", ""), "finish_reason": raw.get("finish_reason"), "served_model": raw.get("served_model")}
        try:
            ee, cs, rationale = parse_reply(raw.get("reply", ""))
        except ValueError as exc:
            return Verdict(None, None, status=PARSE_ERROR, error=str(exc), detail=detail, usage=usage)
        detail["rationale"] = rationale
        return Verdict(ee, cs, detail=detail, usage=usage)

