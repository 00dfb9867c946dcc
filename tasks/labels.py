"""Does an answer name the label? Two rules, both reported (DESIGN §3).

``paper_match`` is the published rule: keep letters, hyphens and spaces, hyphen → space,
lowercase, substring containment. It deletes digits, so on FGVC-Aircraft "737-800" is reduced
to a blank and matches almost any answer; we keep it only to reproduce the paper's numbers.

``match`` is ours: digit-preserving normalization (``normalize_label``), whole-word matching,
per-class aliases, tolerance for dropped or added possessive/plural "s", and optional
"confusers" (longer class names that contain the label, e.g. "Border collie" vs "collie").
"""
from __future__ import annotations

import re
import unicodedata
from typing import Callable, Iterable, Sequence

_PAPER_DROP = re.compile(r"[^a-zA-Z\- ]")
_POSSESSIVE = re.compile(r"(?<=\w)['’`]s\b")
_APOSTROPHE = re.compile(r"['’`]")
_LETTER_DIGIT = re.compile(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def _paper_normalize(text: str) -> str:
    return _PAPER_DROP.sub("", text).replace("-", " ").lower()


def paper_match(answer: str, label: str) -> bool:
    """The published rule, verbatim in behaviour (including its digit blindness)."""
    return _paper_normalize(label) in _paper_normalize(answer)


def normalize_label(text: str) -> str:
    """Lowercase, accents folded, possessive "'s" dropped, punctuation → space, digits kept.

    Letter/digit boundaries become spaces so "E190", "E-190" and "E 190" normalize alike.
    """
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = _POSSESSIVE.sub("", text)
    text = _APOSTROPHE.sub("", text)
    text = _LETTER_DIGIT.sub(" ", text)
    return _NON_ALNUM.sub(" ", text).strip()


def _token_pattern(token: str, last: bool) -> str:
    if not token.isalpha():
        return re.escape(token)
    if last:
        # plurals: "chihuahuas", "finches"
        return re.escape(token) + "(?:s|es)?"
    # dropped or added possessive: label "Anna Hummingbird" vs "Annas Hummingbird",
    # label "Forsters Tern" vs "Forster's Tern" (normalized to "forster tern")
    if token.endswith("s") and len(token) > 3:
        return re.escape(token[:-1]) + "s?"
    return re.escape(token) + "s?"


def _label_regex(normalized: str) -> re.Pattern[str] | None:
    tokens = normalized.split()
    if not tokens:
        return None
    body = " ".join(_token_pattern(t, i == len(tokens) - 1) for i, t in enumerate(tokens))
    return re.compile(rf"(?:^| ){body}(?= |$)")


def _mask(normalized_answer: str, confusers: Iterable[str]) -> str:
    for other in sorted({normalize_label(c) for c in confusers}, key=len, reverse=True):
        pattern = _label_regex(other)
        if pattern is not None:
            # keep the separating space so neighbouring words stay apart
            normalized_answer = pattern.sub(lambda m: " " + "#" * (len(m.group(0)) - 1), normalized_answer)
    return normalized_answer


def match(answer: str, label: str, aliases: Sequence[str] = (), confusers: Sequence[str] = ()) -> bool:
    """True if ``answer`` names ``label`` (or one of its ``aliases``) as whole words.

    ``confusers``: other class names that contain the label; their mentions are masked first so
    "a Border collie" does not count as naming "collie".
    """
    normalized = normalize_label(answer)
    if confusers:
        normalized = _mask(normalized, confusers)
    for name in (label, *aliases):
        pattern = _label_regex(normalize_label(name))
        if pattern is not None and pattern.search(normalized):
            return True
    return False


def confusers_for(label: str, class_names: Sequence[str], aliases: Callable[[str], Sequence[str]] | None = None) -> tuple[str, ...]:
    """Names of *other* classes (and their aliases) that contain ``label`` as whole words."""
    own = {normalize_label(n) for n in (label, *(aliases(label) if aliases else ()))}
    out: list[str] = []
    for other in class_names:
        if other == label:
            continue
        for name in (other, *(aliases(other) if aliases else ())):
            norm = normalize_label(name)
            if norm in own:
                continue
            if any(_label_regex(o) is not None and _label_regex(o).search(norm) for o in own if o):
                out.append(name)
    return tuple(dict.fromkeys(out))
