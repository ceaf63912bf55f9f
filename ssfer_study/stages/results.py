"""The `results` stage: finished runs -> the study's tables, figures and ``metrics.json``.

Writes ``reports/<profile>/results/`` (one ``.md`` + ``.csv`` per table, the figures, the
pseudo-label diagnosis) and ``reports/<profile>/metrics.json`` (numbers only, for ``dvc metrics``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ssfer_core.methods import METHODS
from ssfer_core.methods.base import PASS_ACC, PASS_RATE
from ssfer_study.stages import plots, tables
from ssfer_study.stages.captions import ABLATION_GROUPS as ABLATION
from ssfer_study.stages.captions import SIDE_GROUPS, TABLE_TITLES, method_figure
from ssfer_study.study import Study

ABLATION_GROUPS = {g: TABLE_TITLES[g] for g in ABLATION}
"""Ablation tables and their titles (``captions``), each with a bar chart ``ablation_<group>.png``."""



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
    method_figures: list = field(default_factory=list)
    """The names in ``figures`` that methods declare (``MethodDef.diagnostics.figures``)."""

    def pretty(self, table: pd.DataFrame) -> pd.DataFrame:
        return tables.pretty(table)

    def show(self, table: pd.DataFrame, pretty=tables.pretty):
        """A table as the page shows it: formatted, as Markdown, without the frame's row index."""
        from IPython.display import Markdown

        return Markdown(pretty(table).to_markdown(index=False))


def _seed0_main(study: Study, runs: dict) -> list[str]:
    return [k for k in study.runs_of("main", seed=0) if k in runs]


def diagnosis(study: Study, runs: dict, main_keys: list[str], num_classes: int = 7) -> pd.DataFrame:
    """Final values (last 10 % of the logged steps, mean over seeds) of every pseudo-label source each
    method in the main table declares (``MethodDef.diagnostics``): the share it passes and the
    accuracy of what it passes; for a set it logs the recall of (LEAF's positive sets), how often the
    set holds the true class, beside how often a random set of the same mean size would (size /
    classes). "-" where a number does not apply."""
    rows = []
    methods = list(dict.fromkeys(runs[k]["method"] for k in main_keys))

    def final(keys: list[str], key: str) -> float:
        values = [tables.final_value(study.runs_dir, k, key) for k in keys]
        return float("nan") if np.isnan(values).all() else float(np.nanmean(values))

    for m in methods:
        keys = [k for k in main_keys if runs[k]["method"] == m]
        declared = METHODS[m].diagnostics
        for source in declared.sources:
            rate = final(keys, source.prefix + PASS_RATE)
            if not np.isnan(rate):
                rows.append((m, source.label, rate, final(keys, source.prefix + PASS_ACC)))
        if declared.set_recall:
            recall_key, size_key = declared.set_recall
            rec, size = final(keys, recall_key), final(keys, size_key)
            if not np.isnan(rec):
                rows.append((m, "positive set holds the true class", np.nan, rec))
            if not np.isnan(size):
                rows.append((m, f"a random set of the same size ({size:.2f} classes) would", np.nan, size / num_classes))
    return pd.DataFrame(rows, columns=["method", "pseudo-label source", *tables.PASSED.values()])


def pretty_diagnosis(diag: pd.DataFrame) -> pd.DataFrame:
    return diag.assign(**{c: diag[c].map(lambda v: "-" if np.isnan(v) else f"{v:.3f}")
                          for c in tables.PASSED.values()})


def logged(study: Study, run: str, key: str) -> pd.DataFrame | None:
    """A logged training quantity of ``run``; a pass accuracy (``<prefix>pass_acc``) at every logged
    step of its pass rate: NaN (a gap in the line) where nothing passed, rather than a line drawn
    across those steps."""
    series = tables.train_series(study.runs_dir, run, key)
    if series is None or not key.endswith(PASS_ACC):
        return series
    rate = tables.train_series(study.runs_dir, run, key[: -len(PASS_ACC)] + PASS_RATE)
    return series if rate is None else rate[["step"]].merge(series, on="step", how="left")


def write_curves(study: Study, runs: dict, main_keys: list[str], out) -> list:
    """Each main run's curves as TSV for ``dvc plots`` (``plots:`` in dvc.yaml): ``curves/accuracy/<run>.tsv``
    (step, the evaluated model's test accuracy in %) and, for a method that trains on pseudo-labels,
    ``curves/pseudo_labels/<run>.tsv`` (step, share passed, accuracy of what passes)."""
    written = []
    for sub in ("accuracy", "pseudo_labels"):
        (out / "curves" / sub).mkdir(parents=True, exist_ok=True)
    for k in main_keys:
        key = "ema_acc" if "ema" in runs[k] else "raw_acc"
        acc = pd.DataFrame({"step": [c["step"] for c in runs[k]["curve"]],
                            "accuracy": [round(100 * c[key], 2) for c in runs[k]["curve"]]})
        acc.to_csv(out / "curves" / "accuracy" / f"{k}.tsv", sep="\t", index=False)
        written.append(out / "curves" / "accuracy" / f"{k}.tsv")
        series = [s.rename(columns={"value": n}) for n in tables.PASSED
                  if (s := tables.train_series(study.runs_dir, k, n)) is not None]
        if series:
            merged = series[0]
            for s in series[1:]:
                merged = merged.merge(s, on="step", how="outer")
            merged.to_csv(out / "curves" / "pseudo_labels" / f"{k}.tsv", sep="\t", index=False, na_rep="")
            written.append(out / "curves" / "pseudo_labels" / f"{k}.tsv")
    return written


def method_figures(study: Study, runs: dict, main_keys: list[str]) -> dict:
    """Each main-table method's declared figures (``MethodDef.diagnostics.figures``), drawn from its
    seed-0 run (or every seed's run), one line per series and run."""
    figures = {}
    for m in dict.fromkeys(runs[k]["method"] for k in main_keys):
        keys = [k for k in main_keys if runs[k]["method"] == m]
        for fig in METHODS[m].diagnostics.figures:
            shown = keys if fig.every_seed else keys[:1]

            def name(label: str, run: str, series: int) -> str:  # the legend names what tells lines apart
                return label if len(shown) == 1 else run if series == 1 else f"{label}, {run}"

            panels = [(p.ylabel, p.ylim, {name(label, k, len(p.series)): s for k in shown
                                          for label, key in p.series.items()
                                          if (s := logged(study, k, key)) is not None})
                      for p in fig.panels]
            if any(lines for _, _, lines in panels):
                runs_named = shown[0] if len(shown) == 1 else f"{len(shown)} seeds"
                figures[method_figure(m, fig.name)] = plots.panels(f"{fig.title} ({runs_named})", panels)
    return figures


def build(study: Study, dpi: int = 120) -> Results:
    out = study.reports_dir / "results"
    out.mkdir(parents=True, exist_ok=True)
    dataset = study.dataset.display
    variants = {name: r.variant for name, r in study.runs.items()}
    runs = tables.collect(study.runs_dir, study.runs)
    groups = {g: [k for k in keys if k in runs] for g, keys in study.groups().items()}
    main_keys = groups.get("main", [])

    main = tables.table_rows(runs, main_keys, study.runs_dir, variants)
    calib_keys = groups.get("calibration", []) + [k for k in main_keys if runs[k]["method"] == "supervised"]
    calibration = tables.table_rows(runs, calib_keys, study.runs_dir, variants) if calib_keys else None
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
    claims = tables.claims(runs, variants, study.claims)
    if len(claims):
        tables.write_table(tables.pretty_claims(claims), out / "claims", dataset, study.name)
    metrics = tables.metrics_json(main, calibration, dataset, study.name, study.base.protocol, claims)
    (study.reports_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))

    side = {}
    seed0 = _seed0_main(study, runs)
    for g in SIDE_GROUPS:
        if groups.get(g):
            keys = list(dict.fromkeys(groups[g] + seed0))
            side[g] = tables.table_rows(runs, keys, study.runs_dir, variants)
            pairs = {c.better: c.than for c in study.claims}  # a release beside its labeled part alone
            if any(v in pairs for v in side[g]["variant"]):
                side[g] = tables.add_paired_to_pairs(side[g], runs, keys, variants, pairs)
            tables.write_table(tables.pretty(side[g]), out / g, dataset, study.name)

    for g, title in ABLATION_GROUPS.items():
        if groups.get(g):
            side[g] = tables.against_reference(tables.table_rows(runs, groups[g], study.runs_dir, variants), main,
                                               runs, groups[g], main_keys, variants)
            tables.write_table(tables.pretty(side[g]), out / g, dataset, study.name)
            figures[f"ablation_{g}"] = plots.ablation_bars(side[g], f"{title} ({dataset})")

    label_keys = groups.get("labels", [])
    if label_keys:
        by_budget = {k: f"{runs[k]['method']} @ {runs[k]['labels_per_class']}" for k in label_keys + main_keys}
        side["labels"] = tables.table_rows(runs, label_keys + main_keys, study.runs_dir, by_budget)
        tables.write_table(tables.pretty(side["labels"]), out / "labels", dataset, study.name)
        figures["accuracy_by_labels"] = plots.accuracy_by_labels(side["labels"])

    curves = {variants[k]: {n: tables.train_series(study.runs_dir, k, n) for n in tables.PASSED}
              for k in seed0 if METHODS[runs[k]["method"]].diagnostics.sources}
    if curves:
        figures["ssl_at_work"] = plots.ssl_at_work(curves)
    write_curves(study, runs, main_keys, out)
    by_method: dict[str, list] = {}
    for k in main_keys:
        by_method.setdefault(variants[k], []).append(runs[k]["curve"])
    figures["accuracy_curves"] = plots.accuracy_curves(by_method)

    diag = diagnosis(study, runs, main_keys, study.base.data.num_classes)
    if len(diag):
        tables.write_table(pretty_diagnosis(diag), out / "pseudo_label_diagnosis", dataset, study.name)
        diag.to_csv(out / "pseudo_label_diagnosis.csv", index=False)  # the numbers, unrounded
    declared = method_figures(study, runs, main_keys)
    figures |= declared
    for name, fig in figures.items():
        plots.save(fig, out / f"{name}.png", dpi=dpi)
        plots.close(fig)
    return Results(len(runs), len(study.runs), main, calibration, side, diag, metrics, claims, figures, list(declared))
