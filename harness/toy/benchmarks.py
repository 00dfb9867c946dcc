"""Miniatures of the five general-ability benchmarks in their published schemas, from toy images.

``ensure_toy_benchmarks(world)`` writes, once, beside the toy world::

    <toy world root>/benchmarks/<benchmark>/<split>.parquet

the layout ``selfsynth general --data DIR`` reads, so the folder is a ``--data`` folder. Each file
has exactly the columns (and the split) lmms-eval 0.7.3's task reads for that benchmark, image
columns as ``datasets.Image``, written by ``datasets`` as a converted hub copy is. Questions ask
what the toy ground truth knows about a test image (a part's colour or shape; which feature the
bird shows): multiple choice for MMStar, SEED-Bench-2-Plus, MMMU and MMBench, yes/no pairs per
image for MME. They exist to run lmms-eval's real scoring code offline; their numbers say nothing
about general ability.

Deterministic from the world's seed; built into a temporary folder and renamed into place under
a file lock (as the world itself), so a half-written folder is never mistaken for a finished one.
The toy world's own build and cache key are untouched.
"""
from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any, Callable

from selfsynth.io import read_json, read_jsonl, write_json
from selfsynth.toy.dataset import NOUNS, PARTS, VALUES, concept

BENCHMARKS_VERSION = 1
FOLDER = "benchmarks"
LETTERS = "ABCD"

# benchmark -> the split its lmms-eval task reads (test_split of the installed task YAML)
SPLITS: dict[str, str] = {
    "mmstar": "val",
    "seedbench_2_plus": "test",
    "mmmu_val": "validation",
    "mme": "test",
    "mmbench_en_dev": "dev",
}

# MME's category names (lmms-eval's mme/utils.py); cognition rows come first in the file, so a
# small --limit still reaches the cognition score
MME_COGNITION = ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning")
MME_PERCEPTION = ("color", "existence")
MME_IMAGES_PER_CATEGORY = 2
MC_ROWS = 12  # rows of each multiple-choice miniature


def toy_benchmarks_dir(world: Any) -> Path:
    return Path(world.root) / FOLDER


def ensure_toy_benchmarks(world: Any) -> Path:
    """The miniatures folder of ``world`` (a ``ToyWorld``), written on first use."""
    from filelock import FileLock

    folder = toy_benchmarks_dir(world)
    if _finished(folder):
        return folder
    with FileLock(str(folder.parent / f"{FOLDER}.lock")):
        if _finished(folder):
            return folder
        tmp = folder.parent / f".{FOLDER}.building-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            write_toy_benchmarks(Path(world.dataset_root), tmp)
            if folder.exists():  # an older version of the miniatures
                shutil.rmtree(folder)
            tmp.rename(folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return folder


def is_toy_benchmarks(folder: str | Path) -> bool:
    """Whether ``folder`` holds toy miniatures (said in every result computed on them)."""
    return _finished(Path(folder))


def _finished(folder: Path) -> bool:
    done = folder / "BUILD_DONE.json"
    return done.is_file() and read_json(done).get("version") == BENCHMARKS_VERSION


# -- questions the toy ground truth answers ---------------------------------------------------------
# colour questions for the parts with five colours (four options: the true one and three others)
QUESTIONS: dict[str, str] = {
    "crown": "What colour is the bird's crown?",
    "wing_color": "What colour are the bird's wings?",
}
FEATURE_QUESTION = "Which of these features does the bird in the image show?"


def _visible(row: dict[str, Any]) -> dict[str, str]:
    return {p: v for p, v in row["attributes"].items() if v is not None}


def multiple_choice(rng: random.Random, row: dict[str, Any]) -> tuple[str, list[str], int]:
    """(question, four options, index of the true one) about one toy image.

    A colour question when a colour part with five values is visible (three wrong colours drawn
    from the rest), else "which feature": one visible concept against three false ones."""
    seen = _visible(row)
    colour_parts = [p for p in QUESTIONS if p in seen]
    if colour_parts and rng.random() < 0.5:
        part = rng.choice(colour_parts)
        wrong = rng.sample([v for v in VALUES[part] if v != seen[part]], 3)
        options = [seen[part], *wrong]
        question = QUESTIONS[part]
    else:
        part = rng.choice(sorted(seen))
        false_parts = rng.sample([p for p in PARTS if p != part], 3)
        wrong = [concept(p, rng.choice([v for v in VALUES[p] if v != row["attributes"].get(p)])) for p in false_parts]
        options = [concept(part, seen[part]), *wrong]
        question = FEATURE_QUESTION
    order = list(range(4))
    rng.shuffle(order)
    shuffled = [options[i] for i in order]
    return question, shuffled, order.index(0)


def yes_no_pair(rng: random.Random, row: dict[str, Any]) -> list[tuple[str, str]]:
    """Two questions about one image, one true (Yes) and one false (No), as MME pairs them."""
    seen = _visible(row)
    part = rng.choice(sorted(seen))
    wrong = rng.choice([v for v in VALUES[part] if v != seen[part]])
    def ask(value: str) -> str:
        article = "an" if value[0] in "aeiou" else "a"
        return f"Does the bird have {article} {value} {NOUNS[part]}? Please answer yes or no."

    pairs = [(ask(seen[part]), "Yes"), (ask(wrong), "No")]
    rng.shuffle(pairs)
    return pairs


# -- writers -----------------------------------------------------------------------------------------
def _image(path: Path) -> dict[str, Any]:
    return {"bytes": path.read_bytes(), "path": None}


def _write(folder: Path, name: str, columns: dict[str, list], features: dict[str, Any]) -> int:
    import datasets

    dataset = datasets.Dataset.from_dict(columns, features=datasets.Features(features))
    target = folder / name / f"{SPLITS[name]}.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    dataset.to_parquet(str(target))
    return len(dataset)


def _mmstar(rows, rng, root) -> tuple[dict, dict]:
    import datasets

    cols: dict[str, list] = {k: [] for k in ("index", "question", "image", "answer", "category", "l2_category")}
    for i, row in enumerate(rows):
        question, options, answer = multiple_choice(rng, row)
        listed = ", ".join(f"{LETTERS[k]}: {option}" for k, option in enumerate(options))
        cols["index"].append(i)
        cols["question"].append(f"{question}\nOptions: {listed}")
        cols["image"].append(_image(root / row["image"]))
        cols["answer"].append(LETTERS[answer])
        # MMStar's own category names (lmms-eval sums scores per l2_category)
        cols["category"].append("fine-grained perception")
        cols["l2_category"].append("recognition" if question != FEATURE_QUESTION else "localization")
    string = datasets.Value("string")
    return cols, {"index": datasets.Value("int64"), "question": string, "image": datasets.Image(), "answer": string,
                  "category": string, "l2_category": string}


def _seedbench(rows, rng, root) -> tuple[dict, dict]:
    import datasets

    keys = ("question", "choice_A", "choice_B", "choice_C", "choice_D", "answer", "question_image_type", "question_id", "image")
    cols: dict[str, list] = {k: [] for k in keys}
    for i, row in enumerate(rows):
        question, options, answer = multiple_choice(rng, row)
        cols["question"].append(question)
        for k, option in enumerate(options):
            cols[f"choice_{LETTERS[k]}"].append(option)
        cols["answer"].append(LETTERS[answer])
        cols["question_image_type"].append(("chart", "map", "web")[i % 3])
        cols["question_id"].append(f"toy_{i:04d}")
        cols["image"].append(_image(root / row["image"]))
    string = datasets.Value("string")
    return cols, {**{k: string for k in keys if k != "image"}, "image": datasets.Image()}


def _mmmu(rows, rng, root) -> tuple[dict, dict]:
    import datasets

    keys = ("id", "question", "options", "answer", "question_type", "image_1")
    cols: dict[str, list] = {k: [] for k in keys}
    subjects = ("Biology", "Art", "Geography")  # MMMU subjects lmms-eval groups by domain
    for i, row in enumerate(rows):
        question, options, answer = multiple_choice(rng, row)
        cols["id"].append(f"validation_{subjects[i % len(subjects)]}_{i + 1}")
        cols["question"].append(f"<image 1> {question}")
        cols["options"].append(repr(options))  # MMMU stores the option list as its Python repr
        cols["answer"].append(LETTERS[answer])
        cols["question_type"].append("multiple-choice")
        cols["image_1"].append(_image(root / row["image"]))
    string = datasets.Value("string")
    return cols, {**{k: string for k in keys if k != "image_1"}, "image_1": datasets.Image()}


def _mmbench(rows, rng, root) -> tuple[dict, dict]:
    import datasets

    keys = ("index", "question", "hint", "A", "B", "C", "D", "answer", "category", "image", "source", "L2-category", "split")
    cols: dict[str, list] = {k: [] for k in keys}
    for i, row in enumerate(rows):
        question, options, answer = multiple_choice(rng, row)
        cols["index"].append(i)
        cols["question"].append(question)
        cols["hint"].append(None)
        for k, option in enumerate(options):
            cols[LETTERS[k]].append(option)
        cols["answer"].append(LETTERS[answer])
        cols["category"].append("attribute_recognition")
        cols["image"].append(_image(root / row["image"]))
        cols["source"].append("selfsynth_toy")
        cols["L2-category"].append("finegrained_perception (instance-level)")
        cols["split"].append("dev")
    string = datasets.Value("string")
    features = {k: string for k in keys}
    features.update({"index": datasets.Value("int64"), "image": datasets.Image()})
    return cols, features


def _mme(rows, rng, root) -> tuple[dict, dict]:
    import datasets

    keys = ("question_id", "image", "question", "answer", "category")
    cols: dict[str, list] = {k: [] for k in keys}
    images = iter(rows)
    for category in (*MME_COGNITION, *MME_PERCEPTION):
        for _ in range(MME_IMAGES_PER_CATEGORY):
            row = next(images)
            for question, answer in yes_no_pair(rng, row):
                cols["question_id"].append(f"{category}/{row['id']}.png")  # the pair shares its id
                cols["image"].append(_image(root / row["image"]))
                cols["question"].append(question)
                cols["answer"].append(answer)
                cols["category"].append(category)
    string = datasets.Value("string")
    return cols, {**{k: string for k in keys if k != "image"}, "image": datasets.Image()}


WRITERS: dict[str, Callable] = {
    "mmstar": _mmstar,
    "seedbench_2_plus": _seedbench,
    "mmmu_val": _mmmu,
    "mme": _mme,
    "mmbench_en_dev": _mmbench,
}


def write_toy_benchmarks(dataset_root: Path, out: Path) -> dict[str, int]:
    """Write every miniature under ``out`` from the toy dataset at ``dataset_root``; rows per benchmark."""
    rows = read_jsonl(dataset_root / "test.jsonl")
    meta = read_json(dataset_root / "toy_meta.json")
    counts = {}
    for offset, (name, writer) in enumerate(WRITERS.items()):
        rng = random.Random(f"toy-benchmark:{name}:{meta['seed']}")
        needed = MC_ROWS if name != "mme" else len(MME_COGNITION + MME_PERCEPTION) * MME_IMAGES_PER_CATEGORY
        start = (offset * MC_ROWS) % len(rows)  # each benchmark its own images where the split allows
        chosen = (rows[start:] + rows[:start])[:needed]
        columns, features = writer(chosen, rng, dataset_root)
        counts[name] = _write(out, name, columns, features)
    write_json(out / "BUILD_DONE.json", {"version": BENCHMARKS_VERSION, "rows": counts, "splits": SPLITS})
    return counts
