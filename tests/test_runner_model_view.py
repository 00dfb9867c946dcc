"""Synthesis and training see each image as evaluation shows it (``Task.open_image``)."""
from __future__ import annotations

from pathlib import Path

from PIL import Image

from selfsynth.cache import ResponseCache
from selfsynth.registry import METHODS, TASKS
from selfsynth.runner import RunConfig
from selfsynth.store import RunStore


def _runner(task, tmp_path):
    store = RunStore(root=tmp_path / "runs", experiment="e")
    return METHODS.get("nl")(RunConfig(task=task.name, method="nl"), task, store, ResponseCache(tmp_path / "c.sqlite"), "unused-model")


def test_fgvc_training_images_are_the_cropped_ones(dataset_roots, tmp_path):
    root, _ = dataset_roots["fgvc_aircraft"]
    task = TASKS.get("fgvc_aircraft")(root)
    originals = task.load("train")
    runner = _runner(task, tmp_path)
    shown = runner.train_samples
    assert [(s.id, s.label) for s in shown] == [(s.id, s.label) for s in originals]
    for sample, original in zip(shown, originals):
        assert sample.image_path != original.image_path and sample.image_path.endswith(".png")
        with Image.open(sample.image_path) as image, Image.open(original.image_path) as full:
            assert image.size == (30, 30)  # 30x50 fixture minus the 20-px banner
            assert image.convert("RGB").tobytes() == full.convert("RGB").crop((0, 0, 30, 30)).tobytes()
    # evaluation keeps the originals: harness.evaluate crops them itself
    assert runner.test_samples == task.load("test")
    # a second runner reuses the written files
    stamps = [Path(s.image_path).stat().st_mtime_ns for s in shown]
    again = _runner(task, tmp_path).train_samples
    assert again == shown
    assert [Path(s.image_path).stat().st_mtime_ns for s in again] == stamps


def test_tasks_without_a_custom_loader_keep_their_files(dataset_roots, tmp_path):
    root, _ = dataset_roots["cub200"]
    task = TASKS.get("cub200")(root)
    assert _runner(task, tmp_path).train_samples == task.load("train")
