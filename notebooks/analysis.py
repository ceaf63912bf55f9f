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
# # Features, decoupling and gates
# UMAPs of each method's test-set features (with how well a 10-nearest-neighbour classifier reads
# the expression off the 2-D map), LEAF's decoupling probes (what its expression-relevant and
# expression-agnostic components carry) and what its gates respond to. The probes need ground-truth
# factors (identity, pose, occluder, AU intensities): they run when the dataset records them (the
# embedded synthetic one does) and say "not available" otherwise; everything else runs on any dataset.

# %% tags=["parameters"]
profile_file = "params.yaml"
max_points = 1500
interactive = False  # True in JupyterLab: show the explorer inline

# %%
import os
from pathlib import Path

if not Path("params.yaml").exists():  # opened from notebooks/ in JupyterLab
    os.chdir("..")
# %matplotlib inline
import json

import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from ssfer_core.data.bundle import load_data
from ssfer_core.data.readers import read_synthfacs_metadata
from ssfer_core.labels import class_names
from ssfer_core.study import analysis, plots
from ssfer_core.study.profiles import groups, load_profile, run_config
from ssfer_core.study.results import dataset_name

prof = load_profile(profile_file)
cfg = run_config(prof)
data = load_data(cfg.data)
runs_dir = Path("runs") / prof["profile"]
out = Path("reports") / prof["profile"] / "analysis"
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(0)
idx = np.sort(rng.permutation(len(data.test_labels))[:max_points])
labels = data.test_labels[idx].numpy()
num_classes = cfg.data.num_classes
if cfg.data.dataset == "synthfacs":  # every factor is known
    meta = read_synthfacs_metadata(cfg.data.root).loc[data.test_keys].iloc[idx]
else:
    meta = pd.DataFrame({"label": labels})
display(Markdown(f"Dataset **{dataset_name(prof)}**, profile **{prof['profile']}**, {len(idx)} test images."))

# %% [markdown]
# ## UMAP of each method's feature (seed 0), coloured by expression

# %%
main_s0 = [k for k in groups(prof).get("main", []) if k.endswith("_s0") and (runs_dir / k / "checkpoint.pt").exists()]
feats, emb, knn = {}, {}, {}
for k in main_s0:
    _, model = analysis.load_run(runs_dir / k, data)
    feats[k] = analysis.extract(model, data.test_images[idx])
    emb[k] = analysis.umap_embed(feats[k]["feature"])
    knn[k] = analysis.knn_accuracy(emb[k], labels)
knn_table = pd.Series(knn, name="10-NN expression accuracy on the 2-D UMAP (5-fold)").to_frame()
knn_table.to_csv(out / "umap_knn.csv")
display(knn_table.round(3))
if emb:
    fig = plots.umap_by_method(emb, labels, knn, num_classes)
    fig.savefig(out / "umap_methods.png", dpi=80)

# %% [markdown]
# ## LEAF: what the expression-relevant and expression-agnostic components carry
# Held-out linear probes (half the images fit, half score): accuracy for categorical factors, R²
# for continuous ones. Decoupling means the *relevant* component decodes expression better, and
# identity worse, than the *agnostic* one.

# %%
leaf = next((k for k in main_s0 if k.startswith("leaf_")), None)
probes = None
if leaf:
    f = feats[leaf]
    components = ["pooled"] + [c for c in ("relevant_semantic", "agnostic_semantic", "relevant_instance",
                                           "agnostic_instance") if c in f]
    targets = {k: v for k, v in analysis.PROBE_TARGETS.items() if v[0] in meta}
    display(pd.Series({k: "available" if k in targets else "not available" for k in analysis.PROBE_TARGETS},
                      name=f"ground truth in {dataset_name(prof)}").to_frame())
    if targets:
        probes = analysis.decoupling_probes(f, meta, components, targets)
        probes.to_csv(out / "decoupling_probes.csv", index=False)
        (out / "decoupling_probes.md").write_text(f"Dataset: {dataset_name(prof)}, run {leaf}\n\n"
                                                 + probes.round(3).to_markdown(index=False))
        display(probes.round(3))
    else:
        print(f"probes not available: {dataset_name(prof)} records no ground-truth factors")

# %%
if leaf:
    emb_c = {c: analysis.umap_embed(feats[leaf][c]) for c in ("relevant_instance", "agnostic_instance") if c in feats[leaf]}
    if emb_c:
        fig = plots.umap_grid(emb_c, meta.assign(label=labels), colour_by=tuple(c for c in ("label", "identity", "yaw", "occluder") if c in meta or c == "label"))
        fig.savefig(out / "umap_components.png", dpi=80)

# %% [markdown]
# ## LEAF's gates at test time: which expert fires, and what it responds to

# %%
gates = {}
if leaf:
    for level in ("semantic", "instance"):
        if f"gates_{level}" in feats[leaf]:
            gt = analysis.gate_table(feats[leaf], meta.assign(label=labels), level)
            usage = analysis.expert_usage(gt)
            gates[level] = {"experts_used_5pct": int((usage >= 0.05).sum()), "usage": usage.round(4).tolist()}
            display(Markdown(f"**{level} level**: {gates[level]['experts_used_5pct']} experts take >= 5 % of the images"))
            display(usage.to_frame().T.round(3))
            fig = plots.gate_usage(gt, num_classes, title=f"{level}-level gate ({leaf})")
            fig.savefig(out / f"gates_{level}.png", dpi=120)
            assoc = analysis.gate_associations(gt)  # expression always; the other factors where recorded
            assoc.to_csv(out / f"gates_{level}.csv", index=False)
            display(assoc.round(3))

# %%
summary = {"umap_knn": {k: round(v, 4) for k, v in knn.items()}, "gates": gates,
           "probes": probes.set_index("factor").drop(columns="metric").round(4).to_dict() if probes is not None else None}
(out / "analysis.json").write_text(json.dumps(summary, indent=1))

# %% [markdown]
# ## Interactive explorer
# A standalone offline HTML file (`reports/<profile>/explorer/umap_explorer.html`, kept by DVC, not
# git): hover a point to see the face and its labels. With `interactive = True` it shows here.

# %%
best = max(knn, key=knn.get) if knn else None
if best:
    thumbs = data.test_images[idx].permute(0, 2, 3, 1).numpy()
    title = f"UMAP of {best}'s feature ({dataset_name(prof)} test set)"
    path = plots.umap_explorer(emb[best], thumbs, meta.assign(label=labels), Path("reports") / prof["profile"] / "explorer" / "umap_explorer.html", title, num_classes)
    print(path)
    if interactive:
        from bokeh.io import output_notebook, show

        output_notebook()
        show(plots.umap_explorer_figure(emb[best], thumbs, meta.assign(label=labels), title, num_classes))
