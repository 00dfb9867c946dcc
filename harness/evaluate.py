"""Classification accuracy of one model on one task's samples (DESIGN §3).

Each image gets the domain's evaluation question (``prompts.explain[0]``), answered greedily
through ``harness.generate`` (so answers are cached by model fingerprint + image + prompt). Every
answer is scored twice: ``match`` (ours: digits kept, whole words, aliases, confusers) and
``paper_match`` (the published rule). Writes, atomically, into ``out_dir``:

- ``records.jsonl``: one row per sample: id, label, question, answer, match, paper_match
- ``metrics.json``: accuracy, accuracy_paper (+ bootstrap 95% CIs, fixed seed), per-class
  accuracy, n, the model fingerprint, the prompt hash, and flags such as the FGVC warning.
"""
from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any, Callable, Sequence

from harness.errors import UserError
from harness.io import write_json, write_jsonl

log = logging.getLogger(__name__)

BOOTSTRAP_SEED = 0
BOOTSTRAP_N = 1000


def evaluation_question(task) -> str:
    return task.prompts().explain[0]


def score(task, answer: str, label: str) -> tuple[bool, bool]:
    """(our match, the paper's match) for one answer."""
    from tasks.labels import match, paper_match

    if hasattr(task, "match"):
        ours = task.match(answer, label)
    else:  # a third-party task built on tasks.base.Task only
        ours = match(answer, label, task.aliases(label))
    return bool(ours), bool(paper_match(answer, label))


def image_loader_for(task, samples: Sequence[Any]) -> Callable[[str], Any] | None:
    """The task's image hook (e.g. FGVC's banner crop) as path → PIL image, or None when the task
    opens images plainly."""
    from tasks.common import DatasetTask

    open_image = getattr(type(task), "open_image", None)
    if open_image is None or open_image is DatasetTask.open_image:
        return None
    by_path = {s.image_path: s for s in samples}
    return lambda path: task.open_image(by_path[path])


def generate_kwargs_for(task, samples: Sequence[Any]) -> dict[str, Any]:
    """Extra arguments for ``harness.generate.generate``: the task's image loader, when needed."""
    from harness.generate import generate

    loader = image_loader_for(task, samples)
    if loader is None:
        return {}
    if "image_loader" in inspect.signature(generate).parameters:
        return {"image_loader": loader}
    log.warning(
        "%s: harness.generate has no image_loader hook, so %s.open_image (e.g. the FGVC banner crop) "
        "is not applied to generation", task.name, type(task).__name__,
    )
    return {}


def evaluate(
    task,
    samples: Sequence[Any],
    lm,
    out_dir: str | Path,
    cache=None,
    max_new_tokens: int = 256,
    batch_size: int = 16,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Answer, score and record every sample; returns the metrics dict written to metrics.json
    (``extra`` keys, e.g. split and limit, are recorded alongside)."""
    from harness.generate import GenArgs, generate
    from metrics.accuracy import summarize
    from tasks.prompts import prompts_hash

    samples = list(samples)
    if not samples:
        raise UserError(f"task {task.name}: no samples to evaluate")
    prompts = task.prompts()
    question = prompts.explain[0]
    requests = [(s.image_path, question) for s in samples]
    args = GenArgs(max_new_tokens=max_new_tokens, temperature=0.0, top_p=1.0, num_samples=1, seed=0)
    answers = generate(
        lm, requests, args, cache=cache, batch_size=batch_size, desc=f"eval {task.name}",
        **generate_kwargs_for(task, samples),
    )
    records = []
    for sample, outs in zip(samples, answers):
        answer = outs[0]
        ours, paper = score(task, answer, sample.label)
        records.append({
            "id": sample.id,
            "label": sample.label,
            "question": question,
            "answer": answer,
            "match": ours,
            "paper_match": paper,
        })
    metrics = summarize(records, n_boot=BOOTSTRAP_N, seed=BOOTSTRAP_SEED)
    metrics.update({
        "task": task.name,
        "model_fingerprint": lm.fingerprint,
        "model_path": str(getattr(lm, "path", "")),
        "question": question,
        "prompts_hash": prompts_hash(prompts),
        "max_new_tokens": max_new_tokens,
        "skipped_images": len(getattr(task, "skipped", [])),
        "flags": flags_for(task),
        **(extra or {}),
    })
    out = Path(out_dir)
    write_jsonl(out / "records.jsonl", records)
    write_json(out / "metrics.json", metrics)
    return metrics


def flags_for(task) -> list[str]:
    if task.name == "fgvc_aircraft":
        from tasks.fgvc_aircraft import PAPER_ACCURACY_WARNING

        return [PAPER_ACCURACY_WARNING]
    return []
