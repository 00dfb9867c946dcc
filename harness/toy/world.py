"""``ensure_toy_world()``: build the toy dataset and the toy base model once, cache, reuse.

The cache folder is keyed by a hash of the full config (and a build version), so changing any
setting builds a new world beside the old one. A build writes into a temporary folder and renames
it into place at the very end, so an interrupted build leaves nothing that looks finished; a file
lock makes concurrent callers (two test processes, two ranks) wait for one build.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from harness.io import write_json
from harness.toy.dataset import DESCRIBE_QUESTIONS, ToyDataConfig, caption, pretrain_attributes, render, write_dataset
from harness.toy.model import ToyModelConfig, build_initial_model

BUILD_VERSION = 2
DEFAULT_CACHE = Path("~/.cache/selfsynth/toy")


@dataclass(frozen=True)
class ToyConfig:
    data: ToyDataConfig = dataclasses.field(default_factory=ToyDataConfig)
    model: ToyModelConfig = dataclasses.field(default_factory=ToyModelConfig)
    pretrain_images: int = 3000  # distinct random-attribute images for caption pre-training
    pretrain_steps: int = 1200
    pretrain_batch_size: int = 32
    pretrain_learning_rate: float = 1e-3
    pretrain_warmup_ratio: float = 0.03

    def key(self) -> str:
        payload = json.dumps({"build": BUILD_VERSION, **dataclasses.asdict(self)}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ToyWorld:
    root: str  # the cache folder of this config
    dataset_root: str  # the layout of notes/toy_layout.md
    model_path: str  # the pre-trained toy base model (save_pretrained folder)
    general_path: str  # general.jsonl for 1:1 mixing (image paths relative to dataset_root)
    config: ToyConfig


def _world(root: Path, config: ToyConfig) -> ToyWorld:
    return ToyWorld(
        root=str(root),
        dataset_root=str(root / "dataset"),
        model_path=str(root / "model"),
        general_path=str(root / "dataset" / "general.jsonl"),
        config=config,
    )


def ensure_toy_world(cache_dir: str | os.PathLike | None = None, config: ToyConfig | None = None) -> ToyWorld:
    """The toy world for ``config`` (default settings if None), built on first use."""
    from filelock import FileLock

    config = config or ToyConfig()
    cache = Path(cache_dir if cache_dir is not None else DEFAULT_CACHE).expanduser()
    cache.mkdir(parents=True, exist_ok=True)
    root = cache / config.key()
    done = root / "BUILD_DONE.json"
    if done.is_file():
        return _world(root, config)
    with FileLock(str(cache / f"{config.key()}.lock")):
        if done.is_file():  # another process finished it while we waited
            return _world(root, config)
        # anything left here is from an interrupted build (we hold the lock): start over
        for stale in cache.glob(f".{config.key()}.building-*"):
            shutil.rmtree(stale, ignore_errors=True)
        if root.exists():
            shutil.rmtree(root)
        tmp = cache / f".{config.key()}.building-{os.getpid()}"
        try:
            _build(tmp, config)
            tmp.rename(root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return _world(root, config)


def pretrain_examples(root: Path, config: ToyConfig) -> list[dict]:
    """Caption rows on random part combinations; they never mention a species name."""
    rng = random.Random(f"pretrain:{config.data.seed}")
    folder = root / "pretrain_images"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(config.pretrain_images):
        attrs = pretrain_attributes(rng, config.data)
        path = folder / f"pre_{i:05d}.png"
        render(attrs, rng, config.data.image_size).save(path, format="PNG")
        rows.append({"id": f"pre_{i:05d}", "image": str(path), "question": rng.choice(DESCRIBE_QUESTIONS), "answer": caption(attrs)})
    return rows


def _build(tmp: Path, config: ToyConfig) -> None:
    from harness.train import TrainConfig, train

    started = time.perf_counter()
    tmp.mkdir(parents=True)
    write_dataset(tmp / "dataset", config.data)
    rows = pretrain_examples(tmp, config)
    # the tokenizer learns from the same chat-formatted text the model will see
    texts = [f"USER: <image>\n{r['question']} ASSISTANT: {r['answer']}</s>" for r in rows]
    build_initial_model(tmp / "init", texts, config.data.image_size, config.model, config.data.seed)
    data_seconds = time.perf_counter() - started
    result = train(
        tmp / "init",
        rows,
        tmp / "model",
        TrainConfig(
            full_finetune=True,
            learning_rate=config.pretrain_learning_rate,
            per_device_batch_size=config.pretrain_batch_size,
            max_steps=config.pretrain_steps,
            warmup_ratio=config.pretrain_warmup_ratio,
            lr_scheduler="linear",
            seed=config.data.seed,
        ),
    )
    shutil.rmtree(tmp / "init")
    shutil.rmtree(tmp / "pretrain_images")
    write_json(
        tmp / "BUILD_DONE.json",
        {
            "config": dataclasses.asdict(config),
            "key": config.key(),
            "data_seconds": round(data_seconds, 1),
            "pretrain_seconds": round(result.seconds, 1),
            "total_seconds": round(time.perf_counter() - started, 1),
            "pretrain_first_loss": result.first_loss,
            "pretrain_final_loss": result.final_loss,
        },
    )
