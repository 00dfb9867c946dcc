"""`selfsynth run --general`: the base model (iteration 0) and the final merged model are evaluated
on the toy miniatures (the toy task's default) as `general` steps beside `eval`; the results file
carries both and the change; a second invocation reuses the finished steps."""
from __future__ import annotations

import time

import pytest

from selfsynth.cli import main
from selfsynth.io import read_json
from tests.fixtures_toy import TOY_CACHE

RUN = ["run", "--task", "toy", "--method", "nl", "--iterations", "1", "--limit", "12", "--toy_cache", str(TOY_CACHE),
       "--train.max_steps", "5", "--general", "mme,mmstar", "--general-limit", "8", "--json"]


def test_run_general_base_and_final(toy_world, tmp_path, capsys):
    out = tmp_path / "runs"
    started = time.time()
    assert main([*RUN, "--out", str(out)]) == 0
    progress = capsys.readouterr().err
    print(f"selfsynth run --general: {time.time() - started:.1f} s")
    assert "iter 0 · general" in progress and "iter 1 · general" in progress
    (unit,) = {p.parent for p in out.rglob("manifest.json")}  # the run unit (its layout belongs to the store)
    results = read_json(unit / "results.json")
    general = results["general"]
    for iteration, key in ((0, "base"), (1, "final")):
        folder = unit / f"iter_{iteration}" / "general"
        assert (folder / "_done.json").is_file() and (unit / f"iter_{iteration}" / "eval").is_dir()
        summary = read_json(folder / "general.json")
        assert summary["limit"] == 8 and summary["data_kind"] == "toy miniatures"
        assert general[key]["values"] == {name: entry["value"] for name, entry in summary["benchmarks"].items()}
        assert set(general[key]["values"]) == {"mme", "mmstar"}
        assert all(v is not None for v in general[key]["values"].values())
    # the final model is iteration 1's merged model, the base model the toy base model
    assert read_json(unit / "iter_1" / "general" / "general.json")["model"] == str(unit / "iter_1" / "train" / "merged")
    assert read_json(unit / "iter_0" / "general" / "general.json")["model"] == toy_world.model_path
    for name in ("mme", "mmstar"):
        change = general["change"]["benchmarks"][name]
        assert change["delta"] == pytest.approx(general["final"]["values"][name] - general["base"]["values"][name])

    # resumable like every step: nothing is recomputed
    assert main([*RUN, "--out", str(out)]) == 0
    again = read_json(unit / "results.json")
    assert again["general"] == general
    assert not [s for s in again["invocation"]["computed"] if s.endswith("general")]


def test_run_general_without_copies_stops_before_training(tmp_path, capsys):
    code = main(["run", "--task", "toy", "--method", "nl", "--iterations", "1", "--limit", "12", "--toy_cache", str(TOY_CACHE),
                 "--general", "mme", "--general-root", str(tmp_path / "nothing"), "--out", str(tmp_path / "runs")])
    assert code == 2
    assert "mme" in capsys.readouterr().err
    assert not list((tmp_path / "runs").rglob("train"))
