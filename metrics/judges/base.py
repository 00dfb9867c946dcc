"""The judge interface: one ``Judge`` per way of scoring EE and CS, and the cache around it.

A judge turns ``JudgeItem``s (question, answer, label, reference concepts of the image) into
``Verdict``s: ``ee`` in {0, 1} (does the answer give a reason beyond the label?) and ``cs`` in
[0, 1] (how consistent and coherent that reason is with the reference concepts).

The base class owns what every judge must do the same way:
- items without reference concepts are not sent and come back ``status="no_concepts"``
  (ee = cs = None); empty answers are not sent either and get ee = cs = 0
  (``status="empty_answer"``): there is no reason to grade;
- every other item goes through the persistent cache, keyed by (judge name and model, rubric
  version, prompt hash, judge settings, inputs), so a re-run costs zero calls. What is cached is the
  judge's *raw* result (an LLM's reply text, a proxy's similarities); turning it into a verdict
  happens on every read. A raw result that does not parse is never cached as final: the item is
  re-asked once in the same run with a larger token limit (``_reask``; a reply cut at
  ``max_tokens`` is the usual cause), only a reply that parses is cached, and a cached one that
  no longer parses is asked again. What still fails is a counted parse failure, never a score;
- results are cached as each item finishes, so an interrupted run resumes where it stopped.

Subclasses implement ``model_id``, ``rubric_version``, ``prompt_hash``, ``settings``, ``_run``
(raw results for the items the cache did not have) and ``_verdict`` (raw result → verdict).
Plugins register a subclass under the ``selfsynth.judges`` entry-point group.
"""
from __future__ import annotations

import abc
import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Sequence

from selfsynth.cache import ResponseCache, canonical_json, make_key

CACHE_NAMESPACE = "judge"

# Verdict.status values
SCORED = "scored"
PARSE_ERROR = "parse_error"
NO_CONCEPTS = "no_concepts"
EMPTY_ANSWER = "empty_answer"


@dataclass(frozen=True)
class JudgeItem:
    """One answer to grade. ``id`` joins it back to records.jsonl; it is not part of the cache key
    (the same answer to the same question about the same concepts is the same judgment)."""

    id: str
    question: str
    answer: str
    label: str
    concepts: tuple[str, ...]

    def inputs(self) -> dict[str, Any]:
        return {"question": self.question, "answer": self.answer, "label": self.label, "concepts": list(self.concepts)}


@dataclass(frozen=True)
class JudgeContext:
    """What a judge may know about the task beyond one record: every class name (to recognise a
    label statement naming another class) and every concept of the task (other classes' or other
    images' concepts: the alternatives an attribute claim is compared with)."""

    label_names: tuple[str, ...] = ()
    concept_pool: tuple[str, ...] = ()

    def digest(self) -> str:
        payload = canonical_json({"labels": sorted(set(self.label_names)), "pool": sorted(set(self.concept_pool))})
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class Verdict:
    ee: int | None
    cs: float | None
    status: str = SCORED
    error: str | None = None  # why a parse failed
    detail: dict[str, Any] = field(default_factory=dict)  # judge-specific evidence (rationale, similarities)
    usage: dict[str, Any] = field(default_factory=dict)  # tokens (and cost) of the call that produced it
    cached: bool = False


def text_hash(*parts: str) -> str:
    """sha256 over the parts, NUL-separated: the recorded hash of a rubric's full text."""
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()


class Judge(abc.ABC):
    """Scores EE and CS. Construct with ``(config, cache)``; ``config_class`` is its settings
    dataclass (a ``None`` config means its defaults)."""

    name: ClassVar[str]  # recorded with every score, e.g. "local-proxy"
    proxy: ClassVar[bool] = False  # True for judges that approximate a human/LLM rubric
    config_class: ClassVar[type | None] = None  # its settings dataclass, if it has settings

    def __init__(self, config: Any = None, cache: ResponseCache | None = None):
        if config is None and self.config_class is not None:
            config = self.config_class()
        self.config = config
        self.cache = cache
        self.cache_hits = 0
        self.new_results = 0
        self.reasked = 0

    # -- what a subclass defines ---------------------------------------------------------------
    @property
    @abc.abstractmethod
    def model_id(self) -> str:
        """The model that judges (LLM name, encoder fingerprint)."""

    @property
    @abc.abstractmethod
    def rubric_version(self) -> str: ...

    @property
    @abc.abstractmethod
    def prompt_hash(self) -> str:
        """sha256 of the full rubric text (or of a proxy's rule parameters)."""

    @abc.abstractmethod
    def settings(self) -> dict[str, Any]:
        """Settings that change a result (temperature, thresholds); part of the cache key."""

    def uses_context(self) -> bool:
        """Whether ``_run`` reads the ``JudgeContext`` (then its digest joins the cache key)."""
        return False

    @abc.abstractmethod
    def _run(self, items: Sequence[JudgeItem], context: JudgeContext, progress: bool,
             store: Callable[[int, dict[str, Any]], None]) -> None:
        """Compute the raw result of each item and hand it to ``store(index, raw)`` as it is ready."""

    @abc.abstractmethod
    def _verdict(self, raw: dict[str, Any], item: JudgeItem) -> Verdict:
        """Raw result → verdict; a malformed raw result is a ``PARSE_ERROR`` verdict, never a score."""

    def _reask(self, items: Sequence[JudgeItem], context: JudgeContext, progress: bool,
               store: Callable[[int, dict[str, Any]], None]) -> bool:
        """Ask ``items`` again, once, with a larger token limit (their first replies did not parse),
        handing each raw result to ``store``; False when this judge cannot (a deterministic proxy
        would give the same result)."""
        return False

    def usage_summary(self) -> dict[str, Any]:
        """Counters of the calls this judge made (requests, retries, tokens); extended by subclasses."""
        return {"cache_hits": self.cache_hits, "new_results": self.new_results, "reasked": self.reasked}

    # -- shared behaviour ----------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        return {
            "judge": self.name,
            "proxy": self.proxy,
            "model": self.model_id,
            "rubric_version": self.rubric_version,
            "prompt_hash": self.prompt_hash,
            "settings": self.settings(),
        }

    def cache_key(self, item: JudgeItem, context: JudgeContext) -> str:
        inputs = item.inputs()
        if self.uses_context():
            inputs["context"] = context.digest()
        args = {"rubric_version": self.rubric_version, "prompt_hash": self.prompt_hash, **self.settings()}
        return make_key(f"judge:{self.name}:{self.model_id}", inputs, args)

    def judge(self, items: Sequence[JudgeItem], context: JudgeContext | None = None, progress: bool = False) -> list[Verdict]:
        """One verdict per item, in order."""
        context = context or JudgeContext()
        verdicts: list[Verdict | None] = [None] * len(items)
        todo: list[int] = []
        for index, item in enumerate(items):
            if not item.concepts:
                verdicts[index] = Verdict(None, None, status=NO_CONCEPTS)
            elif not item.answer.strip():
                verdicts[index] = Verdict(0, 0.0, status=EMPTY_ANSWER)
            else:
                todo.append(index)
        keys = {index: self.cache_key(items[index], context) for index in todo}
        if self.cache is None:
            return self._judge_missing(items, context, progress, verdicts, todo, keys)
        # a parallel lane judging the same answers (the base model's, at iteration 0) waits here
        # and then finds them cached instead of paying for them again
        with self.cache.computing(keys.values()):
            return self._judge_missing(items, context, progress, verdicts, todo, keys)

    def _judge_missing(self, items: Sequence[JudgeItem], context: JudgeContext, progress: bool,
                       verdicts: list[Verdict | None], todo: list[int], keys: dict[int, str]) -> list[Verdict]:
        """``judge`` for the items in ``todo``: cached verdicts, then the judge asked once per
        distinct input (an unparseable reply re-asked once)."""
        found = self.cache.get_many(list(dict.fromkeys(keys.values()))) if self.cache is not None else {}
        missing: list[int] = []
        for index in todo:
            raw = found.get(keys[index])
            verdict = self._verdict(raw, items[index]) if raw is not None else None
            if verdict is None or verdict.status == PARSE_ERROR:  # an unparseable cached reply is asked again
                missing.append(index)
            else:
                self.cache_hits += 1
                verdicts[index] = verdict
                verdicts[index].cached = True
        # the same inputs twice in one run are judged once
        sharing: dict[str, list[int]] = {}
        for index in missing:
            sharing.setdefault(keys[index], []).append(index)
        unique = [indices[0] for indices in sharing.values()]

        failed: list[int] = []  # positions in ``unique`` whose first reply did not parse

        def settle(index: int, raw: dict[str, Any], reasked: bool) -> bool:
            """Verdicts for every item sharing ``index``'s inputs; caches ``raw`` only if it parses."""
            verdict = self._verdict(raw, items[index])
            if verdict.status != PARSE_ERROR and self.cache is not None:
                self.cache.put(keys[index], raw, namespace=CACHE_NAMESPACE)
            for other in sharing[keys[index]]:
                verdicts[other] = self._verdict(raw, items[other])
                verdicts[other].cached = other != index
                if reasked:
                    verdicts[other].detail["reasked"] = True
            return verdict.status != PARSE_ERROR

        def store(position: int, raw: dict[str, Any]) -> None:
            self.new_results += 1
            if not settle(unique[position], raw, reasked=False):
                failed.append(position)

        if unique:
            self._run([items[i] for i in unique], context, progress, store)
        if failed:
            again = [unique[p] for p in sorted(failed)]

            def store_again(position: int, raw: dict[str, Any]) -> None:
                self.reasked += 1
                settle(again[position], raw, reasked=True)

            self._reask([items[i] for i in again], context, progress, store_again)
        absent = [items[i].id for i, v in enumerate(verdicts) if v is None]
        if absent:
            raise RuntimeError(f"judge {self.name} returned no result for {len(absent)} item(s), first {absent[0]!r}")
        return verdicts  # type: ignore[return-value]


def summarize(verdicts: Sequence[Verdict]) -> dict[str, Any]:
    """Means over scored verdicts and a count of every reason a verdict has no score."""
    ee = [v.ee for v in verdicts if v.ee is not None]
    cs = [v.cs for v in verdicts if v.cs is not None]
    statuses = [v.status for v in verdicts]
    tokens_in = sum(int(v.usage.get("prompt_tokens", 0)) for v in verdicts)
    tokens_out = sum(int(v.usage.get("completion_tokens", 0)) for v in verdicts)
    costs = [v.usage["cost_usd"] for v in verdicts if v.usage.get("cost_usd") is not None]
    return {
        "n": len(verdicts),
        "ee": sum(ee) / len(ee) if ee else None,
        "cs": sum(cs) / len(cs) if cs else None,
        "n_ee": len(ee),
        "n_cs": len(cs),
        "parse_failures": statuses.count(PARSE_ERROR),
        "no_concepts": statuses.count(NO_CONCEPTS),
        "empty_answers": statuses.count(EMPTY_ANSWER),
        "cached": sum(1 for v in verdicts if v.cached),
        # what judging every record cost, whether paid in this run or in the run that filled the cache
        "records_prompt_tokens": tokens_in,
        "records_completion_tokens": tokens_out,
        "records_cost_usd": sum(costs) if costs else None,
    }
