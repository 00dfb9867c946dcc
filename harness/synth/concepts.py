"""Step 0: class-level visual concepts (README "Fidelity", step 0).

Two sources, one result (``ConceptSet``):
- ``ask_llm_concepts``: one chat-completions call per class to an OpenAI-compatible endpoint;
  every line starting with "- " is a concept. Answers go through the ``ResponseCache`` keyed by
  (model, prompt hash, class, sampling settings), so a re-run asks nothing. The base URL is not
  part of the key: the model name is the identity (the same model behind another proxy is the
  same model). Retries with exponential backoff on 429/5xx/timeouts are ``selfsynth.llm_client``'s.
- ``load_concepts_json``: a file ``{class name: [concept, ...]}``. Keys are matched to class
  names through ``selfsynth.tasks.labels.normalize_label`` and the task's aliases (a leading "001." index is
  tolerated); classes left without concepts are an error unless ``allow_missing``.
"""
from __future__ import annotations

import hashlib
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from tqdm.auto import tqdm

from selfsynth.cache import ResponseCache, make_key
from selfsynth.configs.sections import Endpoint
from selfsynth.errors import UserError
from selfsynth.io import read_mapping, write_json
from selfsynth.llm_client import LLMClient
from selfsynth.synth.config import SynthConfig

CONCEPT_PROMPT_VERSION = "concepts-v1"

# What one class is called in each domain (data, not dispatch): "the bird species 'X'"; the
# plural is the English one (`_plural`)
DOMAIN_SUBJECTS: dict[str, str] = {
    "bird": "bird species", "dog": "dog breed", "aircraft": "aircraft variant", "leaf": "plant leaf condition",
    "skin_lesion": "skin lesion type", "chest_xray": "chest X-ray finding",
}

CONCEPT_PROMPT = """We are building a fine-grained visual recognition dataset.
List the visual features that distinguish the {subject} "{name}" from similar {subjects}.

Rules:
- Put one feature per line, and start every line with "- ".
- Only name things that can be seen in an image: colors, shapes, sizes, patterns, textures and markings of specific parts.
- Leave out behavior, sounds, habitat, range and the background.
- Keep each feature short (about 2 to 8 words).
Reply with the list only."""

_BULLET = re.compile(r"^\s*- (.+?)\s*$")
# CUB's "001." index; only before a letter, so FGVC's "737-800" stays whole
_INDEX_PREFIX = re.compile(r"^\s*\d+\s*[.\-_ ]\s*(?=[^\W\d_])")


def key_class_name(key: str) -> str:
    """The class name a concepts-file key spells: "001.Black_footed_Albatross" → "Black footed Albatross"."""
    return _INDEX_PREFIX.sub("", key).replace("_", " ")


def concept_prompt(name: str, domain: str) -> str:
    subject = DOMAIN_SUBJECTS.get(domain, domain.replace("_", " ") + " class")
    return CONCEPT_PROMPT.format(subject=subject, subjects=_plural(subject), name=name)


def _plural(noun: str) -> str:
    if noun.endswith("species"):
        return noun
    return noun + ("es" if noun.endswith("s") else "s")


def parse_concepts(text: str) -> list[str]:
    """Every line that starts with "- " is a concept (order kept, exact duplicates dropped)."""
    found = []
    for line in (text or "").splitlines():
        m = _BULLET.match(line)
        if m and m.group(1).strip():
            found.append(m.group(1).strip())
    return list(dict.fromkeys(found))


@dataclass
class ConceptSet:
    """Concepts per class name (in class order), with what could not be resolved."""

    concepts: dict[str, list[str]]
    missing: list[str] = field(default_factory=list)  # classes without any concept
    unmatched_keys: list[str] = field(default_factory=list)  # JSON keys that named no class
    source: str = ""
    calls: int = 0  # classes asked of the LLM (0 on a fully cached re-run)
    requests: int = 0  # HTTP requests sent for them, retries included
    retries: int = 0  # retries after 429/5xx, timeouts, dropped connections and malformed replies
    prompt_tokens: int = 0  # token use of those requests, as the endpoint reported it
    completion_tokens: int = 0

    def cost_usd(self, price_input_per_mtok: float | None, price_output_per_mtok: float | None) -> float | None:
        """Cost of this invocation's requests at the given USD prices per million tokens."""
        if price_input_per_mtok is None or price_output_per_mtok is None:
            return None
        return (self.prompt_tokens * price_input_per_mtok + self.completion_tokens * price_output_per_mtok) / 1e6

    def for_class(self, name: str) -> list[str]:
        return self.concepts.get(name, [])

    def stats(self) -> dict:
        counts = [len(v) for v in self.concepts.values()]
        return {
            "source": self.source,
            "classes": len(self.concepts),
            "missing": self.missing,
            "unmatched_keys": self.unmatched_keys,
            "concepts_total": sum(counts),
            "concepts_per_class_mean": (sum(counts) / len(counts)) if counts else 0.0,
            "llm_calls": self.calls,
            "llm_requests": self.requests,
            "llm_retries": self.retries,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "prompt_version": CONCEPT_PROMPT_VERSION,
        }

    def write(self, out_dir: str | Path) -> Path:
        out = Path(out_dir)
        write_json(out / "concepts.json", self.concepts)
        write_json(out / "concepts.stats.json", self.stats())
        return out / "concepts.json"


def _missing_error(missing: Sequence[str], where: str) -> UserError:
    shown = ", ".join(repr(m) for m in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    return UserError(f"{where}: no concepts for {len(missing)} class(es): {shown} (pass allow_missing / --concepts_allow_missing to go on without them)")


def load_concepts_json(
    path: str | Path,
    class_names: Sequence[str],
    aliases: Callable[[str], Sequence[str]] | None = None,
    allow_missing: bool = False,
) -> ConceptSet:
    """Read ``{class name: [concept, ...]}`` and map its keys onto ``class_names``."""
    from selfsynth.tasks.labels import normalize_label

    path = Path(path)
    data = read_mapping(path, "a JSON object {class name: [concept, ...]}")
    lookup: dict[str, str] = {}
    for name in class_names:
        for spelling in (name, *(aliases(name) if aliases else ())):
            lookup.setdefault(normalize_label(spelling), name)
    concepts: dict[str, list[str]] = {name: [] for name in class_names}
    unmatched = []
    for key, values in data.items():
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise UserError(f"{path}: the value of {key!r} must be a list of strings")
        target = lookup.get(normalize_label(key)) or lookup.get(normalize_label(_INDEX_PREFIX.sub("", key)))
        if target is None:
            unmatched.append(key)
            continue
        merged = concepts[target] + [v.strip() for v in values if v.strip()]
        concepts[target] = list(dict.fromkeys(merged))
    missing = [name for name, values in concepts.items() if not values]
    if missing and not allow_missing:
        raise _missing_error(missing, str(path))
    return ConceptSet(concepts=concepts, missing=missing, unmatched_keys=unmatched, source=str(path))


def ask_llm_concepts(
    class_names: Sequence[str],
    domain: str,
    cfg: SynthConfig | Endpoint,
    cache: ResponseCache,
    api_key: str | None = None,
    allow_missing: bool = False,
    progress: bool = True,
) -> ConceptSet:
    """One chat-completions call per class (cached); every "- " line is a concept. ``cfg``: the
    endpoint, or a ``SynthConfig`` (its ``concept_*`` settings)."""
    endpoint = cfg if isinstance(cfg, Endpoint) else cfg.concept_endpoint()
    gen = {"temperature": endpoint.temperature, "max_tokens": endpoint.max_tokens, "version": CONCEPT_PROMPT_VERSION}
    prompts = {name: concept_prompt(name, domain) for name in class_names}
    keys = {
        name: make_key(
            f"concept-llm:{endpoint.model}",
            {"prompt_sha256": hashlib.sha256(prompts[name].encode("utf-8")).hexdigest(), "class": name},
            gen,
        )
        for name in class_names
    }
    cached = cache.get_many(list(keys.values()))
    todo = [name for name in class_names if keys[name] not in cached]
    answers: dict[str, str] = {name: cached[keys[name]]["text"] for name in class_names if keys[name] in cached}
    client = _client(endpoint, api_key) if todo else None
    if client is not None:

        def ask(name: str, probe: bool = False) -> tuple[str, str]:
            hint = "check the concept LLM's base URL, model name and timeout" if probe else ""
            reply = client.chat([{"role": "user", "content": prompts[name]}], about=f" for class {name!r}", probe_hint=hint,
                                temperature=endpoint.temperature, max_tokens=endpoint.max_tokens)
            return name, reply.text

        def keep(name: str, text: str) -> None:
            answers[name] = text
            if parse_concepts(text):  # an answer without a single "- " line is not kept
                cache.put(keys[name], {"text": text, "model": endpoint.model, "class": name}, namespace="concepts")

        keep(*ask(todo[0], probe=True))  # one request alone first: a misconfigured endpoint fails in seconds
        with ThreadPoolExecutor(max_workers=max(1, endpoint.max_concurrency)) as pool:
            for name, text in tqdm(pool.map(ask, todo[1:]), total=len(todo) - 1, desc="class concepts", unit="class", disable=not progress or None):
                keep(name, text)
    concepts = {name: parse_concepts(answers[name]) for name in class_names}
    missing = [name for name, values in concepts.items() if not values]
    where = f"concept LLM {endpoint.model!r}"
    if missing and not allow_missing:
        raise _missing_error(missing, where)
    used = client.usage() if client is not None else dict.fromkeys(("requests", "retries", "prompt_tokens", "completion_tokens"), 0)
    return ConceptSet(concepts=concepts, missing=missing, source=f"llm:{endpoint.model}", calls=len(todo),
                      requests=used["requests"], retries=used["retries"],
                      prompt_tokens=used["prompt_tokens"], completion_tokens=used["completion_tokens"])


def _client(endpoint: Endpoint, api_key: str | None) -> LLMClient:
    if not (api_key or os.environ.get(endpoint.api_key_env)):
        raise UserError(f"concept LLM: no API key (set ${endpoint.api_key_env}, or import concepts from a JSON file)")
    return LLMClient(
        "concept LLM", endpoint.model, endpoint.base_url, api_key_env=endpoint.api_key_env, api_key=api_key,
        timeout_s=endpoint.timeout_s, max_retries=endpoint.max_retries, backoff_initial_s=endpoint.backoff_initial_s,
        backoff_max_s=endpoint.backoff_max_s,
    )


def class_concepts(
    class_names: Sequence[str],
    domain: str,
    cfg: SynthConfig,
    cache: ResponseCache,
    out_dir: str | Path,
    json_path: str | Path | None = None,
    aliases: Callable[[str], Sequence[str]] | None = None,
    allow_missing: bool = False,
    api_key: str | None = None,
) -> ConceptSet:
    """Step 0 as one call: import ``json_path`` if given, else ask the LLM; writes
    ``out_dir/concepts.json`` and ``out_dir/concepts.stats.json``."""
    if json_path is not None:
        result = load_concepts_json(json_path, class_names, aliases, allow_missing)
    else:
        result = ask_llm_concepts(class_names, domain, cfg, cache, api_key=api_key, allow_missing=allow_missing)
    result.write(out_dir)
    return result
