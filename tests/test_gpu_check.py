"""benchmarks/gpu_check.py's report: the CUB extrapolation and the printed row, from recorded phases
(the GPU phases themselves need a GPU; `bash benchmarks/gpu_check.sh` runs them)."""
from __future__ import annotations

import json

import pytest

from benchmarks.gpu_check import extrapolate_cub, report


def test_cub_hours_per_iteration_from_the_measured_rates():
    train = {"tokens": 168_000, "rows": 240, "tokens_per_s": 9000.0}  # 700 tokens per row
    gen = {"gen-hf-256": {"tokens_per_s": 2000.0}, "gen-vllm-256": {"tokens_per_s": 20000.0}, "gen-vllm-32": {"tokens_per_s": 90000.0}}
    cub = extrapolate_cub(train, gen)
    assert cub["generation_tokens_per_s_used"] == 20000.0  # the faster engine at 256 requests, not the 32 row
    train_h = 5994 * 8 * 2 * 2 * 700 / 9000 / 3600  # images x QA rows x general mix x epochs x tokens
    first = (5994 * (30 * 256 + 8 * 128) + 5794 * 256) / 20000 / 3600
    later = (5994 * 8 * 3 * 196 + 5794 * 256) / 20000 / 3600
    assert cub["iteration_1"] == {"generate_h": round(first, 2), "train_h": round(train_h, 2), "total_h": round(first + train_h, 2)}
    assert cub["iteration_2_plus"]["total_h"] == pytest.approx(later + train_h, abs=0.01)
    assert extrapolate_cub(train, {"gen-hf-256": {"error": "OutOfMemoryError"}}) is None


def test_report_prints_every_number_of_the_readme_speed_section(tmp_path, capsys):
    (tmp_path / "train.json").write_text(json.dumps({"device": "NVIDIA H100", "tokens": 168_000, "rows": 240, "tokens_per_s": 9000.0,
                                                     "mfu": 0.41, "max_memory_gib": 31.5}))
    for engine, tps in (("hf", 2000.0), ("vllm", 24000.0)):
        for c in (32, 256):
            (tmp_path / f"gen-{engine}-{c}.json").write_text(json.dumps({"tokens_per_s": tps * c / 256, "device_memory_used_gib": 70.0}))
    report(tmp_path)
    row = capsys.readouterr().out.splitlines()[-1]
    assert "NVIDIA H100" in row and "9000.0 tok/s" in row and "MFU(6N) 41.0%" in row
    assert "@32: 250/3000, @256: 2000/24000" in row and "{32: 12.0, 256: 12.0}" in row
    assert "peak train memory 31.5 GiB" in row and "CUB h/iteration (1st / later): " in row
    saved = json.loads((tmp_path / "gpu_check.json").read_text())
    assert saved["cub_hours_per_iteration"]["generation_tokens_per_s_used"] == 24000.0
    assert (tmp_path / "benchmarks_line.md").read_text().strip() == row
