"""Step 3: answer rewriting — iteration-1 training data (DESIGN §2).

The base model answers ``rewrite_questions`` random questions per image (simple / explain / cot
drawn with ``rewrite_p_*``), each prefixed by a hidden context that states the label and lists the
image's concepts (``rewrite_prompt``). Per answer:

- keep it if it names the label (``LabelChecker``: tasks.labels ``match`` with the task's aliases
  and confusers, or the paper's rule);
- else, if the label is a near miss — the best difflib ratio between the normalized label and
  any window of the normalized answer with as many words as the label (±1) reaches
  ``rewrite_ratio`` (e.g. "artic tern" for "Arctic Tern") — append the domain's label sentence;
- else drop it.

The stored pair is the bare question (no context) and the kept answer. ``lge`` passes every class
concept instead of the image's selection (``selection.class_concepts_per_image``).
"""
from __future__ import annotations

import difflib
from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping, Sequence

from selfsynth.cache import ResponseCache
from selfsynth.synth.config import SynthConfig
from selfsynth.synth.stage import Stage, draw_questions, image_rng, samples_digest
from selfsynth.tasks.base import Prompts, Sample, Task

REWRITE_CONTEXT_VERSION = "rewrite-context-v2"


def rewrite_prompt(question: str, label: str, concepts: Sequence[str], prompts: Prompts) -> str:
    """The user turn the model sees in step 3: hidden context, then the question."""
    # kept short: it is prepended to every step-3 question, and small models pay per token
    features = "; ".join(concepts) if concepts else "none noted"
    return (
        f"Hidden notes (use them, never mention them): {prompts.label_sentence.format(label=label)} "
        f"Visible features: {features}.\n{question}"
    )


class LabelChecker:
    """``contains(answer, label)`` under the configured rule, with the task's aliases and the
    names of other classes that contain the label (so "Border collie" does not name "collie")."""

    def __init__(self, task: Task, rule: str = "ours"):
        from selfsynth.tasks.labels import confusers_for

        self.task = task
        self.rule = rule
        names = task.class_names()
        self._confusers = {n: confusers_for(n, names, task.aliases) for n in names}

    def contains(self, answer: str, label: str) -> bool:
        from selfsynth.tasks.labels import match, paper_match

        if self.rule == "paper":
            return paper_match(answer, label)
        confusers = self._confusers.get(label)
        if confusers is None:
            from selfsynth.tasks.labels import confusers_for

            confusers = self._confusers[label] = confusers_for(label, self.task.class_names(), self.task.aliases)
        return match(answer, label, self.task.aliases(label), confusers)


def label_ratio(answer: str, label: str) -> float:
    """Best difflib ratio between the normalized label and a word window of the normalized answer
    (window lengths: the label's word count and ±1)."""
    from selfsynth.tasks.labels import normalize_label

    target = normalize_label(label)
    words = normalize_label(answer).split()
    n = len(target.split())
    if not target or not words:
        return 0.0
    best = 0.0
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(target)  # SequenceMatcher caches details about seq2
    for size in {max(1, n - 1), n, n + 1}:
        for start in range(0, max(1, len(words) - size + 1)):
            matcher.set_seq1(" ".join(words[start : start + size]))
            if matcher.real_quick_ratio() > best and matcher.quick_ratio() > best:
                best = max(best, matcher.ratio())
    return best


def apply_keep_rule(answer: str, label: str, checker: LabelChecker, prompts: Prompts, ratio: float) -> tuple[str | None, str, float]:
    """(kept answer or None, reason, best label ratio). Reasons: label / near_label_appended /
    no_label / empty."""
    text = answer.strip()
    if not text:
        return None, "empty", 0.0
    if checker.contains(text, label):
        return text, "label", 1.0
    best = label_ratio(text, label)
    if best >= ratio:
        sep = "" if text.endswith((" ", "\n")) else " "
        return text + sep + prompts.label_sentence.format(label=label), "near_label_appended", best
    return None, "no_label", best


def rewrite_answers(
    lm: Any,
    task: Task,
    samples: Sequence[Sample],
    image_concepts: Mapping[str, Sequence[str]],
    prompts: Prompts,
    cfg: SynthConfig,
    cache: ResponseCache | None,
    out_dir: str | Path,
    stage_name: str = "rewrite",
) -> list[dict[str, Any]]:
    """Iteration-1 training rows {"id","image","question","answer", + provenance}.

    ``image_concepts``: {image id: concepts for the hidden context} — the step-2 selection for
    ``ours``, every class concept for ``lge``. Writes ``<stage_name>.jsonl`` (every answer, kept or
    dropped and why) and ``<stage_name>.stats.json``.
    """
    from selfsynth.generate import GenArgs, generate

    args = GenArgs(
        max_new_tokens=cfg.rewrite_max_new_tokens, temperature=cfg.rewrite_temperature,
        top_p=cfg.rewrite_top_p, num_samples=1, seed=cfg.seed,
    )
    weights = {"simple": cfg.rewrite_p_simple, "explain": cfg.rewrite_p_explain, "cot": cfg.rewrite_p_cot}
    pools = {"simple": list(prompts.simple), "explain": list(prompts.explain), "cot": list(prompts.cot)}
    stage = Stage(out_dir, stage_name, {
        "model": lm.fingerprint, "samples": samples_digest(samples), "gen": asdict(args),
        "concepts": [list(image_concepts.get(s.id, [])) for s in samples], "pools": pools, "weights": weights,
        "n": cfg.rewrite_questions, "seed": cfg.seed, "ratio": cfg.rewrite_ratio, "rule": cfg.label_match,
        "label_sentence": prompts.label_sentence, "context": REWRITE_CONTEXT_VERSION,
    })
    if not stage.done():
        checker = LabelChecker(task, cfg.label_match)
        plan = []  # (sample, question index, type, question, prompt)
        for sample in samples:
            concepts = list(image_concepts.get(sample.id, []))
            drawn = draw_questions(image_rng(cfg.seed, stage_name, sample.id), pools, weights, cfg.rewrite_questions)
            for q, (kind, question) in enumerate(drawn):
                plan.append((sample, q, kind, question, rewrite_prompt(question, sample.label, concepts, prompts)))
        outputs = generate(lm, [(s.image_path, p) for s, _, _, _, p in plan], args, cache=cache, batch_size=cfg.batch_size, desc="rewrite answers")
        rows = []
        for (sample, q, kind, question, prompt), texts in zip(plan, outputs):
            raw = texts[0]
            kept, reason, ratio = apply_keep_rule(raw, sample.label, checker, prompts, cfg.rewrite_ratio)
            concepts = list(image_concepts.get(sample.id, []))
            rows.append({
                "id": sample.id, "image": sample.image_path, "label": sample.label,
                "question_index": q, "question_type": kind, "question": question, "prompt": prompt,
                "concepts": concepts, "raw_answer": raw, "answer": kept, "kept": kept is not None,
                "reason": reason, "label_ratio": round(ratio, 4),
                "concepts_mentioned": _mentioned(kept or "", concepts),
            })
        stage.finish(rows, _rewrite_stats(rows, samples, image_concepts))
    return [training_row(r, "rewrite") for r in stage.load() if r["kept"]]


def _mentioned(answer: str, concepts: Sequence[str]) -> list[str]:
    """Concepts whose normalized words appear as a phrase in the normalized answer."""
    from selfsynth.tasks.labels import normalize_label

    text = f" {normalize_label(answer)} "
    return [c for c in concepts if normalize_label(c) and f" {normalize_label(c)} " in text]


def training_row(row: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The {"id","image","question","answer"} row, with light provenance."""
    return {
        "id": row["id"], "image": row["image"], "question": row["question"], "answer": row["answer"],
        "question_type": row["question_type"], "question_index": row["question_index"], "source": source,
    }


def _rewrite_stats(rows: list[dict], samples: Sequence[Sample], image_concepts: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    n = len(rows) or 1
    kept = [r for r in rows if r["kept"]]
    by_type: dict[str, dict[str, float]] = {}
    for kind in sorted({r["question_type"] for r in rows}):
        of = [r for r in rows if r["question_type"] == kind]
        by_type[kind] = {"questions": len(of), "kept_rate": sum(r["kept"] for r in of) / len(of)}
    counts = [len(image_concepts.get(s.id, [])) for s in samples]
    return {
        "images": len(samples),
        "questions": len(rows),
        "kept": len(kept),
        "kept_rate": len(kept) / n,
        "label_rate": sum(r["reason"] == "label" for r in rows) / n,
        "appended_rate": sum(r["reason"] == "near_label_appended" for r in rows) / n,
        "dropped_rate": sum(not r["kept"] for r in rows) / n,
        "images_with_data": len({r["id"] for r in kept}),
        "kept_with_concept_share": (sum(bool(r["concepts_mentioned"]) for r in kept) / len(kept)) if kept else 0.0,
        "concepts_per_image_mean": (sum(counts) / len(counts)) if counts else 0.0,
        "by_question_type": by_type,
    }
