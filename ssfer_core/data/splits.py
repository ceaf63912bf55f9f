"""Seeded labeled/unlabeled splits of a training set, saved to CSV with a content hash.

Protocols:
* ``per_class``: ``labels_per_class`` labeled images of every class (the SynthFACS study default).
* ``fraction``: a stratified fraction of each class (LEAF's 10% / 25% settings).
* ``adacm``: Ada-CM's RAF-DB protocol, ``n_labeled`` in {100, 400, 1000, 2000, 4000}: fear gets
  10/40/100/200/250 and every other class 15/60/150/300/625.
* ``sitfer_code``: the official SIT-FER code's rule: disgust gets 57 and each other class
  floor((n_labeled - 57) / 6), capped at the class size.
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np

from ssfer_core.atomic import write_text
from ssfer_core.data.config import DataConfig
from ssfer_core.data.readers import Record
from ssfer_core.errors import ConfigError, DatasetError
from ssfer_core.labels import CLASS_NAMES

ADACM = {100: (10, 15), 400: (40, 60), 1000: (100, 150), 2000: (200, 300), 4000: (250, 625)}


def per_class_counts(labels: np.ndarray, num_classes: int, protocol: str, labels_per_class: int = 0,
                     fraction: float = 0.0, n_labeled: int = 0) -> np.ndarray:
    sizes = np.bincount(labels, minlength=num_classes)
    if protocol == "per_class":
        want = np.full(num_classes, labels_per_class)
    elif protocol == "fraction":
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        want = np.maximum(1, np.round(sizes * fraction)).astype(int)
    elif protocol == "adacm":
        if n_labeled not in ADACM:
            raise ValueError(f"adacm protocol needs n_labeled in {sorted(ADACM)}, got {n_labeled}")
        fear, other = ADACM[n_labeled]
        want = np.full(num_classes, other)
        want[1] = fear
    elif protocol == "sitfer_code":
        want = np.minimum(np.full(num_classes, (n_labeled - 57) // 6), sizes)
        want[2] = 57
    else:
        raise ValueError(f"unknown split protocol {protocol!r}")
    for c in range(num_classes):
        if want[c] > sizes[c]:
            raise DatasetError(
                f"the {protocol} split asks for {want[c]} labeled images of class {c} ({CLASS_NAMES[c]}) but "
                f"the training set has only {sizes[c]}; {_fix(protocol, sizes)}")
    return want


def _fix(protocol: str, sizes: np.ndarray) -> str:
    """How to make a split fit a training set whose classes have ``sizes`` images."""
    if protocol == "adacm":
        fits = [n for n, (fear, other) in sorted(ADACM.items())
                if sizes[1] >= fear and np.delete(sizes, 1).min() >= other]
        return (f"use a smaller data.n_labeled ({', '.join(map(str, fits))} fit)" if fits
                else "no Ada-CM budget fits") + ", or data.split_protocol=fraction"
    if protocol == "per_class":
        return (f"lower data.labels_per_class (at most {sizes.min()} fits every class) "
                "or use data.split_protocol=fraction")
    return "use data.split_protocol=fraction, or a dataset with more images of that class"


def carve_validation(records: list[Record], seed: int, val_size: int = 0):
    """The training records sorted by key, the seeded generator after the validation draw, and each
    record's role so far ("val" or "unlabeled"). ``val_size`` images (a uniform random draw, so
    classes keep their priors) become the validation split."""
    recs = sorted((r for r in records if r.split == "train"), key=lambda r: r.key)
    rng = np.random.default_rng(seed)
    roles = np.full(len(recs), "unlabeled", dtype=object)
    if val_size:
        if not 0 < val_size < len(recs):
            raise DatasetError(f"data.val_size must be in [0, {len(recs)}) for a training set of {len(recs)} "
                               f"images, got {val_size}; lower data.val_size")
        roles[rng.permutation(len(recs))[:val_size]] = "val"
    return recs, rng, roles


def make_split(records: list[Record], num_classes: int, seed: int, protocol: str = "per_class",
               val_size: int = 0, **kw) -> dict[str, str]:
    """Return {key: "labeled" | "unlabeled" | "val"} for the training records; seeded and
    order-independent. The validation split (:func:`carve_validation`) is carved out first, the
    split on which defaults are chosen; its images are neither labeled nor unlabeled training data."""
    recs, rng, roles = carve_validation(records, seed, val_size)
    labels = np.array([r.label for r in recs])
    pool = roles != "val"
    want = per_class_counts(labels[pool], num_classes, protocol, **kw)
    for c in range(num_classes):
        idx = np.flatnonzero((labels == c) & pool)
        roles[rng.permutation(idx)[: want[c]]] = "labeled"
    return {r.key: role for r, role in zip(recs, roles)}


def split_csv_text(split: dict[str, str]) -> str:
    buf = io.StringIO()
    buf.write("key,role\n")
    for k in sorted(split):
        buf.write(f"{k},{split[k]}\n")
    return buf.getvalue()


def save_or_load_split(path: str | Path, records: list[Record], num_classes: int, seed: int,
                       protocol: str = "per_class", **kw) -> tuple[dict[str, str], str]:
    """Load the split at ``path`` if present (verifying its hash), else make and save it.

    The file is ``<path>`` (CSV) plus ``<path>.sha256``; returns (split, hash).
    """
    path = Path(path)
    sha_path = path.with_suffix(path.suffix + ".sha256")
    if path.exists():
        text = path.read_text()
        digest = hashlib.sha256(text.encode()).hexdigest()
        if sha_path.exists() and sha_path.read_text().strip() != digest:
            raise DatasetError(f"{path} does not match its hash in {sha_path}; it was edited. "
                               "Delete both files to regenerate the split.")
        split = dict(line.split(",") for line in text.splitlines()[1:] if line)
        keys = {r.key for r in records if r.split == "train"}
        if set(split) != keys:
            raise DatasetError(f"{path} lists {len(split)} keys but the dataset has {len(keys)} "
                               "training images; delete the split file to regenerate it")
        return split, digest
    split = make_split(records, num_classes, seed, protocol, **kw)
    text = split_csv_text(split)
    digest = hashlib.sha256(text.encode()).hexdigest()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, text)
    sha_path.write_text(digest + "\n")
    return split, digest


def split_path(cfg: DataConfig) -> Path:
    """Where the split of ``cfg`` is saved: one file per dataset, protocol, amount, validation size and seed."""
    amount = {"per_class": f"{cfg.labels_per_class}pc", "fraction": f"{cfg.label_fraction:g}frac",
              "adacm": f"{cfg.n_labeled}", "sitfer_code": f"{cfg.n_labeled}"}[cfg.split_protocol]
    if cfg.split_seed is None:
        raise ConfigError("data.split_seed is unset: a run's config sets it to the run's seed "
                         "(ssfer_core.config.compose_config), or give one, e.g. -S data.split_seed=0")
    val = f"_val{cfg.val_size}" if cfg.val_size else ""
    return Path(cfg.split_dir) / f"{cfg.dataset}_{cfg.split_protocol}_{amount}{val}_seed{cfg.split_seed}.csv"


def split_settings(cfg: DataConfig) -> dict:
    """The keyword arguments of :func:`make_split` that come from ``cfg``."""
    return {"val_size": cfg.val_size, "labels_per_class": cfg.labels_per_class,
            "fraction": cfg.label_fraction, "n_labeled": cfg.n_labeled}
