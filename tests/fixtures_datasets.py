"""Builders of each dataset's published layout in a temp folder, with tiny real images and the
real file formats (CUB text tables, Stanford Dogs .mat, FGVC lines with spaces and slashes,
HAM10000 metadata without extension, the chest X-ray archive's junk). Each builder returns the
exact counts a task must report."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from selfsynth.io import read_jsonl


def write_image(path: Path, seed: int, size: tuple[int, int] = (12, 12)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def write_corrupt(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not an image at all")
    return path


# -- CUB ---------------------------------------------------------------------------------------
CUB_CLASSES = ["001.Black_footed_Albatross", "002.Artic_Tern", "003.Chuck_will_Widow"]
CUB_ATTRIBUTES = ["has_bill_shape::curved_(up_or_down)", "has_wing_color::blue", "has_crown_color::red"]


def make_cub(root: Path, corrupt: bool = False) -> dict:
    folder = root / "CUB_200_2011"
    images, labels, split = [], [], []
    image_id = 0
    for class_id, cls in enumerate(CUB_CLASSES, 1):
        for k in range(4):  # 2 train + 2 test per class: 6/6
            image_id += 1
            rel = f"{cls}/{cls.split('.')[1]}_{k:04d}.jpg"
            write_image(folder / "images" / rel, image_id)
            images.append(f"{image_id} {rel}")
            labels.append(f"{image_id} {class_id}")
            split.append(f"{image_id} {1 if k < 2 else 0}")
    (folder / "images.txt").write_text("\n".join(images) + "\n")
    (folder / "image_class_labels.txt").write_text("\n".join(labels) + "\n")
    (folder / "train_test_split.txt").write_text("\n".join(split) + "\n")
    (folder / "classes.txt").write_text("\n".join(f"{i} {c}" for i, c in enumerate(CUB_CLASSES, 1)) + "\n")
    (folder / "bounding_boxes.txt").write_text("\n".join(f"{i} 1.0 2.0 8.0 9.0" for i in range(1, image_id + 1)) + "\n")
    # attributes.txt sits beside CUB_200_2011/, as in the official archive
    (root / "attributes.txt").write_text("\n".join(f"{i} {a}" for i, a in enumerate(CUB_ATTRIBUTES, 1)) + "\n")
    lines = []
    for i in range(1, image_id + 1):
        for a in range(1, len(CUB_ATTRIBUTES) + 1):
            present = int((i + a) % 2 == 0)
            certainty = 4 if a != 3 else 2  # attribute 3 only guessed
            extra = " 0" if (i, a) == (2, 1) else ""  # the official file has a few 6-field lines
            lines.append(f"{i} {a} {present} {certainty} 12.5{extra}")
    (folder / "attributes").mkdir(exist_ok=True)
    (folder / "attributes" / "image_attribute_labels.txt").write_text("\n".join(lines) + "\n")
    skipped = []
    if corrupt:
        first_test = folder / "images" / f"{CUB_CLASSES[0]}/{CUB_CLASSES[0].split('.')[1]}_0002.jpg"
        write_corrupt(first_test)
        skipped.append(str(first_test.resolve()))
    return {"train": 6, "test": 6 - len(skipped), "classes": 3, "skipped": skipped}


# -- Stanford Dogs -----------------------------------------------------------------------------
DOG_FOLDERS = ["n02085620-Chihuahua", "n02099267-flat-coated_retriever", "n02086646-Blenheim_spaniel", "n02113978-Mexican_hairless"]


def make_dogs(root: Path) -> dict:
    import scipy.io

    lists = {"train": ([], []), "test": ([], [])}
    seed = 0
    for label, folder in enumerate(DOG_FOLDERS, 1):
        wnid = folder.split("-")[0]
        for k in range(5):  # 3 train + 2 test per breed: 12/8
            seed += 1
            rel = f"{folder}/{wnid}_{1000 + k}.jpg"
            write_image(root / "Images" / rel, seed)
            split = "train" if k < 3 else "test"
            lists[split][0].append(rel)
            lists[split][1].append(label)
    for split, (files, labels) in lists.items():
        file_list = np.empty((len(files), 1), dtype=object)
        for i, f in enumerate(files):
            file_list[i, 0] = np.array([f])
        annotation_list = np.empty((len(files), 1), dtype=object)
        for i, f in enumerate(files):
            annotation_list[i, 0] = np.array([f.removesuffix(".jpg")])
        scipy.io.savemat(
            root / f"{split}_list.mat",
            {"file_list": file_list, "annotation_list": annotation_list, "labels": np.array(labels, dtype=np.uint8).reshape(-1, 1)},
        )
    return {"train": 12, "test": 8, "classes": 4, "skipped": []}


# -- FGVC-Aircraft -----------------------------------------------------------------------------
FGVC_VARIANTS = ["707-320", "737-800", "Boeing 717", "F/A-18"]
FGVC_MANUFACTURER = {"707-320": "Boeing", "737-800": "Boeing", "Boeing 717": "Boeing", "F/A-18": "McDonnell Douglas"}


def make_fgvc(root: Path) -> dict:
    data = root / "fgvc-aircraft-2013b" / "data"
    rows = {"trainval": [], "test": []}
    image_id = 1025794
    for variant in FGVC_VARIANTS:
        for k in range(3):  # 2 trainval + 1 test per variant: 8/4
            image_id += 1
            write_image(data / "images" / f"{image_id:07d}.jpg", image_id, size=(30, 50))
            rows["trainval" if k < 2 else "test"].append((f"{image_id:07d}", variant))
    (data / "variants.txt").write_text("\n".join(FGVC_VARIANTS) + "\n")
    for split, pairs in rows.items():
        (data / f"images_variant_{split}.txt").write_text("".join(f"{i} {v}\n" for i, v in pairs))
        (data / f"images_manufacturer_{split}.txt").write_text("".join(f"{i} {FGVC_MANUFACTURER[v]}\n" for i, v in pairs))
    return {"train": 8, "test": 4, "classes": 4, "skipped": []}


# -- PlantVillage ------------------------------------------------------------------------------
PLD_FOLDERS = {"Apple___Apple_scab": 10, "Apple___healthy": 10, "Tomato___Late_blight": 20, "Blueberry___healthy": 5}


# PlantVillage's 38 class folders as published (the task leaves Blueberry___healthy out by default)
PLANTVILLAGE_FOLDERS = [
    "Apple___Apple_scab", "Apple___Black_rot", "Apple___Cedar_apple_rust", "Apple___healthy", "Blueberry___healthy",
    "Cherry_(including_sour)___Powdery_mildew", "Cherry_(including_sour)___healthy",
    "Corn_(maize)___Cercospora_leaf_spot Gray_leaf_spot", "Corn_(maize)___Common_rust_", "Corn_(maize)___Northern_Leaf_Blight",
    "Corn_(maize)___healthy", "Grape___Black_rot", "Grape___Esca_(Black_Measles)", "Grape___Leaf_blight_(Isariopsis_Leaf_Spot)",
    "Grape___healthy", "Orange___Haunglongbing_(Citrus_greening)", "Peach___Bacterial_spot", "Peach___healthy",
    "Pepper,_bell___Bacterial_spot", "Pepper,_bell___healthy", "Potato___Early_blight", "Potato___Late_blight", "Potato___healthy",
    "Raspberry___healthy", "Soybean___healthy", "Squash___Powdery_mildew", "Strawberry___Leaf_scorch", "Strawberry___healthy",
    "Tomato___Bacterial_spot", "Tomato___Early_blight", "Tomato___Late_blight", "Tomato___Leaf_Mold", "Tomato___Septoria_leaf_spot",
    "Tomato___Spider_mites Two-spotted_spider_mite", "Tomato___Target_Spot", "Tomato___Tomato_Yellow_Leaf_Curl_Virus",
    "Tomato___Tomato_mosaic_virus", "Tomato___healthy",
]


def make_pld(root: Path) -> dict:
    base = root / "PlantVillage-Dataset" / "raw"
    seed = 0
    for variant in ("color", "grayscale"):
        for folder, n in PLD_FOLDERS.items():
            for k in range(n):
                seed += 1
                write_image(base / variant / folder / f"{k:04d}_{folder[:5]}.JPG", seed)
    # 40 images in the 3 default classes; default sizes (5,279/47,523) scale to 4 train / 36 test
    return {"train": 4, "test": 36, "classes": 3, "skipped": []}


# -- HAM10000 ----------------------------------------------------------------------------------
def make_ham(root: Path, csv_name: str = "HAM10000_metadata") -> dict:
    dx_codes = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
    rows = ["lesion_id,image_id,dx,dx_type,age,sex,localization,dataset"]
    seed = 0
    for d, dx in enumerate(dx_codes):
        for lesion in range(4):  # 4 lesions per dx, 1-3 images each
            lesion_id = f"HAM_{d:03d}{lesion:04d}"
            for k in range(1 + (lesion % 3)):
                seed += 1
                image_id = f"ISIC_{seed:07d}"
                part = "HAM10000_images_part_1" if seed % 2 else "HAM10000_images_part_2"
                write_image(root / part / f"{image_id}.jpg", seed)
                rows.append(f"{lesion_id},{image_id},{dx},histo,45.0,male,back,vidir_modern")
    (root / csv_name).write_text("\n".join(rows) + "\n")
    return {"total": seed, "classes": 7, "skipped": []}


# -- chest X-ray -------------------------------------------------------------------------------
def make_chest(root: Path) -> dict:
    top = root / "chest_xray"
    counts = {"train": {"NORMAL": 3, "PNEUMONIA": 4}, "test": {"NORMAL": 2, "PNEUMONIA": 2}, "val": {"NORMAL": 1, "PNEUMONIA": 1}}
    seed = 0
    for split, per_class in counts.items():
        for cls, n in per_class.items():
            for k in range(n):
                seed += 1
                name = f"IM-{k:04d}-0001.jpeg" if cls == "NORMAL" else f"person{k}_{'bacteria' if k % 2 else 'virus'}_{k}.jpeg"
                write_image(top / split / cls / name, seed)
                # macOS resource forks beside the image, in the tree and under __MACOSX
                (top / split / cls / f"._{name}").write_bytes(b"\x00\x05\x16\x07")
                junk = root / "__MACOSX" / "chest_xray" / split / cls / f"._{name}"
                junk.parent.mkdir(parents=True, exist_ok=True)
                junk.write_bytes(b"\x00\x05\x16\x07")
                # the archive's nested duplicate copy
                write_image(top / "chest_xray" / split / cls / name, seed)
    (top / ".DS_Store").write_bytes(b"\x00")
    return {"train": 7, "test": 4, "classes": 2, "skipped": []}


# -- toy ---------------------------------------------------------------------------------------
TOY_CLASSES = ["Crimson Finch", "Azure Warbler"]


def make_toy(root: Path) -> dict:
    meta = {
        "version": 1,
        "seed": 0,
        "image_size": 16,
        "classes": TOY_CLASSES,
        "class_attributes": {"Crimson Finch": {"crown": "red"}, "Azure Warbler": {"crown": "blue"}},
    }
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "toy_meta.json").write_text(json.dumps(meta))
    (root / "concepts.json").write_text(json.dumps({"Crimson Finch": ["red crown", "short beak"], "Azure Warbler": ["blue crown", "thin beak"]}))
    seed = 0
    for split, n in (("train", 4), ("test", 3)):
        rows = []
        for k in range(n):
            seed += 1
            label = TOY_CLASSES[k % 2]
            image = f"images/{split}_{k:05d}.png"
            write_image(root / image, seed)
            crown = "red" if label == "Crimson Finch" else "blue"
            rows.append({"id": f"{split}_{k:05d}", "image": image, "label": label,
                         "visible_concepts": [f"{crown} crown"], "attributes": {"crown": crown, "tail": None}})
        (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"train": 4, "test": 3, "classes": 2, "skipped": []}


BUILDERS = {
    "cub200": make_cub,
    "stanford_dogs": make_dogs,
    "fgvc_aircraft": make_fgvc,
    "pld": make_pld,
    "chest_xray": make_chest,
    "toy": make_toy,
}


def make_crown_task(toy_dataset_root: Path, out: Path, limit: int = 16) -> Path:
    """A toy-layout dataset over the toy world's test images whose "class" is the visible crown
    colour ("yellow crown"): the toy base model describes crowns but knows no species, so its
    answers name this label on some images and miss it on others (a non-degenerate accuracy)."""
    toy_dataset_root = Path(toy_dataset_root)
    rows = []
    for row in read_jsonl(toy_dataset_root / "test.jsonl"):
        crown = row["attributes"].get("crown")
        if crown is None:
            continue
        rows.append({**row, "image": str(toy_dataset_root / row["image"]), "label": f"{crown} crown"})
        if len(rows) == limit:
            break
    classes = sorted({r["label"] for r in rows})
    out.mkdir(parents=True, exist_ok=True)
    (out / "toy_meta.json").write_text(json.dumps({"version": 1, "seed": 0, "image_size": 0, "classes": classes, "class_attributes": {}}))
    (out / "concepts.json").write_text(json.dumps({c: [c] for c in classes}))
    (out / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:2]))
    (out / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return out


