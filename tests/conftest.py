"""Suite-wide settings (offline, quiet progress bars) and the shared session fixtures: the toy
world and its base model, the dataset layouts, the synthesis steps 0-2 on the toy world. Their
helpers (builders, constants) live in tests/fixtures_*.py and are imported where needed."""
import dataclasses
import os
from pathlib import Path

import pytest

from tests.fixtures_datasets import BUILDERS, make_crown_task, make_ham
from tests.fixtures_synth import PER_CLASS, ToySynth
from tests.fixtures_toy import TOY_CACHE

# Set before any test imports transformers / huggingface_hub (the helpers above do not).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def toy_world():
    from selfsynth.toy import ensure_toy_world

    return ensure_toy_world(TOY_CACHE)


@pytest.fixture(scope="session")
def toy_lm(toy_world):
    from selfsynth.models import load_model

    return load_model(toy_world.model_path)


@pytest.fixture(scope="session")
def dataset_roots(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    """task name → (root, expected counts), built once per session."""
    out = {}
    for name, build in BUILDERS.items():
        root = tmp_path_factory.mktemp(name)
        out[name] = (root, build(root))
    root = tmp_path_factory.mktemp("ham10000")
    out["ham10000"] = (root, make_ham(root))
    return out


@pytest.fixture(scope="session")
def crown_root(toy_world, tmp_path_factory) -> Path:
    return make_crown_task(Path(toy_world.dataset_root), tmp_path_factory.mktemp("crown"))


@pytest.fixture(scope="session")
def toy_synth(toy_world, tmp_path_factory) -> ToySynth:
    from selfsynth.cache import ResponseCache
    from selfsynth.models import load_model
    from selfsynth.synth.concepts import class_concepts
    from selfsynth.synth.config import SynthConfig
    from selfsynth.synth.describe import describe_images
    from selfsynth.synth.select import select_image_concepts
    from selfsynth.toy.dataset import DESCRIBE_QUESTIONS
    from selfsynth.tasks.toy import ToyTask

    task = ToyTask(toy_world.dataset_root)
    seen: dict[str, int] = {}
    samples = []
    for s in task.load("train"):
        if seen.get(s.label, 0) < PER_CLASS:
            seen[s.label] = seen.get(s.label, 0) + 1
            samples.append(s)
    out = tmp_path_factory.mktemp("synth")
    cfg = SynthConfig(describe_samples=2, describe_max_new_tokens=48, rewrite_max_new_tokens=64,
                      reject_max_new_tokens=64, batch_size=32)
    cache = ResponseCache(out / "cache.sqlite")
    prompts = dataclasses.replace(task.prompts(), describe=list(DESCRIBE_QUESTIONS[:3]))
    lm = load_model(toy_world.model_path)
    concepts = class_concepts(task.class_names(), task.domain, cfg, cache, out, json_path=task.class_concepts_path(), aliases=task.aliases)
    descriptions = describe_images(lm, samples, prompts, cfg, cache, out)
    selected = select_image_concepts(samples, descriptions, concepts, cfg, out, progress=False)
    return ToySynth(toy_world, task, samples, prompts, lm, cache, cfg, concepts, descriptions, selected, out)

