# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
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
# evaluation seen (the papers' protocol, optimistic). The work is `ssfer_study.stages.results.build`,
# which also writes every table and figure below to `reports/<profile>/results/`.

# %% tags=["parameters"]
profile_file = "params.yaml"

# %%
import os
from pathlib import Path

if not Path("params.yaml").exists():  # opened from notebooks/ in JupyterLab
    os.chdir("..")
# %matplotlib inline
from IPython.display import Markdown, display

from ssfer_study.stages.captions import caption
from ssfer_study.stages import tables
from ssfer_study.stages import results
from ssfer_study.study import load_study

study = load_study(profile_file)
res = results.build(study)
display(Markdown(f"Dataset **{study.dataset.display}**, profile **{study.name}**, evaluated on the "
                 f"**{study.eval_on}** set: {res.finished} of {res.total} runs finished."))

# %% [markdown]
# ## Calibration: supervised accuracy by label budget
# The all-labels row is the ceiling every table is read against; "gap closed" =
# (method − supervised) / (all labels − supervised).

# %%
if res.calibration is not None:
    display(res.show(res.calibration), res.figures["calibration"], Markdown(caption("results/calibration.png")))

# %% [markdown]
# ## Main table
# "vs supervised": the paired difference to supervised (same seed, same labeled split) and the
# half-width of its 95 % interval; "shown" only when the interval excludes 0. "gain, last quarter":
# accuracy gained over the last quarter of training, beside the noise of a difference between two
# evaluations; a method gaining more than that was still learning when training stopped.

# %%
res.show(res.main)

# %% [markdown]
# ## The papers' claims
# Each claim read as a paired difference over seeds (the variant the paper says is better minus the
# one it beats), with its per-seed values, its 95 % interval, the probability that the better variant
# wins on a random seed (with its bootstrap interval) and the seeds a ± 2-point interval would take at
# this spread. The claims are read together: "shown" (or "contradicted", pointing the other way) when
# the paired t-test's p-value, adjusted by Holm's method over every claim with two or more seeds, is
# under 0.05; "not shown" otherwise; a one-seed claim is not decided.

# %%
res.show(res.claims, tables.pretty_claims) if len(res.claims) else Markdown("No claim: the profile lacks the runs.")

# %% [markdown]
# ## Official recipes and controls (same budget, beside the main table's seed 0)

# %%
controls = {g: t for g, t in res.side.items() if g not in results.ABLATION_GROUPS}
for group, table in controls.items():
    display(Markdown(f"### {results.TABLE_TITLES[group]}"), res.show(table))
if not controls:
    display(Markdown(f"None in the `{study.name}` profile: the official recipes, head controls, expert designs, "
                     "SIT-FER level sets and the late-start control are in `studies/extended`."))

# %%
ABLATIONS = ("## Ablations and plug-ins, read against the main table\n"
             "Each row's reference is the main table's row of its method (for a plug-in, of its host), and the "
             "row is read paired on the seed, by the claims' rule: with several seeds its mean difference and 95 % "
             "interval, \"within noise\" when the interval holds 0; with one seed the difference to the reference's "
             "run of that seed, beside 2 standard deviations of the reference's seeds for scale, and no verdict.")
if any(group in res.side for group in results.ABLATION_GROUPS):  # a profile without ablations shows no empty section
    display(Markdown(ABLATIONS))
for group, title in results.ABLATION_GROUPS.items():
    if group in res.side:
        display(Markdown(f"### {title}"), res.show(res.side[group]), res.figures[f"ablation_{group}"],
                Markdown(caption(f"results/ablation_{group}.png")))

# %% [markdown]
# ## Learning curves; semi-supervised learning at work
# Accuracy at every evaluation (mean over seeds, band from the lowest to the highest seed). Share
# passed = the share of the unlabeled batch whose pseudo-label passes the method's own selection;
# accuracy of what passes = their accuracy against the hidden true labels (the seed-0 runs).

# %%
for name in ("accuracy_curves", "accuracy_by_labels", "ssl_at_work"):
    if name in res.figures:
        display(res.figures[name], Markdown(caption(f"results/{name}.png")))

# %% [markdown]
# ## Why a method trails FixMatch: its pseudo-labels, source by source
# Final values (last 10 % of the logged steps, mean over seeds): the share of the unlabeled batch
# each pseudo-label source passes at the method's threshold, and the accuracy of what it passes
# against the hidden labels. SIT-FER: the fused label and each level; LEAF: the confidence-masked
# labels, and how often the true class is inside the positive set.

# %%
res.show(res.diagnosis, results.pretty_diagnosis)

# %% [markdown]
# ## Each method's own diagnostics
# The figures each method declares with its registration (`MethodDef.diagnostics`): SIT-FER's
# pseudo-label quality per level, LEAF's positive sets, and whatever a method you add declares.

# %%
for name in res.method_figures:
    display(res.figures[name], Markdown(caption(f"results/{name}.png")))
