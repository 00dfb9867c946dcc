"""Our accuracy rule reads the verdict (selfsynth.tasks.labels): negations, two-class answers,
natural names from the alias tables, apostrophes, chest X-ray yes/no; the published rule unchanged."""
from __future__ import annotations

import json

import pytest

from selfsynth.api import build_task
from selfsynth.cli import main
from selfsynth.tasks.aliases import ALIAS_DIR, load_alias_file
from selfsynth.tasks.labels import APOSTROPHE_LIKE, ClassReader, match, normalize_label, paper_match
from tests.fixtures_datasets import PLANTVILLAGE_FOLDERS, make_chest


@pytest.fixture(scope="module")
def pld(tmp_path_factory):
    root = tmp_path_factory.mktemp("plantvillage")
    for folder in PLANTVILLAGE_FOLDERS:
        (root / folder).mkdir()
    task = build_task("pld", str(root))
    assert len(task.class_names()) == 37
    return task


@pytest.fixture(scope="module")
def ham(tmp_path_factory):
    return build_task("ham10000", str(tmp_path_factory.mktemp("ham")))  # class names need no files


@pytest.fixture(scope="module")
def chest_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("chest")
    make_chest(root)
    return root


TOY = ClassReader({"Crimson Finch": (), "Azure Warbler": (), "Ochre Tanager": ()})


# -- negation scopes: a denied class does not count ----------------------------------------------
@pytest.mark.parametrize("answer, verdict", [
    ("This is a Crimson Finch, not an Azure Warbler.", "Crimson Finch"),
    ("It is not an Azure Warbler but a Crimson Finch.", "Crimson Finch"),
    ("This isn't an Azure Warbler; it is a Crimson Finch.", "Crimson Finch"),
    ("A Crimson Finch rather than an Azure Warbler.", "Crimson Finch"),
    ("Unlike the Azure Warbler, this bird is a Crimson Finch.", "Crimson Finch"),
    ("Instead of an Azure Warbler, I see a Crimson Finch.", "Crimson Finch"),
    ("The Azure Warbler is ruled out; this is a Crimson Finch.", "Crimson Finch"),
    ("I ruled out the Azure Warbler. It is a Crimson Finch.", "Crimson Finch"),
    ("It has no features of an Azure Warbler or an Ochre Tanager, so it is a Crimson Finch.", "Crimson Finch"),
    ("It is a Crimson Finch without the blue crown of an Azure Warbler.", "Crimson Finch"),
    ("This is not a Crimson Finch.", None),
    ("There is no evidence of a Crimson Finch here.", None),
    ("Neither a Crimson Finch nor an Azure Warbler.", None),
    ("An Azure Warbler is unlikely.", None),
    ("No, it is a Crimson Finch.", "Crimson Finch"),  # a leading "No," answers; it denies nothing
    ("It is similar to an Azure Warbler, but it is a Crimson Finch.", "Crimson Finch"),
])
def test_negated_mentions_do_not_count(answer, verdict):
    assert TOY.read(answer).verdict == verdict, TOY.read(answer).reason


# -- two classes named: no verdict ----------------------------------------------------------------
@pytest.mark.parametrize("answer", [
    "It is either a Crimson Finch or an Azure Warbler.",
    "A Crimson Finch. It could also be an Azure Warbler.",
    "Crimson Finch, Azure Warbler, Ochre Tanager.",
])
def test_two_classes_named_is_no_verdict(answer):
    reading = TOY.read(answer)
    assert reading.verdict is None and reading.reason.startswith("names several classes")
    for label in ("Crimson Finch", "Azure Warbler"):
        assert not TOY.match(answer, label)
    # the published rule credits every class it finds
    assert TOY.paper_classes(answer)[:1] == ["Crimson Finch"] and len(TOY.paper_classes(answer)) >= 2


def test_concluding_sentence_decides():
    answer = "The crown could fit a Crimson Finch or an Azure Warbler. Therefore, it is an Azure Warbler."
    assert TOY.read(answer).verdict == "Azure Warbler"
    # a conclusion that names two classes decides nothing; the whole answer names two
    assert TOY.read("Thus it is a Crimson Finch or an Azure Warbler.").verdict is None


def test_issue_examples_credit_one_label_only(chest_root):
    classname = build_task("chest_xray", str(chest_root), {"question": "classname"})
    reader = classname.answer_reader()
    answers = {
        "This chest X-ray is not normal; it shows pneumonia.": "Pneumonia",
        "There is no evidence of pneumonia; the lungs are clear.": "Normal",
    }
    for answer, verdict in answers.items():
        assert [label for label in ("Normal", "Pneumonia") if reader.match(answer, label)] == [verdict]
        assert paper_match(answer, "Normal") or paper_match(answer, "Pneumonia")  # the published rule: unchanged
    # one fixed answer no longer scores 100% on a two-class task
    fixed = "It is normal or pneumonia."
    assert not reader.match(fixed, "Normal") and not reader.match(fixed, "Pneumonia")


# -- natural names: PLD -----------------------------------------------------------------------------
@pytest.mark.parametrize("answer, label", [
    ("This orange leaf has huanglongbing (citrus greening).", "Orange Haunglongbing"),
    ("Citrus greening.", "Orange Haunglongbing"),
    ("This grape leaf shows black measles.", "Grape Esca"),
    ("A healthy bell pepper leaf.", "Pepper bell healthy"),
    ("The leaf of a bell pepper plant with bacterial spot.", "Pepper bell Bacterial spot"),
    ("This tomato leaf is not healthy; it shows late blight.", "Tomato Late blight"),
    ("Late blight on a potato leaf.", "Potato Late blight"),
    ("A maize leaf with northern corn leaf blight.", "Corn Northern Leaf Blight"),
    ("Grape leaf blight (Isariopsis leaf spot).", "Grape Leaf blight"),
    ("Tomato Yellow Leaf Curl Virus", "Tomato Yellow Leaf Curl Virus"),
    ("The spots are typical of apple scab.", "Apple scab"),
])
def test_pld_natural_names(pld, answer, label):
    reader = pld.answer_reader()
    assert reader.read(answer).verdict == label, reader.read(answer).reason


@pytest.mark.parametrize("answer", [
    "This leaf has late blight.",  # a disease of two crops, and no crop named
    "A tomato leaf with early blight and late blight.",  # two diseases
    "This is a tomato or potato leaf with late blight.",  # two crops
    "A healthy leaf.",
])
def test_pld_ambiguous_names_give_no_verdict(pld, answer):
    assert pld.answer_reader().read(answer).verdict is None


# -- natural names: HAM10000 ------------------------------------------------------------------------
@pytest.mark.parametrize("answer, label", [
    ("This is a nevus, not a melanoma.", "Melanocytic nevi"),
    ("A benign mole.", "Melanocytic nevi"),
    ("The lesion is a BCC.", "Basal cell carcinoma"),
    ("Seborrheic keratosis.", "Benign keratosis-like lesions"),
    ("It looks like Bowen\u2019s disease.", "Actinic keratoses"),
    ("A cherry angioma.", "Vascular lesions"),
    ("Melanoma is unlikely; this is a dermatofibroma.", "Dermatofibroma"),
])
def test_ham_natural_names(ham, answer, label):
    assert ham.answer_reader().read(answer).verdict == label


def test_ham_mole_alone_is_not_a_name(ham):
    # "mole" is what answers call any lesion: "this mole is a melanoma" names the melanoma
    assert ham.answer_reader().read("This mole is a melanoma.").verdict == "Melanoma"


# -- apostrophes ------------------------------------------------------------------------------------
@pytest.mark.parametrize("mark", list(APOSTROPHE_LIKE) + ["'"])
def test_every_apostrophe_like_character_reads_as_one(mark):
    assert normalize_label(f"Anna{mark}s Hummingbird") == "anna hummingbird"
    assert match(f"It is an Anna{mark}s Hummingbird.", "Anna Hummingbird")
    assert match(f"It is a Forster{mark}s Tern.", "Forsters Tern")
    assert match(f"This isn{mark}t a Forster{mark}s Tern; it is an Anna{mark}s Hummingbird.", "Anna Hummingbird",
                 confusers=("Forsters Tern",))
    assert not match(f"This isn{mark}t an Anna{mark}s Hummingbird.", "Anna Hummingbird")


# -- chest X-ray: the yes/no question -------------------------------------------------------------------
@pytest.mark.parametrize("answer, verdict", [
    ("Yes.", "Pneumonia"),
    ("Yes, there is an opacity in the right lower lobe.", "Pneumonia"),
    ("No.", "Normal"),
    ("No, the lungs are clear.", "Normal"),
    ("The X-ray does not show pneumonia.", "Normal"),
    ("There are signs of pneumonia in the left lung.", "Pneumonia"),
    ("The answer is no: the lung fields are clear.", "Normal"),
    ("Yes, the lungs look normal.", None),  # contradicts itself
    ("No, it shows pneumonia.", None),
    ("The image is blurry.", None),
])
def test_chest_yes_no_reading(chest_root, answer, verdict):
    task = build_task("chest_xray", str(chest_root))
    assert task.options.question == "yesno"
    assert task.answer_reader().read(answer).verdict == verdict


def test_chest_question_option(chest_root):
    from selfsynth.errors import UserError

    yesno = build_task("chest_xray", str(chest_root))
    classname = build_task("chest_xray", str(chest_root), {"question": "classname"})
    prompts = yesno.prompts()
    assert yesno.evaluation_question(prompts) == prompts.yes_no and "pneumonia" in prompts.yes_no.lower()
    assert classname.evaluation_question(prompts) == prompts.explain[0]
    # the published rule on the yes/no question looks for the expected word
    reader = yesno.answer_reader()
    assert reader.paper_match("Yes, pneumonia.", "Pneumonia") and not reader.paper_match("Yes, pneumonia.", "Normal")
    assert reader.rule != classname.answer_reader().rule
    with pytest.raises(UserError, match="question"):
        build_task("chest_xray", str(chest_root), {"question": "maybe"})


# -- the alias tables --------------------------------------------------------------------------------
def test_alias_tables_are_valid_and_unambiguous():
    for path in sorted(ALIAS_DIR.glob("*.yaml")):
        table = load_alias_file(path.stem)
        owner: dict[str, str] = {}
        for section in ("classes", "crops", "diseases"):
            for name, aliases in table[section].items():
                for alias in aliases:
                    key = (section, normalize_label(alias))
                    assert owner.setdefault(key, name) == name, f"{path.name}: {alias!r} names {owner[key]!r} and {name!r}"


def test_paper_rule_is_unchanged():
    # keep letters, hyphens and spaces; hyphen -> space; lowercase; containment
    assert paper_match("a Black-footed albatross!", "Black footed Albatross")
    assert paper_match("This is not a melanoma.", "Melanoma")  # it does not read negations
    assert paper_match("Boeing 737-400", "737-800")  # nor digits
    assert not paper_match("Anna\u2019s Hummingbird", "Anna Hummingbird")


# -- selfsynth match ------------------------------------------------------------------------------------
def test_match_command_shows_both_rules(chest_root, capsys):
    code = main(["match", "--task", "chest_xray", "--root", str(chest_root), "--option", "question=classname",
                 "--label", "Pneumonia", "--json", "This chest X-ray is not normal; it shows pneumonia.", "It is normal."])
    assert code == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["ours"]["verdict"] for r in rows] == ["Pneumonia", "Normal"]
    assert rows[0]["paper"]["classes"] == ["Normal", "Pneumonia"]
    assert [(r["ours"]["match"], r["paper"]["match"]) for r in rows] == [(True, True), (False, False)]
    assert any(m["negated_by"] == "not" for m in rows[0]["ours"]["mentions"])


def test_match_command_needs_root_for_dataset_tasks(capsys):
    assert main(["match", "--task", "pld", "a tomato leaf"]) == 2
    assert "--root" in capsys.readouterr().err
