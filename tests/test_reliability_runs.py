"""A toy `selfsynth run` SIGKILLed at 8 points (descriptions, concept selection, rewriting,
training, merging, evaluation, judging, rejection sampling; each inside the atomic write of that
stage's output) resumes to results byte-identical to an uninterrupted run with the same seed (so
the same command twice gives the same bytes), leaving no temporary file behind; a different seed
changes them; a second `selfsynth run` on a folder in use is refused in one line, touching nothing."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from selfsynth.cli import main
from selfsynth.io import _TEMP_NAME
from tests.fixtures_reliability import record_figure

# tiny budgets: every stage of "ours" runs, in seconds per stage on the toy world
RUN = ["run", "--task", "toy", "--method", "ours", "--iterations", "2", "--limit", "12", "--test_limit", "8",
       "--train.max_steps", "2", "--synth.describe_max_new_tokens", "16", "--synth.rewrite_max_new_tokens", "16",
       "--synth.reject_max_new_tokens", "16", "--eval_max_new_tokens", "16", "--judge", "local", "--judging.fluency", "false"]

# (stage, a part of the path whose atomic write is interrupted), in the order the run reaches them
KILL_POINTS = [
    ("descriptions", "describe.jsonl"),
    ("concept selection", "select.jsonl"),
    ("rewriting", "iter_1/data/rewrite.jsonl"),
    ("training", "iter_1/train/adapter"),
    ("merging", "iter_1/train/merged"),
    ("evaluation", "iter_1/eval/records.jsonl"),
    ("judging", "iter_1/judge_local/judge_records.jsonl"),
    ("rejection sampling", "iter_2/data/reject.jsonl"),
]

# os.replace / os.rename commit every atomic file and folder write: the process kills itself at
# the first commit whose destination contains the marker, after the temp copy is complete
KILLER = textwrap.dedent("""
    import os, signal, sys
    marker = sys.argv[1]
    for name in ("replace", "rename"):
        real = getattr(os, name)
        def commit(src, dst, *args, _real=real, **kwargs):
            if marker in str(dst):
                os.kill(os.getpid(), signal.SIGKILL)
            return _real(src, dst, *args, **kwargs)
        setattr(os, name, commit)
    from selfsynth.cli import main
    sys.exit(main(sys.argv[2:]))
""")

# what may differ between two runs of the same command: when and how long, how often it was
# resumed, and which results came from the cache (provenance, not results)
_TIMING_KEY = re.compile(r"(time|seconds|_at$|date|elapsed|duration|runtime|per_second|_s$|^finished$|^created$|^resumed$"
                         r"|^invocation$|cache|^new_results$)")
_SKIP = {"run.log", ".run.lock", "cache.sqlite", "cache.sqlite-wal", "cache.sqlite-shm"}


def _untimed(value):
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if not _TIMING_KEY.search(k)}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def snapshot(out: Path) -> dict[str, object]:
    """Every result file of a run folder: bytes, or JSON without timings; paths made relative."""
    found = {}
    for path in sorted(out.rglob("*")):
        # TensorBoard event files are training logs named by wall time and pid, not results
        if not path.is_file() or path.name in _SKIP or "tensorboard" in path.relative_to(out).parts:
            continue
        rel = str(path.relative_to(out))
        data = path.read_bytes().replace(str(out).encode(), b"<OUT>")
        if path.suffix == ".json":
            found[rel] = _untimed(json.loads(data))
        elif path.suffix == ".jsonl":
            found[rel] = [_untimed(json.loads(line)) for line in data.splitlines() if line.strip()]
        else:
            found[rel] = data
    return found


def _cli(argv: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "selfsynth", *argv], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def reference(toy_world, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference")
    done = _cli([*RUN, "--toy_cache", str(Path(toy_world.root).parent), "--out", str(out)])
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def test_kill_at_every_stage_resumes_to_identical_results(reference, toy_world, tmp_path):
    out = tmp_path / "killed"
    argv = [*RUN, "--toy_cache", str(Path(toy_world.root).parent), "--out", str(out)]
    (tmp_path / "killer.py").write_text(KILLER)
    survived = []
    for stage, marker in KILL_POINTS:
        killed = subprocess.run([sys.executable, str(tmp_path / "killer.py"), marker, *argv], capture_output=True, text=True, timeout=600)
        assert killed.returncode == -signal.SIGKILL, f"{stage}: never reached {marker!r}: {killed.stderr[-1500:]}"
        survived.append(stage)
    leftovers = [p for p in out.rglob(".*") if _TEMP_NAME.match(p.name)]
    assert leftovers, "the kills inside atomic writes left their temp copies (the re-run must remove them)"
    finished = _cli(argv)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert [p for p in out.rglob(".*") if _TEMP_NAME.match(p.name)] == []
    got, want = snapshot(out), snapshot(reference)
    assert sorted(got) == sorted(want)
    different = [name for name in want if got[name] != want[name]]
    assert different == [], different
    answers = sum(1 for name in want if name.endswith("eval/records.jsonl") for _ in want[name])
    record_figure("kills", "toy_ours", {"kill_points": [s for s, _ in KILL_POINTS], "survived": survived, "files_compared": len(want),
                                        "answers_compared": answers, "files_different": len(different), "temp_files_removed": len(leftovers)})


def test_same_seed_same_bytes_other_seed_other_answers(reference, toy_world, tmp_path, capsys):
    """The killed-and-resumed run above matches the reference byte for byte; here, an evaluation
    repeated with the same seed is identical and another seed picks another subset."""
    root = Path(toy_world.root).parent
    outs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        outs[name] = tmp_path / name
        assert main(["eval", "--task", "toy", "--toy_cache", str(root), "--limit", "6", "--seed", str(seed),
                     "--max_new_tokens", "16", "--out", str(outs[name])]) == 0
    records = {name: (path / "records.jsonl").read_bytes() for name, path in outs.items()}
    assert records["a"] == records["b"]
    assert records["a"] != records["c"]
    ids = {name: [json.loads(line)["id"] for line in data.splitlines()] for name, data in records.items()}
    assert ids["a"] != ids["c"]
    record_figure("determinism", "eval", {"same_seed_identical": True, "other_seed_differs": True})


def test_second_run_on_a_folder_in_use_is_refused(reference, toy_world, capsys):
    unit = reference / "default" / "toy" / "ours" / "seed_0"
    before = snapshot(reference)
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import filelock, sys, time
        lock = filelock.FileLock({str(unit / ".run.lock")!r}, timeout=0)
        lock.acquire()
        print("held", flush=True)
        sys.stdin.read()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code = main([*RUN, "--toy_cache", str(Path(toy_world.root).parent), "--out", str(reference)])
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "another selfsynth run is writing this run folder" in err[0] and str(unit) in err[0]
    assert snapshot(reference) == before
    record_figure("concurrency", "second_run", {"exit": code, "message": err[0].replace(str(reference), "<OUT>")})
