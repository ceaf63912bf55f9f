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
# # Train one run
# The study's `train` stage runs this notebook for each run of the profile that needs training
# (`ssfer train-runs`). It builds the run's config exactly as `ssfer train --run <run> -S ...` does
# (`run_training`: the profile's `train:` section, the method's block, its protocol recipe, the run's
# overlay, then `overrides`). `overrides` (`key=value` strings, checked like `ssfer train -S`) try a
# variant here; the variant then writes to `<out_dir>_variant`. Writes `config.yaml` (the resolved
# config), `checkpoint.pt`, `metrics.json` and dvclive logs. A killed run resumes from its last checkpoint.

# %% tags=["parameters"]
profile_file = "params.yaml"
run = "fixmatch_s0"
out_dir = "runs/default/fixmatch_s0"
# to try a variant here, e.g. overrides = ["steps=200", "fixmatch.threshold=0.9"] or ["protocol=official"]
overrides = []
# the run's device is its config's `train.device`; `ssfer train-runs` pins each GPU run to its own GPU here
device = None

# %%
import os
from pathlib import Path

if not Path("params.yaml").exists():  # opened from notebooks/ in JupyterLab
    os.chdir("..")
# %matplotlib inline
import pandas as pd

from ssfer_study.pipeline.training import run_training

out = out_dir if not overrides else out_dir + "_variant"
metrics = run_training(profile_file, run, out, overrides, device=device)

# %%
pd.DataFrame([{"model": w, "when": k, **{m: metrics[w][k][m] for m in ("acc", "bal_acc", "macro_f1", "ece")}}
              for w in ("raw", "ema") if w in metrics for k in ("last", "best")]).round(4)

# %%
ax = pd.DataFrame(metrics["curve"]).set_index("step").plot(marker="o", figsize=(5, 3), ylim=(0, 1),
                                                           title=f"accuracy on the {metrics['eval_on']} set")
