"""The bad-input matrix: every user mistake the harness can meet on disk or on the command line is
one line on stderr naming the file or flag and what was expected, exit 2, never a traceback; one
unreadable image is a counted skip, not a stop. One table, one test per row."""
from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from selfsynth.cli import main
from selfsynth.io import write_json, write_jsonl
from tests.fixtures_datasets import make_cub, make_ham, make_toy
from tests.fixtures_reliability import record_figure


def _cub(tmp: Path) -> Path:
    make_cub(tmp / "cub")
    return tmp / "cub"


def _ham(tmp: Path) -> Path:
    make_ham(tmp / "ham")
    return tmp / "ham" / "HAM10000_metadata"


def _toy(tmp: Path) -> Path:
    make_toy(tmp / "toy")
    return tmp / "toy"


def cub_truncated_labels(tmp):
    labels = _cub(tmp) / "CUB_200_2011" / "image_class_labels.txt"
    labels.write_text(labels.read_text()[:20])  # cut off after a few lines, mid-line
    return ["data", "--task", "cub200", "--root", str(tmp / "cub")], "has no class label or split entry"


def cub_non_utf8(tmp):
    images = _cub(tmp) / "CUB_200_2011" / "images.txt"
    images.write_bytes(b"\xff\xfe" + images.read_bytes())
    return ["data", "--task", "cub200", "--root", str(tmp / "cub")], "images.txt: not UTF-8 text"


def ham_non_utf8(tmp):
    csv = _ham(tmp)
    csv.write_bytes(csv.read_bytes().replace(b"male", b"m\xe4le", 1))  # Latin-1, as an old export
    return ["data", "--task", "ham10000", "--root", str(tmp / "ham")], "HAM10000_metadata: not UTF-8 text"


def ham_missing_column(tmp):
    csv = _ham(tmp)
    csv.write_text(csv.read_text().replace("dx,", "diagnosis,", 1))
    return ["data", "--task", "ham10000", "--root", str(tmp / "ham")], "HAM10000_metadata: missing column(s) dx"


def toy_jsonl_non_utf8(tmp):
    split = _toy(tmp) / "test.jsonl"
    split.write_bytes(b"\xff" + split.read_bytes())
    return ["data", "--task", "toy", "--root", str(tmp / "toy")], "test.jsonl:1: not UTF-8 text"


def toy_jsonl_truncated(tmp):
    split = _toy(tmp) / "test.jsonl"
    split.write_text(split.read_text()[:-40])  # the last row cut mid-object
    return ["data", "--task", "toy", "--root", str(tmp / "toy")], "test.jsonl:3: not valid JSON"


def _config(tmp, text):
    (tmp / "run.yaml").write_text(text)
    return ["run", "--config", str(tmp / "run.yaml"), "--print-config"]


def yaml_wrong_type(tmp):
    return _config(tmp, "iterations: many\n"), "run.yaml: iterations: 'many' is not a valid int"


def yaml_unknown_key(tmp):
    return _config(tmp, "iteratons: 2\n"), "run.yaml: unknown key(s) 'iteratons' (did you mean 'iterations'?)"


def yaml_syntax_error(tmp):
    return _config(tmp, "iterations: [2\n"), "run.yaml: invalid YAML at line 2"


def unknown_task(tmp):
    return ["run", "--task", "cub201", "--print-config"], "unknown task 'cub201'; did you mean 'cub200'?"


def unknown_method(tmp):
    return ["run", "--method", "ourz", "--print-config"], "unknown method 'ourz'; did you mean 'ours'?"


def unknown_judge(tmp):
    return ["run", "--judge", "opnai", "--print-config"], "unknown judge 'opnai'; did you mean 'openai'?"


def unknown_benchmark(tmp):
    return ["run", "--general", "mmmmu", "--print-config"], "--general: unknown benchmark(s) mmmmu"


def missing_model(tmp):
    return (["eval", "--task", "toy", "--root", str(_toy(tmp)), "--model", str(tmp / "no_model"), "--limit", "2"],
            "no_model': no such folder, and not a Hugging Face Hub id")


def missing_adapter(tmp):
    return (["eval", "--task", "toy", "--root", str(_toy(tmp)), "--model", str(tmp / "no_model"), "--adapter", str(tmp / "no_adapter")],
            "no_adapter: expected a LoRA adapter folder with adapter_config.json")


def missing_dataset(tmp):
    return ["data", "--task", "cub200", "--root", str(tmp / "nowhere")], "nowhere/CUB_200_2011 not found"


def _concepts(tmp, content):
    (tmp / "concepts.json").write_text(json.dumps(content))
    return ["concepts", "--task", "toy", "--root", str(_toy(tmp)), "--from-json", str(tmp / "concepts.json"), "--out", str(tmp / "out.json")]


def concepts_list_not_mapping(tmp):
    return _concepts(tmp, [["red crown"]]), "concepts.json: expected a JSON object {class name: [concept, ...]}, got list"


def concepts_string_not_list(tmp):
    return _concepts(tmp, {"Crimson Finch": "red crown", "Azure Warbler": ["blue crown"]}), "the value of 'Crimson Finch' must be a list of strings"


def concepts_empty_class(tmp):
    return _concepts(tmp, {"Crimson Finch": [], "Azure Warbler": ["blue crown"]}), "concepts.json: no concepts for 1 class(es): 'Crimson Finch'"


def concepts_non_utf8(tmp):
    argv = _concepts(tmp, {})
    (tmp / "concepts.json").write_bytes('{"Crimson Finch": ["r\u00f6d crown"]}'.encode("latin-1"))
    return argv, "concepts.json: not UTF-8 text (byte 21)"


def concepts_empty_file(tmp):
    argv = _concepts(tmp, {})
    (tmp / "concepts.json").write_bytes(b"")
    return argv, "concepts.json: not valid JSON (Expecting value at line 1)"


def concepts_binary_junk(tmp):
    argv = _concepts(tmp, {})
    (tmp / "concepts.json").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    return argv, "concepts.json: binary data (NUL bytes), not text"


def yaml_number_key(tmp):
    return _config(tmp, "707: 2\n"), "run.yaml: key 707 is a number, not text (quote it)"


def general_data_not_utf8(tmp):
    (tmp / "llava.json").write_bytes(b'[{"id": "\xe9"}]')
    (tmp / "images").mkdir()
    return (["general-data", "--llava-instruct", str(tmp / "llava.json"), "--images", str(tmp / "images"), "--out", str(tmp / "g.jsonl")],
            "--llava-instruct " + str(tmp / "llava.json") + ": not UTF-8 text (byte 9)")


def _evaluation(folder: Path, **setup) -> Path:
    records = [{"id": f"s{i}", "label": "a", "answer": "a", "match": True, "paper_match": True} for i in range(4)]
    write_jsonl(folder / "records.jsonl", records)
    write_json(folder / "metrics.json", {"task": "toy", "split": "test", "limit": None, "seed": 0, "prompts_hash": "abc", "question": "q?",
                                         "generation": {"max_new_tokens": 8, "temperature": 0.0}, "engine": "hf", "scoring_rule": "match-v2",
                                         "model_fingerprint": folder.name, "accuracy": 1.0, **setup})
    return folder


def regress_different_tasks(tmp):
    base, cand = _evaluation(tmp / "base"), _evaluation(tmp / "cand", task="cub200")
    return ["regress", "--baseline", str(base), "--candidate", str(cand)], "task: 'cub200'"


def regress_different_questions(tmp):
    base, cand = _evaluation(tmp / "base"), _evaluation(tmp / "cand", question="another question?")
    return ["regress", "--baseline", str(base), "--candidate", str(cand)], "question: 'another question?'"


def limit_zero(tmp):
    return ["run", "--limit", "0", "--print-config"], "limit 0: expected >= 1"


def limit_negative(tmp):
    return ["eval", "--limit", "-3"], "limit -3: expected >= 1"


def iterations_negative(tmp):
    return ["run", "--iterations", "-1", "--print-config"], "iterations -1: expected >= 0"


def experiment_missing_dataset(tmp):
    experiment = {"name": "broken", "out": str(tmp / "runs"), "tasks": [{"task": "cub200", "root": str(tmp / "no_cub")}],
                  "methods": ["base"], "seeds": [0], "tables": ["1"], "overrides": {"model": str(tmp)}}
    (tmp / "broken.yaml").write_text(yaml.safe_dump(experiment))
    return ["reproduce", str(tmp / "broken.yaml"), "--dry-run"], "input(s) missing"


def disk_full_during_write(tmp, monkeypatch):
    import selfsynth.io

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(selfsynth.io.os, "fsync", no_space)
    argv = _concepts(tmp, {"Crimson Finch": ["red crown"], "Azure Warbler": ["blue crown"]})
    return argv, "out.json: no space left on device"


CASES = [cub_truncated_labels, cub_non_utf8, ham_non_utf8, ham_missing_column, toy_jsonl_non_utf8, toy_jsonl_truncated,
         yaml_wrong_type, yaml_unknown_key, yaml_syntax_error, unknown_task, unknown_method, unknown_judge, unknown_benchmark,
         missing_model, missing_adapter, missing_dataset, concepts_list_not_mapping, concepts_string_not_list, concepts_empty_class,
         regress_different_tasks, regress_different_questions, limit_zero, limit_negative, iterations_negative,
         experiment_missing_dataset, disk_full_during_write, concepts_non_utf8, concepts_empty_file, concepts_binary_junk,
         yaml_number_key, general_data_not_utf8]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__)
def test_bad_input_is_one_line_exit_2(case, tmp_path, capsys, monkeypatch):
    argv, expected = case(tmp_path, monkeypatch) if case is disk_full_during_write else case(tmp_path)
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"selfsynth {argv[0]}: error: ") and expected in lines[0], lines[0]
    # no half-written output and no temp file left by the failed command
    assert not list(tmp_path.rglob("*.tmp"))
    assert not (tmp_path / "out.json").exists()
    record_figure("bad_inputs", case.__name__, {"exit": code, "message": lines[0]})


def test_unreadable_images_are_counted_skips(tmp_path, capsys):
    """Zero-byte and corrupt files are skipped and counted; a grayscale (non-RGB) image is read."""
    images = sorted((_cub(tmp_path) / "CUB_200_2011" / "images").rglob("*.jpg"))
    images[0].write_bytes(b"")
    Image.fromarray(np.zeros((12, 12), dtype=np.uint8)).save(images[1], format="JPEG")  # mode L
    Image.fromarray(np.zeros((12, 12, 4), dtype=np.uint8)).save(images[3].with_suffix(".png"), format="PNG")
    images[3].with_suffix(".png").replace(images[3])  # an RGBA PNG under a .jpg name
    images[2].write_bytes(b"GIF89a not really")
    assert main(["data", "--task", "cub200", "--root", str(tmp_path / "cub"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    skipped = [Path(p).name for p in report["skipped"]] if isinstance(report["skipped"], list) else report["skipped"]
    assert report["splits"] == {"train": 5, "test": 5}, report
    assert sorted(skipped) == sorted([images[0].name, images[2].name]), report
    from selfsynth.tasks.base import build_task

    task = build_task("cub200", str(tmp_path / "cub"), {})
    for sample in task.load("train") + task.load("test"):
        assert task.open_image(sample).mode == "RGB"
    for name in ("zero_byte_image", "corrupt_image", "grayscale_image", "rgba_image"):
        record_figure("bad_inputs", name, {"exit": 0, "message": "counted skip" if "byte" in name or "corrupt" in name else "read as RGB"})
