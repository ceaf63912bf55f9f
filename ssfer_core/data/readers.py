"""Readers for real FER datasets (and SynthFACS, which uses RAF-DB's layout) -> one record type.

Every reader returns ``list[Record]`` with labels in the canonical order of
:mod:`ssfer_core.labels` (0..6 = surprise, fear, disgust, happiness, sadness, anger, neutral;
contempt 7). Bad input raises :class:`DatasetError` naming the file and the fix.

Every record keeps ``source_label``, the dataset's own label (``"4"``, ``"Happy"``), so that
``ssfer data check`` can show the mapping to the canonical order as the data has it.

AffectNet's ``Manually_Annotated_Images`` are uncropped photographs; when its CSV has the face box
columns (``face_x, face_y, face_width, face_height``) the reader attaches the box and the image
loader crops to it (``face_box=False`` uses pre-cropped images as they are).

Vote rule for FERPlus (``fer2013new.csv``): the label is the emotion with the most votes; rows
where the top emotion count is tied, or where ``unknown`` or ``NF`` (not a face) has at least as
many votes as the top emotion, are dropped (this is the "majority" protocol of the FERPlus paper).
"""
from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ssfer_core.errors import DatasetError
from ssfer_core.labels import class_id

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@dataclass
class Record:
    """One image with its canonical label. Exactly one of ``path`` / ``pixels`` is set."""

    key: str
    label: int
    split: str  # "train" | "test" | "val"
    path: Path | None = None
    pixels: np.ndarray | None = field(default=None, repr=False)  # HxW or HxWx3 uint8
    soft: np.ndarray | None = field(default=None, repr=False)  # per-class probabilities if known
    source_label: str = ""  # the dataset's own label for this image, before mapping
    box: tuple[int, int, int, int] | None = None  # face box (x, y, width, height) to crop to


UNLABELED = -1  # label of an extra unlabeled image (data.extra_train): never a class


# RAF-DB basic: 1-based ids in its own order, so canonical id = RAF-DB id - 1.
# FER2013: 0 Angry 1 Disgust 2 Fear 3 Happy 4 Sad 5 Surprise 6 Neutral.
FER2013_TO_CANON = {0: 5, 1: 2, 2: 1, 3: 3, 4: 4, 5: 0, 6: 6}
# FERPlus vote columns in fer2013new.csv order.
FERPLUS_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
FERPLUS_TO_CANON = {i: class_id(n) for i, n in enumerate(FERPLUS_COLUMNS)}
# AffectNet: 0 Neutral 1 Happy 2 Sad 3 Surprise 4 Fear 5 Disgust 6 Anger 7 Contempt
# (8 None, 9 Uncertain, 10 No-Face are dropped).
AFFECTNET_TO_CANON = {0: 6, 1: 3, 2: 4, 3: 0, 4: 1, 5: 2, 6: 5, 7: 7}


def _require(path: Path, what: str, fix: str) -> Path:
    if not path.exists():
        raise DatasetError(f"{what} not found: {path}. {fix}")
    return path


def _int(value: str, where: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DatasetError(f"{where}: label {value!r} is not an integer; fix or delete that line") from None


def read_rafdb(root: str | Path, aligned: bool = True, contempt: bool = False) -> list[Record]:
    """RAF-DB basic: ``EmoLabel/list_patition_label.txt`` + ``Image/aligned/<stem>_aligned.jpg``.

    ``root`` may be the ``basic`` folder itself or its parent. Labels are 1..7 (RAF-DB order);
    ``contempt=True`` also accepts 8 (an 8-class SynthFACS folder in RAF-DB layout).
    """
    root = Path(root)
    if not (root / "EmoLabel").exists() and (root / "basic" / "EmoLabel").exists():
        root = root / "basic"
    label_file = _require(root / "EmoLabel" / "list_patition_label.txt", "RAF-DB label file",
                          "Point the reader at RAF-DB's 'basic' folder (it holds EmoLabel/ and Image/).")
    image_dir = root / "Image" / ("aligned" if aligned else "original")
    records = []
    for n, line in enumerate(label_file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        where = f"{label_file}:{n}"
        if len(parts) != 2:
            raise DatasetError(f"{where}: expected '<name>.jpg <label>', got {line!r}")
        name, raw = parts
        lab = _int(raw, where)
        top = 8 if contempt else 7
        if not 1 <= lab <= top:
            raise DatasetError(f"{where}: label {lab} is outside RAF-DB's 1..{top}; fix or delete that line")
        stem = Path(name).stem
        file = image_dir / (f"{stem}_aligned.jpg" if aligned else name)
        split = "train" if stem.startswith("train") else "test"
        records.append(Record(key=stem, label=lab - 1, split=split, path=file, source_label=raw))
    if not records:
        raise DatasetError(f"{label_file} holds no labels")
    return records


def read_fer2013(csv_path: str | Path) -> list[Record]:
    """FER2013 ``fer2013.csv``: columns emotion, pixels (48*48 grey values), Usage."""
    csv_path = _require(Path(csv_path), "FER2013 csv", "Download fer2013.csv and pass its path.")
    usage_split = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
    records = []
    with open(csv_path, newline="") as f:
        for n, row in enumerate(csv.DictReader(f), 2):
            where = f"{csv_path}:{n}"
            lab = _int(row.get("emotion"), where)
            if lab not in FER2013_TO_CANON:
                raise DatasetError(f"{where}: emotion {lab} is outside FER2013's 0..6")
            records.append(Record(key=f"fer{n - 2:05d}", label=FER2013_TO_CANON[lab],
                                  split=usage_split.get(row.get("Usage", ""), "train"),
                                  pixels=_pixels(row.get("pixels", ""), where), source_label=str(lab)))
    return records


def _pixels(text: str, where: str) -> np.ndarray:
    values = np.array(text.split(), dtype=np.float64) if text else np.zeros(0)
    side = int(round(np.sqrt(values.size)))
    if values.size == 0 or side * side != values.size:
        raise DatasetError(f"{where}: 'pixels' must hold a square number of grey values, got {values.size}")
    return values.reshape(side, side).astype(np.uint8)


def read_ferplus(new_csv: str | Path, fer2013_csv: str | Path, num_classes: int = 8,
                 dropped: Counter | None = None) -> list[Record]:
    """FERPlus votes (``fer2013new.csv``) over FER2013 pixels, majority vote (see module doc).
    ``dropped`` (if given) counts the rows left out, by reason."""
    dropped = Counter() if dropped is None else dropped
    new_csv = _require(Path(new_csv), "FERPlus vote file", "Get fer2013new.csv from the FERPlus repository.")
    base = read_fer2013(fer2013_csv)
    usage_split = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
    records = []
    with open(new_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    if len(rows) != len(base):
        raise DatasetError(f"{new_csv} has {len(rows)} rows but {fer2013_csv} has {len(base)}; "
                           "they must be row-aligned (use the files as released)")
    for n, (row, rec) in enumerate(zip(rows, base), 2):
        if not (row.get("Image name") or "").strip():
            dropped["removed from FERPlus (no image name)"] += 1
            continue
        try:
            votes = np.array([float(row[c]) for c in FERPLUS_COLUMNS])
            unknown, not_face = float(row["unknown"]), float(row["NF"])
        except (KeyError, ValueError) as e:
            raise DatasetError(f"{new_csv}:{n}: vote columns missing or not numeric ({e})") from None
        top = votes.max()
        if top <= 0 or (votes == top).sum() > 1 or max(unknown, not_face) >= top:
            dropped["no majority (tie, unknown or not a face)"] += 1
            continue
        lab = FERPLUS_TO_CANON[int(votes.argmax())]
        if lab >= num_classes:
            dropped[f"contempt (num_classes={num_classes})"] += 1
            continue
        soft = np.zeros(8)
        for i, v in enumerate(votes):
            soft[FERPLUS_TO_CANON[i]] = v
        soft = soft[:num_classes] / soft[:num_classes].sum()
        records.append(Record(key=Path(row["Image name"]).stem, label=lab,
                              split=usage_split.get(row.get("Usage", ""), rec.split),
                              pixels=rec.pixels, soft=soft, source_label=FERPLUS_COLUMNS[int(votes.argmax())]))
    return records


AFFECTNET_BOX = ("face_x", "face_y", "face_width", "face_height")
AFFECTNET_DROPPED = {8: "8 None", 9: "9 Uncertain", 10: "10 No-Face"}


def read_affectnet(root: str | Path, csv_name: str, split: str, num_classes: int = 7,
                   image_dir: str = "Manually_Annotated_Images", face_box: bool = True,
                   dropped: Counter | None = None) -> list[Record]:
    """AffectNet ``training.csv`` / ``validation.csv`` (columns ``subDirectory_filePath``,
    ``expression`` 0..10, and the face box ``face_x, face_y, face_width, face_height``). 7 classes
    drops contempt; classes 8..10 (None, Uncertain, No-Face) are always dropped. With
    ``face_box`` and the box columns present, each record carries its box and is cropped to it.
    ``dropped`` (if given) counts the rows left out, by reason."""
    dropped = Counter() if dropped is None else dropped
    root = Path(root)
    path = _require(root / csv_name, "AffectNet csv", f"Expected {csv_name} in the AffectNet root.")
    records = []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        columns = set(reader.fieldnames or ())
        if not {"expression", "subDirectory_filePath"} <= columns:
            raise DatasetError(f"{path}: needs columns 'subDirectory_filePath' and 'expression' "
                               f"(found {', '.join(sorted(columns)) or 'none'})")
        use_box = face_box and set(AFFECTNET_BOX) <= columns
        for n, row in enumerate(reader, 2):
            where = f"{path}:{n}"
            lab = _int(row["expression"], where)
            if not 0 <= lab <= 10:
                raise DatasetError(f"{where}: expression {lab} is outside AffectNet's 0..10; fix or delete that line")
            if lab not in AFFECTNET_TO_CANON or AFFECTNET_TO_CANON[lab] >= num_classes:
                dropped[AFFECTNET_DROPPED.get(lab, f"contempt (num_classes={num_classes})")] += 1
                continue
            box = None
            if use_box:
                box = tuple(_int(row[c], f"{where} ({c})") for c in AFFECTNET_BOX)
                if box[2] <= 0 or box[3] <= 0:
                    raise DatasetError(f"{where}: face box {box} has no area; fix the line or set data.face_box=false")
            rel = row["subDirectory_filePath"]
            records.append(Record(key=Path(rel).stem, label=AFFECTNET_TO_CANON[lab], split=split,
                                  path=root / image_dir / rel, source_label=str(lab), box=box))
    return records


def read_image_folder(root: str | Path, split: str = "train", num_classes: int = 8,
                      dropped: Counter | None = None) -> list[Record]:
    """``root/<class name>/*.jpg`` with any common spelling of the class names (Happy, angry...).
    ``dropped`` (if given) counts the images of classes beyond ``num_classes``."""
    dropped = Counter() if dropped is None else dropped
    root = _require(Path(root), "image folder", "Pass a folder with one sub-folder per class.")
    records = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            lab = class_id(sub.name)
        except ValueError as e:
            raise DatasetError(f"{sub}: {e}. Rename the folder or remove it.") from None
        if lab >= num_classes:
            dropped[f"{sub.name} (num_classes={num_classes})"] += sum(
                f.suffix.lower() in IMAGE_SUFFIXES for f in sub.iterdir())
            continue
        for f in sorted(sub.iterdir()):
            if f.suffix.lower() in IMAGE_SUFFIXES:
                records.append(Record(key=f"{sub.name}/{f.stem}", label=lab, split=split, path=f,
                                      source_label=sub.name))
    if not records:
        raise DatasetError(f"{root} holds no images in class folders")
    return records


def read_sfew(root: str | Path, dropped: Counter | None = None) -> list[Record]:
    """SFEW 2.0 aligned faces: ``Train/Train_Aligned_Faces/<Class>/`` and
    ``Val/Val_Aligned_Faces/<Class>/`` (the validation set is the usual test set)."""
    root = Path(root)
    train = _require(root / "Train" / "Train_Aligned_Faces", "SFEW train folder",
                     "Expected SFEW 2.0's Train/Train_Aligned_Faces/<Class>/ layout.")
    val = _require(root / "Val" / "Val_Aligned_Faces", "SFEW validation folder",
                   "Expected SFEW 2.0's Val/Val_Aligned_Faces/<Class>/ layout.")
    return read_image_folder(train, "train", 7, dropped) + read_image_folder(val, "test", 7, dropped)


def read_unlabeled_folder(root: str | Path) -> list[Record]:
    """Every image under ``root`` (any depth) as an unlabeled training record (``data.extra_train``):
    label :data:`UNLABELED`, keys ``extra/<relative path>`` so they never clash with a dataset's."""
    root = _require(Path(root), "extra unlabeled image folder",
                    "Set data.extra_train to a folder of face images, or to '' for none.")
    files = sorted(f for f in root.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
    if not files:
        raise DatasetError(f"{root} (data.extra_train) holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return [Record(key="extra/" + f.relative_to(root).with_suffix("").as_posix(), label=UNLABELED,
                   split="train", path=f, source_label="unlabeled") for f in files]


def read_synthfacs_metadata(root: str | Path):
    """SynthFACS ``metadata.csv`` as a pandas DataFrame keyed like the RAF-DB records."""
    import pandas as pd

    path = _require(Path(root) / "metadata.csv", "SynthFACS metadata",
                    "Generate the dataset first: `ssfer synth --out <dir>`.")
    df = pd.read_csv(path)
    df["key"] = df["file"].str.replace(".jpg", "", regex=False)
    return df.set_index("key")
