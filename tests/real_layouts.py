"""Tiny copies of the real FER datasets' on-disk layouts, written from SynthFACS faces at test time.

Each writer takes faces ``(PIL image, canonical label, split)`` and a folder, writes the dataset
exactly as it is distributed (label files, CSV pixels, uncropped images with face boxes, class
folders) and returns the ``train.data`` keys that read it back. The labels are mapped *back* to
each dataset's own label order, so a test that reads them through the reader checks the mapping.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from ssfer_core.data.readers import AFFECTNET_TO_CANON, FER2013_TO_CANON, FERPLUS_COLUMNS
from ssfer_core.labels import CLASS_NAMES

SFEW_FOLDERS = ("Surprise", "Fear", "Disgust", "Happy", "Sad", "Angry", "Neutral")
FOLDER_NAMES = ("surprise", "Fear", "disgusted", "happy", "Sad", "angry", "neutral", "contempt")  # any spelling
TO_FER2013 = {c: k for k, c in FER2013_TO_CANON.items()}
TO_AFFECTNET = {c: k for k, c in AFFECTNET_TO_CANON.items()}


def synthfacs_faces(root: str | Path, num_classes: int) -> list[tuple[Image.Image, int, str]]:
    """The faces of a SynthFACS folder (RAF-DB layout, labels 1..8) with canonical labels."""
    root = Path(root)
    out = []
    for line in (root / "EmoLabel" / "list_patition_label.txt").read_text().split("\n"):
        if line.strip():
            name, lab = line.split()
            if int(lab) - 1 < num_classes:
                img = Image.open(root / "Image" / "aligned" / name.replace(".jpg", "_aligned.jpg")).convert("RGB")
                out.append((img, int(lab) - 1, "train" if name.startswith("train") else "test"))
    return out


def write_rafdb(faces, out: Path) -> dict:
    basic = out / "basic"
    (basic / "EmoLabel").mkdir(parents=True)
    (basic / "Image" / "aligned").mkdir(parents=True)
    lines, n = [], {"train": 0, "test": 0}
    for img, c, split in faces:
        if c >= 7:  # RAF-DB basic has no contempt
            continue
        n[split] += 1
        stem = f"{split}_{n[split]:05d}" if split == "train" else f"test_{n[split]:04d}"
        img.save(basic / "Image" / "aligned" / f"{stem}_aligned.jpg", quality=95)
        lines.append(f"{stem}.jpg {c + 1}")
    (basic / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    return {"dataset": "rafdb", "root": str(out), "num_classes": 7}


def _fer2013_rows(faces):
    usage = {"train": "Training", "test": "PrivateTest"}
    for i, (img, c, split) in enumerate(faces):
        grey = np.asarray(img.convert("L").resize((48, 48), Image.BILINEAR))
        # every tenth test face goes to PublicTest (the reader calls it "val"; training tests on both)
        yield i, c, usage[split] if i % 10 else ("PublicTest" if split == "test" else "Training"), grey


def write_fer2013(faces, out: Path) -> dict:
    out.mkdir(parents=True)
    with open(out / "fer2013.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels", "Usage"])
        for _, c, use, grey in _fer2013_rows([x for x in faces if x[1] < 7]):
            w.writerow([TO_FER2013[c], " ".join(map(str, grey.ravel())), use])
    return {"dataset": "fer2013", "root": str(out), "num_classes": 7}


def write_ferplus(faces, out: Path) -> dict:
    """fer2013.csv (pixels; its own labels are overruled) + fer2013new.csv (10 votes a face: 7 for
    the face's class), plus a tied row and a removed image that the majority rule drops."""
    out.mkdir(parents=True)
    rows = list(_fer2013_rows(faces)) + [(len(faces), 6, "Training", np.zeros((48, 48), np.uint8))] * 2
    with open(out / "fer2013.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels", "Usage"])
        for _, c, use, grey in rows:
            w.writerow([TO_FER2013.get(c, 6), " ".join(map(str, grey.ravel())), use])
    with open(out / "fer2013new.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Usage", "Image name", *FERPLUS_COLUMNS, "unknown", "NF"])
        for i, c, use, _ in rows[:-2]:
            votes = [0] * len(FERPLUS_COLUMNS)
            votes[FERPLUS_COLUMNS.index(CLASS_NAMES[c])] = 7
            votes[(FERPLUS_COLUMNS.index(CLASS_NAMES[c]) + 1) % len(votes)] = 3
            w.writerow([use, f"fer{i:07d}.png", *votes, 0, 0])
        w.writerow(["Training", "fer_tie.png", 5, 5, 0, 0, 0, 0, 0, 0, 0, 0])  # tie: dropped
        w.writerow(["Training", "", 10, 0, 0, 0, 0, 0, 0, 0, 0, 0])            # removed: dropped
    return {"dataset": "ferplus", "root": str(out), "num_classes": 8}


def write_affectnet(faces, out: Path, num_classes: int = 8) -> dict:
    """Uncropped images (the face pasted at a random place on a larger noisy photo) under
    Manually_Annotated_Images/<folder>/, training.csv / validation.csv with face boxes, and a
    None / Uncertain / No-Face row each (dropped by the reader)."""
    rng = np.random.default_rng(0)
    images = out / "Manually_Annotated_Images"
    cols = ["subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "facial_landmarks",
            "expression", "valence", "arousal"]
    rows = {"train": [], "test": []}
    for i, (img, c, split) in enumerate(list(faces) + [(faces[0][0], -1, "train")] * 3):
        s = img.width
        canvas = Image.fromarray(rng.integers(0, 255, (2 * s, 2 * s + 7, 3), dtype=np.uint8))
        x, y = (int(v) for v in rng.integers(0, s, 2))
        canvas.paste(img, (x, y))
        rel = f"{100 + i % 7}/{i:040x}.jpg"
        (images / rel).parent.mkdir(parents=True, exist_ok=True)
        canvas.save(images / rel, quality=95)
        label = TO_AFFECTNET[c] if c >= 0 else 8 + (i % 3)  # None / Uncertain / No-Face
        rows[split].append([rel, x, y, s, s, "", label, 0.0, 0.0])
    for split, name in (("train", "training.csv"), ("test", "validation.csv")):
        with open(out / name, "w", newline="") as f:
            csv.writer(f).writerows([cols] + rows[split])
    return {"dataset": "affectnet", "root": str(out), "num_classes": num_classes}


def write_sfew(faces, out: Path) -> dict:
    for img, c, split in faces:
        if c < 7:
            folder = out / ("Train/Train_Aligned_Faces" if split == "train" else "Val/Val_Aligned_Faces") / SFEW_FOLDERS[c]
            folder.mkdir(parents=True, exist_ok=True)
            img.save(folder / f"face_{len(list(folder.iterdir())):04d}.png")
    return {"dataset": "sfew", "root": str(out), "num_classes": 7}


def write_imagefolder(faces, out: Path) -> dict:
    for img, c, split in faces:
        folder = out / split / FOLDER_NAMES[c]
        folder.mkdir(parents=True, exist_ok=True)
        img.save(folder / f"{len(list(folder.iterdir())):04d}.jpg", quality=95)
    return {"dataset": "imagefolder", "root": str(out), "num_classes": 8}


LAYOUTS = {"rafdb": write_rafdb, "fer2013": write_fer2013, "ferplus": write_ferplus,
           "affectnet7": lambda f, o: write_affectnet(f, o, 7), "affectnet8": write_affectnet,
           "sfew": write_sfew, "imagefolder": write_imagefolder}
"""Fixture name -> writer(faces, folder) -> ``train.data`` keys."""
