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
# # Train one run
# DVC runs this notebook once per run of the profile (`-p run_name fixmatch_s0`). It calls the same
# `run_training()` as `ssfer train --run NAME`: the profile's `train:` section, the run's overlay,
# then `overrides` (`key=value` strings, checked like `-S`). Writes `runs/<profile>/<run>/`:
# `config.yaml` (the resolved config), `checkpoint.pt`, `metrics.json` and dvclive logs.
# A killed run resumes from its last checkpoint.

# %% tags=["parameters"]
profile_file = "params.yaml"
run_name = "fixmatch_s0"
# to try a variant here, e.g. overrides = ["steps=200", "fixmatch.threshold=0.9"]
overrides = []
device = "cpu"

# %%
import os
from pathlib import Path

if not Path("params.yaml").exists():  # opened from notebooks/ in JupyterLab
    os.chdir("..")
# %matplotlib inline
import pandas as pd

from ssfer_core.study import plots
from ssfer_core.study.profiles import load_profile, run_dir, run_training

prof = load_profile(profile_file)
out = run_dir(prof, run_name) if not overrides else run_dir(prof, run_name + "_variant")
metrics = run_training(profile_file, run_name, out, overrides, device=device)

# %%
pd.DataFrame([{"model": w, "when": k, **{m: metrics[w][k][m] for m in ("acc", "bal_acc", "macro_f1", "ece")}}
              for w in ("raw", "ema") if w in metrics for k in ("last", "best")]).round(4)

# %%
fig = plots.accuracy_curves({run_name: metrics["curve"]})
fig.savefig(Path(out) / "curve.png", dpi=100)
