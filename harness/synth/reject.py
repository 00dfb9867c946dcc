"""Iterations ≥ 2: reward-model-free rejection sampling (README "Fidelity", rounds 2..K).

The previous iteration's model answers ``reject_questions`` questions per image (explain with
probability ``reject_p_explain``, else chain-of-thought), ``reject_samples`` candidates each. Modes:

- ``infonce`` (ours): score every candidate with the InfoNCE form — A = the image's selected
  concepts, B = the candidates, C = the negative concepts (``reject_negatives``: every concept of
  every class as the released code does, the other classes' concepts, or all but A) — and keep
  the best one (ties: lowest sample index) only if it names the label; otherwise substitute a
  simple question answered by the domain's label sentence.
- ``random`` (the ``no_filter`` ablation): keep a random candidate; no ranking, no label check.
- ``label`` (``lge`` iterations): resample without concept filtering — keep a random candidate
  among those that name the label; if none does, the same simple-question fallback as ``infonce``.

Empty candidates never count as naming the label. An image whose selection is empty (its class
had no concepts) scores every candidate 0, so the first one that names the label is used.

Questions, fallback questions included, are drawn per image without replacement
(``QuestionDraw``), the evaluation question held out unless ``train_on_eval_question``; a fallback
that finds every pool used up for its image is dropped (counted in the stats), never repeated.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import numpy as np

from selfsynth.cache import ResponseCache
from selfsynth.synth.config import SynthConfig
from selfsynth.synth.rewrite import LabelChecker, _mentioned, training_row
from selfsynth.synth.infonce import infonce_scores
from selfsynth.synth.stage import QuestionDraw, Stage, image_rng, question_pools, samples_digest
from selfsynth.tasks.base import Prompts, Sample, Task

Mode = Literal["infonce", "random", "label"]
MODES: tuple[str, ...] = ("infonce", "random", "label")


def rejection_sample(
    lm: Any,
    task: Task,
    samples: Sequence[Sample],
    image_concepts: Mapping[str, Sequence[str]],
    class_concepts: Mapping[str, Sequence[str]] | object,
    prompts: Prompts,
    cfg: SynthConfig,
    cache: ResponseCache | None,
    out_dir: str | Path,
    mode: Mode = "infonce",
    iteration: int = 2,
    encoder=None,
) -> list[dict[str, Any]]:
    """Training rows {"id","image","question","answer", + provenance} for one iteration ≥ 2.

    ``image_concepts``: {image id: the step-2 selection} (fixed across iterations);
    ``class_concepts``: {class: concepts} or a ConceptSet (C = the other classes' concepts).
    ``iteration`` enters the question draw, so each round asks different questions.
    Writes ``reject.jsonl`` (one row per question: candidates, scores, choice and why) and
    ``reject.stats.json``.
    """
    from selfsynth.generate import GenArgs, generate

    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: expected one of {MODES}")
    by_class = getattr(class_concepts, "concepts", class_concepts)
    args = GenArgs(
        max_new_tokens=cfg.reject_max_new_tokens, temperature=cfg.reject_temperature,
        top_p=cfg.reject_top_p, num_samples=cfg.reject_samples, seed=cfg.draw_seed * 1000 + iteration,
    )
    weights = {"explain": cfg.reject_p_explain, "cot": 1.0 - cfg.reject_p_explain}
    pools = question_pools(prompts, cfg.train_on_eval_question)
    if mode == "infonce":
        from selfsynth.synth.select import make_encoder

        encoder = encoder or make_encoder(cfg)
    stage = Stage(out_dir, "reject", {
        "model": lm.fingerprint, "engine": lm.engine, "samples": samples_digest(samples), "gen": asdict(args), "mode": mode,
        "iteration": iteration, "concepts": [list(image_concepts.get(s.id, [])) for s in samples],
        "class_concepts": {k: list(v) for k, v in sorted(by_class.items())}, "pools": pools, "weights": weights,
        "n": cfg.reject_questions, "tau": cfg.tau, "rule": cfg.label_match, "label_sentence": prompts.label_sentence,
        "encoder": encoder.fingerprint if encoder is not None else None, "seed": cfg.draw_seed,
        "negatives": cfg.reject_negatives if mode == "infonce" else None,
    })
    if not stage.done():
        checker = LabelChecker(task, cfg.label_match)
        stage_key = f"reject-{iteration}"
        plan = []  # (sample, question index, type, question, the image's QuestionDraw)
        for sample in samples:
            drawer = QuestionDraw(image_rng(cfg.draw_seed, stage_key, sample.id), pools, replace=cfg.train_on_eval_question)
            for q in range(cfg.reject_questions):
                picked = drawer.draw(weights)
                if picked is None:  # every pool used up for this image: fewer questions, no repeats
                    break
                plan.append((sample, q, *picked, drawer))
        outputs = generate(lm, [(s.image_path, question) for s, _, _, question, _ in plan], args, cache=cache,
                           batch_size=cfg.batch_size, desc=f"candidates (iteration {iteration})")
        scores = _score_all(plan, outputs, image_concepts, by_class, cfg, encoder) if mode == "infonce" else None
        rows = []
        for p, ((sample, q, kind, question, drawer), cands) in enumerate(zip(plan, outputs)):
            has_label = [bool(c.strip()) and checker.contains(c, sample.label) for c in cands]
            cand_scores = scores[p] if scores is not None else None
            chosen, keep, reason = choose_candidate(mode, has_label, cand_scores, drawer.rng)
            row = {
                "id": sample.id, "image": sample.image_path, "label": sample.label, "iteration": iteration,
                "question_index": q, "candidate_question_type": kind, "candidate_question": question,
                "candidates": list(cands), "has_label": has_label,
                "scores": [round(float(s), 6) for s in cand_scores] if cand_scores is not None else None,
                "chosen": chosen, "kept": keep, "reason": reason, "fallback": not keep,
            }
            fallback = None if keep else drawer.take("simple")
            if keep:
                row.update(question_type=kind, question=question, answer=cands[chosen])
            elif fallback is not None:
                row.update(question_type=fallback[0], question=fallback[1],
                           answer=prompts.label_sentence.format(label=sample.label))
            else:  # no question left that this image was not asked: no row rather than a repeat
                row.update(question_type=None, question=None, answer=None, reason=f"{reason}; no question left")
            row["concepts_mentioned"] = _mentioned(row["answer"] or "", list(image_concepts.get(sample.id, [])))
            rows.append(row)
        stage.finish(rows, _reject_stats(rows, samples, image_concepts, mode))
    return [training_row(r, f"reject-{mode}") for r in stage.load() if r["answer"] is not None]


def choose_candidate(mode: str, has_label: Sequence[bool], scores: Sequence[float] | None, rng) -> tuple[int, bool, str]:
    """(chosen candidate index, keep it?, reason) for one question under ``mode``."""
    if mode == "infonce":
        chosen = int(np.argmax(scores))  # first maximum: the lowest sample index wins ties
        keep = bool(has_label[chosen])
        return chosen, keep, "best_has_label" if keep else "best_lacks_label"
    if mode == "random":
        return rng.randrange(len(has_label)), True, "random"
    good = [i for i, ok in enumerate(has_label) if ok]
    if good:
        return rng.choice(good), True, "random_with_label"
    return rng.randrange(len(has_label)), False, "none_with_label"


def negative_mask(negatives: str, owner: np.ndarray, flat: Sequence[str], own_class: int, selected: Sequence[str]) -> np.ndarray:
    """Which of the flat concept list ``flat`` (class of each: ``owner``) form C for one image:
    ``all`` (the released code: its exclusion test never matches), ``drop_own_class`` (the
    image's class left out) or ``drop_selected`` (the image's selected concepts left out)."""
    if negatives == "all":
        return np.ones(len(flat), dtype=bool)
    if negatives == "drop_own_class":
        return owner != own_class
    if negatives == "drop_selected":
        mine = set(selected)
        return np.array([c not in mine for c in flat], dtype=bool)
    raise ValueError(f"reject_negatives {negatives!r}: expected all, drop_own_class or drop_selected")


def _score_all(plan, outputs, image_concepts, by_class, cfg: SynthConfig, encoder) -> list[np.ndarray]:
    """InfoNCE score of every candidate (A: the image's concepts, C: ``negative_mask``)."""
    classes = sorted(by_class)
    flat = [c for name in classes for c in by_class[name]]
    owner = np.array([i for i, name in enumerate(classes) for _ in by_class[name]], dtype=np.int64)
    index = {name: i for i, name in enumerate(classes)}
    cand_emb = encoder.encode([c for cands in outputs for c in cands], progress=True, desc="encode candidates")
    dim = cand_emb.shape[1]
    concept_emb = encoder.encode(flat, desc="encode concepts") if flat else np.zeros((0, dim), dtype=np.float32)
    vocab = list(dict.fromkeys(c for s, *_ in plan for c in image_concepts.get(s.id, [])))
    vocab_emb = dict(zip(vocab, encoder.encode(vocab, desc="encode selected concepts"))) if vocab else {}
    ends = np.cumsum([len(c) for c in outputs]).tolist()
    starts = [0, *ends[:-1]]
    scores: list[np.ndarray] = [np.zeros(0)] * len(plan)
    by_image: dict[str, list[int]] = {}
    for p, (sample, *_rest) in enumerate(plan):
        by_image.setdefault(sample.id, []).append(p)
    for positions in by_image.values():  # A and C once per image; all its candidates in one product
        sample = plan[positions[0]][0]
        mine = list(image_concepts.get(sample.id, []))
        A = np.stack([vocab_emb[c] for c in mine]) if mine else np.zeros((0, dim), dtype=np.float32)
        C = concept_emb[negative_mask(cfg.reject_negatives, owner, flat, index.get(sample.label, -1), mine)]
        rows = np.concatenate([np.arange(starts[p], ends[p]) for p in positions])
        s = infonce_scores(A, cand_emb[rows], C, cfg.tau)
        cursor = 0
        for p in positions:
            n = ends[p] - starts[p]
            scores[p] = s[cursor : cursor + n]
            cursor += n
    return scores


def _reject_stats(rows: list[dict], samples: Sequence[Sample], image_concepts: Mapping[str, Sequence[str]], mode: str) -> dict[str, Any]:
    n = len(rows) or 1
    counts = [len(image_concepts.get(s.id, [])) for s in samples]
    kept = [r for r in rows if r["kept"]]
    return {
        "mode": mode,
        "images": len(samples),
        "questions": len(rows),
        "kept_rate": len(kept) / n,
        "fallback_rate": sum(r["fallback"] for r in rows) / n,
        "dropped_no_question_left": sum(r["answer"] is None for r in rows),
        "candidates_with_label_rate": sum(sum(r["has_label"]) for r in rows) / max(1, sum(len(r["has_label"]) for r in rows)),
        "kept_with_concept_share": (sum(bool(r["concepts_mentioned"]) for r in kept) / len(kept)) if kept else 0.0,
        "concepts_per_image_mean": (sum(counts) / len(counts)) if counts else 0.0,
    }
