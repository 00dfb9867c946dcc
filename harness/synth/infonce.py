"""Step 2: image-level concept selection by an InfoNCE information bottleneck (README "Fidelity", step 2).

For one image, with A = its description embeddings, B = its class's concept embeddings and
C = the description embeddings of every *other* training image (all rows L2-normalized)::

    I(b_j) = Σ_{a∈A} log[ exp(a·b_j/τ) / ( exp(a·b_j/τ) + Σ_{c∈C} exp(b_j·c/τ) ) ]

A concept is kept when I > mean(I) + k_std·std(I) (std with ddof=1, over the image's candidate
concepts); when fewer than ``min_keep`` pass, the top ``min_keep`` are taken.

Ordering and ties (deterministic): indices are returned best first. Scores whose difference is
within ``TIE_RTOL`` (relative) are treated as tied — BLAS may give bitwise-different results for
identical rows, so exact float equality is not a usable tie test. Tied concepts keep their order in
the class's concept list (lower index first) and pass or fail the threshold together, decided by
the group's best score.

``select_concepts`` is the per-image formula; ``select_concepts_corpus`` selects for every image
at once. It computes, per concept, the log-sum-exp over the descriptions of all images outside
the concept's class once, and the leave-one-out sum over the class's own images from prefix and
suffix log-sum-exps — so no image's own terms are ever subtracted in floating point (no
cancellation), and the cost is O(classes × concepts × descriptions) instead of
O(images × concepts × descriptions).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from tqdm.auto import tqdm

TIE_RTOL = 1e-9


@dataclass(frozen=True)
class Selection:
    """Selected concepts of one image: indices into its class's concept list, best first, and the
    score I(b_j) of every candidate concept (in concept-list order)."""

    indices: np.ndarray
    scores: np.ndarray


def _logsumexp_rows(x: np.ndarray) -> np.ndarray:
    """log Σ exp over the last axis; rows that are all -inf give -inf."""
    if x.shape[-1] == 0:
        return np.full(x.shape[:-1], -np.inf, dtype=x.dtype)
    peak = x.max(axis=-1)
    safe = np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(x - safe[..., None]).sum(axis=-1)) + safe


def _logsumexp_rows_inplace(x: np.ndarray) -> np.ndarray:
    """``_logsumexp_rows`` for a 2-D scratch array, overwriting it (saves full-size temporaries)."""
    if x.shape[1] == 0:
        return np.full(x.shape[0], -np.inf)
    peak = x.max(axis=1)
    safe = np.where(np.isfinite(peak), peak, 0.0)
    x -= safe[:, None]
    np.exp(x, out=x)
    with np.errstate(divide="ignore"):
        return np.log(x.sum(axis=1)) + safe


def infonce_scores(anchor_emb: np.ndarray, cand_emb: np.ndarray, other_emb: np.ndarray, tau: float = 0.1) -> np.ndarray:
    """I(b) for every row b of ``cand_emb``: Σ over anchors a of log[e^{a·b/τ} / (e^{a·b/τ} + Σ_c e^{b·c/τ})].

    Step 2 uses anchors = descriptions, candidates = concepts, others = other images' descriptions;
    the rejection filter uses anchors = selected concepts, candidates = answers, others = concepts
    of the other classes. Computed in float64.
    """
    a = np.asarray(anchor_emb, dtype=np.float64)
    b = np.asarray(cand_emb, dtype=np.float64)
    c = np.asarray(other_emb, dtype=np.float64)
    pos = (a @ b.T) / tau  # (|A|, |B|)
    neg = _logsumexp_rows((b @ c.T) / tau) if len(c) else np.full(len(b), -np.inf)  # (|B|,)
    return (pos - np.logaddexp(pos, neg[None, :])).sum(axis=0)


def tie_groups(scores: np.ndarray, rtol: float = TIE_RTOL) -> list[list[int]]:
    """Indices grouped into ties, groups ordered best first, members in index order."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    groups: list[list[int]] = []
    for idx in order.tolist():
        if groups:
            head = scores[groups[-1][0]]
            if abs(head - scores[idx]) <= rtol * max(1.0, abs(head), abs(scores[idx])):
                groups[-1].append(idx)
                continue
        groups.append([idx])
    for group in groups:
        group.sort()
    return groups


def threshold_select(scores: np.ndarray, k_std: float = 0.4, min_keep: int = 3) -> np.ndarray:
    """Indices kept by the mean + k_std·std rule (ddof=1), best first, at least ``min_keep``.

    With a single candidate the std is undefined and the candidate is kept.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return np.zeros(0, dtype=np.int64)
    groups = tie_groups(scores)
    ranked = [i for g in groups for i in g]
    if scores.size < 2:
        return np.asarray(ranked, dtype=np.int64)
    threshold = scores.mean() + k_std * scores.std(ddof=1)
    kept = [i for g in groups if scores[g[0]] > threshold for i in g]
    if len(kept) < min_keep:
        kept = ranked[:min_keep]
    return np.asarray(kept, dtype=np.int64)


def _threshold_select_columns(scores: np.ndarray, k_std: float, min_keep: int) -> list[np.ndarray]:
    """``threshold_select`` for every column of (concepts, images) at once; columns holding
    near-ties go through the scalar path so tie handling stays identical."""
    m, k = scores.shape
    if m < 2:
        return [threshold_select(scores[:, col], k_std, min_keep) for col in range(k)]
    order = np.argsort(-scores, axis=0, kind="stable")
    ranked = np.take_along_axis(scores, order, axis=0)
    gaps = ranked[:-1] - ranked[1:]
    scale = np.maximum(1.0, np.maximum(np.abs(ranked[:-1]), np.abs(ranked[1:])))
    tied = (gaps <= TIE_RTOL * scale).any(axis=0)
    threshold = scores.mean(axis=0) + k_std * scores.std(axis=0, ddof=1)
    passed = ranked > threshold[None, :]  # sorted descending, so the passing ones lead
    n_pass = passed.sum(axis=0)
    out = []
    for col in range(k):
        if tied[col]:
            out.append(threshold_select(scores[:, col], k_std, min_keep))
        else:
            out.append(order[: max(int(n_pass[col]), min(min_keep, m)), col].astype(np.int64))
    return out


def select_concepts(
    desc_emb: np.ndarray,
    concept_emb: np.ndarray,
    other_emb: np.ndarray,
    tau: float = 0.1,
    k_std: float = 0.4,
    min_keep: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-image selection: returns (indices best first, scores per concept)."""
    scores = infonce_scores(desc_emb, concept_emb, other_emb, tau)
    return threshold_select(scores, k_std, min_keep), scores


def _offsets(counts: Sequence[int]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(np.asarray(counts, dtype=np.int64))])


def select_concepts_corpus(
    desc_emb: np.ndarray,
    desc_counts: Sequence[int],
    image_class: Sequence[int],
    concept_emb: np.ndarray,
    concept_counts: Sequence[int],
    tau: float = 0.1,
    k_std: float = 0.4,
    min_keep: int = 3,
    progress: bool = True,
) -> list[Selection]:
    """Select concepts for every image at once; same numbers as ``select_concepts`` per image.

    desc_emb:       (sum(desc_counts), d) descriptions, grouped by image in image order
    desc_counts:    descriptions per image (each ≥ 1)
    image_class:    class index per image
    concept_emb:    (sum(concept_counts), d) concepts, grouped by class in class order
    concept_counts: concepts per class (a class may have 0; its images then select nothing)
    """
    desc = np.ascontiguousarray(desc_emb, dtype=np.float64)
    concepts = np.ascontiguousarray(concept_emb, dtype=np.float64)
    counts = np.asarray(desc_counts, dtype=np.int64)
    classes = np.asarray(image_class, dtype=np.int64)
    if counts.ndim != 1 or len(counts) != len(classes):
        raise ValueError("desc_counts and image_class must have one entry per image")
    if (counts < 1).any():
        raise ValueError("every image needs at least one description")
    if counts.sum() != len(desc):
        raise ValueError(f"desc_counts sum to {counts.sum()} but desc_emb has {len(desc)} rows")
    c_off = _offsets(concept_counts)
    if c_off[-1] != len(concepts):
        raise ValueError(f"concept_counts sum to {c_off[-1]} but concept_emb has {len(concepts)} rows")
    if len(classes) and (classes.min() < 0 or classes.max() >= len(c_off) - 1):
        raise ValueError("image_class holds a class index outside concept_counts")
    d_off = _offsets(counts)
    desc_t = np.ascontiguousarray(desc.T)
    scaled_concepts = concepts / tau  # fold 1/τ into the small side of the product
    out: list[Selection | None] = [None] * len(classes)
    by_class: dict[int, np.ndarray] = {}
    for img, cls in enumerate(classes.tolist()):
        by_class.setdefault(cls, []).append(img)  # type: ignore[arg-type]
    for cls in tqdm(sorted(by_class), desc="select concepts", unit="class", disable=not progress or None):
        images = np.asarray(by_class[cls], dtype=np.int64)
        block = scaled_concepts[c_off[cls] : c_off[cls + 1]]
        m = len(block)
        if m == 0:
            for img in images.tolist():
                out[img] = Selection(np.zeros(0, dtype=np.int64), np.zeros(0))
            continue
        sims = block @ desc_t  # (m, N_desc), already divided by τ
        own_cols = np.concatenate([np.arange(d_off[i], d_off[i + 1]) for i in images.tolist()])
        own = sims[:, own_cols]  # (m, n_own) — the class's images' own terms
        sims[:, own_cols] = -np.inf
        outside = _logsumexp_rows_inplace(sims)  # (m,) descriptions of images outside the class
        own_counts = counts[images]
        starts = _offsets(own_counts)[:-1]
        # per-image log-sum-exp of own terms, with a per-(concept, image) max shift
        peak = np.maximum.reduceat(own, starts, axis=1)
        per_image = np.log(np.add.reduceat(np.exp(own - np.repeat(peak, own_counts, axis=1)), starts, axis=1)) + peak
        # leave-one-out over the class's images: prefix and suffix log-sum-exps, no subtraction
        k = per_image.shape[1]
        pad = np.full((m, 1), -np.inf)
        prefix = np.concatenate([pad, np.logaddexp.accumulate(per_image, axis=1)[:, :-1]], axis=1)
        suffix = np.concatenate([np.logaddexp.accumulate(per_image[:, ::-1], axis=1)[:, ::-1][:, 1:], pad], axis=1)
        others = np.logaddexp(outside[:, None], np.logaddexp(prefix, suffix))  # (m, k)
        terms = own - np.logaddexp(own, np.repeat(others, own_counts, axis=1))
        scores = np.add.reduceat(terms, starts, axis=1)  # (m, k)
        for col, kept in enumerate(_threshold_select_columns(scores, k_std, min_keep)):
            out[int(images[col])] = Selection(kept, scores[:, col].copy())
    return out  # type: ignore[return-value]
