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
# # Lesson 1: why labels are scarce, and what they buy
# **Goal:** see how a supervised expression classifier's accuracy grows with the number of labeled
# faces per class, and which faces it still gets wrong.
#
# Labeling facial expressions is slow and annotators disagree (is that face *sad* or *neutral*?),
# so real datasets have few labels per class next to many unlabeled faces. Semi-supervised
# learning (lessons 2-5) tries to use the unlabeled ones. First we measure what labels alone buy.
#
# Everything here runs on **SynthFACS**, the synthetic face generator shipped with this project:
# the first lesson you run makes a small draw (6,000 training and 1,000 test faces) and a backbone
# pretrained on face geometry (never on expressions) under `data/lessons/`, about a minute on a
# laptop; later lessons reuse them.

# %% tags=["parameters"]
labels_per_class = [25, 50, 100]  # labeled faces per class for each run (at most 126: the rarest class, fear, has 126 training faces;
                                 # at 10 a run stays below always answering the most frequent class: try it)
steps = 1500                         # optimiser steps per run (16 labeled faces a step)
seed = 0

# %%
import os
from pathlib import Path

if not Path("params.yaml").exists():  # opened from notebooks/lessons/ in JupyterLab
    os.chdir("../..")
# %matplotlib inline
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from ssfer_core.data.loading import load_data
from ssfer_core.labels import class_names
from ssfer_study.lessons import kit
from ssfer_study.stages import plots

names = class_names(7)
sample_cfg = kit.config("supervised", steps, min(labels_per_class), seed)
data = load_data(sample_cfg.data)
display(kit.face_grid(data.train_images[:16].numpy(), [names[int(y)] for y in data.train_labels[:16]],
                          title="SynthFACS training faces and their labels"))

# %% [markdown]
# ## The experiment: the same network and recipe, more or fewer labels
# Each run trains the pretrained backbone with a linear classifier on `labels_per_class` labeled
# faces of each of the 7 classes (the rest of the training set is simply not used), then is
# scored on the 1,000 test faces.

# %%
runs = {}
for n in labels_per_class:
    runs[f"supervised_{n}"] = kit.train_run(kit.config("supervised", steps, n, seed), f"lesson1_{n}")
table = kit.summary(runs)
display(table)
plt = kit.pyplot()
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot(table["labels/class"], table["test accuracy (%)"], marker="o", label="supervised")
majority = 100 * np.bincount(data.test_labels.numpy()).max() / len(data.test_labels)
ax.axhline(majority, color="grey", ls="--", lw=0.8, label="always the most frequent class")
ax.set_xlim(0, None)  # a linear axis: equal steps in labels look equal, so a flattening curve shows it
ax.set_ylim(0, 100)
ax.set_xlabel("labeled faces per class")
ax.set_ylabel("test accuracy (%)")
ax.set_title("What labels buy (SynthFACS, supervised)", fontsize=9)
ax.legend(fontsize=7)
display(fig)
plots.close(fig)

# %% [markdown]
# ## Faces the model gets wrong
# The confusion matrix of the 50-label model (or the budget nearest to it): for each true class
# (row), the share of its test faces the model gave each answer (column); each row sums to 1.

# %%
budget = min(labels_per_class, key=lambda n: abs(n - 50))
_, model = kit.load_model(f"lesson1_{budget}", data)
from ssfer_core.evaluate import predict_probs

probs = predict_probs(lambda x: model(x)["logits"].softmax(-1), data.test_images)
pred, true = probs.argmax(1), data.test_labels.numpy()
confusion = pd.crosstab(pd.Series([names[t] for t in true], name="true"),
                        pd.Series([names[p] for p in pred], name="predicted"))
shares = confusion.div(confusion.sum(1), axis=0)
import seaborn as sns

fig, ax = plt.subplots(figsize=(5.5, 4.2))
sns.heatmap(shares, annot=True, fmt=".2f", cmap="Blues", vmin=0, vmax=1, cbar=False, ax=ax, annot_kws={"size": 8})
ax.set_title(f"Confusion, {budget} labels per class (share of each true class)", fontsize=9)
display(fig)
plots.close(fig)
wrong = np.flatnonzero(pred != true)[:16]
display(kit.face_grid(data.test_images[wrong].numpy(), [f"{names[true[i]]}\n-> {names[pred[i]]}" for i in wrong],
                          title=f"Mistakes with {budget} labels per class (true -> predicted)"))
kit.dump({"accuracy": dict(zip(map(str, table["labels/class"]), table["test accuracy (%)"])),
              "majority": majority}, "lesson1")

# %% [markdown]
# ## Questions
# 1. How many points does each step up in labels buy, per extra label? Do the first labels buy
#    more than the later ones, and why would they?
# 2. Which pair of classes does the 50-label model confuse most often? Is it clearly ahead of the
#    next pair? Look at the faces: why might those two be hard to tell apart?
# 3. The largest budget here labels only a small part of the 6,000 training faces. What would you
#    do with the others if you could not label them?
#
# Answers: open the collapsed cell below (in JupyterLab: click the bar beside it).

# %% jupyter={"outputs_hidden": true, "source_hidden": true}
acc = table.set_index("labels/class")["test accuracy (%)"]
gain = acc.diff().dropna()
off = confusion.copy()
for c in off.index:
    if c in off.columns:
        off.loc[c, c] = 0
ranked = off.stack().sort_values(ascending=False)
pair, top, runner_pair, runner = ranked.index[0], int(ranked.iloc[0]), ranked.index[1], int(ranked.iloc[1])
clear = top - runner > 1.96 * np.sqrt(top + runner)  # two counts of faces: Poisson noise of their difference
if pair[0] == "neutral":
    why = (f"A neutral face moves no facial action, yet the model reads '{pair[1]}' in it: with few labels the border of"
           f" '{pair[1]}' sits too close to neutral, so head pose, lighting or identity push faces across it.")
elif pair[1] == "neutral":
    why = (f"SynthFACS draws each expression's intensity from 0.15 to 1; a weak '{pair[0]}' moves few facial actions,"
           " so it looks close to neutral.")
else:
    why = f"'{pair[0]}' and '{pair[1]}' move some of the same facial actions, most of all when weak."
below = [n for n, a in acc.items() if a <= majority]
gains = [f"{a} -> {b}: {g:+.1f} points" for (a, b), g in zip(zip(acc.index[:-1], acc.index[1:]), gain)]
per_label = (gain / np.diff(acc.index.to_numpy())).round(2)
concave = bool((np.diff(per_label.to_numpy()) <= 0).all())
kit.answer("lesson1", [
    f"1. Gains between budgets: {', '.join(gains)}; per extra label per class: {', '.join(map(str, per_label))} points. "
    + (f"At {', '.join(map(str, below))} labels per class the model is not above always answering the most frequent"
       f" class ({majority:.1f} %): it has not learned the classes yet. " if below else "")
    + ("Each extra label adds less than the one before: the first ones show the classifier what each class looks like"
       " at all, later ones refine borders it already has." if concave else
       "Here the gain per label does not fall steadily: with one seed and one short run per budget, a few points are"
       " noise (re-run with another `seed` to see how much)."),
    f"2. With {budget} labels per class the most frequent confusion is true '{pair[0]}' answered as '{pair[1]}' ({top}"
    f" test faces, {shares.loc[pair[0], pair[1]]:.0%} of the {pair[0]} faces), "
    + (f"clearly ahead of the next pair ('{runner_pair[0]}' as '{runner_pair[1]}', {runner})" if clear else
       f"not clearly ahead of the next pair ('{runner_pair[0]}' as '{runner_pair[1]}', {runner}: counts this close"
       " swap places with another seed)")
    + f". {why}",
    f"3. {acc.index.max()} labels per class label {7 * acc.index.max()} of the {len(data.train_labels):,} training faces. Use the others"
    " without labels: that is semi-supervised learning, e.g. train on the model's own confident guesses"
    " (pseudo-labels, lesson 2)."])

# %% [markdown]
# **Where this lives in the library:** `ssfer_core.train.train` (the training loop),
# `ssfer_core.data.loading.load_data` (images, labels and the labeled / unlabeled split),
# `ssfer_core.data.splits` (how `labels_per_class` draws the labeled set),
# `ssfer_core.evaluate` (accuracy, confusion matrix); the kit is `ssfer_study.lessons.kit`.
