"""``ssfer data check``: read a dataset with the reader training uses and say whether training can start.

The report holds images per split and class (against the dataset's published counts where they
are known), the dataset's labels mapped to the canonical order, missing and unreadable images,
image sizes and channels, the split protocols the counts allow and whether every configured split
fits. ``problems`` stop training (exit 2 from the CLI; ``load_data`` raises the same message);
``warnings`` do not (a missing image under ``data.on_bad_image=skip`` is skipped with a warning).

Published counts are the sizes the datasets' papers and files give; a copy that differs (a subset,
another release) is a warning, never a problem: tiny test fixtures differ by design.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from PIL import UnidentifiedImageError

from ssfer_core.data.config import DataConfig
from ssfer_core.data.datasets import DATASETS, read_records
from ssfer_core.data.readers import Record, read_unlabeled_folder
from ssfer_core.data.splits import (ADACM, carve_validation, make_split, per_class_counts, split_path,
                                    split_settings)
from ssfer_core.data.store import crop_to_box, open_image
from ssfer_core.errors import DatasetError
from ssfer_core.labels import class_names

@dataclass
class CheckReport:
    dataset: str
    root: str
    num_classes: int
    counts: dict[str, np.ndarray] = field(default_factory=dict)  # split -> images per class
    mapping: Counter = field(default_factory=Counter)            # (source label, class id) -> images
    image_kinds: Counter = field(default_factory=Counter)        # "WxH MODE" -> images
    found: int = 0                                               # image files present (or CSV pixels)
    boxes: int = 0                                               # images cropped to a face box
    missing: list = field(default_factory=list)
    unreadable: list = field(default_factory=list)               # (path, reason)
    extra: int = 0                                               # extra unlabeled images
    dropped: Counter = field(default_factory=Counter)            # rows the reader left out, by reason
    protocols: list[str] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)              # each configured split: fits or why not
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    decoded: bool = True
    on_bad_image: str = "skip"

    @property
    def ok(self) -> bool:
        return not self.problems

    def failure_message(self) -> str:
        return (f"dataset check failed for {self.dataset} at {self.root}: " + "; ".join(self.problems)
                + ". See the full table with `ssfer data check` (same --profile and -S options).")

    def table(self) -> str:
        names = class_names(self.num_classes)
        pub = DATASETS[self.dataset].published if self.dataset in DATASETS else {}
        lines = [f"dataset {self.dataset} at {self.root}, {self.num_classes} classes"
                 + (f"; published: {pub['name']}" if pub else "")]
        if self.counts:
            splits = list(self.counts)
            lines += ["", "images per split and class (published count in brackets where known)",
                      f"{'class':<11}" + "".join(f"{s:>18}" for s in splits)]
            for c, name in enumerate(names):
                lines.append(f"{name:<11}" + "".join(f"{_cell(self.counts[s][c], _published(pub, s, c)):>18}"
                                                     for s in splits))
            lines.append(f"{'total':<11}" + "".join(
                f"{_cell(self.counts[s].sum(), _published(pub, s, None, self.num_classes)):>18}" for s in splits))
        return "\n".join(lines + ["", self.details()])

    def details(self) -> str:
        """Everything but the counts: mapping, images, protocols, splits, warnings, verdict."""
        names = class_names(self.num_classes)
        lines = []
        if self.mapping:
            lines += ["label mapping (dataset label -> canonical class: images)"]
            for (src, c), n in sorted(self.mapping.items(), key=lambda kv: (kv[0][1], kv[0][0])):
                named = DATASETS[self.dataset].source_names.get(int(src), "") if src.isdigit() else ""
                lines.append(f"  {src + (' ' + named if named else ''):<16} -> {c} {names[c]}: {n}")
        if self.found or self.missing:
            kinds = ", ".join(f"{k}: {n}" for k, n in self.image_kinds.most_common(5))
            more = f" (+{len(self.image_kinds) - 5} other sizes)" if len(self.image_kinds) > 5 else ""
            lines += ["", f"images: {self.found} found" + (" and decoded" if self.decoded else " (not decoded)") + ", "
                          f"{len(self.missing)} missing, {len(self.unreadable)} unreadable"
                          + (f", {self.boxes} cropped to their face box" if self.boxes else "")
                          + (f"; sizes: {kinds}{more}" if kinds else "")]
            lines += [f"  missing: {p}" for p in self.missing[:5]]
            lines += [f"  unreadable: {p} ({why})" for p, why in self.unreadable[:5]]
        if self.dropped:
            lines += ["", f"left out by the reader: {sum(self.dropped.values())} ("
                      + ", ".join(f"{why}: {n}" for why, n in self.dropped.most_common()) + ")"]
        if self.extra:
            lines.append(f"extra unlabeled images (data.extra_train): {self.extra}")
        if self.protocols:
            lines += ["", "split protocols these counts allow"] + [f"  {p}" for p in self.protocols]
        if self.splits:
            lines += ["", "configured splits"] + [f"  {s}" for s in self.splits]
        lines += [""] + [f"warning: {w}" for w in self.warnings]
        if self.ok:
            lines.append("verdict: training can start")
        else:
            lines += ["verdict: training cannot start:"] + [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def _published(pub: dict, split: str, c: int | None, num_classes: int = 7):
    value = pub.get(split)
    if value is None:
        return None
    if c is None:
        return int(sum(value[:num_classes])) if isinstance(value, list) else value
    return value[c] if isinstance(value, list) and c < len(value) else None


def _cell(n, published) -> str:
    return f"{int(n)}" + (f" ({published})" if published is not None else "")


def check_dataset(cfg: DataConfig, split_cfgs: list[DataConfig] = (), records: list[Record] | None = None,
                  decode: bool = True, progress: bool = False) -> CheckReport:
    """Check ``cfg``'s dataset and every split in ``split_cfgs`` (default: ``cfg``'s own; give each
    split once; a study's runs give theirs with ``Study.split_configs()``)."""
    rep = CheckReport(cfg.dataset, cfg.root, cfg.num_classes, decoded=decode, on_bad_image=cfg.on_bad_image)
    if records is None:
        try:
            records = read_records(cfg, rep.dropped)
        except DatasetError as e:
            rep.problems.append(str(e))
            return rep
    for r in records:
        rep.mapping[(r.source_label, r.label)] += 1
    for split in ("train", "val", "test"):
        labels = [r.label for r in records if r.split == split]
        if labels or split != "val":
            rep.counts[split] = np.bincount(labels, minlength=cfg.num_classes)[: cfg.num_classes]
    if not rep.counts["train"].sum():
        rep.problems.append(f"{cfg.root}: no training images found")
    if not rep.counts["test"].sum():
        rep.problems.append(f"{cfg.root}: no test images found")
    if "val" in rep.counts:
        rep.warnings.append(f"the dataset's own validation images ({rep.counts['val'].sum()}, e.g. FER2013 "
                            "PublicTest) are not used: the study tests on 'test' and carves its validation "
                            "split from 'train' (data.val_size)")
    _compare_published(rep)
    _check_images(rep, records, decode, progress)
    if cfg.extra_train:
        try:
            rep.extra = len(read_unlabeled_folder(cfg.extra_train))
        except DatasetError as e:
            rep.problems.append(str(e))
    if rep.counts["train"].sum():
        _check_splits(rep, records, list(split_cfgs) or [cfg])
    return rep


def _compare_published(rep: CheckReport) -> None:
    pub = DATASETS[rep.dataset].published
    if not pub:
        return
    for split, counts in rep.counts.items():
        want = _published(pub, split, None, rep.num_classes)
        if want is not None and counts.sum() != want:
            rep.warnings.append(f"{split} holds {counts.sum()} images; {pub['name']} has {want} "
                                "(a subset or another release?)")


def _check_images(rep: CheckReport, records: list[Record], decode: bool, progress: bool) -> None:
    """Missing files always; with ``decode``, decode every image (as training will) and count
    sizes and channels."""
    from tqdm.auto import tqdm


    for r in tqdm(records, desc="checking images", unit="img", disable=not (progress and decode)):
        if r.path is not None and not r.path.exists():
            rep.missing.append(r.path)
            continue
        rep.found += 1
        rep.boxes += r.box is not None
        if not decode:
            continue
        try:
            img = open_image(r)
            if r.box is not None:
                crop_to_box(img, r.box, r.path)
        except (UnidentifiedImageError, OSError, ValueError) as e:
            rep.unreadable.append((r.path, f"{type(e).__name__}: {e}"))
            continue
        rep.image_kinds[f"{img.width}x{img.height} {img.mode}"] += 1
    bad = len(rep.missing) + len(rep.unreadable)
    if not bad:
        return
    first = rep.missing[0] if rep.missing else rep.unreadable[0][0]
    if bad == len(records):
        rep.problems.append(f"none of the {len(records)} images can be read (first: {first}); check the folder "
                            "layout the reader expects (README, section 'Real data')")
    elif rep.on_bad_image == "error":
        rep.problems.append(f"{bad} image(s) missing or unreadable (first: {first}) and data.on_bad_image=error; "
                            "replace or delete them, or set data.on_bad_image=skip")
    else:
        rep.warnings.append(f"{bad} image(s) missing or unreadable (first: {first}): training skips them "
                            "(data.on_bad_image=skip)")


def _check_splits(rep: CheckReport, records: list[Record], cfgs: list[DataConfig]) -> None:
    """Does every configured split fit, and which protocols would (on the first config's pool)?"""

    for c in cfgs:
        name = split_path(c).name
        try:
            make_split(records, c.num_classes, c.split_seed, c.split_protocol, **split_settings(c))
            rep.splits.append(f"{name}: fits")
        except (DatasetError, ValueError) as e:
            rep.splits.append(f"{name}: does not fit")
            rep.problems.append(f"split {name}: {e}")
    first = cfgs[0]
    try:
        recs, _, roles = carve_validation(records, first.split_seed, first.val_size)
    except DatasetError:
        return
    pool = np.bincount([r.label for r, role in zip(recs, roles) if role != "val"],
                       minlength=first.num_classes)[: first.num_classes]
    rep.protocols.append(f"pool after a validation split of {first.val_size}: {int(pool.sum())} images, "
                         f"smallest class {class_names(first.num_classes)[int(pool.argmin())]} ({int(pool.min())})")
    rep.protocols.append(f"per_class: labels_per_class up to {int(pool.min())}"
                         if pool.min() else "per_class: none (a class has no training image)")
    rep.protocols.append("fraction: any label_fraction in (0, 1]" if pool.min() else "fraction: none")
    fits = [n for n in sorted(ADACM) if _fits(pool, "adacm", n_labeled=n)]
    rep.protocols.append(f"adacm: n_labeled in {', '.join(map(str, fits))}" if fits else
                         "adacm: none of " + ", ".join(map(str, sorted(ADACM))))
    # sitfer_code caps every class at its size but gives disgust exactly 57
    rep.protocols.append("sitfer_code: any n_labeled >= 57 (classes capped at their size)" if pool[2] >= 57
                         else f"sitfer_code: none (disgust needs 57, has {int(pool[2])})")


def _fits(pool: np.ndarray, protocol: str, **kw) -> bool:
    try:
        per_class_counts(np.repeat(np.arange(len(pool)), pool), len(pool), protocol, **kw)
        return True
    except (DatasetError, ValueError):
        return False

