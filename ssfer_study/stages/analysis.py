"""The `analysis` stage: every main-table method's test features (seed 0) -> UMAPs with their
10-NN expression accuracy; for each LEAF expert design (the main table's LEAF and the
``leaf_experts`` runs) the decoupling probes and verdict, the relevant / agnostic UMAPs and the gate
weights per class and expert at both levels; the interactive explorer.

Writes ``reports/<profile>/analysis/`` (``umap_knn.csv``, ``decoupling_probes.{csv,md}``,
``decoupling_verdict.csv``, ``gates_<level>.csv``, ``analysis.json``, the figures) and
``reports/<profile>/explorer/umap_explorer.html``. ``max_points`` test images (a seeded subset;
``analysis.max_points`` of the profile) are embedded and probed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ssfer_core.data.loading import FERData, load_data
from ssfer_core.data.readers import read_synthfacs_metadata
from ssfer_core.labels import class_names
from ssfer_study.stages import features, plots
from ssfer_study.study import Study

COMPONENTS = ("relevant_semantic", "agnostic_semantic", "relevant_instance", "agnostic_instance")
DECOUPLING_TARGET = ("Target (issue 20): a design decouples at a level when its relevant component reads the expression "
                     "at least 10 points better than its agnostic one, and its agnostic component reads identity better "
                     "than its relevant one.")


@dataclass
class Analysis:
    n_points: int
    runs: list[str]
    knn: pd.DataFrame
    leaf_run: str | None
    available: pd.DataFrame | None
    """Which probe targets the dataset records."""
    probes: pd.DataFrame | None
    """Decoupling probes: one row per (design, factor), one column per component."""
    gates: dict
    gate_usage: dict = field(default_factory=dict)
    """Share of images per expert at each level (the main table's LEAF run)."""
    gate_associations: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)
    explorer: Path | None = None
    explorer_figure: object = None
    """The explorer's bokeh figure (for ``bokeh.io.show`` in JupyterLab)."""
    designs: dict = field(default_factory=dict)
    """LEAF expert design -> the run analysed for it (:func:`expert_designs`)."""
    decoupling: dict = field(default_factory=dict)
    """Design -> level -> the decoupling target met / not met, with the numbers."""


def test_subset(data: FERData, max_points: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded random subset of the test set."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.permutation(len(data.test_labels))[:max_points])


def factors(study: Study, data: FERData, idx: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    """Per test image: the label and, for a synthetic dataset, every generating factor."""
    if study.dataset.synthetic:
        return read_synthfacs_metadata(study.base.data.root).loc[data.test_keys].iloc[idx]
    return pd.DataFrame({"label": labels})


def expert_designs(study: Study) -> dict[str, str]:
    """Expert design -> finished run: the main table's seed-0 runs whose network has LEAF's experts,
    then each run of the ``leaf_experts`` group (same method, another ``net.experts`` / ``net.gating``)."""
    out = {}
    for k in study.runs_of("main", seed=0) + study.runs_of("leaf_experts"):
        net = study.config(k).net
        has_experts = net.semantic_moe != "off" or net.instance_moe
        if has_experts and (study.run_dir(k) / "checkpoint.pt").exists():
            out.setdefault(f"{net.experts}, {net.gating}", k)
    return out


SPACE_NAMES = {"pooled": "backbone (pooled)", "feature": "feature", "projected": "projected into the text space",
               **{c: c.replace("_", " component, ") + " level" for c in COMPONENTS}}
"""The explorer's name of each feature a run's network returns (and SIT-FER's projection)."""


def space_name(study: Study, run: str, feature: str) -> str:
    return f"{study.runs[run].variant} · {SPACE_NAMES[feature]}"


def explorer_spaces(study: Study, feats: dict, emb: dict, designs: dict, meta: pd.DataFrame,
                    labels: np.ndarray) -> tuple[dict, dict, pd.DataFrame]:
    """The explorer's feature spaces (every seed-0 main run's backbone and feature, SIT-FER's
    projection into its text space, each LEAF design's relevant and agnostic components at both
    levels: a 2-D UMAP each), its colourings (expression, the dataset's factors, whether each run
    is right) and the hover table."""
    names = class_names(study.base.data.num_classes)
    spaces: dict[str, np.ndarray] = {}
    runs = list(dict.fromkeys([*emb, *designs.values()]))
    for run in runs:
        f = feats[run]
        spaces[space_name(study, run, "feature")] = emb[run] if run in emb else features.umap_embed(f["feature"])
        spaces[space_name(study, run, "pooled")] = features.umap_embed(f["pooled"])
        for comp in COMPONENTS:
            if comp in f:
                spaces[space_name(study, run, comp)] = features.umap_embed(f[comp])
        if "projected" in f:
            spaces[space_name(study, run, "projected")] = features.umap_embed(f["projected"])
    colourings = {"expression": plots.categorical_colouring([names[i] for i in labels])}
    hover = pd.DataFrame({"expression": [names[i] for i in labels]})
    for factor, kind in (("identity", "categorical"), ("occluder", "categorical"), ("yaw", "continuous"),
                         ("AU12", "continuous"), ("intensity", "continuous")):
        if factor in meta:
            values = meta[factor].to_numpy()
            colourings[factor if factor != "AU12" else "AU12 (lip corner puller) intensity"] = (
                plots.categorical_colouring(values.tolist()) if kind == "categorical" else plots.continuous_colouring(values))
            hover[factor] = np.round(values, 2) if kind == "continuous" else values
    for run in runs:
        if "logits" in feats[run]:
            right = feats[run]["logits"].argmax(1) == labels
            colourings[f"right or wrong: {study.runs[run].variant}"] = plots.categorical_colouring(
                ["right" if r else "wrong" for r in right])
    return spaces, colourings, hover


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

    designs = expert_designs(study)
    leaf = designs.get(next(iter(designs), None))
    available = probes = None
    gates, usage_tables, assoc_tables, gate_tables, comp_emb, verdicts = {}, {}, {}, {}, {}, {}
    targets = {k: v for k, v in features.PROBE_TARGETS.items() if v[0] in meta}
    if designs:
        available = pd.Series({k: "available" if k in targets else "not available" for k in features.PROBE_TARGETS},
                              name=f"ground truth in {study.dataset.display}").to_frame()
    per_design = []
    for design, run in designs.items():
        if run not in feats:
            _, model = features.load_run(study.run_dir(run), data)
            feats[run] = features.extract(model, data.test_images[idx])
        f = feats[run]
        if targets:
            components = ["pooled"] + [c for c in COMPONENTS if c in f]
            per_design.append(features.decoupling_probes(f, meta, components, targets).assign(design=design, run=run))
            verdicts[design] = features.decoupling_verdict(per_design[-1])
        for comp in ("relevant_instance", "agnostic_instance"):
            if comp in f:
                comp_emb[(design, comp)] = features.umap_embed(f[comp])
        for level in ("semantic", "instance"):
            if f"gates_{level}" in f:
                gt = features.gate_table(f, meta.assign(label=labels), level)
                gate_tables[(design, level)] = gt
                if run == leaf:  # usage and associations of the main table's LEAF (seed 0)
                    usage = features.expert_usage(gt)
                    gates[level] = {"experts_used_5pct": int((usage >= 0.05).sum()), "usage": usage.round(4).tolist()}
                    usage_tables[level] = usage.to_frame().T.round(3)
                    assoc_tables[level] = features.gate_associations(gt)
                    assoc_tables[level].to_csv(out / f"gates_{level}.csv", index=False)
    if per_design:
        probes = pd.concat(per_design, ignore_index=True)
        probes.to_csv(out / "decoupling_probes.csv", index=False)
        verdict_md = pd.DataFrame(verdicts).T.rename_axis("design").reset_index()
        verdict_md.to_csv(out / "decoupling_verdict.csv", index=False)
        (out / "decoupling_probes.md").write_text(
            f"Dataset: {study.dataset.display}, {len(idx)} test images, one run per expert design (seed 0)\n\n"
            + probes.round(3).to_markdown(index=False) + "\n\n" + DECOUPLING_TARGET + "\n\n"
            + verdict_md.to_markdown(index=False))
    if comp_emb:
        figures["umap_components"] = plots.decoupled_umaps(comp_emb, meta.assign(label=labels), num_classes)
    if gate_tables:
        figures["gate_weights"] = plots.gate_weights(gate_tables, num_classes)

    summary = {"n_points": int(len(idx)), "umap_knn": {k: round(v, 4) for k, v in knn.items()}, "gates": gates,
               "designs": designs, "decoupling": verdicts}
    (out / "analysis.json").write_text(json.dumps(summary, indent=1))
    for name, fig in figures.items():
        plots.save(fig, out / f"{name}.png", dpi=120 if name.startswith("gate") else dpi)
        plots.close(fig)

    explorer = explorer_fig = None
    if emb:
        spaces, colourings, hover = explorer_spaces(study, feats, emb, designs, meta, labels)
        thumbs = data.test_images[idx].permute(0, 2, 3, 1).numpy()
        best = max(knn, key=knn.get)
        title = f"{study.dataset.display} test set, {len(idx)} faces, seed-0 runs"
        explorer_fig = plots.feature_explorer(spaces, colourings, thumbs, hover, title, start=space_name(study, best, "feature"))
        explorer = plots.write_explorer(explorer_fig, study.reports_dir / "explorer" / "umap_explorer.html",
                                        f"Feature explorer ({study.name})")
        leaf_run = designs.get(next(iter(designs), None))
        picks = [(space_name(study, best, "feature"), "expression")]
        if leaf_run:
            picks += [(space_name(study, leaf_run, "relevant_instance"), "expression"),
                      (space_name(study, leaf_run, "agnostic_instance"), "identity")]
        picks += [(space_name(study, best, "feature"), f"right or wrong: {study.runs[best].variant}")]
        figures["explorer_views"] = plots.explorer_views(spaces, colourings, picks)
        plots.save(figures["explorer_views"], out / "explorer_views.png", dpi=dpi)
        plots.close(figures["explorer_views"])
    return Analysis(len(idx), main_s0, knn_table, leaf, available, probes, gates, usage_tables, assoc_tables,
                    figures, explorer, explorer_fig, designs, verdicts)
