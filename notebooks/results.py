# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Results
# The main table (methods, mean ± std over seeds), the label-budget calibration (how much room
# semi-supervised learning has), the official settings, the ablations, and the pseudo-labels over
# training. Accuracy in % of the evaluated set (EMA model); `last` = end of training, `best` = best
# evaluation seen (the papers' protocol, optimistic).

# %% tags=["parameters"]
profile_file = "params.yaml"

# %%
import json
import os
from pathlib import Path

if not Path("params.yaml").exists():  # opened from notebooks/ in JupyterLab
    os.chdir("..")
# %matplotlib inline
import pandas as pd
from IPython.display import Markdown, display

from ssfer_core.study import plots, results
from ssfer_core.study.profiles import groups, load_profile

prof = load_profile(profile_file)
runs_dir = Path("runs") / prof["profile"]
out = Path("reports") / prof["profile"] / "results"
out.mkdir(parents=True, exist_ok=True)
dataset = results.dataset_name(prof)
runs = results.collect(runs_dir, prof["runs"])
by_group = {g: [k for k in keys if k in runs] for g, keys in groups(prof).items()}
display(Markdown(f"Dataset **{dataset}**, profile **{prof['profile']}**, evaluated on the "
                 f"**{prof['train'].get('eval_on', 'test')}** set: {len(runs)} of {len(prof['runs'])} runs finished."))

# %% [markdown]
# ## Calibration: supervised accuracy by label budget
# The all-labels row is the ceiling every table is read against; "gap closed" =
# (method − supervised) / (all labels − supervised).

# %%
main = results.summarize(runs, by_group.get("main", []), runs_dir)
calib_keys = by_group.get("calibration", []) + [k for k in by_group.get("main", []) if runs[k]["method"] == "supervised"]
calibration = results.summarize(runs, calib_keys, runs_dir) if calib_keys else None
sup = main.loc[main.method == "supervised", "acc_last_mean"]
ceiling = calibration.loc[calibration["labels/class"] == "all", "acc_last_mean"] if calibration is not None else []
if len(sup) and len(ceiling):
    main = results.add_gap_closed(main, float(sup.iloc[0]), float(ceiling.iloc[0]))
if calibration is not None:
    calibration = calibration.sort_values("n_labeled")
    results.write_table(results.pretty(calibration), out / "calibration", dataset, prof["profile"])
    display(results.pretty(calibration))
    fig = plots.calibration(calibration)
    fig.savefig(out / "calibration.png", dpi=120)

# %% [markdown]
# ## Main table

# %%
results.write_table(results.pretty(main), out / "main", dataset, prof["profile"])
main.to_csv(out / "main_numbers.csv", index=False)
display(results.pretty(main))
summary = results.metrics_json(main, calibration, dataset, prof["profile"])
Path("reports", prof["profile"], "metrics.json").write_text(json.dumps(summary, indent=1))

# %% [markdown]
# ## Official settings, ablations and plug-ins (same budget)

# %%
tables = {}
for g in ("official", "sitfer_ablation", "leaf_ablation", "plugin"):
    if by_group.get(g):
        keys = by_group[g] + [k for k in by_group.get("main", []) if k.endswith("_s0")]
        keys = list(dict.fromkeys(keys))
        tables[g] = results.summarize(runs, keys, runs_dir)
        results.write_table(results.pretty(tables[g]), out / g, dataset, prof["profile"])
        display(Markdown(f"### {g}"))
        display(results.pretty(tables[g]))

# %% [markdown]
# ## Semi-supervised learning at work: mask rate and pseudo-label accuracy over training
# Mask rate = share of the unlabeled batch that passes the method's own selection; pseudo-label
# accuracy = accuracy of the selected pseudo-labels against the hidden true labels (seed 0).

# %%
curves = {}
for k in by_group.get("main", []):
    if k.endswith("_s0") and runs[k]["method"] != "supervised":
        curves[results.variant(k)] = {n: results.train_series(runs_dir, k, n) for n in ("mask_rate", "pl_acc_masked")}
if curves:
    fig = plots.ssl_at_work(curves)
    fig.savefig(out / "ssl_at_work.png", dpi=120)

# %%
fig = plots.accuracy_curves({k: runs[k]["curve"] for k in by_group.get("main", []) if k.endswith("_s0")})
fig.savefig(out / "accuracy_curves.png", dpi=120)

# %% [markdown]
# ## Why a method trails FixMatch: its pseudo-labels, source by source
# Final values (last 10 % of the logged steps, mean over seeds): the share of the unlabeled batch
# each pseudo-label source passes at the method's threshold, and the accuracy of what it passes
# against the hidden labels. SIT-FER: the fused label and each level; LEAF: the confidence-masked
# labels, and how often the true class is inside the positive set.

# %%
import numpy as np

diagnosis = {}
for m in ("fixmatch", "sitfer", "leaf"):
    keys = [k for k in by_group.get("main", []) if runs[k]["method"] == m]
    for prefix, source in (("pl_", "selected (what the method trains on)"), ("pl_semantic_", "semantic level"),
                           ("pl_text_", "text level"), ("pl_instance_", "instance level")):
        cov = [results.final_value(runs_dir, k, prefix + "coverage") for k in keys]
        if keys and not np.isnan(cov).all():
            acc = [results.final_value(runs_dir, k, prefix + "acc_masked") for k in keys]
            diagnosis[(m, source)] = {"share passed": np.nanmean(cov),
                                      "accuracy of what passes": np.nanmean(acc) if not np.isnan(acc).all() else np.nan}
    rec = [results.final_value(runs_dir, k, "pl_positive_recall") for k in keys]
    if keys and not np.isnan(rec).all():
        diagnosis[(m, "positive set holds the true class")] = {"share passed": np.nan,
                                                                "accuracy of what passes": np.nanmean(rec)}
diagnosis = pd.DataFrame(diagnosis).T.round(3)
if len(diagnosis):
    diagnosis.to_csv(out / "pseudo_label_diagnosis.csv")
    (out / "pseudo_label_diagnosis.md").write_text(f"Dataset: {dataset}, profile: {prof['profile']}\n\n"
                                                   + diagnosis.to_markdown())
diagnosis

# %% [markdown]
# ## SIT-FER: pseudo-label quality per level (seed 0)

# %%
sit = [k for k in by_group.get("main", []) if runs[k]["method"] == "sitfer"][:1]
if sit:
    series = {lvl: results.train_series(runs_dir, sit[0], f"pl_{lvl}acc_masked") for lvl in ("semantic_", "text_", "instance_", "")}
    series = {("fused" if k == "" else k.rstrip("_")): v for k, v in series.items() if v is not None}
    fig = plots.pseudo_label_quality(series, f"SIT-FER: accuracy of the selected pseudo-labels per level ({sit[0]})")
    fig.savefig(out / "sitfer_pl_levels.png", dpi=120)
