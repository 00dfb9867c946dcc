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
        try:
            return read_json(self.stats_path).get("fingerprint") == self.fingerprint
        except ValueError:  # a stats file from elsewhere that is not JSON: recompute
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


def draw_questions(rng: random.Random, pools: dict[str, list[str]], weights: dict[str, float], n: int) -> list[tuple[str, str]]:
    """``n`` (type, question) pairs: the type drawn with ``weights``, the question uniformly from its
    pool without repeats until the pool is used up (a repeated prompt on the same image would
    only repeat the same seeded answer)."""
    types = [t for t in weights if weights[t] > 0]
    left: dict[str, list[str]] = {t: [] for t in types}
    out = []
    for _ in range(n):
        kind = rng.choices(types, weights=[weights[t] for t in types])[0]
        if not left[kind]:
            left[kind] = list(pools[kind])
            rng.shuffle(left[kind])
        out.append((kind, left[kind].pop()))
    return out
