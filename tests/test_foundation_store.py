"""Run store resume after SIGKILL, atomic writes, response cache keys, config layering."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from selfsynth import config as cfg
from selfsynth.cache import ResponseCache, make_key
from selfsynth.errors import UserError
from selfsynth.io import read_json
from selfsynth.store import RunStore

REPO = Path(__file__).resolve().parent.parent

# A 4-step pipeline; each step appends to a counter file so recomputation is visible, and step 3
# waits long enough for the test to kill it mid-way.
PIPELINE = textwrap.dedent(
    """
    import sys, time, json
    from pathlib import Path
    from selfsynth.store import RunStore
    from selfsynth.io import write_json

    root, counter, slow = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "slow"
    store = RunStore(root, experiment="exp")

    def make_step(i):
        def step(path):
            with open(counter, "a") as fh:
                fh.write(f"{i}\\n")
            (path / "partial.txt").write_text("started")
            if slow and i == 3:
                time.sleep(60)
            write_json(path / "out.json", {"value": i * i})
            return {"value": i * i}
        return step

    for i in range(1, 5):
        store.run_step("toy", "ours", i, "train", make_step(i))
    print(json.dumps({"computed": store.computed, "reused": store.reused}))
    """
)


def _run(args, **kw):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", PIPELINE, *args], env=env, stdout=subprocess.PIPE, text=True, **kw)


def test_sigkill_mid_run_resumes_without_recomputing(tmp_path):
    counter = tmp_path / "counter.txt"
    proc = _run([str(tmp_path / "runs"), str(counter), "slow"])
    deadline = time.time() + 60
    while time.time() < deadline:
        if counter.exists() and counter.read_text().split() == ["1", "2", "3"]:
            break
        time.sleep(0.05)
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step3 = tmp_path / "runs/exp/toy/ours/iter_3/train"
    assert (step3 / "partial.txt").exists() and not RunStore.is_done(step3)

    proc = _run([str(tmp_path / "runs"), str(counter), "fast"])
    out, _ = proc.communicate(timeout=60)
    result = json.loads(out)
    assert result["reused"] == ["exp/toy/ours/iter_1/train", "exp/toy/ours/iter_2/train"]
    assert result["computed"] == ["exp/toy/ours/iter_3/train", "exp/toy/ours/iter_4/train"]
    # steps 1-2 ran once, step 3 twice (interrupted + redone), step 4 once
    assert counter.read_text().split() == ["1", "2", "3", "3", "4"]

    uninterrupted = tmp_path / "clean"
    proc = _run([str(uninterrupted), str(tmp_path / "c2.txt"), "fast"])
    proc.communicate(timeout=60)
    for i in range(1, 5):
        rel = f"exp/toy/ours/iter_{i}/train/out.json"
        assert read_json(tmp_path / "runs" / rel) == read_json(uninterrupted / rel) == {"value": i * i}


WRITER = textwrap.dedent(
    """
    import sys
    from selfsynth.io import atomic_open
    with atomic_open(sys.argv[1]) as fh:
        for _ in range(10_000_000):
            fh.write("x" * 100 + "\\n")
            fh.flush()
    """
)


def test_interrupted_atomic_write_never_truncates(tmp_path):
    target = tmp_path / "data.jsonl"
    target.write_text("old complete content\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], env=env)
    deadline = time.time() + 30
    while time.time() < deadline and not any(p.name.endswith(".tmp") and p.stat().st_size > 100_000 for p in tmp_path.iterdir()):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert target.read_text() == "old complete content\n"


def test_cache_hits_identical_and_misses_on_fingerprint(tmp_path):
    cache = ResponseCache(tmp_path / "cache.sqlite")
    args = {"max_new_tokens": 16, "temperature": 0.7, "top_p": 0.6}
    key = make_key("model-A", {"image": "abc", "prompt": "what bird?"}, args, seed=1)
    assert cache.get(key) is None
    cache.put(key, ["a red bird"])
    again = ResponseCache(tmp_path / "cache.sqlite")  # a fresh connection, as another process would
    assert again.get(make_key("model-A", {"prompt": "what bird?", "image": "abc"}, args, seed=1)) == ["a red bird"]
    assert again.get(make_key("model-B", {"image": "abc", "prompt": "what bird?"}, args, seed=1)) is None
    assert again.get(make_key("model-A", {"image": "abc", "prompt": "what bird?"}, args, seed=2)) is None
    assert again.get(make_key("model-A", {"image": "abc", "prompt": "what bird?"}, {**args, "top_p": 0.9}, seed=1)) is None
    assert (again.hits, again.misses) == (1, 3)


CACHE_WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from selfsynth.cache import ResponseCache
    from selfsynth.embed import EmbeddingCache
    responses, vectors = ResponseCache(sys.argv[1]), EmbeddingCache(sys.argv[1])
    for i in range(200):
        responses.put(f"{sys.argv[2]}-{i}", {"i": i})
        vectors.put_many({f"{sys.argv[2]}-{i}": np.full(4, i, dtype=np.float32)})
    """
)


def test_caches_share_one_process_safe_store(tmp_path):
    # response and embedding caches in one file, written by three processes at once
    import numpy as np

    from selfsynth.embed import EmbeddingCache

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    path = tmp_path / "cache.sqlite"
    ResponseCache(path)
    procs = [subprocess.Popen([sys.executable, "-c", CACHE_WRITER, str(path), f"w{n}"], env=env) for n in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    cache = ResponseCache(path)
    assert len(cache) == 600
    assert cache.get("w2-199") == {"i": 199}
    vectors = EmbeddingCache(path)
    assert len(vectors.store) == 600
    assert vectors.get_many(["w1-7", "w9-0"]).keys() == {"w1-7"} and (vectors.hits, vectors.misses) == (1, 1)
    np.testing.assert_array_equal(vectors.get_many(["w0-42"])["w0-42"], np.full(4, 42, dtype=np.float32))
    journal = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert journal == "wal"


def test_store_write_waits_for_another_writer(tmp_path):
    from selfsynth.cache import KVStore

    store = KVStore(tmp_path / "kv.sqlite", "things")
    other = sqlite3.connect(tmp_path / "kv.sqlite", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    threading.Timer(0.5, lambda: other.execute("COMMIT")).start()
    started = time.monotonic()
    store.put_many({"a": "1", "b": "2"}, namespace="test")
    assert time.monotonic() - started >= 0.4  # it waited for the lock instead of failing
    assert store.get_many(["a", "b", "c"]) == {"a": "1", "b": "2"}


@dataclass
class Inner:
    learning_rate: float = cfg.field(1e-5, help="peak learning rate")
    targets: list[str] = cfg.field(default_factory=lambda: ["q_proj"], help="module names")


@dataclass
class Outer:
    seed: int = cfg.field(0, help="global seed")
    name: str = cfg.field("run", help="run name")
    verbose: bool = cfg.field(False, help="talk more")
    train: Inner = cfg.field(default_factory=Inner, help="training section")


def test_config_layers_yaml_then_cli(tmp_path):
    import argparse

    path = tmp_path / "run.yaml"
    path.write_text("seed: 3\nname: from-yaml\ntrain:\n  learning_rate: 0.002\n")
    parser = argparse.ArgumentParser()
    cfg.add_arguments(parser, Outer)
    args = parser.parse_args(["--name", "from-cli", "--train.targets", "q_proj,v_proj", "--verbose", "true"])
    resolved = cfg.resolve(Outer, path, cfg.overrides_from_args(args, Outer))
    assert resolved == Outer(seed=3, name="from-cli", verbose=True, train=Inner(learning_rate=0.002, targets=["q_proj", "v_proj"]))
    assert cfg.from_dict(Outer, __import__("yaml").safe_load(cfg.dump_yaml(resolved))) == resolved


def test_config_unknown_and_bad_values_name_the_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("sed: 3\n")
    with pytest.raises(UserError, match=r"run.yaml: unknown key\(s\) 'sed' \(did you mean 'seed'\?\)"):
        cfg.resolve(Outer, path)
    path.write_text("train:\n  learning_rate: fast\n")
    with pytest.raises(UserError, match=r"run.yaml: train: learning_rate: 'fast' is not a valid float"):
        cfg.resolve(Outer, path)
    path.write_text("- a list\n")
    with pytest.raises(UserError, match="expected a config file: a mapping of config keys, got list"):
        cfg.resolve(Outer, path)
    with pytest.raises(UserError, match="not found"):
        cfg.resolve(Outer, tmp_path / "missing.yaml")
