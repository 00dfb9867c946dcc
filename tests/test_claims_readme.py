"""The README's demo numbers are written from a store by `python -m benchmarks.readme_numbers`:
its tables are what `selfsynth table` prints from the same store, its verdicts what `selfsynth
claims` prints, and the README's block is what the demo's store gives once `make demo` has run."""
from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import readme_numbers
from selfsynth.cli import main
from tests.test_claims import write_store

REPO = Path(__file__).resolve().parents[1]


def test_block_holds_what_selfsynth_table_and_claims_print(tmp_path, capsys):
    out = write_store(tmp_path / "runs")
    block = readme_numbers.demo_block(out)
    for number in readme_numbers.TABLES:
        assert main(["table", number, "--out", str(out)]) == 0
        printed = capsys.readouterr().out.strip()
        assert printed and printed in block
    assert main(["claims", "--out", str(out), "--format", "md"]) == 0
    assert capsys.readouterr().out.strip() in block
    assert block.startswith(readme_numbers.BEGIN) and block.endswith(readme_numbers.END)


def test_write_then_check_a_readme(tmp_path, capsys):
    out = write_store(tmp_path / "runs")
    readme = tmp_path / "README.md"
    readme.write_text(f"# demo\n\nbefore\n{readme_numbers.BEGIN}\nstale 0.541\n{readme_numbers.END}\nafter\n")
    argv = ["--out", str(out), "--readme", str(readme), "--toy-world", str(tmp_path / "no-world")]
    assert readme_numbers.main([*argv, "--check"]) == 1
    assert readme_numbers.main(argv) == 0
    text = readme.read_text()
    assert "stale 0.541" not in text and text.startswith("# demo\n\nbefore\n") and text.endswith("\nafter\n")
    assert readme_numbers.main([*argv, "--check"]) == 0
    assert readme_numbers.main(["--out", str(tmp_path / "nowhere"), "--readme", str(readme), "--check"]) == 2
    assert "no such run folder" in capsys.readouterr().err


def test_the_toy_fingerprint_covers_data_and_weights(tmp_path):
    world = tmp_path / "world"
    (world / "dataset").mkdir(parents=True)
    (world / "model").mkdir()
    (world / "dataset" / "train.jsonl").write_text("{}\n")
    (world / "model" / "model.safetensors").write_bytes(b"\0" * 8)
    (world / "model" / "config.json").write_text("{}")
    before = readme_numbers.toy_fingerprint(world)
    (world / "model" / "config.json").write_text('{"x": 1}')  # not weights: same fingerprint
    assert readme_numbers.toy_fingerprint(world) == before
    (world / "model" / "model.safetensors").write_bytes(b"\1" * 8)
    assert readme_numbers.toy_fingerprint(world)["weights"] != before["weights"]
    assert readme_numbers.toy_fingerprint(world)["dataset"] == before["dataset"]


def test_the_readme_block_is_what_the_demo_store_gives():
    store = REPO / "runs" / "toy"
    if not (store / "experiments").is_dir():
        pytest.skip("runs/toy holds no demo run (make demo writes it; then python -m benchmarks.readme_numbers)")
    assert readme_numbers.main(["--out", str(store), "--check"]) == 0
