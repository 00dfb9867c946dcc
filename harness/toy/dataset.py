"""The toy fine-grained dataset: procedurally drawn bird "species" with exact ground truth.

Each species is a combination of part attributes (crown colour, wing colour, wing pattern, tail,
beak, eye ring, body colour). Species share most attribute values with other species, so naming a
species needs several features at once. Every image jitters pose, size and background; some
images hide a part (tail behind foliage, eye ring in shadow) or vary one colour (a juvenile), so
the concepts visible in an image differ from its species' concepts. What is drawn is recorded.

Everything is a pure function of the seed: the same config writes byte-identical files.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFilter

from selfsynth.io import write_json, write_jsonl

LAYOUT_VERSION = 1

# Fixed order: captions always list parts in this order (measured: it trains much faster).
PARTS: tuple[str, ...] = ("crown", "wing_color", "wing_pattern", "tail", "beak", "eye_ring", "body")

VALUES: dict[str, tuple[str, ...]] = {
    "crown": ("red", "blue", "yellow", "black", "white"),
    "wing_color": ("red", "blue", "yellow", "black", "green"),
    "wing_pattern": ("plain", "striped", "spotted"),
    "tail": ("forked", "fan-shaped", "pointed"),
    "beak": ("short", "long", "hooked"),
    "eye_ring": ("white", "yellow", "red"),
    "body": ("brown", "grey", "orange"),
}

# The noun each part's value qualifies, used both in concept strings and in captions.
NOUNS: dict[str, str] = {
    "crown": "crown",
    "wing_color": "wings",
    "wing_pattern": "wings",
    "tail": "tail",
    "beak": "beak",
    "eye_ring": "eye ring",
    "body": "body",
}

RGB: dict[str, tuple[int, int, int]] = {
    "red": (212, 32, 32),
    "blue": (38, 72, 214),
    "yellow": (242, 212, 28),
    "black": (22, 22, 22),
    "white": (248, 248, 248),
    "green": (36, 158, 58),
    "orange": (242, 132, 18),
    "brown": (122, 78, 38),
    "grey": (128, 128, 128),
}

BACKGROUNDS: tuple[tuple[int, int, int], ...] = (
    (188, 214, 236),  # pale sky
    (204, 226, 192),  # pale leaf
    (232, 218, 184),  # sand
    (222, 212, 232),  # lilac haze
    (214, 214, 206),  # overcast
)

# Generic statements true of every toy bird: the distractor concepts of concepts.json.
DISTRACTORS: tuple[str, ...] = (
    "two legs",
    "small songbird",
    "feathered body",
    "perches on branches",
    "rounded head",
    "dark eye",
)

NAME_FIRST: tuple[str, ...] = ("Azure", "Dusky", "Marsh", "Copper", "Frost", "Thistle", "Cinder", "Willow")
NAME_SECOND: tuple[str, ...] = ("Warbler", "Finch", "Tanager", "Shrike", "Pipit", "Vireo", "Bunting", "Siskin")
# Extra words for the made-up names of pre-training's context examples (never class names): more
# names than the model can memorize, so it learns to copy the name from the context.
FAKE_FIRST: tuple[str, ...] = ("Amber", "Slate", "Rusty", "Ivory", "Meadow", "Crested")
FAKE_SECOND: tuple[str, ...] = ("Wren", "Sparrow", "Oriole", "Thrush", "Lark", "Flycatcher")

# The first three are the toy domain's describe prompts (tasks/prompts/toy.yaml).
DESCRIBE_QUESTIONS: tuple[str, ...] = (
    "Describe the bird in the image, ignoring the background.",
    "What does this bird look like? Do not describe the background.",
    "Describe the appearance of the bird and leave out the background.",
    "Describe the bird in the image.",
    "What does this bird look like?",
    "Describe the appearance of the bird, not the background.",
    "List the visible features of this bird.",
    "What can you see on this bird?",
    "Give a short description of the bird's plumage and shape.",
    "What is shown in this picture?",
    "Describe this image.",
)


@dataclass(frozen=True)
class ToyDataConfig:
    seed: int = 0
    num_classes: int = 12
    train_per_class: int = 10
    test_per_class: int = 8
    general_examples: int = 240
    image_size: int = 48
    p_hide_tail: float = 0.25
    p_hide_eye_ring: float = 0.2
    p_vary_color: float = 0.15
    min_class_distance: int = 3


def concept(part: str, value: str) -> str:
    """The concept string for one attribute, e.g. ``("tail", "forked") -> "forked tail"``."""
    return f"{value} {NOUNS[part]}"


def caption(attributes: dict[str, str | None]) -> str:
    """A fixed-order description of the visible attributes; never mentions a species name."""
    pieces: list[str] = []
    crown = attributes.get("crown")
    if crown:
        pieces.append(f"a {crown} crown")
    wing, pattern = attributes.get("wing_color"), attributes.get("wing_pattern")
    if wing or pattern:
        pieces.append(" ".join(v for v in (wing, pattern) if v) + " wings")
    for part in ("tail", "beak", "eye_ring", "body"):
        value = attributes.get(part)
        if value:
            pieces.append(f"a {value} {NOUNS[part]}")
    if not pieces:
        return "The bird is hard to make out."
    listed = pieces[0] if len(pieces) == 1 else ", ".join(pieces[:-1]) + " and " + pieces[-1]
    return f"The bird has {listed}."


_ANY = {part: "|".join(re.escape(v) for v in values) for part, values in VALUES.items()}
_PATTERNS: dict[str, re.Pattern[str]] = {
    "crown": re.compile(rf"\b({_ANY['crown']}) crown\b"),
    "tail": re.compile(rf"\b({_ANY['tail']}) tail\b"),
    "beak": re.compile(rf"\b({_ANY['beak']}) beak\b"),
    "eye_ring": re.compile(rf"\b({_ANY['eye_ring']}) eye[- ]ring\b"),
    "body": re.compile(rf"\b({_ANY['body']}) body\b"),
}
_WINGS = re.compile(rf"\b(?:({_ANY['wing_color']}) )?(?:({_ANY['wing_pattern']}) )?wings?\b")


def extract_attributes(text: str) -> set[tuple[str, str]]:
    """(part, value) pairs a text asserts, read with the caption grammar ("red crown", "blue striped wings")."""
    text = text.lower()
    found: set[tuple[str, str]] = set()
    for part, pattern in _PATTERNS.items():
        found.update((part, m.group(1)) for m in pattern.finditer(text))
    for m in _WINGS.finditer(text):
        if m.group(1):
            found.add(("wing_color", m.group(1)))
        if m.group(2):
            found.add(("wing_pattern", m.group(2)))
    return found


def make_classes(cfg: ToyDataConfig) -> tuple[list[str], dict[str, dict[str, str]]]:
    """Species names and attributes. Any two species differ in >= ``min_class_distance`` parts,
    and every attribute value a species has is shared with another species, so no single
    feature names a species."""
    rng = random.Random(f"classes:{cfg.seed}")
    pairs = [(a, b) for a in NAME_FIRST for b in NAME_SECOND]
    if cfg.num_classes > len(pairs):
        raise ValueError(f"at most {len(pairs)} toy classes are available")
    names = [f"{a} {b}" for a, b in rng.sample(pairs, cfg.num_classes)]
    for _ in range(10_000):
        combos = _draw_combos(rng, cfg)
        if combos is not None and _all_values_shared(combos):
            return names, dict(zip(names, combos))
    raise ValueError("could not draw distinct enough toy classes; change num_classes or min_class_distance")


def _draw_combos(rng: random.Random, cfg: ToyDataConfig) -> list[dict[str, str]] | None:
    combos: list[dict[str, str]] = []
    for _ in range(2_000):
        cand = {part: rng.choice(VALUES[part]) for part in PARTS}
        if all(sum(cand[p] != other[p] for p in PARTS) >= cfg.min_class_distance for other in combos):
            combos.append(cand)
            if len(combos) == cfg.num_classes:
                return combos
    return None


def _all_values_shared(combos: list[dict[str, str]]) -> bool:
    from collections import Counter

    counts = Counter((p, c[p]) for c in combos for p in PARTS)
    return all(n >= 2 for n in counts.values())


def sample_instance(rng: random.Random, class_attrs: dict[str, str], cfg: ToyDataConfig) -> dict[str, str | None]:
    """The attributes one image actually shows: the class's, with a colour varied or parts hidden."""
    attrs: dict[str, str | None] = dict(class_attrs)
    if rng.random() < cfg.p_vary_color:
        part = rng.choice(("crown", "wing_color", "body"))
        attrs[part] = rng.choice([v for v in VALUES[part] if v != class_attrs[part]])
    if rng.random() < cfg.p_hide_tail:
        attrs["tail"] = None
    if rng.random() < cfg.p_hide_eye_ring:
        attrs["eye_ring"] = None
    return attrs


def random_attributes(rng: random.Random) -> dict[str, str]:
    return {part: rng.choice(VALUES[part]) for part in PARTS}


def _shade(color: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(max(0, min(255, int(c * factor))) for c in color)  # type: ignore[return-value]


def render(attrs: dict[str, str | None], rng: random.Random, size: int = 48) -> Image.Image:
    """Draw one bird at 4x and downsample (anti-aliasing keeps thin parts visible at 48 px)."""
    scale = 4
    s = size * scale
    bg = BACKGROUNDS[rng.randrange(len(BACKGROUNDS))]
    bg = tuple(max(0, min(255, c + rng.randint(-10, 10))) for c in bg)
    img = Image.new("RGB", (s, s), bg)
    d = ImageDraw.Draw(img)
    # a twig under the bird and some faint clutter: background the descriptions should ignore
    twig_y = int(s * rng.uniform(0.74, 0.84))
    d.line([(0, twig_y + rng.randint(-8, 8)), (s, twig_y + rng.randint(-8, 8))], fill=(96, 70, 44), width=scale * 2)
    for _ in range(rng.randint(0, 3)):
        x, y, r = rng.randrange(s), rng.randrange(s // 2), rng.randint(scale * 2, scale * 4)
        d.ellipse([x - r, y - r, x + r, y + r], fill=_shade(bg, 0.92))

    k = rng.uniform(0.85, 1.08) * scale  # bird size
    cx = s / 2 + rng.uniform(-4, 4) * scale
    cy = s / 2 + rng.uniform(-3, 3) * scale

    def P(x: float, y: float) -> tuple[float, float]:
        return (cx + x * k, cy + y * k)

    def box(x0: float, y0: float, x1: float, y1: float) -> list[float]:
        (a, b), (c, e) = P(x0, y0), P(x1, y1)
        return [min(a, c), min(b, e), max(a, c), max(b, e)]

    body = RGB[attrs["body"] or "brown"]
    wing = RGB[attrs["wing_color"] or "brown"]
    # tail (drawn first: the body overlaps its root)
    tail = attrs["tail"]
    tail_color = _shade(wing, 0.85)
    if tail == "forked":
        d.polygon([P(-8, 2), P(-19, -3), P(-15, 3), P(-19, 9)], fill=tail_color)
    elif tail == "fan-shaped":
        d.pieslice(box(-22, -7, -2, 13), 140, 220, fill=tail_color)
    elif tail == "pointed":
        d.polygon([P(-8, 0), P(-22, 4), P(-8, 6)], fill=tail_color)
    # legs, body, head
    d.line([P(-1, 8), P(-2, 13)], fill=(60, 40, 20), width=scale)
    d.line([P(3, 8), P(3, 13)], fill=(60, 40, 20), width=scale)
    d.ellipse(box(-11, -6, 9, 10), fill=body)
    d.ellipse(box(3, -14, 15, -2), fill=body)
    if attrs["crown"]:
        d.chord(box(3, -14, 15, -2), 190, 350, fill=RGB[attrs["crown"]])
    # beak
    beak = attrs["beak"]
    beak_color = (60, 52, 40)
    if beak == "short":
        d.polygon([P(14, -10), P(19, -8), P(14, -6)], fill=beak_color)
    elif beak == "long":
        d.polygon([P(14, -10), P(25, -8), P(14, -6.5)], fill=beak_color)
    elif beak == "hooked":
        d.polygon([P(14, -11), P(19, -11), P(20, -6), P(18, -8), P(14, -6)], fill=beak_color)
    # eye with its ring
    if attrs["eye_ring"]:
        d.ellipse(box(8.2, -10.8, 12.8, -6.2), fill=RGB[attrs["eye_ring"]])
    d.ellipse(box(9.3, -9.7, 11.7, -7.3), fill=(10, 10, 10))
    # wing with its pattern
    d.ellipse(box(-8, -3, 6, 6), fill=wing)
    pattern = attrs["wing_pattern"]
    mark = (250, 250, 250) if sum(wing) < 300 else (20, 20, 20)
    if pattern == "striped":
        for x in (-5, -1.5, 2):
            d.line([P(x, -2), P(x + 1.5, 5)], fill=mark, width=scale)
    elif pattern == "spotted":
        for x, y in ((-4.5, 0.5), (-0.5, 3), (2.5, 0)):
            d.ellipse(box(x - 1.2, y - 1.2, x + 1.2, y + 1.2), fill=mark)
    if tail is None:
        # foliage in front of where the tail would be, so a hidden tail looks hidden, not absent
        for _ in range(5):
            x, y = rng.uniform(-22, -8), rng.uniform(-4, 10)
            r = rng.uniform(3.5, 5.5)
            d.ellipse(box(x - r, y - r, x + r, y + r), fill=(46 + rng.randint(-8, 8), 110 + rng.randint(-15, 15), 40))
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    img = img.resize((size, size), Image.Resampling.LANCZOS)
    return img.filter(ImageFilter.SMOOTH) if rng.random() < 0.3 else img


def _save_png(img: Image.Image, path: Path) -> None:
    # PNG without timestamps is byte-deterministic; write via a temp name for atomicity
    tmp = path.with_name(f".{path.name}.tmp")
    img.save(tmp, format="PNG", optimize=False)
    tmp.replace(path)


def image_row(rid: str, rel: str, label: str | None, attrs: dict[str, str | None]) -> dict[str, Any]:
    row: dict[str, Any] = {"id": rid, "image": rel}
    if label is not None:
        row["label"] = label
    row["visible_concepts"] = [concept(p, attrs[p]) for p in PARTS if attrs[p] is not None]
    row["attributes"] = {p: attrs[p] for p in PARTS}
    return row


def write_dataset(root: str | Path, cfg: ToyDataConfig) -> dict[str, Any]:
    """Write the layout of notes/toy_layout.md under ``root``; returns toy_meta.json's content."""
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    names, class_attrs = make_classes(cfg)
    for split, per_class in (("train", cfg.train_per_class), ("test", cfg.test_per_class)):
        write_jsonl(root / f"{split}.jsonl", _draw_split(root, split, per_class, cfg, names, class_attrs))
    rng = random.Random(f"general:{cfg.seed}")
    general = []
    for i in range(cfg.general_examples):
        attrs = pretrain_attributes(rng, cfg)
        rid = f"general_{i + 1:05d}"
        rel = f"images/{rid}.png"
        _save_png(render(attrs, rng, cfg.image_size), root / rel)
        general.append({"id": rid, "image": rel, "question": rng.choice(DESCRIBE_QUESTIONS), "answer": caption(attrs)})
    write_jsonl(root / "general.jsonl", general)
    concepts = {name: [concept(p, class_attrs[name][p]) for p in PARTS] + _distractors(name, cfg) for name in names}
    write_json(root / "concepts.json", concepts)
    meta = {
        "version": LAYOUT_VERSION,
        "seed": cfg.seed,
        "image_size": cfg.image_size,
        "classes": names,
        "class_attributes": class_attrs,
    }
    write_json(root / "toy_meta.json", meta)
    return meta


def pretrain_attributes(rng: random.Random, cfg: ToyDataConfig) -> dict[str, str | None]:
    """Random part combinations (not the species'), with the same hiding as the dataset."""
    attrs: dict[str, str | None] = dict(random_attributes(rng))
    if rng.random() < cfg.p_hide_tail:
        attrs["tail"] = None
    if rng.random() < cfg.p_hide_eye_ring:
        attrs["eye_ring"] = None
    return attrs


def _distractors(name: str, cfg: ToyDataConfig) -> list[str]:
    return random.Random(f"distractors:{cfg.seed}:{name}").sample(DISTRACTORS, 2)


def extend_test_split(root: str | Path, cfg: ToyDataConfig, per_class: int) -> Path:
    """``test_<per_class>.jsonl``: a larger test split of the built world, drawn on first use.

    The test rows come from one seeded stream, class-interleaved, so the first
    ``cfg.test_per_class`` rows per class are exactly the built ``test.jsonl`` (same ids, same
    images) and the rest continue the stream. The base model never saw a test image, so a larger
    test split needs no rebuild of the model."""
    from filelock import FileLock

    root = Path(root)
    path = root / f"test_{per_class}.jsonl"
    if path.is_file():
        return path
    with FileLock(str(root / f".test_{per_class}.lock")):
        if path.is_file():  # another process wrote it while we waited
            return path
        names, class_attrs = make_classes(cfg)
        write_jsonl(path, _draw_split(root, "test", per_class, cfg, names, class_attrs, keep_existing=True))
    return path


def _draw_split(root: Path, split: str, per_class: int, cfg: ToyDataConfig, names: list[str],
                class_attrs: dict[str, Any], keep_existing: bool = False) -> list[dict[str, Any]]:
    """The rows of ``split`` with their images, from the split's own seeded stream. Classes are
    interleaved so any prefix (``--limit``) covers many classes; with ``keep_existing`` an image
    already on disk is kept (it is still drawn, which keeps the stream in step)."""
    rng = random.Random(f"{split}:{cfg.seed}")
    rows = []
    for _ in range(per_class):
        for name in names:
            attrs = sample_instance(rng, class_attrs[name], cfg)
            rid = f"{split}_{len(rows) + 1:05d}"
            rel = f"images/{rid}.png"
            image = render(attrs, rng, cfg.image_size)
            if not (keep_existing and (root / rel).is_file()):
                _save_png(image, root / rel)
            rows.append(image_row(rid, rel, name, attrs))
    return rows
