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
# # Features, decoupling and gates
# UMAPs of each method's test-set features (with how well a 10-nearest-neighbour classifier reads
# the expression off the 2-D map), LEAF's decoupling probes (what its expression-relevant and
# expression-agnostic components carry) and what its gates respond to. The probes need ground-truth
# factors (identity, pose, occluder, AU intensities): they run when the dataset records them (the
# embedded synthetic one does) and say "not available" otherwise; everything else runs on any dataset.
# The work is `ssfer_study.stages.analysis.build`, which writes `reports/<profile>/analysis/`.

# %% tags=["parameters"]
profile_file = "params.yaml"
max_points = None    # test images to embed and probe (None: analysis.max_points of the profile)
interactive = False  # True in JupyterLab: show the explorer inline

# %%
import os
from pathlib import Path

if not Path("params.yaml").exists():  # opened from notebooks/ in JupyterLab
    os.chdir("..")
# %matplotlib inline
from IPython.display import Markdown, display

from ssfer_study.stages.captions import caption
from ssfer_study.stages import analysis
from ssfer_study.study import load_study

study = load_study(profile_file)
res = analysis.build(study, max_points)
display(Markdown(f"Dataset **{study.dataset.display}**, profile **{study.name}**, {res.n_points} test images "
                 f"(a seeded random subset of the test set)."))

# %% [markdown]
# ## UMAP of each method's feature (seed 0), coloured by expression

# %%
display(res.knn.round(3), res.figures.get("umap_methods", "no finished run in the main table"),
        Markdown(caption("analysis/umap_methods.png")))

# %% [markdown]
# ## LEAF: what the expression-relevant and expression-agnostic components carry, per expert design
# Held-out linear probes (half the images fit, half score): accuracy for categorical factors, R²
# for continuous ones, one block of rows per expert design (the release's tied residual expert,
# and independent experts with learned gates, top-1 and dense). Decoupling means the *relevant*
# component decodes expression better, and identity worse, than the *agnostic* one.

# %%
if not res.designs:
    print("no LEAF run in the main table")
else:
    display(res.available, res.probes.round(3) if res.probes is not None else "probes not available")
    display(Markdown(analysis.DECOUPLING_TARGET))
    for design, levels in res.decoupling.items():
        display(Markdown(f"- **{design}**: " + "; ".join(f"{lv} level {v}" for lv, v in levels.items())))
    if "umap_components" in res.figures:
        display(res.figures["umap_components"], Markdown(caption("analysis/umap_components.png")))

# %% [markdown]
# ## LEAF's gates at test time: mean gate weight per class and expert, per design and level

# %%
if "gate_weights" in res.figures:
    display(res.figures["gate_weights"], Markdown(caption("analysis/gate_weights.png")))
for level, usage in res.gate_usage.items():
    used = res.gates[level]["experts_used_5pct"]
    display(Markdown(f"**{level} level ({res.leaf_run})**: {used} expert{'' if used == 1 else 's'} "
                     f"{'takes' if used == 1 else 'take'} at least 5 % of the images (top-1 expert per image)\n\n"
                     + usage.rename(index=lambda i: "share of images").round(3).to_markdown()
                     + "\n\n" + res.gate_associations[level].round(3).to_markdown(index=False)))

# %% [markdown]
# ## Interactive explorer
# A standalone offline HTML file (`reports/<profile>/explorer/umap_explorer.html`, kept by DVC, not
# git): pick a run and its feature (backbone, feature, SIT-FER's projection, LEAF's relevant and
# agnostic components at each level) and a colouring (expression, identity, occluder, pose, AU12,
# right or wrong); hover a point to see the face. With `interactive = True` it shows here.

# %%
if "explorer_views" in res.figures:
    display(res.figures["explorer_views"], Markdown(caption("analysis/explorer_views.png")))
if res.explorer is not None and Path(res.explorer).exists():
    # the link works from this notebook in reports/<profile>/notebooks/ and from its page in html/
    display(Markdown(f"Open [the explorer](../explorer/{Path(res.explorer).name}) in a browser "
                     f"(`{res.explorer}`)."))
else:
    display(Markdown("No explorer: it is drawn when the main table has a finished run."))
if interactive and res.explorer_figure is not None:
    from bokeh.io import output_notebook, show

    output_notebook()
    show(res.explorer_figure)
