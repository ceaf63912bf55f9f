"""The dataset registry: a dataset is one registered reader, with everything else known about it.

    @register_dataset("rafdb", display="RAF-DB", layout="basic/EmoLabel/... + basic/Image/aligned/",
                      source_names={...}, published={...})
    def rafdb(cfg: DataConfig, dropped: Counter | None) -> list[Record]: ...

The reader returns records with canonical labels (``readers.py`` holds the format parsers);
``source_names`` names the dataset's own numeric labels (to show the mapping), ``published`` gives
its published per-class counts (``ssfer data check`` compares), ``display`` is how reports name
it, ``layout`` is the CLI's help. Readers, the check, the CLI and the reports look datasets up
here, and nowhere else.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ssfer_core.data import readers
from ssfer_core.data.config import DataConfig
from ssfer_core.data.readers import Record
from ssfer_core.registry import Registry


@dataclass(frozen=True)
class DatasetDef:
    name: str
    read: Callable[[DataConfig, Counter | None], list[Record]]
    """(data config, counter of left-out rows by reason or None) -> records, canonical labels."""
    display: str
    """How reports name it."""
    layout: str = ""
    """What the folder must hold (CLI help, README)."""
    source_names: dict = field(default_factory=dict)
    """The dataset's own numeric label -> its name ("1" -> "Surprise"), to show the mapping."""
    published: dict = field(default_factory=dict)
    """Published counts: {"name": citation, split: per-class list (canonical order) or a total}."""
    synthetic: bool = False
    """Generated with every factor known (metadata.csv): probes, contact sheet and judge apply."""


DATASETS: Registry[DatasetDef] = Registry("dataset", "data.dataset")


def register_dataset(name: str, display: str, **meta):
    """Decorator registering a reader ``(cfg, dropped) -> list[Record]`` as dataset ``name``."""
    def deco(fn):
        DATASETS.add(name, DatasetDef(name, fn, display, **meta))
        return fn
    return deco


def read_records(cfg: DataConfig, dropped: Counter | None = None) -> list[Record]:
    """The dataset's records through its reader, labels below ``cfg.num_classes``; ``dropped`` (if
    given) counts, by reason, the rows or images the reader leaves out (AffectNet's None /
    Uncertain / No-Face, FERPlus rows without a majority, contempt under ``num_classes=7``)."""
    return [r for r in DATASETS[cfg.dataset].read(cfg, dropped) if r.label < cfg.num_classes]


RAFDB_NAMES = dict(enumerate(("Surprise", "Fear", "Disgust", "Happiness", "Sadness", "Anger", "Neutral"), 1))


@register_dataset("synthfacs", "SynthFACS (embedded synthetic)", synthetic=True,
                  layout="`ssfer synth` output: RAF-DB's basic layout + metadata.csv",
                  source_names=RAFDB_NAMES | {8: "Contempt"})
def synthfacs(cfg: DataConfig, dropped: Counter | None) -> list[Record]:
    return readers.read_rafdb(Path(cfg.root), contempt=cfg.num_classes == 8)


@register_dataset("rafdb", "RAF-DB", layout="basic/EmoLabel/list_patition_label.txt + basic/Image/aligned/",
                  source_names=RAFDB_NAMES,
                  published={"name": "RAF-DB basic (Li et al., CVPR 2017)",
                             "train": [1290, 281, 717, 4772, 1982, 705, 2524],
                             "test": [329, 74, 160, 1185, 478, 162, 680]})
def rafdb(cfg: DataConfig, dropped: Counter | None) -> list[Record]:
    return readers.read_rafdb(Path(cfg.root))


@register_dataset("fer2013", "FER2013", layout="fer2013.csv (emotion, pixels, Usage)",
                  source_names=dict(enumerate(("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"))),
                  published={"name": "FER2013 (fer2013.csv)", "train": [3171, 4097, 436, 7215, 4830, 3995, 4965],
                             "val": 3589, "test": 3589})
def fer2013(cfg: DataConfig, dropped: Counter | None) -> list[Record]:
    return readers.read_fer2013(Path(cfg.root) / "fer2013.csv")


@register_dataset("ferplus", "FERPlus", layout="fer2013.csv + fer2013new.csv (majority vote)")
def ferplus(cfg: DataConfig, dropped: Counter | None) -> list[Record]:
    root = Path(cfg.root)
    return readers.read_ferplus(root / "fer2013new.csv", root / "fer2013.csv", cfg.num_classes, dropped)


@register_dataset("affectnet", "AffectNet",
                  layout="training.csv, validation.csv, Manually_Annotated_Images/<dir>/<file>",
                  source_names=dict(enumerate(("Neutral", "Happy", "Sad", "Surprise", "Fear", "Disgust", "Anger",
                                               "Contempt"))),
                  published={"name": "AffectNet manually annotated (Mollahosseini et al., 2017)",
                             "train": [14090, 6378, 3803, 134415, 25459, 24882, 74874, 3750], "test": [500] * 8})
def affectnet(cfg: DataConfig, dropped: Counter | None) -> list[Record]:
    root = Path(cfg.root)
    return (readers.read_affectnet(root, "training.csv", "train", cfg.num_classes, face_box=cfg.face_box,
                                   dropped=dropped)
            + readers.read_affectnet(root, "validation.csv", "test", cfg.num_classes, face_box=cfg.face_box,
                                     dropped=dropped))


@register_dataset("sfew", "SFEW 2.0", layout="Train/Train_Aligned_Faces/<Class>/, Val/Val_Aligned_Faces/<Class>/",
                  published={"name": "SFEW 2.0 (Dhall et al., 2015; images, before face alignment)",
                             "train": 958, "test": 436})
def sfew(cfg: DataConfig, dropped: Counter | None) -> list[Record]:
    return readers.read_sfew(Path(cfg.root), dropped)


@register_dataset("imagefolder", "an image folder", layout="train/<class>/, test/<class>/ (any common class spelling)")
def imagefolder(cfg: DataConfig, dropped: Counter | None) -> list[Record]:
    root = Path(cfg.root)
    return (readers.read_image_folder(root / "train", "train", cfg.num_classes, dropped)
            + readers.read_image_folder(root / "test", "test", cfg.num_classes, dropped))
