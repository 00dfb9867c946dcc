"""Every command writes only into what it owns: a folder it did not make is refused in one line
(exit 2) with the user's files untouched, and re-running into its own folder keeps a file the user
put there. Output folders carry ``selfsynth.io.OWNER_MARKER``; single-file outputs (concepts,
general data) leave their neighbours alone."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfsynth.cli import main
from selfsynth.io import OWNER_MARKER, claim_output_dir, owned_files, read_json, record_owned_files, write_json
from tests.fixtures_toy import TOY_CACHE
from tests.test_report_support import TEST, load_json_script, make_run_folder

FOREIGN = "train.jsonl"  # what a user keeps beside their outputs (the docs keep training JSONL in data/)
FOREIGN_TEXT = '{"image": "a.png", "question": "q", "answer": "a"}\n'


def plant(folder: Path, rel: str = FOREIGN) -> Path:
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(FOREIGN_TEXT)
    return path


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def hand_run(tmp_path):
    """(run folder, dataset root) of a hand-made run (no model involved)."""
    return make_run_folder(tmp_path / "made")


def _eval_folder(tmp_path: Path, hand_run) -> Path:
    out, _ = hand_run
    return out / "default/toy/ours/seed_0/iter_1/eval"


def _experiment(tmp_path: Path) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(json.dumps({"name": "mini", "tasks": [{"task": "toy"}], "methods": ["nl"], "seeds": [0],
                                "overrides": {"toy_cache": str(TOY_CACHE), "iterations": 0, "limit": 4, "test_limit": 4}}))
    return path


# command → argv writing into the folder ``dest`` (every one of them must refuse a folder it did not make)
COMMANDS = {
    "run": lambda tmp, hand, dest: ["run", "--task", "toy", "--method", "nl", "--toy_cache", str(TOY_CACHE), "--iterations", "0",
                                     "--limit", "4", "--out", str(dest)],
    "eval": lambda tmp, hand, dest: ["eval", "--task", "toy", "--toy_cache", str(TOY_CACHE), "--limit", "2", "--out", str(dest)],
    "judge": lambda tmp, hand, dest: ["judge", str(_eval_folder(tmp, hand)), "--judge", "local", "--fluency", "false",
                                       "--task", "toy", "--root", str(hand[1]), "--out", str(dest)],
    "report": lambda tmp, hand, dest: ["report", str(hand[0]), "--html", str(dest)],
    "table --plots": lambda tmp, hand, dest: ["table", "1", "--out", str(hand[0]), "--plots", "--plots-dir", str(dest)],
    "reproduce": lambda tmp, hand, dest: ["reproduce", str(_experiment(tmp)), "--out", str(dest)],
    "export-lmms": lambda tmp, hand, dest: ["export-lmms", "--task", "toy", "--root", str(hand[1]), "--out", str(dest)],
    "new-method": lambda tmp, hand, dest: ["new-method", "crest_notes", "--out", str(dest)],
    "toy": lambda tmp, hand, dest: ["toy", "--out", str(dest)],
}
# the commands above that need the toy world (its model and dataset) before they reach the folder
NEEDS_TOY = {"run", "eval", "reproduce"}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_folder_the_command_did_not_make_is_refused_untouched(command, tmp_path, hand_run, capsys, request):
    if command in NEEDS_TOY:
        request.getfixturevalue("toy_world")
    dest = tmp_path / "mine"
    plant(dest, f"data/{FOREIGN}")
    plant(dest, "plots/figure.svg")
    before = files_of(dest)
    capsys.readouterr()
    assert main(COMMANDS[command](tmp_path, hand_run, dest)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(dest) in err and ("not made by selfsynth" in err or "not an empty folder" in err), err
    assert files_of(dest) == before  # nothing removed, nothing overwritten, nothing added


def test_report_rebuilt_in_its_own_folder_keeps_planted_files_and_drops_only_its_stale_ones(hand_run, tmp_path, capsys):
    out, _ = hand_run
    html = tmp_path / "html"
    assert main(["report", str(out), "--html", str(html)]) == 0
    assert read_json(html / OWNER_MARKER)["kind"] == "report"
    recorded = owned_files(html)
    assert {"index.html", "data/meta.js", "data/index.js", "data/samples_00000.js"} <= recorded
    # a chunk an earlier, larger report recorded and this one does not write again: removed
    stale = html / "data" / "samples_00099.js"
    stale.write_text("old chunk")
    record_owned_files(html, [html / name for name in recorded] + [stale])
    mine = [plant(html, f"data/{FOREIGN}"), plant(html, "plots/notes.svg"), plant(html, "thumbs/keep.txt"), plant(html, "README")]
    assert main(["report", str(out), "--html", str(html)]) == 0
    assert all(p.read_text() == FOREIGN_TEXT for p in mine)
    assert not stale.exists()
    assert load_json_script(html / "data" / "index.js")["id"] == [sid for sid, _ in TEST]


def test_default_report_folder_inside_the_run_is_claimed_as_a_report(hand_run, capsys):
    out, _ = hand_run
    plant(out, f"data/{FOREIGN}")  # beside the run's own folders
    assert main(["report", str(out)]) == 0
    assert read_json(out / "report" / OWNER_MARKER)["kind"] == "report"
    assert (out / "data" / FOREIGN).read_text() == FOREIGN_TEXT


def test_plots_rewritten_into_their_folder_keep_a_planted_file(hand_run, tmp_path, capsys):
    out, _ = hand_run
    plots = tmp_path / "figures"
    assert main(["table", "1", "--out", str(out), "--plots", "--plots-dir", str(plots)]) == 0
    mine = plant(plots, "my_figure.svg")
    assert main(["table", "1", "--out", str(out), "--plots", "--plots-dir", str(plots)]) == 0
    assert mine.read_text() == FOREIGN_TEXT and (plots / "accuracy_toy.svg").is_file()


def test_judge_and_export_rerun_into_their_folders_keep_planted_files(hand_run, tmp_path, capsys):
    out, root = hand_run
    evaluation = out / "default/toy/ours/seed_0/iter_1/eval"
    graded, exported = tmp_path / "graded", tmp_path / "exported"
    for _ in range(2):
        assert main(["judge", str(evaluation), "--judge", "local", "--fluency", "false", "--task", "toy", "--root", str(root),
                     "--out", str(graded)]) == 0
        assert main(["export-lmms", "--task", "toy", "--root", str(root), "--out", str(exported)]) == 0
        mine = [plant(graded), plant(exported, f"data/{FOREIGN}")]
    assert all(p.read_text() == FOREIGN_TEXT for p in mine)
    assert (graded / "judge_records.jsonl").is_file() and (exported / "data" / "toy_test.jsonl").is_file()
    # without --out the grades go beside the records: a run's evaluation folder is ours (inside the
    # run, whose marker covers it); one from before the marker is adopted by its records.jsonl
    claim_output_dir(out, "run", adopt=("default",))
    assert main(["judge", str(evaluation), "--judge", "local", "--fluency", "false", "--task", "toy", "--root", str(root)]) == 0
    assert not (evaluation / OWNER_MARKER).exists() and (evaluation / "judge_records.jsonl").is_file()
    foreign = plant(tmp_path / "elsewhere", "records.txt")
    assert main(["judge", str(foreign.parent), "--judge", "local", "--fluency", "false", "--task", "toy", "--root", str(root)]) == 2
    assert [p.name for p in foreign.parent.iterdir()] == ["records.txt"]


def test_single_file_outputs_leave_their_neighbours_alone(toy_world, tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "data"
    mine = plant(folder)
    concepts = read_json(Path(toy_world.dataset_root) / "concepts.json")
    (tmp_path / "descriptors.json").write_text(json.dumps(concepts))
    assert main(["concepts", "--task", "toy", "--root", str(toy_world.dataset_root), "--from-json", str(tmp_path / "descriptors.json"),
                 "--out", str(folder / "concepts.json")]) == 0
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (8, 8)).save(images / "a.jpg")
    (tmp_path / "llava.json").write_text(json.dumps([{"id": "1", "image": "a.jpg", "conversations": [
        {"from": "human", "value": "<image>\nWhat is it?"}, {"from": "gpt", "value": "A square."}]}]))
    assert main(["general-data", "--llava-instruct", str(tmp_path / "llava.json"), "--images", str(images),
                 "--out", str(folder / "general.jsonl")]) == 0
    assert mine.read_text() == FOREIGN_TEXT
    assert sorted(p.name for p in folder.iterdir()) == ["concepts.json", "concepts.json.stats.json", "general.jsonl", FOREIGN]


def test_eval_reruns_into_its_own_folder_and_keeps_a_planted_file(toy_world, tmp_path, capsys):
    dest = tmp_path / "eval"
    args = ["eval", "--task", "toy", "--toy_cache", str(TOY_CACHE), "--limit", "2", "--max_new_tokens", "8", "--out", str(dest)]
    assert main(args) == 0
    mine = plant(dest)
    assert main(args) == 0
    assert mine.read_text() == FOREIGN_TEXT and read_json(dest / OWNER_MARKER)["kind"] == "eval"


def test_claim_rules(tmp_path):
    from selfsynth.errors import UserError

    run = claim_output_dir(tmp_path / "runs", "run")
    nested = claim_output_dir(run / "default" / "report", "report")  # new folder inside a run: its own marker
    assert read_json(nested / OWNER_MARKER)["kind"] == "report"
    with pytest.raises(UserError, match="another selfsynth command \\(report\\), not eval"):
        claim_output_dir(nested, "eval")
    legacy = tmp_path / "old_eval"
    write_json(legacy / "metrics.json", {})
    write_json(legacy / "records.jsonl", {})
    assert claim_output_dir(legacy, "eval", adopt=("metrics.json", "records.jsonl")) == legacy  # made before the marker
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(UserError, match="exists and is not a folder"):
        claim_output_dir(file, "eval")
