"""The `analysis` stage: every main-table method's test features (seed 0) -> UMAPs with their
10-NN expression accuracy, LEAF's decoupling probes and gate statistics, the interactive explorer.

Writes ``reports/<profile>/analysis/`` (``umap_knn.csv``, ``decoupling_probes.{csv,md}``,
``gates_<level>.{csv,png}``, ``analysis.json``, the figures) and
``reports/<profile>/explorer/umap_explorer.html``. ``max_points`` test images (a seeded subset;
``analysis.max_points`` of the profile) are embedded and probed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ssfer_core.data.bundle import FERData, load_data
from ssfer_core.data.readers import read_synthfacs_metadata
from ssfer_study import features, plots
from ssfer_study.study import Study

COMPONENTS = ("relevant_semantic", "agnostic_semantic", "relevant_instance", "agnostic_instance")
UMAP_COLOURS = ("label", "identity", "yaw", "occluder")


@dataclass
class Analysis:
    n_points: int
    runs: list[str]
    knn: pd.DataFrame
    leaf_run: str | None
    available: pd.DataFrame | None
    """Which probe targets the dataset records."""
    probes: pd.DataFrame | None
    gates: dict
    gate_usage: dict = field(default_factory=dict)
    gate_associations: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)
    explorer: Path | None = None
    explorer_figure: object = None
    """The explorer's bokeh figure (for ``bokeh.io.show`` in JupyterLab)."""


def test_subset(data: FERData, max_points: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded random subset of the test set."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.permutation(len(data.test_labels))[:max_points])


def factors(study: Study, data: FERData, idx: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    """Per test image: the label and, for a synthetic dataset, every generating factor."""
    if study.dataset.synthetic:
        return read_synthfacs_metadata(study.base.data.root).loc[data.test_keys].iloc[idx]
    return pd.DataFrame({"label": labels})


def build(study: Study, max_points: int | None = None, dpi: int = 80) -> Analysis:
    out = study.reports_dir / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    cfg = study.base
    data = load_data(cfg.data)
    n = study.analysis.max_points if max_points is None else max_points
    idx = test_subset(data, n)
    labels = data.test_labels[idx].numpy()
    num_classes = cfg.data.num_classes
    meta = factors(study, data, idx, labels)

    main_s0 = [k for k in study.runs_of("main", seed=0) if (study.run_dir(k) / "checkpoint.pt").exists()]
    feats, emb, knn = {}, {}, {}
    for k in main_s0:
        _, model = features.load_run(study.run_dir(k), data)
        feats[k] = features.extract(model, data.test_images[idx])
        emb[k] = features.umap_embed(feats[k]["feature"])
        knn[k] = features.knn_accuracy(emb[k], labels)
    knn_table = pd.Series(knn, name="10-NN expression accuracy on the 2-D UMAP (5-fold)", dtype=float).to_frame()
    knn_table.to_csv(out / "umap_knn.csv")
    figures = {}
    if emb:
        figures["umap_methods"] = plots.umap_by_method(emb, labels, knn, num_classes)

    leaf = next((k for k in main_s0 if study.runs[k].method == "leaf"), None)
    available = probes = None
    gates, usage_tables, assoc_tables = {}, {}, {}
    if leaf:
        f = feats[leaf]
        components = ["pooled"] + [c for c in COMPONENTS if c in f]
        targets = {k: v for k, v in features.PROBE_TARGETS.items() if v[0] in meta}
        available = pd.Series({k: "available" if k in targets else "not available" for k in features.PROBE_TARGETS},
                              name=f"ground truth in {study.dataset.display}").to_frame()
        if targets:
            probes = features.decoupling_probes(f, meta, components, targets)
            probes.to_csv(out / "decoupling_probes.csv", index=False)
            (out / "decoupling_probes.md").write_text(
                f"Dataset: {study.dataset.display}, run {leaf}, {len(idx)} test images\n\n"
                + probes.round(3).to_markdown(index=False))
        emb_c = {c: features.umap_embed(f[c]) for c in ("relevant_instance", "agnostic_instance") if c in f}
        if emb_c:
            figures["umap_components"] = plots.umap_grid(
                emb_c, meta.assign(label=labels), colour_by=tuple(c for c in UMAP_COLOURS if c in meta or c == "label"))
        for level in ("semantic", "instance"):
            if f"gates_{level}" in f:
                gt = features.gate_table(f, meta.assign(label=labels), level)
                usage = features.expert_usage(gt)
                gates[level] = {"experts_used_5pct": int((usage >= 0.05).sum()), "usage": usage.round(4).tolist()}
                usage_tables[level] = usage.to_frame().T.round(3)
                figures[f"gates_{level}"] = plots.gate_usage(gt, num_classes, title=f"{level}-level gate ({leaf})")
                assoc_tables[level] = features.gate_associations(gt)
                assoc_tables[level].to_csv(out / f"gates_{level}.csv", index=False)

    summary = {"n_points": int(len(idx)), "umap_knn": {k: round(v, 4) for k, v in knn.items()}, "gates": gates,
               "probes": probes.set_index("factor").drop(columns="metric").round(4).to_dict()
               if probes is not None else None}
    (out / "analysis.json").write_text(json.dumps(summary, indent=1))
    for name, fig in figures.items():
        fig.savefig(out / f"{name}.png", dpi=120 if name.startswith("gates_") else dpi)
        plots.close(fig)

    explorer = explorer_fig = None
    best = max(knn, key=knn.get) if knn else None
    if best:
        thumbs = data.test_images[idx].permute(0, 2, 3, 1).numpy()
        title = f"UMAP of {best}'s feature ({study.dataset.display} test set)"
        explorer = plots.umap_explorer(emb[best], thumbs, meta.assign(label=labels),
                                       study.reports_dir / "explorer" / "umap_explorer.html", title, num_classes)
        explorer_fig = plots.umap_explorer_figure(emb[best], thumbs, meta.assign(label=labels), title, num_classes)
    return Analysis(len(idx), main_s0, knn_table, leaf, available, probes, gates, usage_tables, assoc_tables,
                    figures, explorer, explorer_fig)
