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
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfsynth.io import write_json
from selfsynth.toy.dataset import (
    DESCRIBE_QUESTIONS,
    DISTRACTORS,
    FAKE_FIRST,
    FAKE_SECOND,
    NAME_FIRST,
    NAME_SECOND,
    PARTS,
    ToyDataConfig,
    caption,
    concept,
    make_classes,
    pretrain_attributes,
    render,
    write_dataset,
)
from selfsynth.toy.model import ToyModelConfig, build_initial_model

BUILD_VERSION = 5  # 5: species questions answered with UNNAMED_SENTENCE first; MLP 2x
TOY_DOMAIN = "toy"  # tasks/prompts/toy.yaml: the question pools pre-training uses
DEFAULT_CACHE = Path("~/.cache/selfsynth/toy")  # the user cache: for an installed package (default_cache)
# the base model's first sentence when asked for a species it was never taught
UNNAMED_SENTENCE = "I cannot tell which species this bird is."
# CPU threads of the pre-training: float sums are split by thread, so a fixed count gives the same
# weights on machines that differ only in core count (README "What another machine reproduces")
BUILD_THREADS = 2
# what the build of the default world takes (pre-training pinned to BUILD_THREADS threads; see
# ToyConfig.pretrain_steps), said when a build starts so that a silent terminal is expected
BUILD_ESTIMATE = "about 3 min on 2 CPU cores"


@dataclass(frozen=True)
class ToyConfig:
    data: ToyDataConfig = dataclasses.field(default_factory=ToyDataConfig)
    model: ToyModelConfig = dataclasses.field(default_factory=ToyModelConfig)
    pretrain_images: int = 3000  # distinct random-attribute images for caption pre-training
    # measured on 2 cores with the MLP-2x model: 1000 steps at lr 1.5e-3 build in 170 s with
    # describe precision 0.61 and step-3 kept rate 1.0 (the MLP-4x model took 219-241 s for 1200
    # steps; at 800 steps and lr 1e-3 it had not yet learned to copy the context name: kept 0.03)
    pretrain_steps: int = 1000
    pretrain_batch_size: int = 32
    pretrain_learning_rate: float = 1.5e-3
    pretrain_warmup_ratio: float = 0.03
    # questions per pre-training image (plain or with context); enough rows that training sees each
    # row about once, so a made-up name cannot be memorized per image and must be copied (measured:
    # with 3 rows per image, i.e. ~4 passes, the model names random made-up species instead)
    pretrain_rows_per_image: int = 13
    # share of rows whose question carries step 3's hidden context (label + visible features)
    pretrain_context_share: float = 0.6
    # share of plain rows asking a simple/explain/cot question, answered with UNNAMED_SENTENCE and
    # a caption: with a bare caption, NL training on simple questions did not carry over to the
    # evaluation question (accuracy 0.000; with the species sentence first: 0.375)
    pretrain_task_question_share: float = 0.3

    def key(self) -> str:
        from selfsynth.tasks.prompts import load_prompts, prompts_hash

        # the toy prompts are part of the pre-training data: editing them builds a new world
        prompts = prompts_hash(load_prompts(TOY_DOMAIN))
        payload = json.dumps({"build": BUILD_VERSION, "prompts": prompts, **dataclasses.asdict(self)}, sort_keys=True)
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


def default_cache() -> Path:
    """One toy world per checkout, whichever command builds it first: running from a source
    checkout (an editable install, as ``make install`` makes) it is ``<checkout>/.cache/toy``, where
    ``make demo``, the tests and the README's commands all find it; an installed package uses the
    user cache ``~/.cache/selfsynth/toy``."""
    return checkout_cache(Path(__file__)) or DEFAULT_CACHE.expanduser()


def checkout_cache(module_file: Path) -> Path | None:
    """``<checkout>/.cache/toy`` when ``module_file`` (this module) lies in a source checkout:
    ``<checkout>/harness/toy/world.py`` beside the checkout's pyproject.toml (an installed wheel
    has it at ``site-packages/selfsynth/toy/world.py``); else None."""
    package = module_file.resolve().parents[1]
    checkout = package.parent
    if package.name == "harness" and (checkout / "pyproject.toml").is_file():
        return checkout / ".cache" / "toy"
    return None


def ensure_toy_world(cache_dir: str | os.PathLike | None = None, config: ToyConfig | None = None) -> ToyWorld:
    """The toy world for ``config`` (default settings if None), built on first use under
    ``cache_dir`` (default: ``default_cache()``)."""
    from filelock import FileLock, Timeout

    config = config or ToyConfig()
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache()
    cache.mkdir(parents=True, exist_ok=True)
    root = cache / config.key()
    done = root / "BUILD_DONE.json"
    if done.is_file():
        return _world(root, config)
    lock = FileLock(str(cache / f"{config.key()}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:  # another process is building it: said once, so that minutes of silence are explained
        _say(f"toy world: waiting for another process's build of {_shown(root)}")
        lock.acquire()
    try:
        if done.is_file():  # another process finished it while we waited
            return _world(root, config)
        # anything left here is from an interrupted build (we hold the lock): start over
        for stale in cache.glob(f".{config.key()}.building-*"):
            shutil.rmtree(stale, ignore_errors=True)
        if root.exists():
            shutil.rmtree(root)
        tmp = cache / f".{config.key()}.building-{os.getpid()}"
        checkout = checkout_cache(Path(__file__))
        once = "once per checkout" if checkout is not None and cache.resolve() == checkout.resolve() else "once per cache folder"
        estimate = f"; {BUILD_ESTIMATE}" if _default_size(config) else ""
        _say(f"toy world: building in {_shown(root)} ({once}{estimate})")
        started = time.perf_counter()
        try:
            _build(tmp, config)
            tmp.rename(root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _say(f"toy world: built in {time.perf_counter() - started:.0f} s")
    finally:
        lock.release()
    return _world(root, config)


def _say(line: str) -> None:
    """A progress line on stderr, as the runner's step lines (stdout stays for a command's result)."""
    print(line, file=sys.stderr, flush=True)


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it (``.cache/toy/<key>``)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _default_size(config: ToyConfig) -> bool:
    """Whether ``config`` builds a world of the default size (any seed): what BUILD_ESTIMATE is for."""
    return dataclasses.replace(config, data=dataclasses.replace(config.data, seed=ToyDataConfig().seed)) == ToyConfig()


def fake_names(config: ToyConfig) -> list[str]:
    """Made-up species names from the class names' word stock (plus extra words), never a class name."""
    real = set(make_classes(config.data)[0])
    return [f"{a} {b}" for a in NAME_FIRST + FAKE_FIRST for b in NAME_SECOND + FAKE_SECOND if f"{a} {b}" not in real]


def context_example(rng: random.Random, attrs: dict[str, str | None], name: str, prompts: Any) -> tuple[str, str]:
    """(prompt, answer) of one context-following row, rendered exactly as step 3 renders it.

    The concepts are the image's visible attributes as step 2 would select them: sometimes a
    part dropped, a generic distractor added, or the order shuffled. The answer states the given
    name and describes the listed attributes, so the model learns to copy both from the context."""
    parts = [p for p in PARTS if attrs[p] is not None]
    if len(parts) > 2 and rng.random() < 0.25:
        parts.remove(rng.choice(parts))
    concepts = [concept(p, attrs[p]) for p in parts]  # type: ignore[arg-type]
    if rng.random() < 0.3:
        concepts.insert(rng.randrange(len(concepts) + 1), rng.choice(DISTRACTORS))
    if rng.random() < 0.3:
        rng.shuffle(concepts)
    question = rng.choice(prompts.simple + prompts.explain + prompts.cot)
    listed = {p: (attrs[p] if p in parts else None) for p in PARTS}
    answer = f"{prompts.label_sentence.format(label=name)} {caption(listed)}"
    return prompts.hidden_context(question, name, concepts), answer


def pretrain_examples(root: Path, config: ToyConfig) -> list[dict]:
    """Rows on random part combinations: plain caption rows (no species name) and rows that
    carry step 3's hidden context with a made-up name, answered by stating that name."""
    from selfsynth.tasks.prompts import load_prompts

    prompts = load_prompts(TOY_DOMAIN)
    task_questions = prompts.simple + prompts.explain + prompts.cot
    describe = list(dict.fromkeys(DESCRIBE_QUESTIONS + tuple(prompts.describe)))
    names = fake_names(config)
    rng = random.Random(f"pretrain:{config.data.seed}")
    folder = root / "pretrain_images"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(config.pretrain_images):
        attrs = pretrain_attributes(rng, config.data)
        path = folder / f"pre_{i:05d}.png"
        render(attrs, rng, config.data.image_size).save(path, format="PNG")
        for j in range(config.pretrain_rows_per_image):
            if rng.random() < config.pretrain_context_share:
                question, answer = context_example(rng, attrs, rng.choice(names), prompts)
            else:
                if rng.random() < config.pretrain_task_question_share:
                    # a species question opens with a sentence about the species, as real answers
                    # do; fine-tuning on one question type then rewrites that same first sentence
                    question, answer = rng.choice(task_questions), f"{UNNAMED_SENTENCE} {caption(attrs)}"
                else:
                    question, answer = rng.choice(describe), caption(attrs)
            rows.append({"id": f"pre_{i:05d}_{j}", "image": str(path), "question": question, "answer": answer})
    return rows


def _build(tmp: Path, config: ToyConfig) -> None:
    import torch

    from selfsynth.models import quiet_model_loading

    previous = torch.get_num_threads()
    torch.set_num_threads(BUILD_THREADS)  # for the build only: restored for whatever runs next
    try:
        with quiet_model_loading():  # between the build's start and end lines: the training bar only
            _build_pinned(tmp, config)
    finally:
        torch.set_num_threads(previous)


def _build_pinned(tmp: Path, config: ToyConfig) -> None:
    from selfsynth.train import TrainConfig, train

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
