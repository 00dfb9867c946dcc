"""Classification accuracy of one model on one task's samples (DESIGN §3).

Each image gets the domain's evaluation question (``prompts.explain[0]``), answered greedily
through ``selfsynth.generate`` (so answers are cached by model fingerprint + image + prompt). Every
answer is scored twice: ``match`` (ours: digits kept, whole words, aliases, confusers) and
``paper_match`` (the published rule). Writes, atomically, into ``out_dir``:

- ``records.jsonl``: one row per sample: id, label, question, answer, match, paper_match
- ``metrics.json``: accuracy, accuracy_paper (+ bootstrap 95% CIs, fixed seed), per-class
  accuracy, n, the model fingerprint, the prompt hash, and flags such as the FGVC warning.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Sequence

from selfsynth.errors import UserError
from selfsynth.io import write_json, write_jsonl

BOOTSTRAP_SEED = 0
BOOTSTRAP_N = 1000


def score(task, answer: str, label: str) -> tuple[bool, bool]:
    """(our match, the paper's match) for one answer."""
    from selfsynth.tasks.labels import match, paper_match

    if hasattr(task, "match"):
        ours = task.match(answer, label)
    else:  # a third-party task built on tasks.base.Task only
        ours = match(answer, label, task.aliases(label))
    return bool(ours), bool(paper_match(answer, label))


def model_answers(task, samples: Sequence[Any], question: str, lm, args, cache=None, batch_size: int = 16) -> list[list[str]]:
    """``generate`` over the samples' images as the task shows them to the model.

    Tasks that transform images (``open_image`` overridden, e.g. FGVC's banner crop) get their
    images written as lossless PNGs to a temporary folder, a chunk at a time, and generation reads
    those; the response cache keys on the PNG content, so cached answers stay valid across runs."""
    from selfsynth.generate import generate
    from selfsynth.tasks.common import has_custom_image_loader, write_model_image

    desc = f"eval {task.name}"
    if not has_custom_image_loader(task):
        return generate(lm, [(s.image_path, question) for s in samples], args, cache=cache, batch_size=batch_size, desc=desc)
    answers: list[list[str]] = []
    chunk_size = max(256, batch_size * 16)
    with tempfile.TemporaryDirectory(prefix=f"selfsynth_{task.name}_images_") as folder:
        for start in range(0, len(samples), chunk_size):
            chunk = samples[start : start + chunk_size]
            paths = [write_model_image(task, sample, Path(folder) / f"{start + i:08d}.png") for i, sample in enumerate(chunk)]
            answers.extend(generate(lm, [(p, question) for p in paths], args, cache=cache, batch_size=batch_size, desc=desc))
            for path in paths:
                Path(path).unlink()
    return answers


def evaluate(
    task,
    samples: Sequence[Any],
    lm,
    out_dir: str | Path,
    cache=None,
    max_new_tokens: int = 256,
    batch_size: int = 16,
    extra: dict[str, Any] | None = None,
    prompts=None,
) -> dict[str, Any]:
    """Answer, score and record every sample; returns the metrics dict written to metrics.json
    (``extra`` keys, e.g. split and limit, are recorded alongside). ``prompts`` overrides the
    task domain's prompts (the evaluation question is its first ``explain`` prompt)."""
    from selfsynth.generate import GenArgs
    from selfsynth.metrics.accuracy import summarize
    from selfsynth.tasks.prompts import prompts_hash

    samples = list(samples)
    if not samples:
        raise UserError(f"task {task.name}: no samples to evaluate")
    prompts = prompts if prompts is not None else task.prompts()
    question = prompts.explain[0]
    args = GenArgs(max_new_tokens=max_new_tokens, temperature=0.0, top_p=1.0, num_samples=1, seed=0)
    answers = model_answers(task, samples, question, lm, args, cache=cache, batch_size=batch_size)
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
        from selfsynth.tasks.fgvc_aircraft import PAPER_ACCURACY_WARNING

        return [PAPER_ACCURACY_WARNING]
    return []
