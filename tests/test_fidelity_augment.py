"""`--train.augment paper` is the released set value for value: per image 1-4 of seven ops picked
without replacement, each then run with its own probability, at the released strengths."""
from __future__ import annotations

import pytest
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode, v2

from selfsynth.augment import PAPER_OP_PROBABILITIES, RandomOps, augmentation, paper_augmentation_ops

# the released training script's set: (type, probability that a picked op runs)
RELEASED = [
    (v2.RandomHorizontalFlip, 0.5), (v2.RandomVerticalFlip, 0.3), (v2.RandomRotation, 0.7), (v2.ColorJitter, 0.7),
    (v2.RandomAffine, 0.5), (v2.GaussianBlur, 0.4), (v2.RandomPerspective, 0.6),
]


def test_paper_set_has_the_released_ops_probabilities_and_strengths():
    ops = paper_augmentation_ops()
    assert [(type(t), p) for t, p in ops] == RELEASED
    assert [p for _, p in PAPER_OP_PROBABILITIES] == [p for _, p in RELEASED]
    hflip, vflip, rotation, jitter, affine, blur, perspective = (t for t, _ in ops)
    assert hflip.p == vflip.p == 1.0  # a flip that runs always flips
    assert list(rotation.degrees) == [-30.0, 30.0] and InterpolationMode(rotation.interpolation) == InterpolationMode.NEAREST
    assert [list(jitter.brightness), list(jitter.contrast), list(jitter.saturation)] == [pytest.approx([0.6, 1.4])] * 3
    assert jitter.hue is None
    assert list(affine.degrees) == [-20.0, 20.0]
    assert list(affine.translate) == [0.1, 0.1] and list(affine.scale) == [0.8, 1.2] and affine.shear is None
    assert list(blur.kernel_size) == [3, 3] and list(blur.sigma) == [0.1, 1.0]
    assert perspective.distortion_scale == 0.5 and perspective.p == 1.0
    paper = augmentation("paper", 48)
    assert isinstance(paper, RandomOps) and (paper.min_ops, paper.max_ops) == (1, 4) and len(paper.ops) == 7
    assert augmentation("none", 48) is None
    with pytest.raises(ValueError, match="expected none, light or paper"):
        augmentation("strong", 48)


class _Mark:
    def __init__(self, log, k):
        self.log, self.k = log, k

    def __call__(self, image):
        self.log[-1].append(self.k)
        return image


def test_random_ops_picks_one_to_four_and_runs_each_with_its_probability():
    picked_runs: list[list[int]] = []
    probabilities = [p for _, p in RELEASED]
    ops = RandomOps([(_Mark(picked_runs, k), p) for k, p in enumerate(probabilities)], min_ops=1, max_ops=4)
    torch.manual_seed(0)
    n = 6000
    for _ in range(n):
        picked_runs.append([])
        ops("img")
    assert all(len(set(c)) == len(c) <= 4 for c in picked_runs)  # no op twice, never more than 4
    # an op is picked with probability E[k]/7 = 2.5/7, then runs with its own probability
    for k, p in enumerate(probabilities):
        rate = sum(k in c for c in picked_runs) / n
        assert rate == pytest.approx(2.5 / 7 * p, abs=0.025), k
    # an image can come out untouched: P = E over k of prod(1 - p) over the picked ops > 0
    assert 0.05 < sum(not c for c in picked_runs) / n < 0.25
    with pytest.raises(ValueError):
        RandomOps([(_Mark(picked_runs, 0), 0.5)], min_ops=1, max_ops=4)
    with pytest.raises(ValueError, match="probability"):
        RandomOps([(_Mark(picked_runs, 0), 1.5)], min_ops=1, max_ops=1)


def test_paper_augmentation_keeps_the_image_size_and_is_seeded():
    image = Image.new("RGB", (48, 48))
    image.paste((200, 30, 30), (0, 0, 24, 48))
    paper = augmentation("paper", 48)
    torch.manual_seed(3)
    first = [paper(image) for _ in range(20)]
    torch.manual_seed(3)
    again = [paper(image) for _ in range(20)]
    assert all(out.size == (48, 48) for out in first)
    assert [out.tobytes() for out in first] == [out.tobytes() for out in again]
    changed = sum(out.tobytes() != image.tobytes() for out in first)
    assert 10 <= changed < 20  # usually changed, sometimes untouched (every picked op skipped)
