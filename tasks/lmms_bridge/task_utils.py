"""Functions an exported lmms-eval task calls (its ``utils.py`` re-exports these).

Each document is one row of the exported JSONL: id, image (absolute path), label, question,
aliases, confusers, task, root. Scoring is the task's own answer reader (``Task.answer_reader``:
our verdict rule and the published rule), the one ``selfsynth eval`` uses, so both report the same
per-sample matches.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from selfsynth.tasks.base import Sample


@lru_cache(maxsize=8)
def _task(name: str, root: str):
    from selfsynth.registry import TASKS

    return TASKS.get(name)(root)


def doc_to_visual(doc: dict[str, Any]) -> list[Any]:
    """The image as the task shows it to the model (e.g. FGVC without its banner)."""
    task = _task(doc["task"], doc["root"])
    sample = Sample(doc["id"], doc["image"], doc["label"], {})
    if hasattr(task, "open_image"):
        return [task.open_image(sample)]
    from PIL import Image

    with Image.open(doc["image"]) as image:
        return [image.convert("RGB")]


def doc_to_text(doc: dict[str, Any], lmms_eval_specific_kwargs: dict[str, Any] | None = None) -> str:
    kwargs = lmms_eval_specific_kwargs or {}
    return f"{kwargs.get('pre_prompt', '')}{doc['question']}{kwargs.get('post_prompt', '')}"


def doc_to_target(doc: dict[str, Any]) -> str:
    return doc["label"]


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, dict[str, Any]]:
    answer = results[0] if results else ""
    reader = _task(doc["task"], doc["root"]).answer_reader()
    ours = reader.match(answer, doc["label"])
    paper = reader.paper_match(answer, doc["label"])
    return {
        "selfsynth_accuracy": {"id": doc["id"], "label": doc["label"], "answer": answer, "match": bool(ours)},
        "selfsynth_accuracy_paper": {"id": doc["id"], "label": doc["label"], "answer": answer, "match": bool(paper)},
    }


def aggregate_accuracy(items: list[dict[str, Any]]) -> float:
    return sum(bool(i["match"]) for i in items) / len(items) if items else 0.0
