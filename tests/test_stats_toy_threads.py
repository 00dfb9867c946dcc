"""The toy world's pre-training runs on a fixed number of CPU threads (float sums are split by
thread), and the caller's thread count is restored after the build."""
from __future__ import annotations

import torch

import selfsynth.toy.world as world


def test_the_build_pins_its_threads_and_restores_them(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(world, "_build_pinned", lambda tmp, config: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    torch.set_num_threads(1 if world.BUILD_THREADS != 1 else 3)
    try:
        caller = torch.get_num_threads()
        world._build(tmp_path / "w", world.ToyConfig())
        assert seen == [world.BUILD_THREADS] and torch.get_num_threads() == caller
    finally:
        torch.set_num_threads(before)
