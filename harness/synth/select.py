"""Step 2 as a pipeline stage: embed descriptions and class concepts, select per image.

``select_image_concepts`` writes ``select.jsonl`` (per image: selected concepts best first, the
score of every class concept, threshold, whether the min-keep rule filled the selection, and the
precision against ``visible_concepts`` when the sample carries ground truth) and
``select.stats.json``. ``class_concepts_per_image`` is the no-selection variant the ``lge``
baseline uses (every class concept for every image); ``random_concepts_per_image`` is the one the
``no_filter`` ablation uses (a seeded random subset of the class concepts, as many as step 2 kept).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from selfsynth.synth.config import SynthConfig
from selfsynth.metrics.concepts import concept_precision
from selfsynth.synth.infonce import select_concepts_corpus
from selfsynth.synth.stage import Stage, samples_digest
from selfsynth.tasks.base import Sample


def make_encoder(cfg: SynthConfig, cache_path: str | Path | None = None):
    from selfsynth.embed import TextEncoder

    return TextEncoder(cfg.encoder, prefix=cfg.encoder_prefix, batch_size=cfg.encoder_batch_size, cache=cache_path)


def _concepts_of(concepts: Mapping[str, Sequence[str]] | object) -> Mapping[str, Sequence[str]]:
    # accept a ConceptSet or a plain {class: [concepts]}
    return getattr(concepts, "concepts", concepts)  # type: ignore[return-value]


def random_precision(class_concepts: Sequence[str], visible: Sequence[str]) -> float:
    """Expected precision of a uniformly random subset of the class concepts (any size): the share
    of class concepts that are visible. Exact, so the baseline carries no sampling noise."""
    if not class_concepts:
        return 0.0
    return concept_precision(class_concepts, visible)


def select_image_concepts(
    samples: Sequence[Sample],
    descriptions: Mapping[str, Sequence[str]],
    concepts: Mapping[str, Sequence[str]] | object,
    cfg: SynthConfig,
    out_dir: str | Path,
    encoder=None,
    progress: bool = True,
) -> dict[str, list[str]]:
    """{image id: selected concepts, best first}."""
    by_class = _concepts_of(concepts)
    classes = sorted({s.label for s in samples})
    class_index = {c: i for i, c in enumerate(classes)}
    class_lists = [list(by_class.get(c, [])) for c in classes]
    encoder = encoder or make_encoder(cfg)
    stage = Stage(out_dir, "select", {
        "samples": samples_digest(samples),
        "descriptions": [list(descriptions[s.id]) for s in samples],
        "concepts": class_lists,
        "encoder": encoder.fingerprint,
        "tau": cfg.tau, "k_std": cfg.k_std, "min_keep": cfg.min_keep,
    })
    if not stage.done():
        desc_texts = [t for s in samples for t in descriptions[s.id]]
        desc_counts = [len(descriptions[s.id]) for s in samples]
        if any(n == 0 for n in desc_counts):
            empty = next(s.id for s, n in zip(samples, desc_counts) if n == 0)
            raise ValueError(f"image {empty!r} has no descriptions")
        desc_emb = encoder.encode(desc_texts, progress=progress, desc="encode descriptions")
        flat_concepts = [c for lst in class_lists for c in lst]
        concept_emb = encoder.encode(flat_concepts, desc="encode concepts") if flat_concepts else np.zeros((0, desc_emb.shape[1]))
        selections = select_concepts_corpus(
            desc_emb, desc_counts, [class_index[s.label] for s in samples], concept_emb,
            [len(lst) for lst in class_lists], tau=cfg.tau, k_std=cfg.k_std, min_keep=cfg.min_keep, progress=progress,
        )
        rows = []
        for sample, sel in zip(samples, selections):
            cands = class_lists[class_index[sample.label]]
            scores = sel.scores
            threshold = float(scores.mean() + cfg.k_std * scores.std(ddof=1)) if len(scores) > 1 else None
            n_pass = int((scores > threshold).sum()) if threshold is not None else len(scores)
            row = {
                "id": sample.id, "label": sample.label,
                "concepts": list(cands),  # the class concepts "scores" is aligned with
                "selected": [cands[j] for j in sel.indices.tolist()],
                "selected_index": sel.indices.tolist(),
                "scores": [round(float(x), 6) for x in scores],
                "threshold": threshold,
                "min_keep_filled": len(sel.indices) > n_pass,
            }
            visible = sample.metadata.get("visible_concepts")
            if visible is not None:
                row["precision"] = concept_precision(row["selected"], visible)
                row["random_precision"] = random_precision(cands, visible)
            rows.append(row)
        counts = [len(r["selected"]) for r in rows]
        stats = {
            "images": len(rows),
            "classes": len(classes),
            "classes_without_concepts": [c for c, lst in zip(classes, class_lists) if not lst],
            "concepts_per_image_mean": float(np.mean(counts)) if counts else 0.0,
            "concepts_per_image_min": min(counts, default=0),
            "concepts_per_image_max": max(counts, default=0),
            "min_keep_filled_rate": (sum(r["min_keep_filled"] for r in rows) / len(rows)) if rows else 0.0,
        }
        with_truth = [r for r in rows if "precision" in r]
        if with_truth:
            stats["precision"] = float(np.mean([r["precision"] for r in with_truth]))
            stats["random_precision"] = float(np.mean([r["random_precision"] for r in with_truth]))
        stage.finish(rows, stats)
    return {row["id"]: list(row["selected"]) for row in stage.load()}


def class_concepts_per_image(samples: Sequence[Sample], concepts: Mapping[str, Sequence[str]] | object) -> dict[str, list[str]]:
    """Every image gets all of its class's concepts (the ``lge`` baseline: no selection)."""
    by_class = _concepts_of(concepts)
    return {s.id: list(by_class.get(s.label, [])) for s in samples}


def random_concepts_per_image(
    samples: Sequence[Sample], concepts: Mapping[str, Sequence[str]] | object, sizes: Mapping[str, int], seed: int,
) -> dict[str, list[str]]:
    """Per image, ``sizes[id]`` of its class's concepts drawn uniformly without replacement (all of
    them when the class has fewer). Seeded per image (``image_rng``), so an image's draw does not
    depend on the other images. The ``no_filter`` ablation: step 2's information-bottleneck filter
    replaced by chance at the same size, so only the choice of concepts differs from ``ours``."""
    from selfsynth.synth.stage import image_rng

    by_class = _concepts_of(concepts)
    out = {}
    for sample in samples:
        pool = list(by_class.get(sample.label, []))
        k = min(int(sizes.get(sample.id, 0)), len(pool))
        out[sample.id] = image_rng(seed, "no_filter_concepts", sample.id).sample(pool, k)
    return out
