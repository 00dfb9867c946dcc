"""Which class does an answer name? Two rules, both reported (README "Accuracy: how an answer is read").

``paper_match`` is the published rule of evaluation and of rounds ≥ 2: keep letters, hyphens and
spaces, hyphen → space, lowercase, substring containment. It deletes digits, so on FGVC-Aircraft
"737-800" is reduced to a blank and matches almost any answer, and it credits a class that the
answer denies ("not a melanoma") or names beside another; we keep it byte for byte to reproduce
the paper's numbers. ``paper_keep_match`` is the published keep rule of step 3 (iteration 1), a
plain lowercase containment that keeps digits: "737-700" does not contain "737-800" there.

Ours (``SCORING_RULE``) reads the answer's verdict (``ClassReader.read``):

1. **Names.** Every class is known by its name and its aliases (``tasks/aliases/<task>.yaml``).
   Text is compared as normalized words (``normalize_label``): apostrophe-like characters
   (’ ʼ ‘ ´ ` ′) read as ', accents folded, lowercase, possessive "'s" dropped, punctuation →
   space, digits kept ("E190" = "E-190"), whole words only, a plural or possessive "s" tolerated.
   Where names overlap, the longest mention wins ("a Border collie" names "Border collie", not
   "collie").
2. **Negation.** A mention inside a negation scope does not count. A cue opens a scope that runs
   to the end of its clause: clausal cues ("not", "isn't", "never", "unlike", "rather than",
   "instead of", "ruled out", "other than", "similar to", "compared with", ...) stop at a comma;
   list cues ("no", "without", "neither"/"nor", "free of", "absence of", "lack of", "negative
   for") run on through a comma-separated list, unless the comma starts a new clause ("it", "this",
   "the", "which", "and", ...). Every scope stops at ". ! ? ; : ( )", a new line and at "but",
   "however", "although", "though", "whereas", "while", "yet". A mention followed in its clause by
   "is ruled out", "is absent", "is unlikely", "is not seen/present/likely/..." is negated too.
   A "no" directly followed by punctuation ("No, it is ...") is an answer word, not a cue.
3. **Verdict.** If a concluding sentence ("therefore", "thus", "hence", "in conclusion",
   "in summary", "the answer is", "final answer") names exactly one class, the last such sentence
   gives the verdict; otherwise every class the answer names (not negated) must be the same one.
   No class named, or two classes named, is no verdict — and wrong.
4. **Two-part names** (PLD's "<crop> <disease>"): an answer names such a class when it names its
   disease and its crop anywhere, in either order, or names a disease that only one class has
   while naming no crop.

``match(answer, label)`` is true when the verdict is ``label``. ``confusers_for`` lists the longer
class names that contain a label, for callers that know one label and not the whole class list.
"""
from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping, Sequence

SCORING_RULE = "match-v2"  # bump when a change can flip a verdict; recorded in every metrics.json

_PAPER_DROP = re.compile(r"[^a-zA-Z\- ]")
APOSTROPHE_LIKE = "\u2019\u02bc\u2018\u00b4`\u2032"  # ’ ʼ ‘ ´ ` ′
_APOSTROPHES = str.maketrans({c: "'" for c in APOSTROPHE_LIKE})
_POSSESSIVE = re.compile(r"(?<=\w)'s\b")
_LETTER_DIGIT = re.compile(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def _paper_normalize(text: str) -> str:
    return _PAPER_DROP.sub("", text).replace("-", " ").lower()


def paper_match(answer: str, label: str) -> bool:
    """The published rule, verbatim in behaviour (including its digit blindness)."""
    return _paper_normalize(label) in _paper_normalize(answer)


def paper_keep_match(answer: str, label: str) -> bool:
    """The published step-3 keep rule: ``label.lower() in answer.lower()``, nothing removed (digits,
    punctuation and hyphens count), unlike ``paper_match``."""
    return label.lower() in answer.lower()


def paper_keep_ratio(answer: str, label: str) -> float:
    """The published step-3 near-miss measure: difflib ratio of the lowercased label against the
    whole lowercased answer, nothing else normalized."""
    import difflib

    return difflib.SequenceMatcher(None, label.lower(), answer.lower()).ratio()


def normalize_apostrophes(text: str) -> str:
    """Every apostrophe-like character (’ ʼ ‘ ´ ` ′) as a plain apostrophe."""
    return text.translate(_APOSTROPHES)


def _fold(text: str) -> str:
    # apostrophes first: NFKD turns "´" into a space and a combining accent
    text = unicodedata.normalize("NFKD", normalize_apostrophes(text))
    return "".join(ch for ch in text if not unicodedata.combining(ch)).lower()


def normalize_label(text: str) -> str:
    """Lowercase, accents folded, possessive "'s" dropped, punctuation → space, digits kept.

    Letter/digit boundaries become spaces so "E190", "E-190" and "E 190" normalize alike.
    """
    text = _POSSESSIVE.sub("", _fold(text)).replace("'", "")
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


@lru_cache(maxsize=None)
def _label_regex(normalized: str) -> re.Pattern[str] | None:
    tokens = normalized.split()
    if not tokens:
        return None
    body = " ".join(_token_pattern(t, i == len(tokens) - 1) for i, t in enumerate(tokens))
    return re.compile(rf"(?:^| ){body}(?= |$)")


# -- the answer as words, with sentence and clause boundaries -------------------------------------
_RAW_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")
_SENTENCE_GAP = re.compile(r"[.!?]+['\")\]]*(?:\s|$)|[!?]|\n")
_HARD_GAP = re.compile(r"[;:()\[\]{}]|\s[-\u2013\u2014]+\s|[\u2013\u2014]")
_ABBREVIATIONS = frozenset({"st", "mt", "dr", "mr", "mrs", "ms", "vs", "e", "g", "i", "approx", "fig", "sp", "spp"})
# words that open a new clause: they end every negation scope
CONTRAST_WORDS = frozenset({"but", "however", "although", "though", "whereas", "while", "yet"})
# after a comma, these start a new clause, ending a list cue's scope
CLAUSE_STARTS = frozenset({"it", "its", "this", "that", "these", "those", "there", "the", "which", "who", "so", "as",
                           "because", "since", "and", "i", "we", "they", "he", "she", "thus", "therefore", "hence"})
CLAUSAL_CUES = (
    "not", "isnt", "arent", "wasnt", "werent", "doesnt", "dont", "didnt", "cannot", "cant", "couldnt", "wont",
    "wouldnt", "shouldnt", "hasnt", "havent", "hadnt", "aint", "never", "unlike", "rather than", "instead of",
    "ruled out", "rule out", "rules out", "ruling out", "excluding", "except", "other than", "as opposed to",
    "unlikely", "unlikely to be", "differs from", "different from", "distinguished from", "confused with",
    "mistaken for", "similar to", "compared to", "compared with", "in contrast to", "contrary to",
)
LIST_CUES = ("no", "without", "neither", "nor", "free of", "absence of", "lack of", "lacks", "lacking", "negative for")
_POST_CUE = re.compile(
    r"^(?:(?:is|are|was|were|be|been|being|has been|have been|can be|could be|may be|seems|seem|appears|appear) )?"
    r"(?:(?:not|isnt|arent|wasnt|werent|doesnt|dont|cannot|no longer) (?:\w+ )?"
    r"(?:present|seen|visible|evident|observed|detected|likely|the case|supported|indicated|suggested|shown|found|apparent|identified|confirmed)"
    r"|ruled out|excluded|absent|unlikely|less likely|improbable)(?: |$)"
)
CONCLUSION_CUES = ("therefore", "thus", "hence", "in conclusion", "in summary", "the answer is", "final answer")
_CONCLUSIONS = frozenset(normalize_label(c) for c in CONCLUSION_CUES)


@dataclass
class _Words:
    """The normalized words of a text and, per word, the ids of the units it belongs to."""

    words: list[str] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)  # char offset of each word in ``text``
    sentence: list[int] = field(default_factory=list)
    clause: list[int] = field(default_factory=list)  # ends at commas too (clausal cues)
    list_clause: list[int] = field(default_factory=list)  # runs through list commas (list cues)
    punct_after: list[bool] = field(default_factory=list)  # punctuation right after the word
    text: str = ""  # the words joined by single spaces

    def at(self, char: int) -> int:
        return bisect_right(self.starts, char) - 1

    def phrase(self, i: int, j: int) -> str:
        return " ".join(self.words[i:j])


def _words(answer: str) -> _Words:
    folded = _fold(answer)
    out = _Words()
    sentence = clause = list_clause = 0
    prev_end, prev_raw = 0, ""
    for m in _RAW_TOKEN.finditer(folded):
        gap = folded[prev_end:m.start()]
        if out.words:
            out.punct_after[-1] = bool(re.search(r"[^\s\w'-]", gap))
            if _SENTENCE_GAP.search(gap) and not (gap.strip() == "." and prev_raw in _ABBREVIATIONS):
                sentence, clause, list_clause = sentence + 1, clause + 1, list_clause + 1
            elif _HARD_GAP.search(gap):
                clause, list_clause = clause + 1, list_clause + 1
            elif "," in gap:
                clause += 1
        raw = m.group(0)
        word = raw[:-2] if raw.endswith("'s") else raw
        word = word.replace("'", "")
        parts = [p for p in _LETTER_DIGIT.split(word) if p]
        if parts and parts[0] in CONTRAST_WORDS:
            clause, list_clause = clause + 1, list_clause + 1
        elif parts and "," in gap and parts[0] in CLAUSE_STARTS:
            list_clause += 1
        for part in parts:
            out.starts.append(len(out.text) + (1 if out.text else 0))
            out.text = f"{out.text} {part}" if out.text else part
            out.words.append(part)
            out.sentence.append(sentence)
            out.clause.append(clause)
            out.list_clause.append(list_clause)
            out.punct_after.append(False)
        prev_end, prev_raw = m.end(), raw
    if out.words:
        out.punct_after[-1] = True  # the end of the text
    return out


def _first_word_forms(phrase: str) -> set[str]:
    """The words a phrase's pattern accepts in its first place (``_token_pattern``)."""
    tokens = phrase.split()
    first = tokens[0]
    if not first.isalpha():
        return {first}
    if len(tokens) == 1:
        return {first, first + "s", first + "es"}
    if first.endswith("s") and len(first) > 3:
        return {first, first[:-1]}
    return {first, first + "s"}


@lru_cache(maxsize=256)
def _phrase_index(phrases: frozenset[str]) -> dict[str, list[str]]:
    """First-word form → the phrases that can start with it."""
    index: dict[str, list[str]] = {}
    for phrase in phrases:
        if phrase:
            for form in _first_word_forms(phrase):
                index.setdefault(form, []).append(phrase)
    return index


def _find(phrases: Iterable[str], words: _Words) -> list[tuple[int, int, str]]:
    """(first word, end word, phrase) of every occurrence of the normalized phrases: each word of
    the text is looked up by its form, and only the phrases that can start there are tried."""
    index = _phrase_index(frozenset(phrases))
    found = []
    for position, word in enumerate(words.words):
        for phrase in index.get(word, ()):
            start = words.starts[position]
            m = _label_regex(phrase).match(words.text, start - 1 if start else 0)
            if m is not None:
                found.append((position, words.at(m.end() - 1) + 1, phrase))
    return found


_CUE_PHRASES = {normalize_label(c): "clausal" for c in CLAUSAL_CUES} | {normalize_label(c): "list" for c in LIST_CUES}
_CUES = frozenset(_CUE_PHRASES)


def _cues(words: _Words) -> list[tuple[int, int, str, str]]:
    """(first word, end word, cue, kind) of every negation cue; an answer-word "no" is not one."""
    cues = []
    for start, end, phrase in _find(_CUES, words):
        if phrase == "no" and words.punct_after[start]:
            continue
        cues.append((start, end, phrase, _CUE_PHRASES[phrase]))
    return cues


def _negated_by(i: int, j: int, words: _Words, cues: Sequence[tuple[int, int, str, str]]) -> str | None:
    """The cue whose scope holds the mention at words [i, j), if any."""
    for start, end, phrase, kind in cues:
        if end > i or words.sentence[start] != words.sentence[i]:
            continue  # cues inside or after the mention, or in another sentence
        scope = words.clause if kind == "clausal" else words.list_clause
        if scope[start] == scope[i]:
            return phrase
    after = [k for k in range(j, min(j + 8, len(words.words))) if words.clause[k] == words.clause[i]]
    if after:
        post = _POST_CUE.match(words.phrase(after[0], after[-1] + 1))
        if post:
            return post.group(0).strip()
    return None


# -- readers ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mention:
    """One name found in an answer: what it names (a class, or a part of a two-part name)."""

    names: str  # a class name, or "crop: tomato" / "disease: late blight" for a part
    text: str  # the normalized words matched
    sentence: int
    negated_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"names": self.names, "text": self.text, "sentence": self.sentence, "negated_by": self.negated_by}


@dataclass(frozen=True)
class Reading:
    """What a rule reads from an answer: the class of its verdict (None: no verdict) and why."""

    verdict: str | None
    reason: str
    mentions: tuple[Mention, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "reason": self.reason, "mentions": [m.as_dict() for m in self.mentions]}


_CLASS, _HOST, _CONDITION = "class", "crop", "disease"


class ClassReader:
    """Our rule over one task's classes (module doc). ``names``: class → aliases; ``parts``:
    class → (crop, disease) for two-part names, with ``part_aliases`` {"crop"|"disease": {part:
    aliases}}."""

    rule = SCORING_RULE

    def __init__(self, names: Mapping[str, Sequence[str]], parts: Mapping[str, tuple[str, str]] | None = None,
                 part_aliases: Mapping[str, Mapping[str, Sequence[str]]] | None = None):
        self.classes = list(names)
        # normalized phrase → what it names; a phrase may name several things (then it is ambiguous)
        self._terms: dict[str, list[tuple[str, str]]] = {}
        for label, aliases in names.items():
            for spelling in (label, *aliases):
                self._add(spelling, _CLASS, label)
        self._parts = {c: (normalize_label(h), normalize_label(d)) for c, (h, d) in (parts or {}).items()}
        aliases_of = {kind: {normalize_label(k): v for k, v in table.items()} for kind, table in (part_aliases or {}).items()}
        for crop, disease in self._parts.values():
            for kind, part in ((_HOST, crop), (_CONDITION, disease)):
                for spelling in (part, *aliases_of.get(kind, {}).get(part, ())):
                    self._add(spelling, kind, part)
        diseases = [d for _, d in self._parts.values()]
        self._unique_disease = {d for d in diseases if diseases.count(d) == 1}
        self._phrases = frozenset(self._terms)

    def _add(self, spelling: str, kind: str, key: str) -> None:
        phrase = normalize_label(spelling)
        if phrase and (kind, key) not in self._terms.setdefault(phrase, []):
            self._terms[phrase].append((kind, key))

    # -- reading -----------------------------------------------------------------------------------
    def mentions(self, answer: str) -> list[tuple[Mention, str, str]]:
        """Every mention after overlap resolution, in text order, with its (kind, key)."""
        return self._mentions(_words(answer))

    def _mentions(self, words: _Words) -> list[tuple[Mention, str, str]]:
        if not words.words:
            return []
        found = sorted(_find(self._phrases, words), key=lambda f: (-(f[1] - f[0]), f[0]))
        kept: list[tuple[int, int, str]] = []
        for start, end, phrase in found:
            # the longest mention wins; the same span found twice (one phrase, two names) stays
            if any(start < e and s < end and (s, e) != (start, end) for s, e, _ in kept):
                continue
            kept.append((start, end, phrase))
        cues = _cues(words)
        out = []
        for start, end, phrase in sorted(kept):
            negated = _negated_by(start, end, words, cues)
            for kind, key in self._terms[phrase]:
                shown = key if kind == _CLASS else f"{kind}: {key}"
                out.append((Mention(shown, words.phrase(start, end), words.sentence[start], negated), kind, key))
        return out

    def _named(self, affirmed: Iterable[tuple[str, str]]) -> list[str]:
        affirmed = set(affirmed)
        named = {key for kind, key in affirmed if kind == _CLASS}
        crops = {key for kind, key in affirmed if kind == _HOST}
        diseases = {key for kind, key in affirmed if kind == _CONDITION}
        for label, (crop, disease) in self._parts.items():
            if disease in diseases and (crop in crops or (not crops and disease in self._unique_disease)):
                named.add(label)
        return [c for c in self.classes if c in named]

    def read(self, answer: str) -> Reading:
        words = _words(answer)
        found = self._mentions(words)
        mentions = tuple(m for m, _, _ in found)
        affirmed = [(m, kind, key) for m, kind, key in found if m.negated_by is None]
        concluding = {words.sentence[s] for s, _, _ in _find(_CONCLUSIONS, words)}
        for sentence in sorted(concluding, reverse=True):
            named = self._named((kind, key) for m, kind, key in affirmed if m.sentence == sentence)
            if len(named) == 1:
                return Reading(named[0], f"the concluding sentence names {named[0]!r}", mentions)
        named = self._named((kind, key) for _, kind, key in affirmed)
        if len(named) == 1:
            return Reading(named[0], f"names {named[0]!r}", mentions)
        if named:
            return Reading(None, "names several classes: " + ", ".join(repr(n) for n in named), mentions)
        if any(m.negated_by for m in mentions):
            return Reading(None, "names no class that it does not negate", mentions)
        return Reading(None, "names no class", mentions)

    def match(self, answer: str, label: str) -> bool:
        return self.read(answer).verdict == label

    # -- the published rule, for side-by-side reports ----------------------------------------------
    def paper_match(self, answer: str, label: str) -> bool:
        return paper_match(answer, label)

    def paper_classes(self, answer: str) -> list[str]:
        """Every class the published rule credits for this answer (it can credit several)."""
        return [c for c in self.classes if paper_match(answer, c)]


_ANSWER_WORDS = {"yes": True, "yeah": True, "yep": True, "no": False, "nope": False}
_STATED_ANSWER = re.compile(r"(?:^|\b(?:answer|verdict) is )(yes|yeah|yep|no|nope)(?: |$)")


class YesNoReader:
    """Our rule for a yes/no question about one class ("does this X-ray show pneumonia?"):
    "yes" reads as ``yes_class``, "no" as ``no_class``. Signals: the answer's leading yes/no word
    (or "the answer is yes/no"), and what ``classes`` reads — naming ``no_class``, or naming
    ``yes_class`` only under negation, says no. Signals that disagree give no verdict. Every signal
    is a whole word (``_words``): "no" inside "diagnosis", "not", "normal" or "know" is never read."""

    rule = SCORING_RULE + "/yes-no"

    def __init__(self, classes: ClassReader, yes_class: str, no_class: str):
        self.inner = classes
        self.yes_class, self.no_class = yes_class, no_class
        self.classes = [yes_class, no_class]

    def read(self, answer: str) -> Reading:
        words = _words(answer)
        first = words.phrase(0, max((k for k in range(len(words.words)) if words.sentence[k] == 0), default=-1) + 1)
        stated = _STATED_ANSWER.search(first)
        said = _ANSWER_WORDS[stated.group(1)] if stated else None
        inner = self.inner.read(answer)
        found = inner.verdict
        if found is None and inner.mentions and all(m.negated_by for m in inner.mentions) \
                and any(m.names == self.yes_class for m in inner.mentions):
            found = self.no_class  # only denials of the finding: "does not show pneumonia"
        finding = None if found is None else found == self.yes_class
        if said is not None and finding is not None and said != finding:
            return Reading(None, f"answers {'yes' if said else 'no'} but {inner.reason}", inner.mentions)
        verdict = said if said is not None else finding
        if verdict is None:
            return Reading(None, "says neither yes nor no; " + inner.reason, inner.mentions)
        label = self.yes_class if verdict else self.no_class
        how = f"answers {'yes' if said else 'no'}" if said is not None else (
            inner.reason if inner.verdict is not None else f"only denies {self.yes_class!r}")
        return Reading(label, f"{how} → {label!r}", inner.mentions)

    def match(self, answer: str, label: str) -> bool:
        return self.read(answer).verdict == label

    def paper_match(self, answer: str, label: str) -> bool:
        """The released evaluation has one scorer for every dataset, chest X-rays included: the
        class name (digit-deleting containment, ``paper_match``) in the answer. It never looks for
        "yes" or "no": "Yes, the diagnosis is pneumonia." credits Pneumonia only, "There is no
        pneumonia." credits Pneumonia too, and "abnormal" credits Normal."""
        return paper_match(answer, label)

    def paper_classes(self, answer: str) -> list[str]:
        return [c for c in self.classes if self.paper_match(answer, c)]


@lru_cache(maxsize=4096)
def _reader_for(label: str, aliases: tuple[str, ...], confusers: tuple[str, ...]) -> ClassReader:
    names: dict[str, Sequence[str]] = {label: aliases}
    for other in confusers:
        names.setdefault(other, ())
    return ClassReader(names)


def match(answer: str, label: str, aliases: Sequence[str] = (), confusers: Sequence[str] = ()) -> bool:
    """True if the verdict of ``answer`` is ``label`` (or one of its ``aliases``), with only
    ``confusers`` (other class names that contain the label) known besides it. A task's reader
    (``Task.answer_reader``) knows every class, so it also catches answers naming two classes."""
    return _reader_for(label, tuple(aliases), tuple(confusers)).match(answer, label)


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
