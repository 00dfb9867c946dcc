"""``local``: an offline, deterministic, embedding-based *proxy* for the EE and CS judges.

It is named ``local-proxy`` in every output: it approximates what an LLM judge grades with
sentence-embedding similarities (``selfsynth.embed.TextEncoder``, all-MiniLM-L6-v2 by default), and
its numbers are comparable with each other, not with an LLM judge's.

The rule (version ``LOCAL_RUBRIC_VERSION``; its parameters are hashed into ``prompt_hash``):

1. **Claims.** The answer is lower-cased (apostrophe-like characters read as '), every class name
   of the task (the record's label and ``JudgeContext.label_names``) is deleted — before any
   splitting, so a name such as "black-and-tan coonhound" is never cut at its "and" — and the rest
   is cut into sentences (``. ! ? ; :`` and newlines), then into clauses at commas and at
   connectives (and, because, with, which, ...), so "a red crown and a short beak" gives one
   clause per attribute. In each clause every filler word (a fixed stop-word list, and the words
   of the question) is deleted. What is left, words in order, is the clause's *claim*; a clause
   with nothing left only states a label ("This bird is a Crimson Finch.") or is filler. A claim
   with a negation word ("no red crown", "does not have a short beak"), or a clause that continues
   a denial with "or", "nor" or "with" ("no red crown or short beak"), is *negated*: it is
   compared with the concepts without its negation words, and step 4 never counts it as
   consistent (a proxy that knows only what an image shows cannot confirm an absence).
2. **Attribute claims.** A claim is embedded and compared (cosine) with every known concept: the
   image's reference concepts plus ``JudgeContext.concept_pool`` (other classes' / other images'
   concepts). It counts as naming a visual attribute when its best similarity is at least
   ``attribute_threshold`` (0.5: on MiniLM, part-and-value claims such as "forked tail" score
   0.7–1.0 against concepts of the same part, while filler such as "sure", "beautiful" or a class
   name stays below 0.5).
3. **EE** = 1 when the answer has at least one attribute claim, else 0.
4. **CS** = the fraction of attribute claims that are not negated and whose nearest known concept
   is one of the image's reference concepts (rather than a concept of the pool that the image
   does not have); 0 when
   there is no attribute claim. The pool is what makes a wrong attribute ("short beak" on a
   long-beaked bird) lose: on its own, "short beak" is still 0.88-similar to "long beak". With
   an empty pool every attribute claim would count as consistent, so the CLI always passes the
   task's concept pool and the record's detail says how many contrast concepts there were.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from selfsynth.cache import canonical_json
from selfsynth.config import field
from selfsynth.tasks.labels import normalize_apostrophes
from selfsynth.metrics.judges.base import (
    PARSE_ERROR,
    Judge,
    JudgeContext,
    JudgeItem,
    Verdict,
    text_hash,
)

LOCAL_RUBRIC_VERSION = "local-proxy-v2"

_SENTENCES = re.compile(r"[.!?;:\n]+")
_CLAUSES = re.compile(r",|\b(?:and|or|but|because|since|as|while|whereas|which|with|so|due to|given that|thanks to)\b")
_WORDS = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")
# a denial runs on into the next clause when that clause starts with one of these
# ("no red crown or short beak", "not a bird with a yellow crown"), not after a comma
_NEGATION_CARRIERS = frozenset({"or", "nor", "with"})
# a claim holding one of these (apostrophes dropped) denies its attribute
NEGATION_WORDS = frozenset(
    ["no", "not", "never", "none", "without", "neither", "nor", "lacks", "lack", "lacking", "absent", "cannot", "isnt",
     "arent", "wasnt", "werent", "doesnt", "dont", "didnt", "hasnt", "havent", "hadnt", "cant", "wont", "nt"]
)

# Words that carry no visual attribute in an answer. Negations ("no", "not") are kept on purpose:
# "no red crown" must not read as "red crown" with a filler word dropped.
FILLER_WORDS = frozenset(
    ["a", "an", "the", "this", "that", "these", "those", "it", "its", "it's", "is", "are", "was", "were", "be", "been", "being", "has", "have", "had", "having", "of", "in", "on", "at", "to", "from", "by", "for", "into", "onto", "about", "over", "under", "near", "i", "we", "you", "he", "she", "they", "me", "my", "our", "your", "their", "them", "his", "her", "do", "does", "did", "can", "could", "would", "should", "may", "might", "must", "will", "shall", "there", "here", "what", "which", "who", "whom", "whose", "how", "why", "when", "where", "very", "quite", "also", "just", "only", "then", "than", "such", "some", "any", "based", "answer", "explanation", "explain", "reason", "reasons", "therefore", "thus", "hence", "image", "picture", "photo", "photograph", "shown", "show", "shows", "see", "seen", "visible", "appear", "appears", "look", "looks", "looking", "seem", "seems", "likely", "probably", "possibly", "clearly", "certainly", "call", "called", "name", "named", "known", "identified", "identify", "identifies", "classified", "class", "species", "kind", "type"]
)


@dataclass
class LocalJudgeConfig:
    encoder: str = field("all-MiniLM-L6-v2", help="text encoder (selfsynth.embed): a known name, local folder or cached hub id")
    attribute_threshold: float = field(0.5, help="a claim names a visual attribute when its cosine similarity to the nearest known concept is at least this")
    batch_size: int = field(64, help="texts per encoder batch")


def _normalize(text: str) -> str:
    return re.sub(r"\s+", " ", normalize_apostrophes(text).lower().replace("_", " ")).strip()


def negation_of(claim: str) -> tuple[str | None, str]:
    """(the negation word of ``claim`` or None, the claim without its negation words)."""
    words = claim.split()
    cues = [w for w in words if w.replace("'", "") in NEGATION_WORDS]
    return (cues[0] if cues else None), " ".join(w for w in words if w.replace("'", "") not in NEGATION_WORDS)


def _label_pattern(names: Sequence[str]) -> re.Pattern[str] | None:
    """One regex for every class name, longest first, spaces/hyphens interchangeable."""
    phrases = sorted({_normalize(n) for n in names if n and n.strip()}, key=len, reverse=True)
    if not phrases:
        return None
    parts = [r"[\s-]+".join(re.escape(w) for w in re.split(r"[\s-]+", p)) for p in phrases]
    return re.compile(r"\b(?:" + "|".join(parts) + r")\b")


def extract_claims(answer: str, question: str, label_names: Sequence[str]) -> list[str]:
    """The non-empty claims of an answer (step 1 of the module's rule), in order."""
    labels = _label_pattern(label_names)
    question_words = set(_WORDS.findall(_normalize(question)))
    claims = []
    text = _normalize(answer)
    if labels is not None:
        text = labels.sub(" ", text)
    for sentence in _SENTENCES.split(text):
        pieces = re.split(f"({_CLAUSES.pattern})", sentence)  # clause, connective, clause, ...
        carried = None
        for k in range(0, len(pieces), 2):
            connective = pieces[k - 1].strip() if k else ""
            words = [w for w in _WORDS.findall(pieces[k]) if w not in FILLER_WORDS and w not in question_words]
            cue, _ = negation_of(" ".join(words))
            if cue is None and carried and connective in _NEGATION_CARRIERS and words:
                words = [carried, *words]  # "not a red crown or a short beak": both denied
                cue = carried
            carried = cue if connective in _NEGATION_CARRIERS or cue else None
            if words:
                claims.append(" ".join(words))
    return claims


class LocalJudge(Judge):
    """offline embedding-similarity proxy for EE/CS (all-MiniLM-L6-v2); reported as local-proxy"""

    name = "local-proxy"
    proxy = True
    config_class = LocalJudgeConfig

    def __init__(self, config: LocalJudgeConfig | None = None, cache=None):
        super().__init__(config, cache)
        from selfsynth.embed import TextEncoder

        self.encoder = TextEncoder(self.config.encoder, batch_size=self.config.batch_size)

    @property
    def model_id(self) -> str:
        return self.encoder.fingerprint

    @property
    def rubric_version(self) -> str:
        return LOCAL_RUBRIC_VERSION

    @property
    def prompt_hash(self) -> str:
        rule = {
            "sentences": _SENTENCES.pattern,
            "clauses": _CLAUSES.pattern,
            "words": _WORDS.pattern,
            "filler": sorted(FILLER_WORDS),
            "negation": sorted(NEGATION_WORDS),
            "negation_carriers": sorted(_NEGATION_CARRIERS),
            "labels": "deleted before splitting",
        }
        return text_hash(LOCAL_RUBRIC_VERSION, canonical_json(rule))

    def settings(self) -> dict[str, Any]:
        return {"attribute_threshold": self.config.attribute_threshold}

    def uses_context(self) -> bool:
        return True

    def _run(self, items: Sequence[JudgeItem], context: JudgeContext, progress: bool,
             store: Callable[[int, dict[str, Any]], None]) -> None:
        claims_of = [extract_claims(it.answer, it.question, (it.label, *context.label_names)) for it in items]
        asserted = {claim: negation_of(claim) for claims in claims_of for claim in claims}
        texts = list(dict.fromkeys([*context.concept_pool, *(c for it in items for c in it.concepts),
                                    *(text for _, text in asserted.values() if text)]))
        vectors = self.encoder.encode(texts, progress=progress, desc="local judge") if texts else np.zeros((0, 0), np.float32)
        row = {text: i for i, text in enumerate(texts)}
        pool = list(dict.fromkeys(context.concept_pool))  # ordered, so ties resolve the same way every run
        for position, (item, claims) in enumerate(zip(items, claims_of)):
            reference = list(dict.fromkeys(item.concepts))
            reference_set = set(reference)
            contrast = [c for c in pool if c not in reference_set]
            ref_vecs = vectors[[row[c] for c in reference]]
            con_vecs = vectors[[row[c] for c in contrast]] if contrast else None
            scored = []
            for claim in claims:
                negated_by, text = asserted[claim]
                if not text:  # only a negation word ("No, ..."): nothing to compare
                    scored.append({"claim": claim, "negated_by": negated_by, "reference": None, "reference_similarity": -1.0})
                    continue
                v = vectors[row[text]]
                ref_sims = ref_vecs @ v
                best_ref = int(np.argmax(ref_sims))
                entry = {"claim": claim, "negated_by": negated_by, "reference": reference[best_ref],
                         "reference_similarity": round(float(ref_sims[best_ref]), 6)}
                if con_vecs is not None:
                    con_sims = con_vecs @ v
                    best_con = int(np.argmax(con_sims))
                    entry.update({"contrast": contrast[best_con], "contrast_similarity": round(float(con_sims[best_con]), 6)})
                scored.append(entry)
            store(position, {"claims": scored, "contrast_concepts": len(contrast)})

    def _verdict(self, raw: dict[str, Any], item: JudgeItem) -> Verdict:
        claims = raw.get("claims")
        if not isinstance(claims, list) or not all(isinstance(c, dict) and "reference_similarity" in c for c in claims):
            return Verdict(None, None, status=PARSE_ERROR, error="cached local-proxy result has no claims list")
        threshold = self.config.attribute_threshold
        attribute_claims = []
        for claim in claims:
            best = max(claim["reference_similarity"], claim.get("contrast_similarity", -1.0))
            if best >= threshold:
                consistent = claim.get("negated_by") is None and claim["reference_similarity"] >= claim.get("contrast_similarity", -1.0)
                attribute_claims.append({**claim, "consistent": consistent})
        consistent_count = sum(c["consistent"] for c in attribute_claims)
        ee = 1 if attribute_claims else 0
        cs = consistent_count / len(attribute_claims) if attribute_claims else 0.0
        detail = {
            "attribute_claims": attribute_claims,
            "other_claims": [c["claim"] for c in claims if max(c["reference_similarity"], c.get("contrast_similarity", -1.0)) < threshold],
            "contrast_concepts": raw.get("contrast_concepts", 0),
        }
        return Verdict(ee, cs, detail=detail)
