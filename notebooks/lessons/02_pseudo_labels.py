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

# %%

# %% [markdown]
# # Lesson 2: pseudo-labels and thresholds
# **Goal:** see how FixMatch turns unlabeled faces into training targets, how its confidence
# threshold trades *how many* pseudo-labels against *how right* they are, and how wrong
# pseudo-labels can feed on themselves (confirmation bias).
#
# FixMatch looks at a mildly augmented (weak) view of an unlabeled face; if the model's top class
# has probability ≥ the **threshold**, that class becomes the target for a heavily augmented
# (strong) view of the same face. The **mask rate** is the share of unlabeled faces that pass.
# A low threshold passes many faces, more of them wrong; a wrong target the model then learns
# makes it more confident in the same mistake.

# %% tags=["parameters"]
thresholds = [0.5, 0.8, 0.95]   # FixMatch's confidence threshold for each run: change and re-run
labels_per_class = 50           # the label budget
steps = 800
seed = 0

# %%
import os
from pathlib import Path

if not Path("params.yaml").exists():  # opened from notebooks/lessons/ in JupyterLab
    os.chdir("../..")
# %matplotlib inline
import torch
from IPython.display import Markdown, display

from ssfer_core import pseudo
from ssfer_study import lessons, plots

# %% [markdown]
# ## The idea on four numbers
# `pseudo.threshold_mask` is the function FixMatch uses: for each face's class probabilities it
# returns the mask (1 = the face trains), the confidence and the pseudo-label.

# %%
probs = torch.tensor([[0.97, 0.01, 0.02], [0.60, 0.30, 0.10], [0.40, 0.35, 0.25], [0.05, 0.90, 0.05]])
for t in thresholds:
    mask, conf, label = pseudo.threshold_mask(probs, t)
    print(f"threshold {t}: mask {mask.tolist()}  (pseudo-labels {label.tolist()})")

# %% [markdown]
# ## The experiment: FixMatch at each threshold, beside supervised, same labels and steps
# Each FixMatch run logs, every few steps, its mask rate and the accuracy of the pseudo-labels that
# passed (scored against the true labels, which the method never sees).

# %%
runs = {"supervised": lessons.train_run(lessons.config("supervised", steps, labels_per_class, seed), "lesson2_sup")}
for t in thresholds:
    runs[f"fixmatch_t{t}"] = lessons.train_run(
        lessons.config("fixmatch", steps, labels_per_class, seed, [f"fixmatch.threshold={t}"]), f"lesson2_t{t}")
table = lessons.summary(runs)
table["threshold"] = [None] + list(thresholds)
display(table)
curves = {f"threshold {t}": {k: lessons.series(f"lesson2_t{t}", k) for k in ("mask_rate", "pl_acc_masked")}
          for t in thresholds}
fig = plots.ssl_at_work(curves)
fig.suptitle(f"FixMatch on SynthFACS, {labels_per_class} labels per class: quantity against quality", fontsize=9)
display(fig)
plots.close(fig)

# %% [markdown]
# ## Confirmation bias, made visible
# The same threshold at a budget of only a few labels per class: the model's first guesses are
# poorer, so more of what passes is wrong, and it trains on those mistakes. Compare FixMatch with
# supervised at that budget.

# %%
low = max(2, labels_per_class // 10)
low_runs = {"supervised": lessons.train_run(lessons.config("supervised", steps, low, seed), "lesson2_low_sup"),
            "fixmatch": lessons.train_run(lessons.config("fixmatch", steps, low, seed,
                                                         [f"fixmatch.threshold={min(thresholds)}"]), "lesson2_low_fm")}
display(lessons.summary(low_runs))
fig = plots.pseudo_label_quality({"accuracy of what passes": lessons.series("lesson2_low_fm", "pl_acc_masked"),
                                  "mask rate": lessons.series("lesson2_low_fm", "mask_rate")},
                                 f"FixMatch at threshold {min(thresholds)}, {low} labels per class",
                                 ylabel="share")
display(fig)
plots.close(fig)
lessons.dump({"table": table.to_dict("records"), "low": lessons.summary(low_runs).to_dict("records")}, "lesson2")

# %% [markdown]
# ## Questions
# 1. Which threshold gives the highest mask rate at the end, and which the most accurate
#    pseudo-labels? Which one gives the best test accuracy, and why is that not simply either?
# 2. Does FixMatch beat supervised at the small budget with the lowest threshold? What does the
#    accuracy of the passed pseudo-labels say about why?
# 3. Why does FixMatch use a *weak* view to make the label and a *strong* view to learn it?

# %% jupyter={"outputs_hidden": true, "source_hidden": true}
final = {t: (lessons.series(f"lesson2_t{t}", "mask_rate")["value"].iloc[-5:].mean(),
             lessons.series(f"lesson2_t{t}", "pl_acc_masked")["value"].iloc[-5:].mean()) for t in thresholds}
best = table.iloc[table["test accuracy (%)"].iloc[1:].argmax() + 1]
print("1. End of training (mean of the last 5 logs): " + "; ".join(
    f"threshold {t}: mask {m:.2f}, pseudo-label accuracy {a:.2f}" for t, (m, a) in final.items())
    + f". Best test accuracy: {best['run']} ({best['test accuracy (%)']} % against supervised "
    f"{table['test accuracy (%)'].iloc[0]} %). Too low a threshold trains on many wrong labels, too high"
    " a one trains on few faces: the best sits between, where quantity and quality balance.")
low_t = lessons.summary(low_runs).set_index("run")["test accuracy (%)"]
acc_low = lessons.series("lesson2_low_fm", "pl_acc_masked")["value"].iloc[-5:].mean()
print(f"2. At {low} labels per class: FixMatch {low_t['fixmatch']} % against supervised {low_t['supervised']} % "
      f"({'FixMatch wins' if low_t['fixmatch'] > low_t['supervised'] else 'FixMatch loses'}); only {acc_low:.0%} of the "
      "pseudo-labels it trains on at the end are right, and each wrong one it learns makes the next guess of the"
      " same kind more confident.")
print("3. The weak view gives the most reliable guess; asking the model to give the same answer on a strongly"
      " distorted view forces it to learn what stays the same (the expression), not pixel details.")

# %% [markdown]
# **Where this lives in the library:** `ssfer_core.pseudo.threshold_mask` and
# `ssfer_core.pseudo.masked_cross_entropy` (pure functions), `ssfer_core.methods.fixmatch`
# (`FixMatch.train_step`, about 15 lines), the views in `ssfer_core.data.views`
# (`weak_view`, `strong_view`), and `ssfer_core.train.score_pseudo_labels` (how the trainer scores
# pseudo-labels against the hidden labels).
