"""experiments/paper/*.yaml cover what the paper's tables print: Table 11's five datasets (each run
benchmarks the base model too), Table 13's encoders, and the published accuracy rule for the
accuracy tables."""
from __future__ import annotations

import pytest

from selfsynth.experiment.spec import load_experiment
from tests.fixtures_toy import REPO

PAPER = REPO / "experiments" / "paper"


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(REPO)  # the files name configs/paper/*.yaml relative to the checkout


def test_table11_has_a_row_per_paper_dataset_plus_the_base_model():
    experiment = load_experiment(PAPER / "table11.yaml")
    assert [t.task for t in experiment.tasks] == ["cub200", "stanford_dogs", "fgvc_aircraft", "pld", "ham10000"]
    assert experiment.config.methods == ["ours"] and experiment.config.tables == ["11"]
    assert experiment.config.general == ["mmstar", "seedbench_2_plus", "mmmu_val", "mme", "mmbench_en_dev"]
    # every cell benchmarks iteration 0 (the base model) and its final model
    assert {(c.task, c.method) for c in experiment.cells} == {(t, "ours") for t in
                                                             ("cub200", "stanford_dogs", "fgvc_aircraft", "pld", "ham10000")}
    assert all(c.config.general == experiment.config.general for c in experiment.cells)


def test_table13_compares_the_papers_encoders_first():
    experiment = load_experiment(PAPER / "table13.yaml")
    assert experiment.config.select_encoders[:3] == [
        "intfloat/e5-large-v2", "google-bert/bert-large-uncased", "google-bert/bert-base-uncased"]
    assert [c.task for c in experiment.selection] == ["cub200"]


@pytest.mark.parametrize("name", ["table1", "table12", "transfer"])
def test_accuracy_tables_use_the_published_rule(name):
    assert load_experiment(PAPER / f"{name}.yaml").config.metric == "accuracy_paper"
