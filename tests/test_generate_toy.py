"""selfsynth.generate on the toy model: seeding, batch independence, caching, data parallelism."""
from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path

from selfsynth.cache import ResponseCache
from selfsynth.generate import GenArgs, generate
from selfsynth.io import read_jsonl
from tests.fixtures_toy import accelerate_launch

PROMPT = "Describe the bird in the image."


def _requests(world, n: int, split: str = "test") -> list[tuple[str, str]]:
    rows = read_jsonl(Path(world.dataset_root) / f"{split}.jsonl")[:n]
    return [(str(Path(world.dataset_root) / r["image"]), PROMPT) for r in rows]


def test_sampling_is_seeded_and_independent_of_the_batch(toy_world, toy_lm):
    reqs = _requests(toy_world, 6)
    args = GenArgs(max_new_tokens=24, temperature=1.0, top_p=0.9, num_samples=2, seed=7)
    a = generate(toy_lm, reqs, args, batch_size=4)
    assert [len(x) for x in a] == [2] * 6 and all(s for x in a for s in x)
    assert generate(toy_lm, reqs, args, batch_size=4) == a
    # alone, in another batch size, or with other requests around: the same answers
    assert generate(toy_lm, reqs[2:3], args, batch_size=1) == a[2:3]
    shuffled = [reqs[5], reqs[0], reqs[3]]
    assert generate(toy_lm, shuffled, args, batch_size=3) == [a[5], a[0], a[3]]
    other = generate(toy_lm, reqs, dataclasses.replace(args, seed=8), batch_size=4)
    assert other != a
    # the samples of one request differ from each other somewhere (temperature 1)
    assert any(x[0] != x[1] for x in a)


def test_greedy_matches_across_batch_sizes(toy_world, toy_lm):
    reqs = _requests(toy_world, 5)
    args = GenArgs(max_new_tokens=32)
    one = generate(toy_lm, reqs, args, batch_size=1)
    assert generate(toy_lm, reqs, args, batch_size=5) == one
    assert all(x[0].startswith("The bird has") for x in one)


def test_cache_hits_on_repeat_and_misses_on_a_new_fingerprint(tmp_path, toy_world, toy_lm):
    reqs = _requests(toy_world, 4)
    args = GenArgs(max_new_tokens=16, temperature=0.7, num_samples=2, seed=1)
    cache = ResponseCache(tmp_path / "gen.sqlite")
    first = generate(toy_lm, reqs, args, cache=cache)
    assert (cache.hits, cache.misses, len(cache)) == (0, 4, 4)
    assert generate(toy_lm, reqs, args, cache=cache) == first
    assert (cache.hits, cache.misses) == (4, 4)
    # cached and freshly generated answers agree: a cache hit changes nothing
    assert generate(toy_lm, reqs, args) == first
    other_model = dataclasses.replace(toy_lm, fingerprint="0" * 32)
    generate(other_model, reqs, args, cache=cache)
    assert (cache.hits, cache.misses, len(cache)) == (4, 8, 8)
    # other generation settings are misses too
    generate(toy_lm, reqs[:1], dataclasses.replace(args, seed=2), cache=cache)
    assert cache.misses == 9


WORKER = textwrap.dedent(
    """
    import json, sys
    from selfsynth.generate import GenArgs, generate
    from selfsynth.models import distributed_state, load_model
    model, requests_file, out = sys.argv[1:4]
    requests = [tuple(r) for r in json.load(open(requests_file))]
    lm = load_model(model)
    results = generate(lm, requests, GenArgs(max_new_tokens=20, temperature=1.0, num_samples=2, seed=3), batch_size=4)
    state = distributed_state()
    json.dump({"rank": state.process_index, "world": state.num_processes, "results": results}, open(f"{out}.{state.process_index}", "w"))
    """
)


def test_two_processes_equal_one(tmp_path, toy_world, toy_lm):
    reqs = _requests(toy_world, 7)
    (tmp_path / "requests.json").write_text(json.dumps(reqs))
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    accelerate_launch(script, [toy_world.model_path, str(tmp_path / "requests.json"), str(tmp_path / "out")], num_processes=2)
    single = generate(toy_lm, reqs, GenArgs(max_new_tokens=20, temperature=1.0, num_samples=2, seed=3), batch_size=4)
    for rank in (0, 1):
        record = json.loads((tmp_path / f"out.{rank}").read_text())
        assert record["world"] == 2 and record["rank"] == rank
        assert record["results"] == single  # per request, per sample, in input order
