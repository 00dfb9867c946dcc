"""Step-2 selection math: the per-image and corpus paths against the formula written out."""
from __future__ import annotations

import math

import numpy as np
import pytest

from selfsynth.metrics.concepts import concept_precision
from selfsynth.synth.infonce import (
    infonce_scores,
    select_concepts,
    select_concepts_corpus,
    threshold_select,
)


def _unit(rng, n, d):
    x = rng.standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def formula(A, B, C, tau):
    """I(b_j) exactly as the paper writes it, one exp at a time."""
    out = []
    for b in B:
        neg = sum(math.exp(float(b @ c) / tau) for c in C)
        total = 0.0
        for a in A:
            pos = math.exp(float(a @ b) / tau)
            total += math.log(pos / (pos + neg))
        out.append(total)
    return np.array(out)


def formula_select(scores, k_std, min_keep):
    mean = sum(scores) / len(scores)
    std = math.sqrt(sum((s - mean) ** 2 for s in scores) / (len(scores) - 1))
    order = sorted(range(len(scores)), key=lambda j: (-scores[j], j))
    kept = [j for j in order if scores[j] > mean + k_std * std]
    return kept if len(kept) >= min_keep else order[:min_keep]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_per_image_matches_formula(seed):
    rng = np.random.default_rng(seed)
    A, B, C = _unit(rng, 7, 16), _unit(rng, 9, 16), _unit(rng, 40, 16)
    idx, scores = select_concepts(A, B, C, tau=0.1, k_std=0.4, min_keep=3)
    ref = formula(A, B, C, 0.1)
    np.testing.assert_allclose(scores, ref, rtol=1e-6)
    assert idx.tolist() == formula_select(ref.tolist(), 0.4, 3)
    assert list(scores[idx]) == sorted(scores[idx], reverse=True)


def _corpus(rng, n_classes=5, dim=24):
    concept_counts = [int(c) for c in rng.integers(3, 9, n_classes)]
    image_class = np.concatenate([np.full(int(rng.integers(1, 6)), c) for c in range(n_classes)])
    rng.shuffle(image_class)  # images of one class need not be contiguous
    desc_counts = [int(c) for c in rng.integers(1, 7, len(image_class))]
    desc = _unit(rng, sum(desc_counts), dim)
    concepts = _unit(rng, sum(concept_counts), dim)
    return desc, desc_counts, image_class, concepts, concept_counts


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("tau", [0.1, 0.03])
def test_corpus_matches_formula(seed, tau):
    rng = np.random.default_rng(seed)
    desc, desc_counts, image_class, concepts, concept_counts = _corpus(rng)
    fast = select_concepts_corpus(desc, desc_counts, image_class, concepts, concept_counts, tau=tau, progress=False)
    d_off = np.concatenate([[0], np.cumsum(desc_counts)])
    c_off = np.concatenate([[0], np.cumsum(concept_counts)])
    for img, cls in enumerate(image_class):
        A = desc[d_off[img] : d_off[img + 1]]
        B = concepts[c_off[cls] : c_off[cls + 1]]
        C = np.concatenate([desc[: d_off[img]], desc[d_off[img + 1] :]])
        ref = formula(A, B, C, tau)
        np.testing.assert_allclose(fast[img].scores, ref, rtol=1e-6)
        assert fast[img].indices.tolist() == formula_select(ref.tolist(), 0.4, 3)
        idx, scores = select_concepts(A, B, C, tau=tau)
        np.testing.assert_allclose(fast[img].scores, scores, rtol=1e-12)
        assert fast[img].indices.tolist() == idx.tolist()


def test_corpus_stable_where_own_terms_dominate():
    # own descriptions nearly equal to the concepts, all others far away: the sum over C is ~e^-20
    # of the own terms, where "total minus own" would lose every digit at small τ
    rng = np.random.default_rng(5)
    concepts = _unit(rng, 6, 8)
    own = concepts[:3] + 1e-3 * rng.standard_normal((3, 8))
    own /= np.linalg.norm(own, axis=1, keepdims=True)
    far = -concepts[[0, 0, 1, 1, 2, 2]]
    desc = np.concatenate([own, far])
    fast = select_concepts_corpus(desc, [3, 3, 3], [0, 1, 1], concepts, [3, 3], tau=0.02, progress=False)
    ref = infonce_scores(own, concepts[:3], far, tau=0.02)
    np.testing.assert_allclose(fast[0].scores, ref, rtol=1e-9)
    assert np.isfinite(fast[0].scores).all()


def test_min_keep_rule():
    # one outlier: only it clears mean + 0.4 std, so the top 3 are taken
    scores = np.array([0.0, 10.0, -1.0, 0.5, 0.2, -3.0])
    assert threshold_select(scores, 0.4, 3).tolist() == [1, 3, 4]
    assert threshold_select(scores, 0.4, 1).tolist() == [1]
    assert threshold_select(scores[:2], 0.4, 3).tolist() == [1, 0]  # fewer candidates than min_keep
    assert threshold_select(np.array([2.0]), 0.4, 3).tolist() == [0]
    # through embeddings: random cases where fewer than 3 clear the threshold get exactly the top 3
    fallbacks = 0
    for seed in range(30):
        rng = np.random.default_rng(seed)
        A, B, C = _unit(rng, 3, 12), _unit(rng, 6, 12), _unit(rng, 20, 12)
        idx, scores = select_concepts(A, B, C)
        n_pass = int((scores > scores.mean() + 0.4 * scores.std(ddof=1)).sum())
        if n_pass < 3:
            fallbacks += 1
            assert idx.tolist() == list(np.argsort(-scores, kind="stable")[:3])
        else:
            assert len(idx) == n_pass
    assert fallbacks >= 3


def test_ties_keep_concept_order_and_pass_together():
    scores = np.array([1.0, 5.0, 2.0, 5.0, 5.0 * (1 + 1e-12), 0.0])
    assert threshold_select(scores, 0.4, 3).tolist() == [1, 3, 4]
    # duplicated concept rows tie exactly; both paths list the lower index first
    rng = np.random.default_rng(11)
    desc, desc_counts, image_class, concepts, concept_counts = _corpus(rng, n_classes=3)
    c_off = np.concatenate([[0], np.cumsum(concept_counts)])
    concepts[c_off[0] + 1] = concepts[c_off[0] + 2]  # class 0: concepts 1 and 2 identical
    fast = select_concepts_corpus(desc, desc_counts, image_class, concepts, concept_counts, progress=False)
    d_off = np.concatenate([[0], np.cumsum(desc_counts)])
    seen = 0
    for img in np.flatnonzero(image_class == 0):
        idx = fast[img].indices.tolist()
        assert (1 in idx) == (2 in idx)
        if 1 in idx:
            assert idx.index(2) == idx.index(1) + 1
            seen += 1
        C = np.concatenate([desc[: d_off[img]], desc[d_off[img + 1] :]])
        ref_idx, _ = select_concepts(desc[d_off[img] : d_off[img + 1]], concepts[: c_off[1]], C)
        assert ref_idx.tolist() == idx


def test_corpus_edge_cases():
    rng = np.random.default_rng(4)
    desc = _unit(rng, 5, 8)
    concepts = _unit(rng, 4, 8)
    # class 1 has no concepts; a lone image with nothing else in the corpus
    out = select_concepts_corpus(desc, [2, 3], [0, 1], concepts, [4, 0], progress=False)
    assert out[1].indices.size == 0
    np.testing.assert_allclose(out[0].scores, infonce_scores(desc[:2], concepts, desc[2:]), rtol=1e-12)
    alone = select_concepts_corpus(desc[:2], [2], [0], concepts, [4], progress=False)
    np.testing.assert_allclose(alone[0].scores, 0.0, atol=1e-12)  # empty C: every term is log 1
    with pytest.raises(ValueError):
        select_concepts_corpus(desc, [2, 2], [0, 1], concepts, [4, 0], progress=False)


def test_concept_precision():
    assert concept_precision(["Red crown", "forked  tail"], ["red crown", "blue wing"]) == 0.5
    assert concept_precision([], ["red crown"]) == 0.0
    assert concept_precision(["a", "b"], ["a", "b", "c"]) == 1.0
