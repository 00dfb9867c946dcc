"""Classification accuracy of one model on one task's samples (README "Accuracy: how an answer is read").

Each image gets the task's evaluation question (``task.evaluation_question``: the domain's first
``explain`` prompt; chest_xray asks its yes/no question), answered greedily through
``selfsynth.generate`` (so answers are cached by model fingerprint + image + prompt). Every answer
is scored twice by the task's reader (``task.answer_reader()``, ``selfsynth.tasks.labels``):
``match`` (ours: the verdict the answer states, negations and aliases read) and ``paper_match``
(the published rule). Writes, atomically, into ``out_dir``:

- ``records.jsonl``: one row per sample: id, label, question, answer, match, paper_match, and
  ``verdict`` (the class our rule read, or null)
- ``metrics.json``: accuracy, accuracy_paper (+ bootstrap 95% CIs, fixed seed), per-class
  accuracy, n, ``scoring_rule`` (our rule's version), the model fingerprint, the prompt hash,
  ``skipped_images`` (unreadable images of the evaluated split), and flags such as the FGVC warning.
"""
from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any, Sequence

from selfsynth.errors import UserError
from selfsynth.io import write_json, write_jsonl

BOOTSTRAP_SEED = 0
BOOTSTRAP_N = 1000


def score(task, answer: str, label: str) -> tuple[bool, bool]:
    """(our match, the paper's match) for one answer."""
    reader = task.answer_reader()
    return reader.match(answer, label), bool(reader.paper_match(answer, label))


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
    task domain's prompts (``task.evaluation_question`` picks the question from them)."""
    from selfsynth.generate import GenArgs
    from selfsynth.metrics.accuracy import summarize
    from selfsynth.tasks.prompts import prompts_hash

    samples = list(samples)
    if not samples:
        raise UserError(f"task {task.name}: no samples to evaluate")
    prompts = prompts if prompts is not None else task.prompts()
    question = task.evaluation_question(prompts)
    reader = task.answer_reader()
    args = GenArgs(max_new_tokens=max_new_tokens, temperature=0.0, top_p=1.0, num_samples=1, seed=0)
    answers = model_answers(task, samples, question, lm, args, cache=cache, batch_size=batch_size)
    records = []
    for sample, outs in zip(samples, answers):
        answer = outs[0]
        verdict = reader.read(answer).verdict
        records.append({
            "id": sample.id,
            "label": sample.label,
            "question": question,
            "answer": answer,
            "match": verdict == sample.label,
            "paper_match": bool(reader.paper_match(answer, sample.label)),
            "verdict": verdict,
        })
    metrics = summarize(records, n_boot=BOOTSTRAP_N, seed=BOOTSTRAP_SEED)
    metrics.update({
        "task": task.name,
        "model_fingerprint": lm.fingerprint,
        "engine": lm.engine,
        "model_path": str(getattr(lm, "path", "")),
        "question": question,
        "scoring_rule": reader.rule,
        "prompts_hash": prompts_hash(prompts),
        "max_new_tokens": max_new_tokens,
        # with task, split, subset, question and scoring rule: what makes two evaluations
        # comparable (`selfsynth regress` checks it). The batch size is not in it: answers do not
        # depend on it (selfsynth.generate); the weights' dtype is.
        "generation": {**dataclasses.asdict(args), "dtype": str(getattr(getattr(lm, "model", None), "dtype", ""))},
        "base_model_fingerprint": getattr(lm, "base_fingerprint", "") or lm.fingerprint,
        "adapter_fingerprint": getattr(lm, "adapter_fingerprint", None),
        "adapter": getattr(lm, "adapter", None),
        "skipped_images": skipped_images(task, (extra or {}).get("split", "test")),
        "flags": flags_for(task),
        **(extra or {}),
    })
    out = Path(out_dir)
    write_jsonl(out / "records.jsonl", records)
    write_json(out / "metrics.json", metrics)
    return metrics


def skipped_images(task, split: str) -> int:
    """Unreadable images left out of ``split`` (not the other split's)."""
    per_split = getattr(task, "skipped_in", None)  # DatasetTask; a plain Task records no split
    return len(per_split(split)) if per_split is not None else len(getattr(task, "skipped", []))


def flags_for(task) -> list[str]:
    """Caveats the task attaches to its accuracy numbers (e.g. FGVC's digit-blind paper rule)."""
    return list(getattr(task, "accuracy_notes", ()))
