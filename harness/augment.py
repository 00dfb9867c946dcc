"""Training-image augmentation (``TrainConfig.augment``): none, light, or paper.

``paper`` is the set the authors' released training script applies to every training image, value
for value: per image, k ~ uniform{1..4} of the seven ops below are picked without replacement, and
each picked op then runs only with its own probability (so an image can come out unchanged):

=====================  ============================================================  ===========
op                     strength                                                      probability
=====================  ============================================================  ===========
horizontal flip        always flips once run                                         0.5
vertical flip          always flips once run                                         0.3
rotation               uniform in ±30°                                               0.7
colour jitter          brightness, contrast, saturation 0.4 (factors in [0.6, 1.4])  0.7
affine                 ±20°, translate 10 % per axis, scale 0.8–1.2                  0.5
Gaussian blur          kernel 3×3, σ uniform in [0.1, 1.0]                           0.4
perspective            distortion scale 0.5 (always distorts once run)               0.6
=====================  ============================================================  ===========

The draws use torch's RNG, which the Trainer seeds (``TrainConfig.seed``), so a run's augmented
images repeat; the released script used Python's ``random`` unseeded.
"""
from __future__ import annotations

from typing import Any, Sequence

# (op name, probability that a picked op runs), in the released order
PAPER_OP_PROBABILITIES = (
    ("horizontal_flip", 0.5), ("vertical_flip", 0.3), ("rotation", 0.7), ("color_jitter", 0.7),
    ("affine", 0.5), ("gaussian_blur", 0.4), ("perspective", 0.6),
)
PAPER_MIN_OPS, PAPER_MAX_OPS = 1, 4


class RandomOps:
    """Per image, ``k`` ~ uniform{min_ops..max_ops} of ``ops`` ((transform, probability) pairs)
    picked without replacement, in a random order; each picked transform runs with its probability."""

    def __init__(self, ops: Sequence[tuple[Any, float]], min_ops: int = 1, max_ops: int = 4):
        if not 1 <= min_ops <= max_ops <= len(ops):
            raise ValueError(f"RandomOps: expected 1 <= min_ops {min_ops} <= max_ops {max_ops} <= {len(ops)} ops")
        for _, p in ops:
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"RandomOps: probability {p} outside [0, 1]")
        self.ops, self.min_ops, self.max_ops = list(ops), min_ops, max_ops

    def __call__(self, image: Any) -> Any:
        import torch

        k = int(torch.randint(self.min_ops, self.max_ops + 1, ()).item())
        for index in torch.randperm(len(self.ops))[:k].tolist():
            transform, p = self.ops[index]
            if float(torch.rand(())) < p:
                image = transform(image)
        return image


def paper_augmentation_ops() -> list[tuple[Any, float]]:
    """The released set as (transform, probability) pairs, in ``PAPER_OP_PROBABILITIES`` order."""
    from torchvision.transforms import v2

    transforms = [
        v2.RandomHorizontalFlip(p=1.0),
        v2.RandomVerticalFlip(p=1.0),
        v2.RandomRotation(degrees=30),
        v2.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4),
        v2.RandomAffine(degrees=20, translate=(0.1, 0.1), scale=(0.8, 1.2)),
        v2.GaussianBlur(kernel_size=(3, 3), sigma=(0.1, 1.0)),
        v2.RandomPerspective(distortion_scale=0.5, p=1.0),
    ]
    return [(t, p) for t, (_, p) in zip(transforms, PAPER_OP_PROBABILITIES)]


def augmentation(mode: str, size: int) -> Any:
    """The image transform of ``TrainConfig.augment`` (None for ``none``); ``size`` is the model's
    input side, for the light mode's crop."""
    if mode == "none":
        return None
    from torchvision.transforms import v2

    if mode == "paper":
        return RandomOps(paper_augmentation_ops(), min_ops=PAPER_MIN_OPS, max_ops=PAPER_MAX_OPS)
    if mode == "light":
        return v2.Compose([
            v2.RandomResizedCrop(size=size, scale=(0.8, 1.0), ratio=(0.9, 1.1), antialias=True),
            v2.ColorJitter(brightness=0.1, contrast=0.1, saturation=0.1),
        ])
    raise ValueError(f"augment {mode!r}: expected none, light or paper")
