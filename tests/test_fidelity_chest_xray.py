"""Chest X-rays as released: LLaVA-Med named in the paper config, yes/no pneumonia questions in the
training pools, and the released scorer (the class name contained in the answer) beside our
whole-word yes/no reader."""
from __future__ import annotations

import json

import pytest

from selfsynth.cli import main
from selfsynth.synth.stage import question_pools
from selfsynth.api import build_task
from tests.fixtures_datasets import make_chest
from tests.fixtures_toy import REPO


@pytest.fixture(scope="module")
def chest(tmp_path_factory):
    root = tmp_path_factory.mktemp("chest")
    make_chest(root)
    return root


def _match_json(root, answers, capsys) -> list[dict]:
    assert main(["match", "--task", "chest_xray", "--root", str(root), "--json", *answers]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_match_reads_a_yes_with_diagnosis_as_pneumonia_only_under_both_rules(chest, capsys):
    for option in ([], ["--task_options", "question=classname"]):
        main_args = ["match", "--task", "chest_xray", "--root", str(chest), *option, "--json", "Yes, the diagnosis is pneumonia."]
        assert main(main_args) == 0
        row = json.loads(capsys.readouterr().out)
        assert row["ours"]["verdict"] == "Pneumonia", option
        assert row["paper"]["classes"] == ["Pneumonia"], option


@pytest.mark.parametrize("answer, ours", [
    # "no" inside diagnosis / not / normal / nothing / know / nodule; "yes" inside "eyes" / "yesterday"
    ("The diagnosis is pneumonia.", "Pneumonia"),
    ("Yes; nothing about the diagnosis argues against pneumonia.", "Pneumonia"),
    ("I know the nodular opacities mean pneumonia.", "Pneumonia"),
    ("To my eyes the lungs are clear.", "Normal"),
    ("Unlike yesterday's film, the lungs look normal.", "Normal"),
    ("The diagnosis is not clear from this image.", None),
])
def test_our_yes_no_reader_never_reads_a_word_inside_another(chest, answer, ours):
    reader = build_task("chest_xray", str(chest)).answer_reader()
    assert reader.read(answer).verdict == ours


@pytest.mark.parametrize("answer, credited", [
    ("Yes, the diagnosis is pneumonia.", ["Pneumonia"]),
    ("No. The lungs are normal.", ["Normal"]),
    # what the released scorer does with denials and embedded words, kept to reproduce its numbers
    ("There is no pneumonia.", ["Pneumonia"]),
    ("Abnormal opacities are seen.", ["Normal"]),
    ("No pneumonia; the lungs are normal.", ["Pneumonia", "Normal"]),
    ("No.", []),
])
def test_the_paper_rule_is_the_released_class_name_containment(chest, answer, credited):
    for options in ({}, {"question": "classname"}):
        reader = build_task("chest_xray", str(chest), options).answer_reader()
        assert sorted(reader.paper_classes(answer)) == sorted(credited), options


def test_training_pools_ask_yes_no_pneumonia_questions_and_hold_out_the_evaluation_questions(chest):
    task = build_task("chest_xray", str(chest))
    prompts = task.prompts()
    assert (len(prompts.simple), len(prompts.cot)) == (50, 48) and len(prompts.explain) >= 100  # the released sizes
    pools = question_pools(prompts)
    for kind, pool in pools.items():
        assert pool and all("pneumonia" in q.lower() for q in pool), kind
    every = {q for pool in pools.values() for q in pool}
    assert prompts.yes_no not in every and prompts.explain[0] not in every
    back = question_pools(prompts, include_eval_question=True)
    assert prompts.explain[0] in back["explain"]


def test_paper_config_names_llava_med_and_how_to_convert_it(capsys):
    import yaml

    path = REPO / "configs" / "paper" / "chest_xray.yaml"
    assert main(["run", "--config", str(path), "--print-config"]) == 0
    resolved = yaml.safe_load(capsys.readouterr().out)
    assert resolved["model"] == "models/llava-med-v1.5-mistral-7b-hf"
    text = path.read_text(encoding="utf-8")
    assert "microsoft/llava-med-v1.5-mistral-7b" in text and "convert_llava_weights_to_hf.py" in text
