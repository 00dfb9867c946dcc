"""Helpers around the toy world. Its session fixtures (``toy_world``, ``toy_lm``) are in
tests/conftest.py.

The world is built once per machine into the repo-local ``.cache/toy`` (about 3 minutes the first
time on 2 CPU cores, a file lock lets parallel sessions share one build) and reused afterwards."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
TOY_CACHE = REPO / ".cache" / "toy"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def accelerate_launch(script: Path, args: list[str], num_processes: int = 2, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run ``script`` under ``accelerate launch`` with ``num_processes`` processes on this machine.

    accelerate's multi-process launcher is torchrun behind ``--multi_gpu``; on a machine without
    GPUs our code asks accelerate for a CPU (gloo) process group, so this is N CPU processes."""
    accelerate = Path(sys.executable).with_name("accelerate")
    cmd = [
        str(accelerate), "launch", "--multi_gpu", "--num_processes", str(num_processes), "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()),
        "--num_cpu_threads_per_process", "1", str(script), *args,
    ]
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TQDM_DISABLE="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)
    assert proc.returncode == 0, f"accelerate launch failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def answers(out: Path) -> dict[str, list[tuple[str, str]]]:
    """Per cell, the (id, answer) records of its evaluation: what two launchers must agree on."""
    found = {}
    for records in sorted(out.glob("default/toy/*/seed_*/iter_0/eval/records.jsonl")):
        rows = [json.loads(line) for line in records.read_text(encoding="utf-8").splitlines()]
        found[str(records.relative_to(out))] = [(r["id"], r["answer"]) for r in rows]
    return found
