"""The toy dataset generator: layout contract, ground truth, determinism (no model needed)."""
from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

from selfsynth.io import read_json, read_jsonl
from selfsynth.toy.dataset import PARTS, ToyDataConfig, caption, concept, extract_attributes, make_classes, write_dataset

SMALL = ToyDataConfig(seed=3, train_per_class=2, test_per_class=1, general_examples=6)


def _digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout_and_ground_truth(tmp_path):
    meta = write_dataset(tmp_path, SMALL)
    assert read_json(tmp_path / "toy_meta.json") == meta
    assert meta["version"] == 1 and meta["image_size"] == 48 and len(meta["classes"]) == 12
    concepts = read_json(tmp_path / "concepts.json")
    assert sorted(concepts) == sorted(meta["classes"])
    train, test = read_jsonl(tmp_path / "train.jsonl"), read_jsonl(tmp_path / "test.jsonl")
    assert len(train) == 24 and len(test) == 12
    assert Counter(r["label"] for r in train) == {c: 2 for c in meta["classes"]}
    for row in train + test:
        assert (tmp_path / row["image"]).is_file()
        attrs = row["attributes"]
        assert set(attrs) == set(PARTS)
        assert row["visible_concepts"] == [concept(p, attrs[p]) for p in PARTS if attrs[p] is not None]
        class_concepts = concepts[row["label"]]
        # class concepts come first, generic distractors after; visible class concepts use the same strings
        assert class_concepts[: len(PARTS)] == [concept(p, meta["class_attributes"][row["label"]][p]) for p in PARTS]
        for part, value in attrs.items():
            if value is not None and value == meta["class_attributes"][row["label"]][part]:
                assert concept(part, value) in class_concepts
    general = read_jsonl(tmp_path / "general.jsonl")
    assert len(general) == 6 and all({"id", "image", "question", "answer"} <= set(g) for g in general)
    assert not any(name.lower() in g["answer"].lower() for g in general for name in meta["classes"])


def test_images_differ_from_class_concepts_somewhere(tmp_path):
    cfg = ToyDataConfig(seed=0, train_per_class=10, test_per_class=0, general_examples=0)
    meta = write_dataset(tmp_path, cfg)
    rows = read_jsonl(tmp_path / "train.jsonl")
    hidden = sum(any(v is None for v in r["attributes"].values()) for r in rows)
    varied = sum(any(v is not None and v != meta["class_attributes"][r["label"]][p] for p, v in r["attributes"].items()) for r in rows)
    assert 0.2 * len(rows) < hidden < 0.7 * len(rows)
    assert 0.05 * len(rows) < varied < 0.35 * len(rows)


def test_classes_need_several_features():
    for seed in range(4):
        names, attrs = make_classes(ToyDataConfig(seed=seed))
        assert len(set(names)) == 12 and all(len(n.split()) == 2 for n in names)
        combos = list(attrs.values())
        for i in range(len(combos)):
            for j in range(i):
                assert sum(combos[i][p] != combos[j][p] for p in PARTS) >= 3
        # no single attribute value identifies a species
        counts = Counter((p, c[p]) for c in combos for p in PARTS)
        assert min(counts.values()) >= 2


def test_deterministic_from_seed(tmp_path):
    write_dataset(tmp_path / "a", SMALL)
    write_dataset(tmp_path / "b", SMALL)
    write_dataset(tmp_path / "c", ToyDataConfig(seed=4, train_per_class=2, test_per_class=1, general_examples=6))
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_caption_round_trips_through_the_parser():
    attrs = {"crown": "red", "wing_color": "blue", "wing_pattern": "striped", "tail": None, "beak": "hooked", "eye_ring": "white", "body": "grey"}
    text = caption(attrs)
    assert text == "The bird has a red crown, blue striped wings, a hooked beak, a white eye ring and a grey body."
    assert extract_attributes(text) == {(p, v) for p, v in attrs.items() if v is not None}
    assert extract_attributes("It shows spotted wings and a fan-shaped tail.") == {("wing_pattern", "spotted"), ("tail", "fan-shaped")}


def test_grown_test_split_equals_a_world_built_with_it(tmp_path):
    """`test_per_class` beyond the built world draws the rest of the same seeded stream: rows and
    image bytes equal a world built with that many test images, so the base model needs no rebuild."""
    import json

    from selfsynth.toy.dataset import ToyDataConfig, extend_test_split, write_dataset

    small, large = tmp_path / "small", tmp_path / "large"
    write_dataset(small, ToyDataConfig(train_per_class=1, test_per_class=2, general_examples=2))
    write_dataset(large, ToyDataConfig(train_per_class=1, test_per_class=3, general_examples=2))
    grown = extend_test_split(small, ToyDataConfig(train_per_class=1, test_per_class=2, general_examples=2), 3)
    read = lambda path: [json.loads(line) for line in path.read_text().splitlines()]  # noqa: E731
    assert read(grown) == read(large / "test.jsonl")
    assert read(grown)[: len(read(small / "test.jsonl"))] == read(small / "test.jsonl")
    for image in (large / "images").glob("test_*.png"):
        assert (small / "images" / image.name).read_bytes() == image.read_bytes()
