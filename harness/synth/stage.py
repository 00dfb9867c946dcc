"""Resumable pipeline stages: ``<out_dir>/<name>.jsonl`` (provenance rows) + ``<name>.stats.json``.

A stage is complete when its stats file exists and records the fingerprint of the stage's inputs
(model, samples, settings, prompts, concepts). Both files are written atomically, rows first and
stats last, so the stats file marks completion. A re-run with the same inputs loads the rows; a
re-run with different inputs recomputes (the generation cache still answers what it can).
"""
from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any, Sequence

from selfsynth.cache import canonical_json
from selfsynth.io import read_json, read_jsonl, write_json, write_jsonl
from selfsynth.tasks.base import Sample

STAGE_VERSION = 1


def samples_digest(samples: Sequence[Sample]) -> str:
    """Identity of the image set: ids, image paths and labels, in order."""
    payload = canonical_json([(s.id, s.image_path, s.label) for s in samples])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class Stage:
    def __init__(self, out_dir: str | Path, name: str, inputs: dict[str, Any]):
        self.out_dir = Path(out_dir)
        self.name = name
        self.rows_path = self.out_dir / f"{name}.jsonl"
        self.stats_path = self.out_dir / f"{name}.stats.json"
        payload = canonical_json({"stage": name, "version": STAGE_VERSION, **inputs})
        self.fingerprint = hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def done(self) -> bool:
        if not (self.stats_path.is_file() and self.rows_path.is_file()):
            return False
        from selfsynth.errors import UserError

        try:
            return read_json(self.stats_path).get("fingerprint") == self.fingerprint
        except (ValueError, UserError):  # a stats file from elsewhere that is not JSON: recompute
            return False

    def load(self) -> list[dict[str, Any]]:
        return read_jsonl(self.rows_path)

    def stats(self) -> dict[str, Any]:
        return read_json(self.stats_path)

    def finish(self, rows: list[dict[str, Any]], stats: dict[str, Any]) -> None:
        write_jsonl(self.rows_path, rows)
        write_json(self.stats_path, {"stage": self.name, "fingerprint": self.fingerprint, "rows": len(rows), **stats})


def image_rng(seed: int, stage: str, sample_id: str) -> random.Random:
    """Per-image RNG: question draws do not depend on the order or the subset of images."""
    return random.Random(f"{seed}:{stage}:{sample_id}")


def question_pools(prompts: Any, include_eval_question: bool = False) -> dict[str, list[str]]:
    """The training question pools {"simple", "explain", "cot"} of ``prompts``, each without
    duplicates. The evaluation questions (``explain[0]``, and the yes/no question where the domain
    has one) are left out of every pool unless ``include_eval_question`` (the paper's pools contain
    its evaluation question; holding it out keeps the evaluation question unseen in training)."""
    evaluation = {prompts.explain[0], getattr(prompts, "yes_no", None)} - {None}
    held_out = set() if include_eval_question else evaluation
    return {
        kind: [q for q in dict.fromkeys(getattr(prompts, kind)) if q not in held_out]
        for kind in ("simple", "explain", "cot")
    }


class QuestionDraw:
    """One image's questions within one iteration, drawn without replacement across all pools:
    no question is asked twice of the same image, even when it sits in two pools.

    ``draw(weights)`` picks a type with ``weights`` among the types with questions left; once every
    weighted type is used up it takes any question left (another type). ``take(kind)`` asks for one
    type and, when it is used up, also falls back to the others. Both return None when every pool
    is used up, so a small pool gives an image fewer questions instead of repeats.

    ``replace=True`` draws as the released code does: every question independently (a type by its
    weight, then a uniform question of that type), so an image can be asked the same question twice."""

    def __init__(self, rng: random.Random, pools: dict[str, Sequence[str]], replace: bool = False):
        self.rng = rng
        self.replace = replace
        self.pools = {kind: list(dict.fromkeys(pool)) for kind, pool in pools.items()}
        self.left: dict[str, list[str]] = {}
        for kind, pool in pools.items():
            shuffled = list(dict.fromkeys(pool))
            rng.shuffle(shuffled)
            self.left[kind] = shuffled
        self.used: set[str] = set()

    def _remaining(self, kind: str) -> list[str]:
        queue = self.left.get(kind, [])
        while queue and queue[-1] in self.used:  # the same text in another pool was asked already
            queue.pop()
        return queue

    def _pop(self, kind: str) -> tuple[str, str]:
        question = self._remaining(kind).pop()
        self.used.add(question)
        return kind, question

    def _any(self) -> tuple[str, str] | None:
        kinds = [k for k in self.left if self._remaining(k)]
        if not kinds:
            return None
        # uniform over the questions left, whatever their type
        kind = self.rng.choices(kinds, weights=[len(self.left[k]) for k in kinds])[0]
        return self._pop(kind)

    def _with_replacement(self, kinds: list[str], weights: list[float]) -> tuple[str, str] | None:
        if not kinds:
            return None
        kind = self.rng.choices(kinds, weights=weights)[0]
        return kind, self.rng.choice(self.pools[kind])

    def draw(self, weights: dict[str, float]) -> tuple[str, str] | None:
        if self.replace:
            kinds = [k for k, w in weights.items() if w > 0 and self.pools.get(k)]
            if not kinds:  # no weighted type has questions: any question, uniformly
                kinds = [k for k in self.pools if self.pools[k]]
                return self._with_replacement(kinds, [len(self.pools[k]) for k in kinds])
            return self._with_replacement(kinds, [weights[k] for k in kinds])
        kinds = [k for k, w in weights.items() if w > 0 and self._remaining(k)]
        if not kinds:
            return self._any()
        kind = self.rng.choices(kinds, weights=[weights[k] for k in kinds])[0]
        return self._pop(kind)

    def take(self, kind: str) -> tuple[str, str] | None:
        if self.replace:
            return self.draw({kind: 1.0})
        return self._pop(kind) if self._remaining(kind) else self._any()


def draw_questions(rng: random.Random, pools: dict[str, list[str]], weights: dict[str, float], n: int,
                   replace: bool = False) -> list[tuple[str, str]]:
    """Up to ``n`` distinct (type, question) pairs for one image (``QuestionDraw.draw``); fewer
    only when the pools together hold fewer than ``n`` questions. ``replace``: ``n`` independent
    draws, repeats allowed (the released procedure)."""
    drawer = QuestionDraw(rng, pools, replace=replace)
    out = []
    for _ in range(n):
        picked = drawer.draw(weights)
        if picked is None:
            break
        out.append(picked)
    return out
