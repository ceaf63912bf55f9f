"""Where a run's images come from and how its training set is split (``train.data`` in a profile)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class DataConfig:
    dataset: str = "synthfacs"
    """A registered dataset (``ssfer_core/data/datasets.py``): synthfacs | rafdb | fer2013 | ferplus |
    affectnet | sfew | imagefolder (layouts in the README's real-data section; check a copy with
    `ssfer data check`)."""
    root: str = "data/synthfacs"
    """Dataset root (for synthfacs: where `ssfer synth` wrote it)."""
    num_classes: int = 7
    """7 basic classes or 8 with contempt."""
    image_size: int = 48
    """Side of the model input in pixels (images are resized once, at load time)."""
    split_protocol: Literal["per_class", "fraction", "adacm", "sitfer_code"] = "per_class"
    """per_class | fraction | adacm | sitfer_code (see data/splits.py)."""
    labels_per_class: int = 10
    """Labeled images per class for split_protocol=per_class."""
    label_fraction: float = 0.1
    """Labeled fraction of each class for split_protocol=fraction."""
    n_labeled: int = 0
    """Total labels for the adacm / sitfer_code protocols."""
    split_seed: int | None = None
    """Seed of the labeled/unlabeled split (and of the validation carve). None: the run's ``seed``,
    so each seed draws its own split and a spread over seeds includes which faces are labeled; an
    integer keeps one split across seeds."""
    val_size: int = 0
    """Training images carved out as a validation split (saved and hashed with the split); they
    are neither labeled nor unlabeled. Defaults are chosen on it (``eval_on=val``)."""
    split_dir: str = "data/splits"
    """Where split CSVs (+ .sha256) are saved and reused."""
    cache_dir: str = "cache"
    """Where decoded image tensors are cached."""
    on_bad_image: Literal["skip", "error"] = "skip"
    """skip (warn with a count) | error, for missing or corrupt images."""
    bgr: bool = False
    """Feed BGR like the official cv2 pipelines (only for their MS-Celeb checkpoint)."""
    extra_train: str = ""
    """Optional folder of extra *unlabeled* face images (any depth; jpg/png/bmp/webp), added to the
    unlabeled pool of every semi-supervised run; never labeled, never in validation or test. ''
    for none."""
    face_box: bool = True
    """AffectNet: crop each image to the CSV's face box (face_x, face_y, face_width, face_height)
    when the CSV has those columns; false for images that are already cropped."""


def label_budget(d: DataConfig):
    """How a table names the label budget: the count per class, 'all', or the protocol's amount."""
    if d.split_protocol == "per_class":
        return d.labels_per_class
    if d.split_protocol == "fraction":
        return "all" if d.label_fraction >= 1 else f"{d.label_fraction:.0%}"
    return f"{d.split_protocol} {d.n_labeled}"
