"""Local judge: negated claims are never consistent; class names are deleted before clauses are cut,
so every class name of every task, said alone, is no explanation (EE 0). Concepts-file keys keep
FGVC labels whole."""
from __future__ import annotations

import pytest

from selfsynth.api import build_task
from selfsynth.cache import ResponseCache
from selfsynth.metrics.judges.base import JudgeContext, JudgeItem
from selfsynth.metrics.judges.local import LocalJudge, extract_claims, negation_of
from selfsynth.synth.concepts import key_class_name

from tests.fixtures_datasets import PLANTVILLAGE_FOLDERS

QUESTION = "Based on the visual content, what is the specific name of this bird? Provide an explanation."
TRUE_CONCEPTS = ("yellow crown", "green wings", "forked tail", "long beak")
POOL = TRUE_CONCEPTS + ("red crown", "blue wings", "pointed tail", "short beak")

# class names with a connective inside (the clause splitter cuts at "and", "or", "with", ...)
NAMES_WITH_CONNECTIVES = ["black-and-tan coonhound", "Black and Tan Coonhound", "Spider mites Two-spotted spider mite",
                          "Cercospora leaf spot Gray leaf spot", "Benign keratosis-like lesions", "Chuck will Widow"]
# a few visual concepts per domain: the contrast pool the CLI would pass
DOMAIN_CONCEPTS = {
    "bird": ("red crown", "long curved beak", "white wing bars", "forked tail"),
    "dog": ("long floppy ears", "black and tan coat", "curled tail", "short muzzle"),
    "aircraft": ("four engines under the wings", "T-shaped tail", "winglets", "twin-engine turboprop"),
    "leaf": ("brown lesions with yellow halos", "white powdery coating", "mottled yellow-green leaf", "curled leaf edges"),
    "skin_lesion": ("irregular pigment network", "blue-white veil", "symmetric brown dot", "arborizing vessels"),
    "chest_xray": ("patchy opacity in the right lower lobe", "clear lung fields", "air bronchograms", "sharp costophrenic angles"),
    "toy": ("red crown", "short beak", "blue crown", "thin beak"),
}


@pytest.fixture(scope="module")
def judge(tmp_path_factory):
    return LocalJudge(cache=ResponseCache(tmp_path_factory.mktemp("judge") / "cache.sqlite"))


@pytest.mark.parametrize("claim, cue, text", [
    ("no red crown", "no", "red crown"),
    ("not short beak", "not", "short beak"),
    ("doesn't long tail", "doesn't", "long tail"),
    ("without wing bars", "without", "wing bars"),
    ("red crown", None, "red crown"),
])
def test_negation_of_a_claim(claim, cue, text):
    assert negation_of(claim) == (cue, text)


@pytest.mark.parametrize("answer, ee, cs", [
    ("This is a Thistle Warbler: it has no red crown.", 1, 0.0),
    ("A Thistle Warbler, because it does not have a short beak.", 1, 0.0),
    ("A Thistle Warbler with a yellow crown, and it does not have a short beak.", 1, 0.5),
    ("A Thistle Warbler with a yellow crown and a forked tail.", 1, 1.0),
    ("It isn\u2019t a bird with a yellow crown.", 1, 0.0),  # a denied true concept is not consistent either
    ("A Thistle Warbler; it does not have a red crown or a short beak.", 1, 0.0),
    ("A Thistle Warbler: no red crown, but a yellow crown and a forked tail.", 1, 2 / 3),
])
def test_negated_claims_are_never_consistent(judge, answer, ee, cs):
    item = JudgeItem("x", QUESTION, answer, "Thistle Warbler", TRUE_CONCEPTS)
    verdict = judge.judge([item], JudgeContext(("Thistle Warbler",), POOL))[0]
    assert (verdict.ee, verdict.cs) == (ee, cs), verdict.detail
    for claim in verdict.detail["attribute_claims"]:
        assert not (claim["negated_by"] and claim["consistent"])


@pytest.mark.parametrize("name", NAMES_WITH_CONNECTIVES)
def test_class_names_are_deleted_before_clauses_are_cut(name):
    assert extract_claims(f"This is a {name}.", QUESTION, NAMES_WITH_CONNECTIVES) == []
    assert extract_claims(f"This is a {name} with a red crown.", QUESTION, NAMES_WITH_CONNECTIVES) == ["red crown"]


def _class_lists(dataset_roots) -> dict[str, tuple[object, list[str]]]:
    """task name -> (task, class names) on the test fixtures; PLD with all 37 published classes."""
    tasks = {name: build_task(name, str(root)) for name, (root, _) in dataset_roots.items()}
    lists = {name: (task, task.class_names()) for name, task in tasks.items()}
    pld = tasks["pld"]
    lists["pld"] = (pld, [pld_class for pld_class in _pld_names()])
    lists["stanford_dogs"] = (tasks["stanford_dogs"], tasks["stanford_dogs"].class_names() + NAMES_WITH_CONNECTIVES[:2])
    return lists


def _pld_names() -> list[str]:
    from selfsynth.tasks.pld import DEFAULT_EXCLUDE, class_display_name

    return [class_display_name(f) for f in PLANTVILLAGE_FOLDERS if f not in DEFAULT_EXCLUDE]


def test_every_class_name_alone_is_no_explanation(judge, dataset_roots):
    for task_name, (task, names) in _class_lists(dataset_roots).items():
        prompts = task.prompts()
        question = task.evaluation_question(prompts)
        concepts = DOMAIN_CONCEPTS[task.domain]
        items = []
        for name in names:
            # what a label-only (nl) answer says: the bare name, the domain's label sentence, a short sentence
            for k, answer in enumerate([name, prompts.label_sentence.format(label=name), f"This is a {name}."]):
                items.append(JudgeItem(f"{name}/{k}", question, answer, name, concepts[:2]))
        verdicts = judge.judge(items, JudgeContext(tuple(names), concepts))
        explained = [(it.answer, v.detail) for it, v in zip(items, verdicts) if v.ee != 0]
        assert not explained, f"{task_name}: {explained[:3]}"
        assert len(items) == 3 * len(names) >= 6


@pytest.mark.parametrize("key, name", [
    ("737-800", "737-800"), ("707-320", "707-320"), ("A330-200", "A330-200"), ("DC-10", "DC-10"),
    ("001.Black_footed_Albatross", "Black footed Albatross"), ("141.Artic_Tern", "Artic Tern"),
])
def test_concept_file_keys_keep_fgvc_labels_whole(key, name):
    assert key_class_name(key) == name
