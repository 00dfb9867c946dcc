"""Step 3: answer rewriting — iteration-1 training data (README "Fidelity", step 3).

The base model answers ``rewrite_questions`` random questions per image (simple / explain / cot
drawn with ``rewrite_p_*``), each prefixed by a hidden context that states the label and lists the
image's concepts (``rewrite_prompt``). Per answer:

- keep it if it names the label (``LabelChecker``: tasks.labels ``match`` with the task's aliases
  and confusers; under ``label_match: paper`` the released step-3 rule ``paper_keep_match``, a
  lowercase containment that keeps digits, and its raw lowercase difflib ratio);
- else, if the label is a near miss — the difflib ratio of the normalized label against the WHOLE
  normalized answer reaches ``rewrite_ratio`` (the published rule; in practice a short answer
  that misspells the label, e.g. "Artic Tern." for "Arctic Tern") — append the domain's label
  sentence, unless the answer names another class of the task or another class name matches the
  answer better ("737-300" for "737-800", "Baird Sparrow" for "Brewer Sparrow"): then drop it;
- else drop it.

Questions are drawn per image without replacement (``QuestionDraw``), with the evaluation question
held out of the pools unless ``train_on_eval_question``, which restores the released draws: the
evaluation question in the pools and every question drawn independently (with replacement).

The stored pair is the bare question (no context) and the kept answer. ``lge`` passes every class
concept instead of the image's selection (``selection.class_concepts_per_image``).
"""
from __future__ import annotations

import difflib
from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

from selfsynth.cache import ResponseCache
from selfsynth.synth.config import SynthConfig
from selfsynth.synth.stage import Stage, draw_questions, image_rng, question_pools, samples_digest
from selfsynth.tasks.base import Prompts, Sample, Task

REWRITE_CONTEXT_VERSION = "rewrite-context-v2"


def rewrite_prompt(question: str, label: str, concepts: Sequence[str], prompts: Prompts) -> str:
    """The user turn the model sees in step 3: hidden context, then the question."""
    return prompts.hidden_context(question, label, concepts)


class LabelChecker:
    """``contains(answer, label)`` under the configured rule, with the task's aliases and the
    names of other classes that contain the label (so "Border collie" does not name "collie").

    ``step``: "step3" (iteration 1) or "rounds" (iterations ≥ 2). The released code keeps step-3
    answers by ``label.lower() in answer.lower()`` (digits kept) and rounds ≥ 2 by the
    digit-deleting containment (``paper_match``, the evaluation rule); under ``rule="paper"`` each
    step gets its own. Ours is the same reader in both."""

    def __init__(self, task: Task, rule: str = "ours", step: str = "rounds"):
        from selfsynth.tasks.labels import confusers_for

        if step not in ("step3", "rounds"):
            raise ValueError(f"LabelChecker step {step!r}: expected step3 or rounds")
        self.task = task
        self.rule = rule
        self.step = step
        self.names = list(task.class_names())
        self._confusers = {n: confusers_for(n, self.names, task.aliases) for n in self.names}

    def _ours(self, answer: str, label: str) -> bool:
        from selfsynth.tasks.labels import confusers_for, match

        confusers = self._confusers.get(label)
        if confusers is None:
            confusers = self._confusers[label] = confusers_for(label, self.names, self.task.aliases)
        return match(answer, label, self.task.aliases(label), confusers)

    def contains(self, answer: str, label: str) -> bool:
        from selfsynth.tasks.labels import paper_keep_match, paper_match

        if self.rule == "paper":
            return paper_keep_match(answer, label) if self.step == "step3" else paper_match(answer, label)
        return self._ours(answer, label)

    def ratio(self, answer: str, label: str) -> float:
        """The near-miss measure: the released raw lowercase ratio at step 3 under the paper rule,
        else ``label_ratio`` (normalized words)."""
        from selfsynth.tasks.labels import paper_keep_ratio

        if self.rule == "paper" and self.step == "step3":
            return paper_keep_ratio(answer, label)
        return label_ratio(answer, label)

    def other_class(self, answer: str, label: str, label_score: float) -> str | None:
        """Another class that ``answer`` names (our digit-preserving match, whatever the keep rule:
        the paper's rule cannot tell "737-300" from "737-800"), or whose name matches the whole
        answer better than the label does (``label_ratio`` above ``label_score``); None if none."""
        for name in self.names:
            if name == label:
                continue
            if self._ours(answer, name) or self.ratio(answer, name) > label_score:
                return name
        return None


def label_ratio(answer: str, label: str) -> float:
    """difflib ratio of the normalized label against the whole normalized answer (the published
    near-miss measure: high only when the answer is little more than a near spelling of the label)."""
    from selfsynth.tasks.labels import normalize_label

    target, text = normalize_label(label), normalize_label(answer)
    if not target or not text:
        return 0.0
    return difflib.SequenceMatcher(None, target, text, autojunk=False).ratio()


class KeepDecision(NamedTuple):
    answer: str | None  # the answer to train on (None: dropped)
    reason: str  # label / near_label_appended / names_other_class / no_label / empty
    ratio: float  # label_ratio (1.0 when the label is named)
    other_class: str | None = None  # the class that blocked an append


def apply_keep_rule(answer: str, label: str, checker: LabelChecker, prompts: Prompts, ratio: float) -> KeepDecision:
    """Step 3's keep / append / drop decision for one answer (see the module doc)."""
    text = answer.strip()
    if not text:
        return KeepDecision(None, "empty", 0.0)
    if checker.contains(text, label):
        return KeepDecision(text, "label", 1.0)
    score = checker.ratio(text, label)
    if score < ratio:
        return KeepDecision(None, "no_label", score)
    other = checker.other_class(text, label, score)
    if other is not None:
        return KeepDecision(None, "names_other_class", score, other)
    sep = "" if text.endswith((" ", "\n")) else " "
    return KeepDecision(text + sep + prompts.label_sentence.format(label=label), "near_label_appended", score)


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
        top_p=cfg.rewrite_top_p, num_samples=1, seed=cfg.draw_seed,
    )
    weights = {"simple": cfg.rewrite_p_simple, "explain": cfg.rewrite_p_explain, "cot": cfg.rewrite_p_cot}
    pools = question_pools(prompts, cfg.train_on_eval_question)
    stage = Stage(out_dir, stage_name, {
        "model": lm.fingerprint, "engine": lm.engine, "samples": samples_digest(samples), "gen": asdict(args),
        "concepts": [list(image_concepts.get(s.id, [])) for s in samples], "pools": pools, "weights": weights,
        "n": cfg.rewrite_questions, "seed": cfg.draw_seed, "ratio": cfg.rewrite_ratio, "rule": cfg.label_match,
        "label_sentence": prompts.label_sentence, "context": REWRITE_CONTEXT_VERSION,
        # files kept by the former paper rule (digits deleted at step 3) are recomputed
        **({"step3_rule": "released-lowercase-containment"} if cfg.label_match == "paper" else {}),
    })
    if not stage.done():
        checker = LabelChecker(task, cfg.label_match, step="step3")
        plan = []  # (sample, question index, type, question, prompt)
        for sample in samples:
            concepts = list(image_concepts.get(sample.id, []))
            drawn = draw_questions(image_rng(cfg.draw_seed, stage_name, sample.id), pools, weights, cfg.rewrite_questions,
                                   replace=cfg.train_on_eval_question)
            for q, (kind, question) in enumerate(drawn):
                plan.append((sample, q, kind, question, rewrite_prompt(question, sample.label, concepts, prompts)))
        outputs = generate(lm, [(s.image_path, p) for s, _, _, _, p in plan], args, cache=cache, batch_size=cfg.batch_size, desc="rewrite answers")
        rows = []
        for (sample, q, kind, question, prompt), texts in zip(plan, outputs):
            raw = texts[0]
            kept, reason, ratio, other = apply_keep_rule(raw, sample.label, checker, prompts, cfg.rewrite_ratio)
            concepts = list(image_concepts.get(sample.id, []))
            rows.append({
                "id": sample.id, "image": sample.image_path, "label": sample.label,
                "question_index": q, "question_type": kind, "question": question, "prompt": prompt,
                "concepts": concepts, "raw_answer": raw, "answer": kept, "kept": kept is not None,
                "reason": reason, "label_ratio": round(ratio, 4), "other_class": other,
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
    reasons = [r["reason"] for r in rows]
    return {
        "images": len(samples),
        "questions": len(rows),
        "kept": len(kept),
        # kept as they were / kept with the label sentence appended / dropped, and why dropped
        "counts": {
            "kept": reasons.count("label"), "appended": reasons.count("near_label_appended"),
            "dropped": len(rows) - len(kept),
            "dropped_names_other_class": reasons.count("names_other_class"),
            "dropped_no_label": reasons.count("no_label"), "dropped_empty": reasons.count("empty"),
        },
        "kept_rate": len(kept) / n,
        "label_rate": sum(r["reason"] == "label" for r in rows) / n,
        "appended_rate": sum(r["reason"] == "near_label_appended" for r in rows) / n,
        "dropped_rate": sum(not r["kept"] for r in rows) / n,
        "images_with_data": len({r["id"] for r in kept}),
        "kept_with_concept_share": (sum(bool(r["concepts_mentioned"]) for r in kept) / len(kept)) if kept else 0.0,
        "concepts_per_image_mean": (sum(counts) / len(counts)) if counts else 0.0,
        "by_question_type": by_type,
    }
