"""The toy run preset's evaluation batch: the same answers, record by record, as smaller batches."""
from __future__ import annotations

import time

from selfsynth.io import read_jsonl


def test_preset_eval_batch_gives_the_same_records_as_batch_32(toy_world, tmp_path):
    from selfsynth.evaluate import evaluate
    from selfsynth.models import load_model
    from selfsynth.tasks.toy import RUN_PRESET, ToyTask

    task = ToyTask(toy_world.dataset_root)
    samples = task.load("test")
    batch = RUN_PRESET["eval_batch_size"]
    assert batch > 32 and len(samples) > 32  # batch 32 splits the split into several batches
    lm = load_model(toy_world.model_path)
    seconds, metrics = {}, {}
    for size in (32, batch):  # no response cache: both sides generate every answer
        start = time.perf_counter()
        metrics[size] = evaluate(task, samples, lm, tmp_path / str(size), max_new_tokens=RUN_PRESET["eval_max_new_tokens"],
                                 batch_size=size)
        seconds[size] = time.perf_counter() - start
    small, large = (read_jsonl(tmp_path / str(size) / "records.jsonl") for size in (32, batch))
    assert len(small) == len(samples)
    assert large == small  # every field of every record: answer, match, label, ...
    assert metrics[batch]["accuracy"] == metrics[32]["accuracy"]
    print(f"eval of {len(samples)} answers: batch 32 {seconds[32]:.1f} s, batch {batch} {seconds[batch]:.1f} s")
