"""`selfsynth data` on each layout: counts, --json object, exit 2 on a bad layout."""
from __future__ import annotations

import json

import pytest

from selfsynth.cli import main
from tests.fixtures_datasets import make_cub


@pytest.mark.parametrize("name", ["cub200", "stanford_dogs", "fgvc_aircraft", "pld", "chest_xray", "toy"])
def test_data_json(dataset_roots, capsys, name):
    root, expected = dataset_roots[name]
    assert main(["data", "--task", name, "--root", str(root), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {
        "task": name,
        "root": str(root),
        "splits": {"train": expected["train"], "test": expected["test"]},
        "num_classes": expected["classes"],
        "skipped": [],
    }


def test_data_reports_corrupt_images(tmp_path, capsys):
    expected = make_cub(tmp_path, corrupt=True)
    assert main(["data", "--task", "cub200", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "test      5 images" in out and "skipped   1 unreadable image(s)" in out
    assert expected["skipped"][0] in out


def test_data_options_and_errors(dataset_roots, tmp_path, capsys):
    root, _ = dataset_roots["pld"]
    assert main(["data", "--task", "pld", "--root", str(root), "--option", "train_size=6", "--option", "test_size=9", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["splits"] == {"train": 6, "test": 9}
    assert main(["data", "--task", "cub200", "--root", str(tmp_path / "missing")]) == 2
    assert "CUB_200_2011" in capsys.readouterr().err
    assert main(["data", "--task", "stanford_dogs"]) == 2
    assert "needs --root" in capsys.readouterr().err
    assert main(["data", "--task", "pld", "--root", str(root), "--option", "oops"]) == 2
    assert main(["data", "--task", "cub_200", "--root", str(root)]) == 2
    assert "did you mean 'cub200'" in capsys.readouterr().err
