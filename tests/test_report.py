"""`selfsynth report`: the files the static report is made of, from a hand-made run folder."""
from __future__ import annotations

import json

import re
from pathlib import Path

import pytest
from PIL import Image

from selfsynth.cli import main
from selfsynth.errors import UserError
from selfsynth.io import read_json, read_jsonl
from selfsynth.reports.html import build_report

from tests.test_report_support import (  # noqa: F401
    toy_run,
    CONCEPTS,
    HOSTILE_ANSWER,
    HOSTILE_CLASS,
    OUTCOMES,
    TEST,
    TRAIN,
    load_json_script,
    make_run_folder,
)

COLUMNS = ["nl@0", "nl@1", "ours@0", "ours@1", "ours@2"]  # METHOD_ORDER puts nl before ours


@pytest.fixture()
def run_folder(tmp_path):
    out, root = make_run_folder(tmp_path)
    return out, root


def test_index_has_every_test_image_with_its_outcome_per_model(run_folder):
    out, _ = run_folder
    summary = build_report(out)
    data = summary.index.parent / "data"
    meta = load_json_script(data / "meta.js")
    index = load_json_script(data / "index.js")
    assert [c["key"] for c in meta["columns"]] == COLUMNS
    assert index["id"] == [sid for sid, _ in TEST]
    assert [meta["labels"][i] for i in index["label"]] == [label for _, label in TEST]
    for position, marks in enumerate(index["marks"]):
        expected = "".join(str(OUTCOMES[(key.split("@")[0], int(key.split("@")[1]))][position]) for key in COLUMNS)
        assert marks == expected
    assert (summary.samples, summary.columns, summary.train_images) == (len(TEST), len(COLUMNS), len(TRAIN))


def test_sample_chunk_holds_answers_judge_claims_and_reference_concepts(run_folder):
    out, _ = run_folder
    summary = build_report(out)
    chunk = load_json_script(summary.index.parent / "data" / "samples_00000.js")
    last = chunk[5]  # t5, the hostile class
    assert last["concepts"] == CONCEPTS[HOSTILE_CLASS][:2]
    judged = last["cells"]["ours@1"]
    assert judged["answer"] == HOSTILE_ANSWER.replace("Crimson Finch", HOSTILE_CLASS)
    assert [c["consistent"] for c in judged["claims"]] == [True, False]
    assert judged["claims"][1]["contrast"] == "pointed tail" and judged["other_claims"] == ["this bird is"]
    assert (judged["ee"], judged["cs"]) == (1, 0.5)
    assert "ee" not in last["cells"]["nl@1"]  # nl was not judged: no invented scores


def test_synthesis_chunk_shows_scores_threshold_rewrites_and_candidates(run_folder):
    out, _ = run_folder
    summary = build_report(out)
    data = summary.index.parent / "data"
    sindex = load_json_script(data / "synth_index.js")
    position = sindex["id"].index("r0")
    image = load_json_script(data / "synth_00000.js")[position]
    shared = image["shared"][0]
    assert [(c["name"], c["score"], c["kept"], c["rank"]) for c in shared["concepts"]] == [
        ("red crown", -1.25, True, 1), ("short beak", -0.5, True, 0), ("forked tail", -3.0, False, None)]
    assert [c["above"] for c in shared["concepts"]] == [False, True, False]  # threshold -0.9
    assert shared["threshold"] == -0.9 and shared["min_keep_filled"] is True
    assert len(shared["descriptions"]) == 4
    rewrite, reject = image["steps"]
    assert (rewrite["stage"], rewrite["iteration"], reject["stage"], reject["iteration"]) == ("rewrite", 1, "reject", 2)
    assert [(r["reason"], r["kept"]) for r in rewrite["rows"]] == [("label", True), ("near_label_appended", True), ("no_label", False)]
    assert rewrite["rows"][1]["answer"].endswith("This is a Crimson Finch.")
    assert [(r["chosen"], r["kept"], r["scores"]) for r in reject["rows"]] == [(1, True, [-2.0, -0.25, -3.5]), (0, False, [-2.0, -0.25, -3.5])]
    assert reject["rows"][1]["fallback_question"] == "What is this bird?"
    assert meta_prompts(data) == ["Describe the bird's appearance.", "What does the bird look like?"]


def meta_prompts(data: Path) -> list[str]:
    return load_json_script(data / "meta.js")["describe_prompts"]["toy:abc123def456"]


def test_thumbnails_are_small_files_written_once(run_folder):
    out, _ = run_folder
    summary = build_report(out)
    thumbs = sorted((summary.index.parent / "thumbs").glob("*.jpg"))
    assert len(thumbs) == len(TEST) + len(TRAIN) == summary.thumbnails
    for path in thumbs:
        with Image.open(path) as image:
            assert max(image.size) <= 96
    before = {p.name: p.stat().st_mtime_ns for p in thumbs}
    build_report(out)
    assert {p.name: p.stat().st_mtime_ns for p in thumbs} == before


def test_report_needs_no_network(run_folder):
    out, _ = run_folder
    folder = build_report(out).index.parent
    html = (folder / "index.html").read_text(encoding="utf-8")
    refs = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert refs and all(not re.match(r"[a-z]+:|//", ref) for ref in refs)
    script = (folder / "report.js").read_text(encoding="utf-8")
    code = re.sub(r"/\*.*?\*/|^\s*//.*$", "", script, flags=re.S | re.M)
    for sink in (".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write", "fetch(", "eval(", "new Function"):
        assert sink not in code
    # the one absolute URL is the SVG namespace name, which is never requested
    assert set(re.findall(r"https?://[^\"' ]+", script)) == {"http://www.w3.org/2000/svg"}
    assert not re.findall(r"https?://", (folder / "report.css").read_text(encoding="utf-8"))


def test_missing_dataset_gives_a_report_without_thumbnails(run_folder):
    out, root = run_folder
    for path in (root / "images").iterdir():
        path.unlink()
    (root / "test.jsonl").unlink()
    summary = build_report(out, out.parent / "elsewhere")
    index = load_json_script(summary.index.parent / "data" / "index.js")
    assert index["thumb"] == [""] * len(TEST)
    assert summary.index == out.parent / "elsewhere" / "index.html"


def test_regression_page_lists_lost_and_gained_samples(run_folder, tmp_path):
    out, _ = run_folder
    base, cand = (out / "default/toy/ours/seed_0" / f"iter_{i}" / "eval" for i in (1, 2))
    regress = tmp_path / "regress.json"
    code = main(["regress", "--baseline", str(base), "--candidate", str(cand), "--out", str(regress)])
    # the page shows whatever the gate decided; the exit code follows that stored decision
    assert code == (0 if json.loads(regress.read_text(encoding="utf-8"))["verdict"] in ("improved", "non-inferior") else 1)
    meta = load_json_script(build_report(out, regress=[regress]).index.parent / "data" / "meta.js")
    page = meta["regressions"][0]
    before, after = OUTCOMES[("ours", 1)], OUTCOMES[("ours", 2)]
    assert page["lost"] == [sid for (sid, _), b, a in zip(TEST, before, after) if b and not a]
    assert page["gained"] == [sid for (sid, _), b, a in zip(TEST, before, after) if a and not b]
    assert page["baseline_column"] == ["toy", "ours@1"] and page["candidate_column"] == ["toy", "ours@2"]


def test_overview_tables_come_from_the_stored_results(run_folder):
    out, _ = run_folder
    meta = load_json_script(build_report(out).index.parent / "data" / "meta.js")
    rows = {(r[1], r[3]): r for r in meta["evaluations"]["rows"]}
    assert rows[("ours", 2)][5] == f"{sum(OUTCOMES[('ours', 2)]) / len(TEST):.3f}"
    assert rows[("ours", 2)][7:9] == ["1.000", "0.500"] and rows[("nl", 1)][10] == "not judged"
    series = {line["name"]: line["points"] for line in meta["series"][0]["lines"]}
    assert series["nl"] == [[0, 1 / 6], [1, pytest.approx(2 / 6)]]


def test_user_errors_are_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    out, _ = make_run_folder(tmp_path)
    with pytest.raises(UserError, match="--regress .*not found"):
        build_report(out, regress=[tmp_path / "missing.json"])
    bad = tmp_path / "bad.json"
    bad.write_text("{}", encoding="utf-8")
    assert main(["report", str(out), "--regress", str(bad)]) == 2
    assert "expected the JSON of `selfsynth regress --out`" in capsys.readouterr().err


@pytest.mark.slow
def test_report_of_a_real_toy_run(toy_run):
    out, results = toy_run
    summary = build_report(out)
    data = summary.index.parent / "data"
    meta, index = load_json_script(data / "meta.js"), load_json_script(data / "index.js")
    assert [(c["method"], c["iteration"]) for c in meta["columns"]] == [("ours", 0), ("ours", 1), ("ours", 2)]
    assert len(index["id"]) == results["n_test"] == summary.samples
    for column, entry in enumerate(results["iterations"]):
        records = {r["id"]: r for r in read_jsonl(out / entry["records"])}
        assert [records[sid]["match"] for sid in index["id"]] == [marks[column] == "1" for marks in index["marks"]]
    cells = [c for n in range(len(index["id"]) // 100 + 1) for c in load_json_script(data / f"samples_{n:05d}.js")]
    claims_seen = 0
    for column, entry in zip(meta["columns"], results["iterations"]):
        step = (out / entry["records"]).parent.parent / "judge_local"  # `run --judge local` grades each iteration
        judged = {r["id"]: r for r in read_jsonl(step / "judge_records.jsonl")}
        for sid, cell in zip(index["id"], cells):
            assert cell["cells"][column["key"]]["claims"] == judged[sid]["judge_detail"]["attribute_claims"]
            assert (cell["cells"][column["key"]]["ee"], cell["concepts"]) == (judged[sid]["ee"], judged[sid]["concepts"])
            claims_seen += len(judged[sid]["judge_detail"]["attribute_claims"])
    assert claims_seen > 0

    # synthesis: every class concept with its score (select rows name their concepts), rewrites, candidates
    select_path = next(out.rglob("select.jsonl"))
    class_concepts = read_json(select_path.parent / "concepts.json")
    selection = {r["id"]: r for r in read_jsonl(select_path)}
    sindex = load_json_script(data / "synth_index.js")
    synth = [c for n in range(len(sindex["id"]) // 25 + 1) for c in load_json_script(data / f"synth_{n:05d}.js")]
    assert sorted(sindex["id"]) == sorted(selection)
    for sid, image in zip(sindex["id"], synth):
        row = selection[sid]
        assert row["concepts"] == class_concepts[row["label"]] and len(row["concepts"]) == len(row["scores"])
        shown = image["shared"][0]["concepts"]
        assert [(c["name"], c["score"]) for c in shown] == list(zip(row["concepts"], row["scores"]))
        assert [c["name"] for c in shown if c["kept"]] == [c for c in row["concepts"] if c in row["selected"]]
        stages = {(s["stage"], s["iteration"]): s["rows"] for s in image["steps"]}
        assert len(stages[("rewrite", 1)]) == 2 and len(stages[("reject", 2)]) == 2
        assert all(len(r["candidates"]) == 2 and r["chosen"] in (0, 1) for r in stages[("reject", 2)])


def test_judge_step_folders_are_found_and_one_judge_can_be_picked(run_folder, tmp_path):
    out, _ = run_folder  # ours: iterations 0-1 judged beside the records, iteration 2 in iter_2/judge_local/
    chunk = load_json_script(build_report(out, judge="local").index.parent / "data" / "samples_00000.js")
    assert all("ee" in sample["cells"]["ours@2"] for sample in chunk)
    chunk = load_json_script(build_report(out, tmp_path / "other", judge="openai").index.parent / "data" / "samples_00000.js")
    assert not any("ee" in sample["cells"][key] for sample in chunk for key in ("ours@1", "ours@2"))
