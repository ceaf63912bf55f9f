"""Everything training needs from a dataset, in memory: images, labels, the labeled/unlabeled split."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ssfer_core.data import readers
from ssfer_core.data.check import check_dataset
from ssfer_core.data.config import DataConfig
from ssfer_core.data.datasets import read_records
from ssfer_core.data.splits import save_or_load_split, split_path, split_settings
from ssfer_core.data.store import load_images
from ssfer_core.errors import DatasetError


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


def load_data(cfg: DataConfig, progress: bool = False) -> FERData:
    """Read, check (the same check as ``ssfer data check``, without decoding images), split and
    load a dataset. A dataset training cannot start on raises :class:`DatasetError` with the
    check's reasons before any image is decoded or any split file is written."""
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
