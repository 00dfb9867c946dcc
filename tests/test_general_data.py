"""General-ability data: our benchmark table agrees with the installed lmms-eval task YAMLs, the toy
miniatures have exactly the columns and splits those tasks read, the generated task YAML differs
from lmms-eval's own only in data source and name, and a missing local copy is one line, exit 2."""
from __future__ import annotations

import pytest

from selfsynth.cli import main
from selfsynth.metrics.general import BENCHMARKS, TASK_PREFIX, data_files, lmms_tasks_dir, task_yaml
from tests.fixtures_toy import TOY_CACHE


@pytest.fixture(scope="module")
def toy_benchmarks(toy_world):
    from selfsynth.toy.benchmarks import ensure_toy_benchmarks

    return ensure_toy_benchmarks(toy_world)


def _plain(value):
    """A YAML config loaded in lmms-eval's "simple" mode, with its `!function` nodes as text."""
    import yaml

    if isinstance(value, yaml.ScalarNode):
        return f"{value.tag} {value.value}"
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _load(path) -> dict:
    from lmms_eval.utils import load_yaml_config

    return _plain(load_yaml_config(str(path), mode="simple"))


def _installed(name: str) -> dict:
    return _load(lmms_tasks_dir() / BENCHMARKS[name].task_yaml)


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_table_matches_installed_lmms_eval_task(name):
    installed = _installed(name)
    bench = BENCHMARKS[name]
    assert installed["test_split"] == bench.split
    assert installed["dataset_path"] == bench.hub_dataset
    assert installed.get("dataset_name") == bench.hub_config
    assert bench.headline in [m["metric"] for m in installed["metric_list"]]


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_toy_miniature_has_the_columns_and_split_the_task_reads(name, toy_benchmarks):
    import datasets

    (path,) = data_files(toy_benchmarks, name)
    assert path.name == f"{BENCHMARKS[name].split}.parquet"
    loaded = datasets.load_dataset("parquet", data_files={BENCHMARKS[name].split: str(path)}, split=BENCHMARKS[name].split)
    assert tuple(loaded.column_names) == BENCHMARKS[name].columns
    images = [c for c, f in loaded.features.items() if isinstance(f, datasets.Image)]
    assert images and all(loaded[0][c].size == (48, 48) for c in images)  # decoded as PIL images


def test_toy_answers_follow_the_ground_truth(toy_world, toy_benchmarks):
    """An MC answer names a feature the image shows; MME pairs one Yes and one No per image."""
    import pandas as pd

    from selfsynth.io import read_jsonl
    from selfsynth.toy.dataset import concept

    truth = {}
    for row in read_jsonl(f"{toy_world.dataset_root}/test.jsonl"):
        truth[row["id"]] = {concept(p, v) for p, v in row["attributes"].items() if v is not None}
    mmbench = pd.read_parquet(toy_benchmarks / "mmbench_en_dev" / "dev.parquet")
    for _, row in mmbench.iterrows():
        options = {letter: row[letter] for letter in "ABCD"}
        assert len(set(options.values())) == 4 and row["answer"] in options
    mme = pd.read_parquet(toy_benchmarks / "mme" / "test.parquet")
    for question_id, pair in mme.groupby("question_id"):
        assert sorted(pair["answer"]) == ["No", "Yes"]
        image_id = question_id.split("/")[1].removesuffix(".png")
        for _, row in pair.iterrows():
            named = row["question"].removeprefix("Does the bird have ").split("?")[0].split(" ", 1)[1]
            assert (named in truth[image_id]) == (row["answer"] == "Yes"), row["question"]


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_generated_yaml_changes_only_the_data_source(name, tmp_path, toy_benchmarks):
    files = data_files(toy_benchmarks, name)
    path = tmp_path / f"{TASK_PREFIX}{name}.yaml"
    path.write_text(task_yaml(name, files))
    ours = _load(path)
    installed = _installed(name)
    changed = {"task", "tag", "dataset_path", "dataset_name", "dataset_kwargs"}
    kept = {k: v for k, v in installed.items() if k not in changed}
    assert kept and "!function" in str(kept)  # prompts, parsing and scoring functions: lmms-eval's
    assert {k: v for k, v in ours.items() if k not in changed} == kept
    assert ours["task"] == TASK_PREFIX + name and ours["task"] != installed["task"]
    assert ours["dataset_path"] == "parquet"
    assert ours["dataset_kwargs"] == {"data_files": {BENCHMARKS[name].split: [str(f) for f in files]}}


def test_missing_copy_is_one_line_exit_2(toy_world, toy_benchmarks, tmp_path, capsys):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(toy_benchmarks / "mmstar", data / "mmstar")
    code = main(["general", "--model", toy_world.model_path, "--data", str(data), "--benchmarks", "mmstar,mme",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "mme" in err and str(data / "mme" / "test.parquet") in err
    assert not (tmp_path / "out" / "lmms_eval.log").exists()  # nothing ran


def test_copy_without_a_read_column_is_refused(toy_world, toy_benchmarks, tmp_path, capsys):
    import pandas as pd

    frame = pd.read_parquet(toy_benchmarks / "mme" / "test.parquet").drop(columns=["category"])
    (tmp_path / "data" / "mme").mkdir(parents=True)
    frame.to_parquet(tmp_path / "data" / "mme" / "test.parquet")
    code = main(["general", "--model", toy_world.model_path, "--data", str(tmp_path / "data"), "--benchmarks", "mme",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "category" in err


def test_model_without_data_and_odd_mme_limit_are_user_errors(toy_world, toy_benchmarks, tmp_path, capsys):
    assert main(["general", "--model", toy_world.model_path, "--out", str(tmp_path)]) == 2
    assert "--data is required" in capsys.readouterr().err
    assert main(["general", "--toy_cache", str(TOY_CACHE), "--data", str(toy_benchmarks), "--benchmarks", "mme", "--limit", "3",
                 "--out", str(tmp_path)]) == 2
    assert "even" in capsys.readouterr().err
    assert main(["general", "--benchmarks", "mmstar,nope", "--out", str(tmp_path)]) == 2
    assert "nope" in capsys.readouterr().err


def test_mme_scores_equal_lmms_eval_aggregation(toy_benchmarks):
    """Our acc + acc+ per subtask (general.json's `subtasks`) against lmms-eval's own MME
    process_results + aggregation, on the toy MME documents with answers chosen so that some
    images have both questions right (acc+), some one, some none."""
    import random

    import pandas as pd
    from lmms_eval.tasks.mme import utils as mme

    from selfsynth.metrics.general import MME_COGNITION, mme_scores

    docs = pd.read_parquet(toy_benchmarks / "mme" / "test.parquet").drop(columns=["image"]).to_dict("records")
    rng = random.Random(3)
    samples = []
    for doc in docs:
        right = rng.random() < 0.6
        truth = doc["answer"].lower()
        answer = truth if right else {"yes": "No.", "no": "yes, it does"}[truth]
        samples.append(mme.mme_process_results(doc, [answer]))
    ours = mme_scores(samples)
    cognition = [s["mme_cognition_score"] for s in samples if "mme_cognition_score" in s]
    perception = [s["mme_perception_score"] for s in samples if "mme_perception_score" in s]
    assert ours["cognition"] == pytest.approx(mme.mme_aggregate_results(cognition))
    assert ours["perception"] == pytest.approx(mme.mme_aggregate_results(perception))
    assert sorted(ours["cognition_categories"]) == sorted(MME_COGNITION)
    assert 0 < ours["cognition"] < 800 and any(v > 100 for v in ours["categories"].values())  # acc+ counted somewhere


def test_every_selfsynth_command_in_the_guide_parses():
    from selfsynth.cli import build_parser
    from tests.fixtures_toy import REPO
    from tests.test_journey import _guide_commands

    commands = _guide_commands((REPO / "docs" / "general_ability.md").read_text(encoding="utf-8"))
    assert len(commands) >= 3, commands
    for words in commands:
        build_parser(words[0]).parse_args(words)  # an unknown command or flag exits 2 here


def test_model_args_for_lmms_eval(tmp_path):
    from selfsynth.errors import UserError
    from selfsynth.metrics.general import GeneralConfig, _model_args

    ours = GeneralConfig(model="m", lmms_model="selfsynth_llava", model_args="dtype=bf16")
    assert _model_args(ours, "/m", "/a") == "pretrained=/m,peft=/a,dtype=bf16"
    assert _model_args(ours, "/m", None) == "pretrained=/m,dtype=bf16"
    with pytest.raises(UserError, match="llava_hf loads no LoRA adapter"):
        _model_args(GeneralConfig(model="m", lmms_model="llava_hf"), "/m", "/a")
