"""The `results` stage: finished runs -> the study's tables, figures and ``metrics.json``.

Writes ``reports/<profile>/results/`` (one ``.md`` + ``.csv`` per table, the figures, the
pseudo-label diagnosis) and ``reports/<profile>/metrics.json`` (numbers only, for ``dvc metrics``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ssfer_study.stages import plots, tables
from ssfer_study.stages.captions import ABLATION_GROUPS as ABLATION
from ssfer_study.stages.captions import SIDE_GROUPS, TABLE_TITLES
from ssfer_study.study import Study

ABLATION_GROUPS = {g: TABLE_TITLES[g] for g in ABLATION}
"""Ablation tables and their titles (``captions``), each with a bar chart ``ablation_<group>.png``."""
SOURCES = (("pl_", "selected (what the method trains on)"), ("pl_semantic_", "semantic level"),
           ("pl_text_", "text level"), ("pl_instance_", "instance level"))
"""Pseudo-label sources a method may log (prefix, name in the diagnosis)."""


@dataclass
class Results:
    finished: int
    total: int
    main: pd.DataFrame
    calibration: pd.DataFrame | None
    side: dict[str, pd.DataFrame]
    diagnosis: pd.DataFrame
    metrics: dict
    claims: pd.DataFrame
    figures: dict = field(default_factory=dict)
    """name -> matplotlib figure (also saved as results/<name>.png)."""

    def pretty(self, table: pd.DataFrame) -> pd.DataFrame:
        return tables.pretty(table)

    def show(self, table: pd.DataFrame, pretty=tables.pretty):
        """A table as the page shows it: formatted, as Markdown, without the frame's row index."""
        from IPython.display import Markdown

        return Markdown(pretty(table).to_markdown(index=False))


def _seed0_main(study: Study, runs: dict) -> list[str]:
    return [k for k in study.runs_of("main", seed=0) if k in runs]


def diagnosis(study: Study, runs: dict, main_keys: list[str], num_classes: int = 7) -> pd.DataFrame:
    """Final values (last 10 % of the logged steps, mean over seeds) of every pseudo-label source of
    every semi-supervised method in the main table: the share it passes and the accuracy of what it
    passes; for LEAF's category level, how often the positive set holds the true class, beside how
    often a random set of the same mean size would (size / classes). "-" where a number does not apply."""
    rows = []
    methods = list(dict.fromkeys(runs[k]["method"] for k in main_keys))
    for m in methods:
        keys = [k for k in main_keys if runs[k]["method"] == m]
        for prefix, source in SOURCES:
            cov = [tables.final_value(study.runs_dir, k, prefix + "coverage") for k in keys]
            if keys and not np.isnan(cov).all():
                acc = [tables.final_value(study.runs_dir, k, prefix + "acc_masked") for k in keys]
                rows.append((m, source, np.nanmean(cov), np.nanmean(acc) if not np.isnan(acc).all() else np.nan))
        rec = [tables.final_value(study.runs_dir, k, "pl_positive_recall") for k in keys]
        if keys and not np.isnan(rec).all():
            rows.append((m, "positive set holds the true class", np.nan, np.nanmean(rec)))
            size = [tables.final_value(study.runs_dir, k, "positive_set_size") for k in keys]
            if not np.isnan(size).all():
                rows.append((m, f"a random set of the same size ({np.nanmean(size):.2f} classes) would",
                             np.nan, np.nanmean(size) / num_classes))
    return pd.DataFrame(rows, columns=["method", "pseudo-label source", "share passed", "accuracy of what passes"])


def pretty_diagnosis(diag: pd.DataFrame) -> pd.DataFrame:
    return diag.assign(**{c: diag[c].map(lambda v: "-" if np.isnan(v) else f"{v:.3f}")
                          for c in ("share passed", "accuracy of what passes")})


def _passed_accuracy(study: Study, run: str, prefix: str) -> pd.DataFrame | None:
    """Accuracy of what a pseudo-label source passes, at every logged step of its coverage: NaN
    (a gap in the line) where nothing passed, rather than a line drawn across those steps."""
    acc = tables.train_series(study.runs_dir, run, prefix + "acc_masked")
    cov = tables.train_series(study.runs_dir, run, prefix + "coverage")
    if acc is None or cov is None:
        return acc
    return cov[["step"]].merge(acc, on="step", how="left")


def build(study: Study, dpi: int = 120) -> Results:
    out = study.reports_dir / "results"
    out.mkdir(parents=True, exist_ok=True)
    dataset = study.dataset.display
    variants = {name: r.variant for name, r in study.runs.items()}
    runs = tables.collect(study.runs_dir, study.runs)
    groups = {g: [k for k in keys if k in runs] for g, keys in study.groups().items()}
    main_keys = groups.get("main", [])

    main = tables.summarize(runs, main_keys, study.runs_dir, variants)
    calib_keys = groups.get("calibration", []) + [k for k in main_keys if runs[k]["method"] == "supervised"]
    calibration = tables.summarize(runs, calib_keys, study.runs_dir, variants) if calib_keys else None
    sup = main.loc[main.method == "supervised", "acc_last_mean"] if len(main) else []
    ceiling = calibration.loc[calibration["labels/class"] == "all", "acc_last_mean"] if calibration is not None else []
    if len(sup) and len(ceiling):
        main = tables.add_gap_closed(main, float(sup.iloc[0]), float(ceiling.iloc[0]))
    if len(main):
        main = tables.add_paired_to_supervised(main, runs, main_keys, variants)
    figures = {}
    if calibration is not None:
        calibration = calibration.sort_values("n_labeled").reset_index(drop=True)
        tables.write_table(tables.pretty(calibration), out / "calibration", dataset, study.name)
        figures["calibration"] = plots.calibration(calibration)
    tables.write_table(tables.pretty(main), out / "main", dataset, study.name)
    main.to_csv(out / "main_numbers.csv", index=False)
    claims = tables.claims(runs, variants)
    if len(claims):
        tables.write_table(tables.pretty_claims(claims), out / "claims", dataset, study.name)
    metrics = tables.metrics_json(main, calibration, dataset, study.name, study.base.protocol, claims)
    (study.reports_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))

    side = {}
    seed0 = _seed0_main(study, runs)
    for g in SIDE_GROUPS:
        if groups.get(g):
            keys = list(dict.fromkeys(groups[g] + seed0))
            side[g] = tables.summarize(runs, keys, study.runs_dir, variants)
            tables.write_table(tables.pretty(side[g]), out / g, dataset, study.name)

    for g, title in ABLATION_GROUPS.items():
        if groups.get(g):
            side[g] = tables.against_reference(tables.summarize(runs, groups[g], study.runs_dir, variants), main,
                                               runs, groups[g], main_keys, variants)
            tables.write_table(tables.pretty(side[g]), out / g, dataset, study.name)
            figures[f"ablation_{g}"] = plots.ablation_bars(side[g], f"{title} ({dataset})")

    label_keys = groups.get("labels", [])
    if label_keys:
        by_budget = {k: f"{runs[k]['method']} @ {runs[k]['labels_per_class']}" for k in label_keys + main_keys}
        side["labels"] = tables.summarize(runs, label_keys + main_keys, study.runs_dir, by_budget)
        tables.write_table(tables.pretty(side["labels"]), out / "labels", dataset, study.name)
        figures["accuracy_by_labels"] = plots.accuracy_by_labels(side["labels"])

    curves = {variants[k]: {n: tables.train_series(study.runs_dir, k, n) for n in ("mask_rate", "pl_acc_masked")}
              for k in seed0 if runs[k]["method"] != "supervised"}
    if curves:
        figures["ssl_at_work"] = plots.ssl_at_work(curves)
    by_method: dict[str, list] = {}
    for k in main_keys:
        by_method.setdefault(variants[k], []).append(runs[k]["curve"])
    figures["accuracy_curves"] = plots.accuracy_curves(by_method)

    diag = diagnosis(study, runs, main_keys, study.base.data.num_classes)
    if len(diag):
        tables.write_table(pretty_diagnosis(diag), out / "pseudo_label_diagnosis", dataset, study.name)
        diag.to_csv(out / "pseudo_label_diagnosis.csv", index=False)  # the numbers, unrounded
    sit = [k for k in main_keys if runs[k]["method"] == "sitfer"][:1]
    if sit:
        series = {lvl: _passed_accuracy(study, sit[0], f"pl_{lvl}") for lvl in ("semantic_", "text_", "instance_", "")}
        series = {("fused" if k == "" else k.rstrip("_")): v for k, v in series.items() if v is not None}
        figures["sitfer_pl_levels"] = plots.pseudo_label_quality(
            series, f"SIT-FER: accuracy of the selected pseudo-labels per level ({sit[0]})")
        every = {lvl: tables.train_series(study.runs_dir, sit[0], f"pl_{lvl}_acc")
                 for lvl in ("semantic", "text", "instance")}
        every["fused"] = tables.train_series(study.runs_dir, sit[0], "pl_acc")
        every = {k: v for k, v in every.items() if v is not None}
        if every:
            figures["sitfer_level_accuracy"] = plots.pseudo_label_quality(
                every, f"SIT-FER: accuracy of each level's argmax on every unlabeled sample ({sit[0]})")
        contrib = {lvl: tables.train_series(study.runs_dir, sit[0], f"contrib_{lvl}")
                   for lvl in ("semantic", "text", "instance")}
        contrib = {k: v for k, v in contrib.items() if v is not None}
        if contrib:
            figures["sitfer_level_contribution"] = plots.pseudo_label_quality(
                contrib, f"SIT-FER: spread of each level's weighted term in the fused logit ({sit[0]})",
                ylabel="mean (max - min) over classes")
    leaf = [k for k in main_keys if runs[k]["method"] == "leaf"]
    if leaf:
        figures["leaf_positive_sets"] = plots.positive_sets(
            {k: {n: tables.train_series(study.runs_dir, k, n) for n in ("positive_set_size", "pl_positive_recall")}
             for k in leaf})
    for name, fig in figures.items():
        plots.save(fig, out / f"{name}.png", dpi=dpi)
        plots.close(fig)
    return Results(len(runs), len(study.runs), main, calibration, side, diag, metrics, claims, figures)
