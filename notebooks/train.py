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
# DVC runs this notebook once per run of the profile, with the run's resolved config
# (`data/<profile>/run_configs/<run>.yaml`: the profile's `train:` section, the run's overlay and
# the method's network defaults, restricted to the keys the run reads; the `configs` stage writes
# it). `overrides` (`key=value` strings, checked like `ssfer train -S`) try a variant here; the
# variant then writes to `<out_dir>_variant`. Writes `config.yaml` (the resolved config),
# `checkpoint.pt`, `metrics.json` and dvclive logs. A killed run resumes from its last checkpoint.
# It calls the library only (`ssfer_core.train`), so a training stage depends on no study code.

# %% tags=["parameters"]
config_file = "data/default/run_configs/fixmatch_s0.yaml"
out_dir = "runs/default/fixmatch_s0"
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

from ssfer_core.config import load_config
from ssfer_core.train import train

out = out_dir if not overrides else out_dir + "_variant"
metrics = train(load_config(config_file, overrides), out, device=device)

# %%
pd.DataFrame([{"model": w, "when": k, **{m: metrics[w][k][m] for m in ("acc", "bal_acc", "macro_f1", "ece")}}
              for w in ("raw", "ema") if w in metrics for k in ("last", "best")]).round(4)

# %%
ax = pd.DataFrame(metrics["curve"]).set_index("step").plot(marker="o", figsize=(5, 3), ylim=(0, 1),
                                                           title=f"accuracy on the {metrics['eval_on']} set")
