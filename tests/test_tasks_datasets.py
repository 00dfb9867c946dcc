"""Each dataset module reads its published layout (built in a temp folder) with exact counts."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from PIL import Image

from selfsynth.errors import UserError
from selfsynth.registry import TASKS
from tests.fixtures_datasets import make_cub, make_ham, write_corrupt


def _task(name, root, **options):
    return TASKS.get(name)(root, **options)


@pytest.mark.parametrize("name", ["cub200", "stanford_dogs", "fgvc_aircraft", "pld", "chest_xray", "toy"])
def test_split_counts_and_classes(dataset_roots, name):
    root, expected = dataset_roots[name]
    task = _task(name, root)
    train, test = task.load("train"), task.load("test")
    assert (len(train), len(test)) == (expected["train"], expected["test"])
    assert len(task.class_names()) == expected["classes"]
    assert task.skipped == []
    assert not {s.id for s in train} & {s.id for s in test}
    labels = set(task.class_names())
    for sample in train + test:
        assert sample.label in labels
        assert Path(sample.image_path).is_absolute() and Path(sample.image_path).is_file()
    # deterministic order and content
    assert [s.id for s in _task(name, root).load("test")] == [s.id for s in test]


def test_cub_names_attributes_and_aliases(dataset_roots):
    root, _ = dataset_roots["cub200"]
    task = _task("cub200", root)
    assert task.class_names() == ["Black footed Albatross", "Artic Tern", "Chuck will Widow"]
    train = task.load("train")
    assert [s.metadata["image_id"] for s in train] == [1, 2, 5, 6, 9, 10]
    assert train[0].metadata["bbox_xywh"] == [1.0, 2.0, 8.0, 9.0]
    assert task.match("Looks like an Arctic Tern to me.", "Artic Tern")
    # attributes.txt beside CUB_200_2011/; attribute 3 is only "guessing" (certainty 2)
    assert task.attribute_names()[0] == "curved (up or down) bill shape"
    assert task.image_attributes(1) == ["curved (up or down) bill shape"]
    assert task.image_attributes(2) == ["blue wing color"]
    assert task.image_attributes(1, min_certainty=1) == ["curved (up or down) bill shape", "red crown color"]
    # root may also be the CUB_200_2011 folder itself
    assert len(_task("cub200", root / "CUB_200_2011").load("test")) == 6


def test_stanford_dogs_breed_names(dataset_roots):
    root, _ = dataset_roots["stanford_dogs"]
    task = _task("stanford_dogs", root)
    assert task.class_names() == ["Chihuahua", "flat-coated retriever", "Blenheim spaniel", "Mexican hairless"]
    sample = task.load("test")[0]
    assert sample.id == "n02085620_1003" and sample.metadata["wnid"] == "n02085620"
    assert task.match("This is a Cavalier King Charles Spaniel.", "Blenheim spaniel")
    assert task.match("A Xoloitzcuintli, hairless.", "Mexican hairless")
    assert task.match("a Flat Coated Retriever", "flat-coated retriever")


def test_fgvc_lines_with_spaces_and_slashes_and_banner_crop(dataset_roots, caplog):
    import selfsynth.tasks.fgvc_aircraft as fgvc

    root, _ = dataset_roots["fgvc_aircraft"]
    fgvc._warned = False
    with caplog.at_level(logging.WARNING):
        task = _task("fgvc_aircraft", root)
        _task("fgvc_aircraft", root)
    warnings = [r for r in caplog.records if "accuracy_paper" in r.getMessage()]
    assert len(warnings) == 1  # once per process
    assert task.class_names() == ["707-320", "737-800", "Boeing 717", "F/A-18"]
    test = task.load("test")
    assert [s.label for s in test] == ["707-320", "737-800", "Boeing 717", "F/A-18"]
    assert test[3].metadata["manufacturer"] == "McDonnell Douglas"
    image = task.open_image(test[0])
    assert image.size == (30, 30) and image.mode == "RGB"  # 50 px high minus the 20-px banner
    assert Image.open(test[0].image_path).size == (30, 50)
    assert _task("fgvc_aircraft", root / "fgvc-aircraft-2013b").load("train")[0].id == "1025795"


def test_pld_split_is_seeded_stratified_and_scaled(dataset_roots):
    root, _ = dataset_roots["pld"]
    task = _task("pld", root)
    # raw/color preferred over raw/grayscale; Blueberry___healthy excluded by default
    assert task.class_dir.name == "color"
    assert task.class_names() == ["Apple scab", "Apple healthy", "Tomato Late blight"]
    train, test = task.load("train"), task.load("test")
    assert sorted(s.label for s in train) == ["Apple healthy", "Apple scab", "Tomato Late blight", "Tomato Late blight"]
    again = _task("pld", root, seed=0)
    assert [s.id for s in again.load("train")] == [s.id for s in train]
    other = _task("pld", root, seed=1)
    assert [s.id for s in other.load("train")] != [s.id for s in train]
    # explicit sizes below what is there are taken as they are
    sized = _task("pld", root, train_size=10, test_size=20)
    assert (len(sized.load("train")), len(sized.load("test"))) == (10, 20)
    chosen = _task("pld", root, classes="Apple___healthy,Blueberry___healthy")
    assert chosen.class_names() == ["Apple healthy", "Blueberry healthy"]
    assert len(chosen.load("train")) + len(chosen.load("test")) == 15
    assert task.match("A healthy apple leaf.", "Apple healthy")
    with pytest.raises(UserError, match="Grape___Black_rot"):
        _task("pld", root, classes=["Grape___Black_rot", "Apple___healthy"]).class_names()


def test_ham10000_grouped_by_lesion(dataset_roots):
    root, expected = dataset_roots["ham10000"]
    task = _task("ham10000", root)
    train, test = task.load("train"), task.load("test")
    assert len(train) + len(test) == expected["total"] == 49
    assert 0.3 < len(train) / expected["total"] < 0.7
    assert not {s.metadata["lesion_id"] for s in train} & {s.metadata["lesion_id"] for s in test}
    assert {s.label for s in test} == set(task.class_names())  # stratified by dx
    assert {Path(s.image_path).parent.name for s in train + test} == {"HAM10000_images_part_1", "HAM10000_images_part_2"}
    assert task.match("This is a seborrheic keratosis.", "Benign keratosis-like lesions")
    assert [s.id for s in _task("ham10000", root).load("train")] == [s.id for s in train]


def test_ham10000_csv_name_and_missing_image(tmp_path):
    make_ham(tmp_path, csv_name="HAM10000_metadata.csv")
    assert len(_task("ham10000", tmp_path).load("test")) > 0
    next(tmp_path.rglob("ISIC_0000003.jpg")).unlink()
    with pytest.raises(UserError, match="ISIC_0000003.jpg"):
        _task("ham10000", tmp_path).load("train")


def test_chest_xray_skips_junk_and_nested_copy(dataset_roots):
    root, _ = dataset_roots["chest_xray"]
    task = _task("chest_xray", root)
    samples = task.load("train") + task.load("test")
    assert all("__MACOSX" not in s.image_path and "/._" not in s.image_path for s in samples)
    assert all("chest_xray/chest_xray" not in s.image_path for s in samples)
    assert {s.metadata.get("cause") for s in task.load("train") if s.label == "Pneumonia"} == {"bacteria", "virus"}
    # root may be the chest_xray folder itself
    assert len(_task("chest_xray", root / "chest_xray").load("train")) == 7


def test_toy_metadata_and_concepts(dataset_roots):
    root, _ = dataset_roots["toy"]
    task = _task("toy", root)
    sample = task.load("train")[0]
    assert sample.metadata["visible_concepts"] == ["red crown"]
    assert sample.metadata["attributes"] == {"crown": "red", "tail": None}
    assert task.class_concepts_path() == root / "concepts.json"
    assert task.prompts().domain == "toy"


def test_corrupt_image_is_skipped_and_counted(tmp_path):
    expected = make_cub(tmp_path, corrupt=True)
    task = _task("cub200", tmp_path)
    assert len(task.load("test")) == expected["test"] == 5
    assert task.skipped == expected["skipped"]
    unverified = _task("cub200", tmp_path, verify=False)
    assert len(unverified.load("test")) == 6
    bad = next(s for s in unverified.load("test") if s.image_path in expected["skipped"])
    with pytest.raises(UserError, match="cannot read image"):
        unverified.open_image(bad)


@pytest.mark.parametrize(
    "name, remove, message",
    [
        ("cub200", "CUB_200_2011/train_test_split.txt", "train_test_split.txt"),
        ("cub200", "CUB_200_2011", "CUB_200_2011"),
        ("stanford_dogs", "test_list.mat", "test_list.mat"),
        ("stanford_dogs", "Images", "Images"),
        ("fgvc_aircraft", "fgvc-aircraft-2013b/data/images_variant_test.txt", "images_variant_test.txt"),
        ("chest_xray", "chest_xray/test/NORMAL", "NORMAL"),
        ("toy", "test.jsonl", "test.jsonl"),
        ("ham10000", "HAM10000_metadata", "HAM10000_metadata"),
    ],
)
def test_missing_files_name_the_path(dataset_roots, tmp_path, name, remove, message):
    source, _ = dataset_roots[name]
    root = tmp_path / "copy"
    shutil.copytree(source, root)
    target = root / remove
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(UserError, match=message):
        _task(name, root).load("test")


def test_bad_metadata_rows(dataset_roots, tmp_path):
    source, _ = dataset_roots["ham10000"]
    shutil.copytree(source, tmp_path / "ham")
    meta = tmp_path / "ham" / "HAM10000_metadata"
    meta.write_text(meta.read_text().replace("lesion_id,", "lesion,", 1))
    with pytest.raises(UserError, match="missing column.*lesion_id"):
        _task("ham10000", tmp_path / "ham").load("train")
    bad_mat = tmp_path / "dogs"
    shutil.copytree(dataset_roots["stanford_dogs"][0], bad_mat)
    write_corrupt(bad_mat / "train_list.mat")
    with pytest.raises(UserError, match="train_list.mat"):
        _task("stanford_dogs", bad_mat).load("train")
