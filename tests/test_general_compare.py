"""The change vs a base model per benchmark and the paper's overall improvement, on two planted
general.json folders, against hand-computed values."""
from __future__ import annotations

import pytest

from selfsynth.errors import UserError
from selfsynth.io import write_json
from selfsynth.metrics.general import compare, read_general


def _plant(folder, values):
    folder.mkdir(exist_ok=True)
    write_json(folder / "general.json", {"schema_version": 1, "model": str(folder),
                                         "benchmarks": {name: {"value": v} for name, v in values.items()}})
    return folder


BASE = {"mmstar": 0.30, "seedbench_2_plus": 0.40, "mmmu_val": 0.35, "mme": 250.0, "mmbench_en_dev": 60.0}
OURS = {"mmstar": 0.33, "seedbench_2_plus": 0.38, "mmmu_val": 0.28, "mme": 275.0, "mmbench_en_dev": 63.0}


def test_deltas_and_overall_improvement(tmp_path):
    base = read_general(_plant(tmp_path / "base", BASE))
    ours = read_general(_plant(tmp_path / "ours", OURS))
    change = compare(ours, base)
    expected_relative = {"mmstar": 10.0, "seedbench_2_plus": -5.0, "mmmu_val": -20.0, "mme": 10.0, "mmbench_en_dev": 5.0}
    for name, relative in expected_relative.items():
        assert change["benchmarks"][name]["delta"] == pytest.approx(OURS[name] - BASE[name])
        assert change["benchmarks"][name]["relative_pct"] == pytest.approx(relative)
    # MMStar +10, SEED -5, MMBench +5, MME cognition +10; MMMU is not part of the sum
    assert change["overall_improvement_pct"] == pytest.approx(20.0)
    assert "CUB row" in change["overall_note"]


def test_overall_needs_all_four_with_nonzero_base(tmp_path):
    partial = read_general(_plant(tmp_path / "a", {k: v for k, v in OURS.items() if k != "mme"}))
    zero = read_general(_plant(tmp_path / "b", {**BASE, "mmstar": 0.0}))
    base = read_general(_plant(tmp_path / "c", BASE))
    assert compare(partial, base)["overall_improvement_pct"] is None
    assert "mme" not in compare(partial, base)["benchmarks"]
    change = compare(read_general(tmp_path / "a"), zero)
    assert change["benchmarks"]["mmstar"]["relative_pct"] is None and change["overall_improvement_pct"] is None


def test_baseline_folder_without_general_json_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="general.json"):
        read_general(tmp_path)
    write_json(tmp_path / "general.json", {"schema_version": 99})
    with pytest.raises(UserError, match="schema_version"):
        read_general(tmp_path)
