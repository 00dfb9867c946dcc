"""`selfsynth general-data`: LLaVA-Instruct conversations → the general rows mixed 1:1 into training."""
from __future__ import annotations

import json

import pytest
from PIL import Image

from selfsynth.cli import main
from selfsynth.io import read_jsonl

# three conversations in the LLaVA-Instruct layout (complex_reasoning_77k.json is a list of these)
CONVERSATIONS = [
    {"id": "000000215677", "image": "000000215677.jpg", "conversations": [
        {"from": "human", "value": "<image>\nWhat challenges might the man on the bike face?"},
        {"from": "gpt", "value": "He rides in heavy traffic, so he has to watch the cars closely."}]},
    {"id": "000000033471", "image": "000000033471.jpg", "conversations": [
        {"from": "human", "value": "What colour is the bus?\n<image>"},
        {"from": "gpt", "value": "The bus is white and red."},
        {"from": "human", "value": "What might the people be waiting for?"},
        {"from": "gpt", "value": "They are probably waiting to board the bus."}]},
    {"id": "000000999999", "image": "000000999999.jpg", "conversations": [
        {"from": "human", "value": "<image>\nWhat is on the table?"},
        {"from": "gpt", "value": "A cake."}]},
]


@pytest.fixture()
def coco(tmp_path):
    images = tmp_path / "train2017"
    images.mkdir()
    for name in ("000000215677.jpg", "000000033471.jpg"):  # the third image is missing
        Image.new("RGB", (8, 8), (120, 30, 30)).save(images / name)
    source = tmp_path / "complex_reasoning_77k.json"
    source.write_text(json.dumps(CONVERSATIONS))
    return source, images


def test_convert_llava_instruct(coco, tmp_path, capsys):
    source, images = coco
    out = tmp_path / "general.jsonl"
    assert main(["general-data", "--llava-instruct", str(source), "--images", str(images), "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["conversations"] == 3 and report["rows"] == 3 and report["missing_images"] == 1
    assert report["missing_examples"] == [str((images / "000000999999.jpg").resolve())]
    rows = read_jsonl(out)
    assert rows == [
        {"id": "000000215677", "image": str((images / "000000215677.jpg").resolve()),
         "question": "What challenges might the man on the bike face?",
         "answer": "He rides in heavy traffic, so he has to watch the cars closely."},
        {"id": "000000033471_0", "image": str((images / "000000033471.jpg").resolve()),
         "question": "What colour is the bus?", "answer": "The bus is white and red."},
        {"id": "000000033471_1", "image": str((images / "000000033471.jpg").resolve()),
         "question": "What might the people be waiting for?", "answer": "They are probably waiting to board the bus."},
    ]
    # the training loop's 1:1 mix reads them as they are
    from selfsynth.train import mix_general

    task_rows = [{"id": f"t{i}", "image": rows[0]["image"], "question": "q", "answer": "a"} for i in range(4)]
    mixed = mix_general(task_rows, out, seed=0)
    assert len(mixed) == 8 and {r["id"] for r in mixed[4:]} == {r["id"] for r in rows}


def test_convert_llava_instruct_user_errors(coco, tmp_path, capsys):
    source, images = coco
    out = tmp_path / "general.jsonl"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"id": "x", "image": "000000215677.jpg", "conversations": [
        {"from": "gpt", "value": "A"}, {"from": "human", "value": "Q"}]}]))
    cases = [
        (["--llava-instruct", str(bad), "--images", str(images)], "entry 0 (id 'x'): turns 0-1 are ['gpt', 'human']"),
        (["--llava-instruct", str(source), "--images", str(tmp_path / "nope")], "not a folder"),
        (["--llava-instruct", str(source), "--images", str(tmp_path)], "none of the 3 images"),
        (["--llava-instruct", str(tmp_path / "missing.json"), "--images", str(images)], "file not found"),
    ]
    for args, message in cases:
        assert main(["general-data", *args, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()  # nothing written on an error
