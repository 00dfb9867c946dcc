"""A stored gate decision keeps what it decided on: `selfsynth regress --out FILE` writes both
folders as absolute paths and the ids of the samples lost and gained at decision time, and the
report's regression view shows those, whatever the folders hold later and wherever it is built."""
from __future__ import annotations

import json
from pathlib import Path

from selfsynth.cli import main
from selfsynth.io import read_json, write_json
from selfsynth.reports.html import build_report
from tests.test_regress import write_eval
from tests.test_report_support import load_json_script, make_run_folder

BASE = [True] * 6 + [False] * 4
CAND = [True, True, True, False, False, False, True, False, False, False]  # s003-s005 lost, s006 gained


def _decide(tmp_path: Path, monkeypatch) -> Path:
    work = tmp_path / "ci"
    write_eval(work / "evals" / "base", BASE)
    write_eval(work / "evals" / "cand", CAND)
    monkeypatch.chdir(work)  # relative folders, as a CI job passes them
    assert main(["regress", "--baseline", "evals/base", "--candidate", "evals/cand", "--out", "gate/regress.json"]) in (0, 1)
    return work / "gate" / "regress.json"


def test_regress_json_keeps_absolute_folders_and_the_ids_it_decided_on(tmp_path, monkeypatch, capsys):
    stored = read_json(_decide(tmp_path, monkeypatch))
    assert stored["baseline"]["folder"] == str((tmp_path / "ci" / "evals" / "base").resolve())
    assert stored["candidate"]["folder"] == str((tmp_path / "ci" / "evals" / "cand").resolve())
    assert stored["lost_ids"] == ["s003", "s004", "s005"] and stored["gained_ids"] == ["s006"]
    assert (stored["lost"], stored["gained"]) == (len(stored["lost_ids"]), len(stored["gained_ids"]))


def test_report_shows_the_stored_ids_not_a_recount(tmp_path, monkeypatch, capsys):
    decision = _decide(tmp_path, monkeypatch)
    # later: the candidate folder is re-evaluated in place, and the report is built elsewhere
    write_eval(tmp_path / "ci" / "evals" / "cand", [False] * len(BASE))
    out, _ = make_run_folder(tmp_path / "made")
    monkeypatch.chdir(tmp_path)
    page = load_json_script(build_report(out, regress=[decision]).index.parent / "data" / "meta.js")["regressions"][0]
    assert page["lost"] == ["s003", "s004", "s005"] and page["gained"] == ["s006"]
    assert page["report"]["lost"] == len(page["lost"])


def test_an_older_regress_json_is_read_relative_to_itself(tmp_path, monkeypatch, capsys):
    # written before the ids were stored: relative folders, resolved against the file, and recounted
    gate = tmp_path / "ci" / "gate"
    write_eval(tmp_path / "ci" / "evals" / "base", BASE)
    write_eval(tmp_path / "ci" / "evals" / "cand", CAND)
    write_json(gate / "regress.json", {"metric": "accuracy", "delta": -0.2, "lost": 3, "gained": 1, "task": "toy",
                                       "baseline": {"folder": "../evals/base"}, "candidate": {"folder": "../evals/cand"}})
    out, _ = make_run_folder(tmp_path / "made")
    monkeypatch.chdir(tmp_path / "made")
    page = load_json_script(build_report(out, regress=[gate / "regress.json"]).index.parent / "data" / "meta.js")["regressions"][0]
    assert page["lost"] == ["s003", "s004", "s005"] and page["gained"] == ["s006"]
    assert json.loads(json.dumps(page["report"]))["baseline"]["folder"] == "../evals/base"  # shown as stored


def test_candidate_out_never_overwrites_a_folder_regress_did_not_make(tmp_path, capsys):
    base = write_eval(tmp_path / "evals" / "base", BASE)
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "metrics.json").write_text('{"mine": true}')
    assert main(["regress", "--baseline", str(base), "--candidate", str(tmp_path / "checkpoint"), "--candidate-out", str(mine)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--candidate-out {mine}: not empty and not made by selfsynth" in err
    assert [p.name for p in mine.iterdir()] == ["metrics.json"] and (mine / "metrics.json").read_text() == '{"mine": true}'
