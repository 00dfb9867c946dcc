"""General instruction data for the 1:1 training mix (README "Fidelity", row "train mix"; paper: LLaVA-Instruct
``complex_reasoning_77k.json`` on COCO train2017 images).

LLaVA-Instruct files are one JSON list of conversations::

    {"id": "000000215677", "image": "000000215677.jpg",
     "conversations": [{"from": "human", "value": "<image>\\nWhat is unusual here?"},
                       {"from": "gpt", "value": "The man is ..."}, ...]}

``convert_llava_instruct`` turns every (human, gpt) turn pair into one training row
``{"id", "image", "question", "answer"}`` — the rows ``selfsynth.train`` reads as
``TrainConfig.general_data`` (the toy world's ``general.jsonl`` has the same shape) — with the
``<image>`` placeholder removed from the question (the training loop places the image itself) and
the image as an absolute path under ``images_dir``. A conversation with several pairs gives one row
per pair, in order (``TrainConfig.pack_questions`` trains an image's rows as one multi-turn
sequence again). Conversations whose image is missing are left out and counted.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfsynth.errors import UserError
from selfsynth.io import read_json, write_jsonl

IMAGE_PLACEHOLDER = "<image>"


@dataclass
class GeneralDataReport:
    out: str  # the JSONL written
    conversations: int  # entries in the input file
    rows: int  # training rows written (one per human/gpt pair)
    missing_images: int  # conversations left out because their image file is not there
    missing_examples: list[str] = field(default_factory=list)  # the first few missing image paths


def _turn_pairs(entry: Any, index: int, source: Path) -> list[tuple[str, str]]:
    where = f"{source}: entry {index}" + (f" (id {entry.get('id')!r})" if isinstance(entry, dict) else "")
    turns = entry.get("conversations") if isinstance(entry, dict) else None
    if not isinstance(turns, list) or not turns:
        raise UserError(f"{where}: expected a non-empty 'conversations' list")
    pairs = []
    for k in range(0, len(turns), 2):
        human, gpt = turns[k], turns[k + 1] if k + 1 < len(turns) else None
        roles = [t.get("from") if isinstance(t, dict) else None for t in (human, gpt)]
        if roles != ["human", "gpt"]:
            raise UserError(f"{where}: turns {k}-{k + 1} are {roles}, expected alternating 'human' then 'gpt'")
        values = [t.get("value") for t in (human, gpt)]
        if not all(isinstance(v, str) for v in values):
            raise UserError(f"{where}: turns {k}-{k + 1} need string 'value's")
        question = values[0].replace(IMAGE_PLACEHOLDER, "").strip()
        pairs.append((question, values[1].strip()))
    return pairs


def convert_llava_instruct(json_path: str | Path, images_dir: str | Path, out_path: str | Path) -> GeneralDataReport:
    """Write the rows of the LLaVA-Instruct file ``json_path`` (images under ``images_dir``) to
    ``out_path`` (JSONL, atomically); see the module doc."""
    source, images = Path(json_path), Path(images_dir)
    if not source.is_file():
        raise UserError(f"--llava-instruct {source}: file not found (expected e.g. complex_reasoning_77k.json)")
    if not images.is_dir():
        raise UserError(f"--images {images}: not a folder (expected the COCO train2017 image folder)")
    entries = read_json(source, "a JSON list of LLaVA-Instruct conversations", "--llava-instruct")
    if not isinstance(entries, list):
        raise UserError(f"{source}: expected a JSON list of conversations, got {type(entries).__name__}")
    base = images.resolve()
    rows: list[dict[str, str]] = []
    missing: list[str] = []
    for index, entry in enumerate(entries):
        pairs = _turn_pairs(entry, index, source)
        image = entry.get("image")
        if not isinstance(image, str) or not image:
            raise UserError(f"{source}: entry {index} (id {entry.get('id')!r}): expected an 'image' file name")
        path = base / image
        if not path.is_file():
            missing.append(str(path))
            continue
        conversation_id = str(entry.get("id", index))
        for k, (question, answer) in enumerate(pairs):
            row_id = conversation_id if len(pairs) == 1 else f"{conversation_id}_{k}"
            rows.append({"id": row_id, "image": str(path), "question": question, "answer": answer})
    if entries and not rows:
        raise UserError(f"--images {images}: none of the {len(entries)} images of {source} is there (first looked for: {missing[0]})")
    write_jsonl(out_path, rows)
    return GeneralDataReport(
        out=str(out_path), conversations=len(entries), rows=len(rows), missing_images=len(missing), missing_examples=missing[:5],
    )
