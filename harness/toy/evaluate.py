"""Measurements on the toy world against its exact ground truth."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfsynth.io import read_json, read_jsonl
from selfsynth.toy.dataset import extract_attributes

DESCRIBE_PROMPT = "Describe the bird in the image."


@dataclass
class DescribeScore:
    precision: float  # stated (part, value) pairs that are true of the image / all stated pairs
    recall: float  # visible (part, value) pairs stated / all visible pairs
    correct_species_rate: float  # answers naming the image's true species
    any_species_rate: float  # answers naming any species
    n: int
    answers: list[dict[str, Any]]  # per image: id, answer, stated, true, named


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"\b{re.escape(name.lower())}\b", text.lower()) is not None


def score_descriptions(rows: list[dict], answers: list[str], classes: list[str]) -> DescribeScore:
    """Score one answer per dataset row (rows of train/test.jsonl) against its recorded attributes."""
    stated_total = correct = visible_total = recalled = 0
    named_true = named_any = 0
    records = []
    for row, answer in zip(rows, answers, strict=True):
        truth = {(part, value) for part, value in row["attributes"].items() if value is not None}
        stated = extract_attributes(answer)
        stated_total += len(stated)
        correct += len(stated & truth)
        visible_total += len(truth)
        recalled += len(stated & truth)
        named = [c for c in classes if _mentions(answer, c)]
        named_true += row["label"] in named
        named_any += bool(named)
        records.append({"id": row["id"], "answer": answer, "stated": sorted(map(list, stated)), "true": sorted(map(list, truth)), "named": named})
    n = len(rows)
    return DescribeScore(
        precision=correct / stated_total if stated_total else 0.0,
        recall=recalled / visible_total if visible_total else 0.0,
        correct_species_rate=named_true / n if n else 0.0,
        any_species_rate=named_any / n if n else 0.0,
        n=n,
        answers=records,
    )


def describe_precision(
    model: Any,
    dataset_root: str | os.PathLike,
    split: str = "test",
    prompt: str = DESCRIBE_PROMPT,
    limit: int | None = None,
    adapter: str | None = None,
    batch_size: int = 16,
    max_new_tokens: int = 64,
) -> DescribeScore:
    """Greedy descriptions of ``split`` images by ``model`` (a LoadedModel or a model path),
    scored for attribute precision/recall and species naming against the ground truth."""
    from selfsynth.generate import GenArgs, generate
    from selfsynth.models import LoadedModel, load_model

    lm = model if isinstance(model, LoadedModel) else load_model(model, adapter=adapter)
    root = Path(dataset_root)
    rows = read_jsonl(root / f"{split}.jsonl")[:limit]
    classes = read_json(root / "toy_meta.json")["classes"]
    requests = [(str(root / row["image"]), prompt) for row in rows]
    outs = generate(lm, requests, GenArgs(max_new_tokens=max_new_tokens), batch_size=batch_size, desc=f"describe {split}")
    return score_descriptions(rows, [o[0] for o in outs], classes)
