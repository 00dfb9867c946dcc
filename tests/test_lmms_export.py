"""export-lmms writes data + a task folder lmms-eval can load; its scoring equals ours."""
from __future__ import annotations

import json

import yaml

from selfsynth.cli import main


class _FunctionLoader(yaml.SafeLoader):
    pass


_FunctionLoader.add_constructor("!function", lambda loader, node: ("!function", loader.construct_scalar(node)))


def test_export_files(dataset_roots, tmp_path, capsys):
    root, expected = dataset_roots["fgvc_aircraft"]
    out = tmp_path / "lmms"
    assert main(["export-lmms", "--task", "fgvc_aircraft", "--root", str(root), "--out", str(out),
                 "--split", "test", "--split", "train", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["tasks"] == {"selfsynth_fgvc_aircraft": expected["test"], "selfsynth_fgvc_aircraft_train": expected["train"]}
    assert result["include_path"] == str(out.resolve())
    rows = [json.loads(l) for l in (out / "data" / "fgvc_aircraft_test.jsonl").read_text().splitlines()]
    assert [r["label"] for r in rows] == ["707-320", "737-800", "Boeing 717", "F/A-18"]
    assert rows[3]["aliases"][:3] == ["FA-18", "F-18", "CF-18"]  # tasks/aliases/fgvc_aircraft.yaml, in its order
    assert rows[0]["question"] == "Based on what you see, what is the exact model of this aircraft? Explain your answer."
    config = yaml.load((out / "selfsynth_fgvc_aircraft" / "selfsynth_fgvc_aircraft.yaml").read_text(), Loader=_FunctionLoader)
    assert config["task"] == "selfsynth_fgvc_aircraft"
    assert config["dataset_kwargs"]["data_files"]["test"] == str(out.resolve() / "data" / "fgvc_aircraft_test.jsonl")
    assert config["process_results"] == ("!function", "utils.process_results")
    assert config["generation_kwargs"] == {"max_new_tokens": 256, "temperature": 0, "do_sample": False, "until": []}
    assert (out / "selfsynth_fgvc_aircraft" / "utils.py").is_file()


def test_bridge_functions_match_task_scoring(dataset_roots, tmp_path):
    from selfsynth.evaluate import score
    from selfsynth.registry import TASKS
    from selfsynth.tasks.lmms_bridge import task_utils
    from selfsynth.tasks.lmms_bridge.export import rows_for

    root, _ = dataset_roots["fgvc_aircraft"]
    task = TASKS.get("fgvc_aircraft")(root)
    rows = rows_for(task, "test")
    answers = ["A Boeing 707-320.", "This is a 737-400.", "a Boeing 717-200", "an FA-18 Hornet"]
    for row, answer in zip(rows, answers):
        result = task_utils.process_results(row, [answer])
        ours, paper = score(task, answer, row["label"])
        assert (result["selfsynth_accuracy"]["match"], result["selfsynth_accuracy_paper"]["match"]) == (ours, paper)
        assert result["selfsynth_accuracy"]["id"] == row["id"]
    assert [task_utils.process_results(r, [a])["selfsynth_accuracy"]["match"] for r, a in zip(rows, answers)] == [True, False, True, True]
    assert [task_utils.process_results(r, [a])["selfsynth_accuracy_paper"]["match"] for r, a in zip(rows, answers)] == [True, True, True, True]
    # the bridge shows the model the cropped image, as our generation does
    (image,) = task_utils.doc_to_visual(rows[0])
    assert image.size == (30, 30)
    assert task_utils.aggregate_accuracy([{"match": True}, {"match": False}]) == 0.5
