"""Everything training needs from a dataset, in memory: images, labels, the labeled/unlabeled split."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ssfer_core.config import DataConfig
from ssfer_core.data import readers
from ssfer_core.data.readers import DatasetError
from ssfer_core.data.splits import save_or_load_split
from ssfer_core.data.store import load_images


@dataclass
class FERData:
    train_images: torch.Tensor  # uint8 [N, 3, S, S]
    train_labels: torch.Tensor  # annotated labels (hidden from methods for unlabeled samples);
                                # readers.UNLABELED (-1) for the extra unlabeled images
    labeled_idx: torch.Tensor   # positions in train_* of the labeled samples
    unlabeled_idx: torch.Tensor
    val_idx: torch.Tensor       # positions in train_* of the validation split (may be empty)
    test_images: torch.Tensor
    test_labels: torch.Tensor
    train_keys: list[str]
    test_keys: list[str]
    split_hash: str
    num_classes: int

    def eval_set(self, which: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Images and labels to evaluate on: ``test``, or ``val`` (the split carved from train)."""
        if which == "test":
            return self.test_images, self.test_labels
        if which == "val":
            if len(self.val_idx) == 0:
                raise DatasetError("eval_on=val needs a validation split: set data.val_size > 0")
            return self.train_images[self.val_idx], self.train_labels[self.val_idx]
        raise ValueError(f"eval_on must be test or val, got {which!r}")


def read_records(cfg: DataConfig, dropped: Counter | None = None) -> list[readers.Record]:
    """The dataset's records through its reader, labels below ``cfg.num_classes``; ``dropped`` (if
    given) counts, by reason, the rows or images the reader leaves out (AffectNet's None /
    Uncertain / No-Face, FERPlus rows without a majority, contempt under ``num_classes=7``)."""
    return [r for r in _read(cfg, dropped) if r.label < cfg.num_classes]


def _read(cfg: DataConfig, dropped: Counter | None) -> list[readers.Record]:
    root = Path(cfg.root)
    if cfg.dataset == "synthfacs":
        return readers.read_rafdb(root, contempt=cfg.num_classes == 8)
    if cfg.dataset == "rafdb":
        return readers.read_rafdb(root)
    if cfg.dataset == "ferplus":
        return readers.read_ferplus(root / "fer2013new.csv", root / "fer2013.csv", cfg.num_classes, dropped)
    if cfg.dataset == "fer2013":
        return readers.read_fer2013(root / "fer2013.csv")
    if cfg.dataset == "affectnet":
        return (readers.read_affectnet(root, "training.csv", "train", cfg.num_classes, face_box=cfg.face_box,
                                       dropped=dropped)
                + readers.read_affectnet(root, "validation.csv", "test", cfg.num_classes, face_box=cfg.face_box,
                                         dropped=dropped))
    if cfg.dataset == "sfew":
        return readers.read_sfew(root, dropped)
    if cfg.dataset == "imagefolder":
        return (readers.read_image_folder(root / "train", "train", cfg.num_classes, dropped)
                + readers.read_image_folder(root / "test", "test", cfg.num_classes, dropped))
    raise DatasetError(f"unknown dataset {cfg.dataset!r}; known: {sorted(readers.READERS)}")


def split_path(cfg: DataConfig) -> Path:
    amount = {"per_class": f"{cfg.labels_per_class}pc", "fraction": f"{cfg.label_fraction:g}frac",
              "adacm": f"{cfg.n_labeled}", "sitfer_code": f"{cfg.n_labeled}"}[cfg.split_protocol]
    val = f"_val{cfg.val_size}" if cfg.val_size else ""
    return Path(cfg.split_dir) / f"{cfg.dataset}_{cfg.split_protocol}_{amount}{val}_seed{cfg.split_seed}.csv"


def split_settings(cfg: DataConfig) -> dict:
    """The keyword arguments of :func:`splits.make_split` that come from ``cfg``."""
    return {"val_size": cfg.val_size, "labels_per_class": cfg.labels_per_class,
            "fraction": cfg.label_fraction, "n_labeled": cfg.n_labeled}


def load_data(cfg: DataConfig, progress: bool = False) -> FERData:
    """Read, check (the same check as ``ssfer data check``, without decoding images), split and
    load a dataset. A dataset training cannot start on raises :class:`DatasetError` with the
    check's reasons before any image is decoded or any split file is written."""
    from ssfer_core.data.check import check_dataset

    records = read_records(cfg)
    report = check_dataset(cfg, records=records, decode=False)
    if not report.ok:
        raise DatasetError(report.failure_message())
    split, digest = save_or_load_split(split_path(cfg), records, cfg.num_classes, cfg.split_seed,
                                       cfg.split_protocol, **split_settings(cfg))
    train = sorted((r for r in records if r.split == "train"), key=lambda r: r.key)
    # FER2013 / FERPlus PublicTest (split "val") is left out: test = PrivateTest, the usual protocol;
    # the study's validation split is carved from train (data.val_size)
    test = sorted((r for r in records if r.split == "test"), key=lambda r: r.key)
    tr_img, train = load_images(train, cfg.image_size, cfg.cache_dir, cfg.on_bad_image, cfg.bgr, progress)
    te_img, test = load_images(test, cfg.image_size, cfg.cache_dir, cfg.on_bad_image, cfg.bgr, progress)
    roles = np.array([split[r.key] for r in train])
    labeled, unlabeled = np.flatnonzero(roles == "labeled"), np.flatnonzero(roles == "unlabeled")
    labels = [r.label for r in train]
    keys = [r.key for r in train]
    if cfg.extra_train:  # extra faces join the unlabeled pool only, after the split
        ex_img, extra = load_images(readers.read_unlabeled_folder(cfg.extra_train), cfg.image_size,
                                    cfg.cache_dir, cfg.on_bad_image, cfg.bgr, progress)
        unlabeled = np.concatenate([unlabeled, len(train) + np.arange(len(extra))])
        tr_img = torch.cat([tr_img, ex_img])
        labels += [readers.UNLABELED] * len(extra)
        keys += [r.key for r in extra]
    return FERData(
        train_images=tr_img, train_labels=torch.tensor(labels),
        labeled_idx=torch.from_numpy(labeled), unlabeled_idx=torch.from_numpy(unlabeled),
        val_idx=torch.from_numpy(np.flatnonzero(roles == "val")),
        test_images=te_img, test_labels=torch.tensor([r.label for r in test]),
        train_keys=keys, test_keys=[r.key for r in test],
        split_hash=digest, num_classes=cfg.num_classes)
