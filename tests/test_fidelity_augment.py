"""The paper's augmentation set (`--train.augment paper`): 1-4 random ops per image of horizontal
flip, vertical flip, rotation ±30°, colour jitter 0.4, affine, Gaussian blur, perspective."""
from __future__ import annotations

import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from selfsynth.train import RandomOps, augmentation, paper_augmentation_ops


def test_paper_set_is_the_published_ops():
    ops = paper_augmentation_ops()
    assert [type(op) for op in ops] == [v2.RandomHorizontalFlip, v2.RandomVerticalFlip, v2.RandomRotation, v2.ColorJitter,
                                        v2.RandomAffine, v2.GaussianBlur, v2.RandomPerspective]
    assert ops[0].p == ops[1].p == ops[6].p == 1.0  # chosen means applied
    assert list(ops[2].degrees) == [-30.0, 30.0]
    jitter = ops[3]
    assert [list(jitter.brightness), list(jitter.contrast), list(jitter.saturation)] == [[0.6, 1.4]] * 3
    paper = augmentation("paper", 48)
    assert isinstance(paper, RandomOps) and (paper.min_ops, paper.max_ops) == (1, 4)
    assert augmentation("none", 48) is None


def test_random_ops_applies_one_to_four_ops_per_image():
    calls: list[list[int]] = []

    class Mark:
        def __init__(self, k):
            self.k = k

        def __call__(self, image):
            calls[-1].append(self.k)
            return image

    ops = RandomOps([Mark(k) for k in range(7)], min_ops=1, max_ops=4)
    torch.manual_seed(0)
    for _ in range(400):
        calls.append([])
        ops("img")
    counts = [len(c) for c in calls]
    assert set(counts) == {1, 2, 3, 4} and all(len(set(c)) == len(c) for c in calls)  # no op twice
    assert {k for c in calls for k in c} == set(range(7))
    with pytest.raises(ValueError):
        RandomOps([Mark(0)], min_ops=1, max_ops=4)


def test_paper_augmentation_keeps_the_image_size_and_is_seeded():
    image = Image.new("RGB", (48, 48))
    image.paste((200, 30, 30), (0, 0, 24, 48))
    paper = augmentation("paper", 48)
    torch.manual_seed(3)
    first = [paper(image) for _ in range(6)]
    torch.manual_seed(3)
    again = [paper(image) for _ in range(6)]
    assert all(out.size == (48, 48) for out in first)
    assert [out.tobytes() for out in first] == [out.tobytes() for out in again]
    assert sum(out.tobytes() != image.tobytes() for out in first) >= 5  # something changed almost always
