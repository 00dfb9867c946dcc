"""Pediatric chest X-rays (Kermany et al.), normal vs pneumonia, official split 5,216 / 624.

Root: the folder holding ``chest_xray/`` or ``chest_xray/`` itself. The published archive also
carries ``__MACOSX/`` resource forks, ``._*`` files and a nested duplicate
``chest_xray/chest_xray/``; we read only the outermost folder that has ``train/`` and ``test/``,
ignore ``val/`` (16 images; the paper does not use it) and skip hidden files.

Questions: as in the released pools for this dataset, every training question asks whether the
X-ray shows pneumonia (plain, with an explanation, or step by step; our wording).

Evaluation question (option ``question``): ``yesno`` (default) asks the domain prompts' ``yes_no``
question and reads the answer with ``labels.YesNoReader`` (yes → Pneumonia, no → Normal, whole
words only); ``classname`` asks the first ``explain`` prompt, like every other task, read by the
class-name reader. The published rule is the same under both: the released evaluation scores every
dataset by the class name contained in the answer (``labels.paper_match``), chest X-rays included;
it has no yes/no reading.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from selfsynth.config import field
from selfsynth.errors import UserError
from selfsynth.tasks.base import Prompts, Sample
from selfsynth.tasks.common import DatasetOptions, DatasetTask, require, sorted_images

CLASS_FOLDERS = {"NORMAL": "Normal", "PNEUMONIA": "Pneumonia"}


@dataclass
class ChestXrayOptions(DatasetOptions):
    question: Literal["yesno", "classname"] = field(
        "yesno", help="evaluation question: yesno (does it show pneumonia? as the paper asks) or classname (name the diagnosis)")


class ChestXrayTask(DatasetTask):
    """Pediatric chest x-ray, normal vs pneumonia."""

    name = "chest_xray"
    published_split_sizes = (5216, 624)  # published folders
    domain = "chest_xray"
    Options = ChestXrayOptions

    @property
    def folder(self) -> Path:
        folder = require(self.root, "the chest_xray folder or the folder holding it")
        while not ((folder / "train").is_dir() and (folder / "test").is_dir()):
            if not (folder / "chest_xray").is_dir():
                raise UserError(f"{folder / 'chest_xray' / 'train'} not found (expected chest_xray/{{train,test}}/{{NORMAL,PNEUMONIA}})")
            folder = folder / "chest_xray"
        return folder

    def class_names(self) -> list[str]:
        return list(CLASS_FOLDERS.values())

    def answer_reader(self):
        """yesno: yes → Pneumonia, no → Normal; classname: the class-name reader."""
        reader = super().answer_reader()
        if self.options.question == "yesno":
            from selfsynth.tasks.labels import YesNoReader

            return YesNoReader(reader, yes_class="Pneumonia", no_class="Normal")
        return reader

    def evaluation_question(self, prompts: Prompts) -> str:
        if self.options.question == "classname":
            return prompts.explain[0]
        if not prompts.yes_no:
            raise UserError("task chest_xray: question=yesno needs a 'yes_no' question in its prompts YAML (or pass question=classname)")
        return prompts.yes_no

    def _load_split(self, split: str) -> list[Sample]:
        samples = []
        for folder_name, label in CLASS_FOLDERS.items():
            folder = require(self.folder / split / folder_name, f"a folder of {label.lower()} chest X-ray images")
            for path in sorted_images(folder):
                meta = {"class_folder": folder_name}
                if folder_name == "PNEUMONIA":
                    # file names say the cause: person1_bacteria_1.jpeg / person1_virus_6.jpeg
                    cause = "bacteria" if "bacteria" in path.name else "virus" if "virus" in path.name else ""
                    meta["cause"] = cause
                samples.append(Sample(f"{split}/{folder_name}/{path.name}", str(path.resolve()), label, meta))
        return samples
