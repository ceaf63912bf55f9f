"""The `data_tour` stage: what the study trains on. Images per split and class (the check
``ssfer data check`` runs), samples of every class, the class balance and, for a synthetic
dataset, the generating factors and the real-face judge's verdict (weights from the `judge` stage).

Writes ``reports/<profile>/data_tour/``: ``counts.csv``, ``samples.png``,
``class_distribution.png`` and, for SynthFACS, ``factor_histograms.png``, ``realism.json`` and
``realism.png``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ssfer_core.data.check import CheckReport, check_dataset
from ssfer_core.data.datasets import read_records
from ssfer_core.data.readers import read_synthfacs_metadata
from ssfer_core.data.store import load_image
from ssfer_core.labels import class_names
from ssfer_study.stages import plots
from ssfer_study.judge import realism
from ssfer_study.study import Study


@dataclass
class DataTour:
    n_images: int
    root: str
    check: CheckReport
    counts: pd.DataFrame
    ambiguity: pd.Series | None = None
    """SynthFACS only: blended, relabelled and occluded shares."""
    realism: dict | None = None
    """SynthFACS only: the judge's report (``available: false`` and a reason when it could not run)."""
    contact_sheet: Path | None = None
    figures: dict = field(default_factory=dict)


def samples_by_class(records, num_classes: int, image_size: int, per_class: int, seed: int = 0) -> dict:
    """``per_class`` random training images of each class, as the model sees them before augmentation."""
    rng = np.random.default_rng(seed)
    train = [r for r in records if r.split == "train" and (r.path is None or r.path.exists())]
    out = {}
    for c in range(num_classes):
        of_c = [r for r in train if r.label == c]
        out[c] = [load_image(of_c[i], image_size) for i in rng.permutation(len(of_c))[:per_class]]
    return out


def judge(study: Study) -> dict:
    """The FER2013 judge on the test faces, with the weights the `judge` stage left (or why not)."""
    try:
        return realism.judge_folder(study.base.data.root, "test", weights=realism.weights_in(study.judge_dir))
    except realism.JudgeUnavailable as e:
        return {"available": False, "reason": str(e)}


def build(study: Study, per_class: int = 8) -> DataTour:
    cfg = study.base.data
    out = study.reports_dir / "data_tour"
    out.mkdir(parents=True, exist_ok=True)
    names = class_names(cfg.num_classes)
    records = read_records(cfg)
    check = check_dataset(cfg, records=records, decode=False)
    counts = pd.DataFrame({s: pd.Series(n, index=names) for s, n in check.counts.items()})
    counts.loc["total"] = counts.sum()
    counts.to_csv(out / "counts.csv")
    tour = DataTour(len(records), cfg.root, check, counts)
    tour.figures["samples"] = plots.sample_grid(samples_by_class(records, cfg.num_classes, cfg.image_size, per_class),
                                                cfg.num_classes)
    tour.figures["class_distribution"] = plots.class_distribution(check.counts, cfg.num_classes)
    if study.dataset.synthetic:
        meta = read_synthfacs_metadata(cfg.root)
        tour.contact_sheet = study.reports_dir / "figures" / "contact_sheet.jpg"
        tour.figures["factor_histograms"] = plots.factor_histograms(meta)
        tour.ambiguity = pd.Series({"blended with a second expression": (meta.blend_class >= 0).mean(),
                                    "label differs from the generating class": (meta.label != meta["class"]).mean(),
                                    "occluded": (meta.occluder != "none").mean()}, name="share of images")
        tour.realism = judge(study)
        realism.write_report(tour.realism, out / "realism.json")
        tour.figures["realism"] = plots.realism_or_reason(tour.realism)
    dpi = {"samples": 100, "realism": 110}
    for name, fig in tour.figures.items():
        plots.save(fig, out / f"{name}.png", dpi=dpi.get(name, 120), **({"bbox_inches": "tight"} if name == "realism" else {}))
        plots.close(fig)
    return tour
