"""What the paper's tables print beyond accuracy: Table 1's MMMU column per method, the published
accuracy rule with ours beside it, the transfer table's base and diagonal rows, and `table cs`
(CS per iteration for Ours, relative gain from iteration 1 to K). Stores are built by hand; every
expected number is worked out from the planted values."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from selfsynth.reports.tables import Store, build_table, render

SQRT2 = math.sqrt(2)


def _it(task, method, seed, iteration, final, accuracy, paper=None, cs=None, experiment="default"):
    return {"experiment": experiment, "task": task, "method": method, "seed": seed, "iteration": iteration,
            "final": final, "complete": True, "accuracy": accuracy, "accuracy_paper": accuracy if paper is None else paper,
            "n": 40, "ee": None, "cs": cs, "fs": None, "judge": None, "judge_proxy": None, "fluency_reference": None}


def _run(task, method, seed):
    return {"experiment": "default", "task": task, "method": method, "seed": seed, "limit": None, "test_limit": None,
            "n_test": 40, "path": Path("x"), "complete": True, "missing": []}


def _general(task, method, seed, iteration, mmmu):
    return {"path": Path(f"/r/{task}/{method}/{seed}/{iteration}/general.json"),
            "data": {"benchmarks": {"mmmu_val": {"value": mmmu}, "mmstar": {"value": 0.3}}},
            "run": {"experiment": "default", "task": task, "method": method, "seed": seed, "iteration": iteration}}


def _store() -> Store:
    store = Store()
    for seed in (0, 1):
        store.runs += [_run("cub200", m, seed) for m in ("base", "nl", "ours")] + [_run("stanford_dogs", m, seed) for m in ("base", "ours")]
        store.iterations += [
            _it("cub200", "base", seed, 0, True, 0.1),
            _it("cub200", "nl", seed, 0, False, 0.1), _it("cub200", "nl", seed, 1, False, 0.3), _it("cub200", "nl", seed, 2, True, 0.4),
            _it("cub200", "ours", seed, 0, False, 0.1), _it("cub200", "ours", seed, 1, False, 0.5, cs=0.4 + 0.1 * seed),
            _it("cub200", "ours", seed, 2, True, 0.6 + 0.1 * seed, paper=0.7 + 0.1 * seed, cs=0.5 + 0.2 * seed),
            _it("stanford_dogs", "base", seed, 0, True, 0.2 + 0.1 * seed),
            _it("stanford_dogs", "ours", seed, 0, False, 0.2 + 0.1 * seed),
            _it("stanford_dogs", "ours", seed, 1, False, 0.6, cs=0.5),
            _it("stanford_dogs", "ours", seed, 2, True, 0.8, cs=0.6),
        ]
        # --general on the base model (iteration 0) and the final model of the Ours runs only
        store.general += [_general("cub200", "ours", seed, 0, 0.35), _general("cub200", "ours", seed, 2, 0.33 + 0.02 * seed)]
        store.transfer.append({"task": "stanford_dogs", "n": 40, "accuracy": 0.4 + 0.1 * seed, "accuracy_paper": 0.45,
                               "train_run": {"task": "cub200", "method": "ours", "seed": seed, "iteration": 2}})
    return store


def _rows(table, key="method"):
    return {row[key] if key else i: row for i, row in enumerate(table.records())}


def test_table_1_has_an_mmmu_column_per_method():
    table = build_table("1", [], store=_store())
    assert "MMMU" in table.columns
    rows = {(r["task"], r["method"]): r for r in table.records()}
    assert rows[("cub200", "Ours")]["MMMU"]["mean"] == pytest.approx(0.34)
    assert rows[("cub200", "Ours")]["MMMU"]["std"] == pytest.approx(0.02 / SQRT2)
    assert rows[("cub200", "Base")]["MMMU"]["mean"] == pytest.approx(0.35)  # the base model's run of --general
    assert rows[("cub200", "NL")]["MMMU"] is None  # not run: "–"
    assert rows[("stanford_dogs", "Ours")]["MMMU"] is None
    header = render(table, "md").splitlines()[2]
    assert header.rstrip(" |").endswith("MMMU")  # the last column, after EE, CS, FS
    data = json.loads(render(table, "json"))
    assert "MMMU" in data["columns"] and any(line.startswith("MMMU") for line in data["footer"])


def test_published_rule_table_1_shows_ours_beside_it():
    table = build_table("1", [], metric="accuracy_paper", store=_store())
    rows = {(r["task"], r["method"]): r for r in table.records()}
    ours = rows[("cub200", "Ours")]
    assert ours["iter 2"]["mean"] == pytest.approx(0.75)  # the published rule per iteration
    assert ours["final (ours)"]["mean"] == pytest.approx(0.65)  # our rule, final iteration
    assert "final (ours)" not in build_table("1", [], store=_store()).columns


def test_transfer_table_has_the_base_and_diagonal_rows():
    table = build_table("transfer", [], store=_store())
    rows = {(r["train task"], r["method"]): r for r in table.records()}
    assert list(rows)[0] == ("none (base model)", "Base")
    assert rows[("none (base model)", "Base")]["eval stanford_dogs"]["mean"] == pytest.approx(0.25)  # None → Dogs
    assert rows[("cub200", "Ours")]["eval stanford_dogs"]["mean"] == pytest.approx(0.45)  # CUB → Dogs
    assert rows[("stanford_dogs", "Ours")]["eval stanford_dogs"]["mean"] == pytest.approx(0.8)  # Dogs → Dogs
    assert rows[("stanford_dogs", "Ours")]["eval stanford_dogs"]["std"] == pytest.approx(0.0)


def test_table_cs_per_iteration_and_relative_gain():
    table = build_table("cs", [], store=_store())
    rows = _rows(table, "task")
    assert set(rows) == {"cub200", "stanford_dogs"}
    cub = rows["cub200"]
    assert cub["CS iter 1"]["mean"] == pytest.approx(0.45) and cub["CS iter 2"]["mean"] == pytest.approx(0.6)
    # per seed: (0.5 − 0.4) / 0.4 = 25 %, (0.7 − 0.5) / 0.5 = 40 %
    assert cub["CS gain 1→K (%)"]["mean"] == pytest.approx(32.5)
    assert cub["CS gain 1→K (%)"]["std"] == pytest.approx(15 / SQRT2)
    assert rows["stanford_dogs"]["CS gain 1→K (%)"]["mean"] == pytest.approx(20.0)
    assert "iter 0" not in " ".join(table.columns)
    assert any("relative" in line for line in table.footer)


def test_cli_table_cs_and_table_1_json_from_stored_runs(tmp_path, capsys):
    from selfsynth.cli import main
    from tests.test_tables import plant

    runs = plant(tmp_path / "runs")
    assert main(["table", "cs", "--out", str(runs), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["table"] == "cs" and data["columns"] == ["task", "seeds", "CS iter 1", "CS iter 2", "CS gain 1→K (%)"]
    (row,) = data["rows"]
    # planted Ours CS: seed 0 0.5 → 0.75 (+50 %), seed 1 0.25 → 0.25 (0 %)
    assert row["CS iter 1"]["mean"] == pytest.approx(0.375) and row["CS iter 2"]["mean"] == pytest.approx(0.5)
    assert row["CS gain 1→K (%)"]["mean"] == pytest.approx(25.0) and row["CS gain 1→K (%)"]["std"] == pytest.approx(50 / SQRT2)
    assert main(["table", "1", "--out", str(runs), "--format", "json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["columns"][-1] == "MMMU"
    mmmu = {r["method"]: r["MMMU"] for r in table["rows"]}
    assert mmmu["Ours"]["mean"] == 33.0 and mmmu["NL"] is None
    assert main(["table", "1", "--out", str(runs)]) == 0
    nl = next(line for line in capsys.readouterr().out.splitlines() if "| NL" in line)
    assert nl.rstrip(" |").endswith("–")  # not run: "–"
