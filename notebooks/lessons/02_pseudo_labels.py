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
# # Lesson 2: pseudo-labels and thresholds
# **Goal:** see how FixMatch turns unlabeled faces into training targets, how its confidence
# threshold trades *how many* pseudo-labels against *how right* they are, and how wrong
# pseudo-labels can feed on themselves (confirmation bias).
#
# FixMatch looks at a mildly augmented (weak) view of an unlabeled face; if the model's top class
# has probability ≥ the **threshold**, that class becomes the target for a heavily augmented
# (strong) view of the same face. The **share passed** is the share of unlabeled faces whose pseudo-label passes.
# A low threshold passes many faces, more of them wrong; a wrong target the model then learns
# makes it more confident in the same mistake.

# %% tags=["parameters"]
thresholds = [0.5, 0.95]        # FixMatch's confidence threshold for each run: add 0.8 to see the middle (30 s a run)
labels_per_class = 50           # the label budget
low_labels_per_class = 25       # the small budget of the confirmation-bias experiment (at 10, supervised stays below the majority class)
steps = 1500
seed = 0

# %%
import os
from pathlib import Path

if not Path("params.yaml").exists():  # opened from notebooks/lessons/ in JupyterLab
    os.chdir("../..")
# %matplotlib inline
import pandas as pd
import torch
from IPython.display import Markdown, display

from ssfer_core import pseudo
from ssfer_study.lessons import kit
from ssfer_study.stages import plots

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
# Each FixMatch run logs, every few steps, its share passed and the accuracy of the pseudo-labels that
# passed (scored against the true labels, which the method never sees).

# %%
runs = {"supervised": kit.train_run(kit.config("supervised", steps, labels_per_class, seed), "lesson2_sup")}
for t in thresholds:
    runs[f"fixmatch_t{t}"] = kit.train_run(
        kit.config("fixmatch", steps, labels_per_class, seed, [f"fixmatch.threshold={t}"]), f"lesson2_t{t}")
table = kit.summary(runs)
table["threshold"] = [None] + list(thresholds)
display(table.fillna({"threshold": "-"}))  # supervised has no threshold
curves = {f"threshold {t}": {k: kit.series(f"lesson2_t{t}", k) for k in ("pl_pass_rate", "pl_pass_acc")}
          for t in thresholds}
fig = plots.ssl_at_work(curves)
fig.suptitle(f"FixMatch on SynthFACS, {labels_per_class} labels per class: quantity against quality", fontsize=9)
fig.tight_layout(rect=(0, 0, 1, 0.92))  # room for the title above the panels' own
display(fig)
plots.close(fig)

# %% [markdown]
# ## Confirmation bias, made visible
# The lowest threshold at a smaller label budget: the model's first guesses are poorer, so more of
# what passes is wrong, and it trains on those mistakes. Compare FixMatch with supervised at that
# budget, and watch how right the pseudo-labels it trains on are as training goes.

# %%
low = low_labels_per_class
low_runs = {"supervised": kit.train_run(kit.config("supervised", steps, low, seed), "lesson2_low_sup"),
            "fixmatch": kit.train_run(kit.config("fixmatch", steps, low, seed,
                                                         [f"fixmatch.threshold={min(thresholds)}"]), "lesson2_low_fm")}
display(kit.summary(low_runs))
fig = plots.pseudo_label_quality({f"share passed, {low} labels/class": kit.series("lesson2_low_fm", "pl_pass_rate"),
                                  f"accuracy of what passes, {low} labels/class": kit.series("lesson2_low_fm", "pl_pass_acc"),
                                  f"accuracy of what passes, {labels_per_class} labels/class":
                                      kit.series(f"lesson2_t{min(thresholds)}", "pl_pass_acc")},
                                 f"FixMatch at threshold {min(thresholds)}: confident, and right?", ylabel="share")
display(fig)
plots.close(fig)
kit.dump({"table": table.to_dict("records"), "low": kit.summary(low_runs).to_dict("records")}, "lesson2")

# %% [markdown]
# ## Questions
# 1. Which threshold passes the largest share at the end, and which the most accurate
#    pseudo-labels? Which one gives the best test accuracy: one of those two, or neither, and why?
# 2. At the small budget, how do FixMatch's share passed and the accuracy of what passes change over
#    training? What is it learning from, and does it still beat supervised?
# 3. Why does FixMatch use a *weak* view to make the label and a *strong* view to learn it?

# %% jupyter={"outputs_hidden": true, "source_hidden": true}
def start_end(run, key):  # a run's logged value at the start and at the end (mean of the first / last 5 logs)
    logged = kit.series(run, key)  # None when nothing was ever logged (no pseudo-label ever passed)
    values = logged["value"] if logged is not None else pd.Series([float("nan")])
    return values.iloc[:5].mean(), values.iloc[-5:].mean()


def f2(v):  # a share as printed: '-' when nothing passed, so nothing was measured
    return "- (none passed)" if v != v else f"{v:.2f}"


final = {t: tuple(start_end(f"lesson2_t{t}", key)[1] for key in ("pl_pass_rate", "pl_pass_acc")) for t in thresholds}
acc = dict(zip(table["threshold"].iloc[1:], table["test accuracy (%)"].iloc[1:]))
best_t, sup = max(acc, key=acc.get), table["test accuracy (%)"].iloc[0]
most, surest = max(final, key=lambda t: final[t][0]), max(final, key=lambda t: final[t][1])
between = min(thresholds) < best_t < max(thresholds)
low_t = kit.summary(low_runs).set_index("run")["test accuracy (%)"]
(m0, m1), (a0, a1) = start_end("lesson2_low_fm", "pl_pass_rate"), start_end("lesson2_low_fm", "pl_pass_acc")
b0, b1 = start_end(f"lesson2_t{min(thresholds)}", "pl_pass_acc")
low_verdict, low_d, low_noise = kit.versus(low_runs["fixmatch"], low_runs["supervised"])
fm_wins = low_verdict == "above"
t_runs = {t: runs[f"fixmatch_t{t}"] for t in thresholds}
t_verdict, t_d, t_noise = kit.versus(t_runs[best_t], t_runs[min(acc, key=acc.get)]) if len(acc) > 1 else ("-", 0, 0)
bias = m1 - m0 > 0.3 and a1 < 0.5  # grew confident on many faces without growing right
kit.answer("lesson2", [
    "1. End of training: " + "; ".join(f"threshold {t}: share passed {m:.2f}, accuracy of what passes "
                                      + f2(a) + f", test {acc[t]} %"
                                      for t, (m, a) in final.items())
    + f" (supervised {sup} %). The most pseudo-labels pass at {most}, the most accurate ones at {surest}; the best test"
    f" accuracy is at {best_t}"
    + (f" ({t_d:+.1f} points over the worst threshold, past the {t_noise:.1f}-point noise of two accuracies on these"
       " test faces), " if t_verdict == "above" else
       f", though only {t_d:+.1f} points over the worst threshold: not distinguishable within the {t_noise:.1f}-point"
       " noise of two accuracies on these test faces, so read what follows as a tendency of this seed, "
       if t_verdict != "-" else ", ")
    + ("between the extremes: too low a threshold trains on many wrong labels, too high a one on few faces."
       if between else "the " + ("lowest" if best_t == min(thresholds) else "highest") + " one tried: on this run "
       + ("quantity" if best_t == most else "quality") + " mattered more than the other side of the trade"
       + (". Add a middle threshold (0.8) to see whether one between beats both." if len(thresholds) < 3 else
          "; another seed or budget can move the balance.")),
    f"2. At {low} labels per class the share passed went from {m0:.2f} to {m1:.2f} while the accuracy of what passes went"
    f" from {f2(a0)} to {f2(a1)} (at {labels_per_class} labels, same threshold: {f2(b0)} to {f2(b1)}). "
    + ("The model became confident on most unlabeled faces while most of what passes stayed wrong"
       + (f" (its accuracy rose, but ended at {f2(a1)}, below the {f2(b1)} of the larger budget)" if a1 > a0 else "")
       + ": it trains on many of its own mistakes, the raw material of confirmation bias. " if bias else
       "The targets grew more right as the model grew confident: no sign of confirmation bias at this budget (lower"
       " `low_labels_per_class` or the threshold to find it). ")
    + f"FixMatch {low_t['fixmatch']} % against supervised {low_t['supervised']} % ({low_d:+.1f} points; two accuracies"
    f" on these test faces differ by up to {low_noise:.1f} by chance): "
    + (f"it still ends above supervised here, on targets mostly wrong: the right part of what passes outweighs the"
       " wrong part; whether that lead survives another `seed` is worth a try." if fm_wins and bias else
       "it ends above supervised." if fm_wins else
       "it ends below supervised." if low_verdict == "below" else "the two are not distinguishable."),
    "3. The weak view gives the most reliable guess; asking the model to give the same answer on a strongly distorted"
    " view forces it to learn what stays the same (the expression), not pixel details."])

# %% [markdown]
# **Where this lives in the library:** `ssfer_core.pseudo.threshold_mask` and
# `ssfer_core.pseudo.masked_cross_entropy` (pure functions), `ssfer_core.methods.fixmatch`
# (`FixMatch.train_step`, about 15 lines), the views in `ssfer_core.data.views`
# (`weak_view`, `strong_view`), and `ssfer_core.train.score_pseudo_labels` (how the trainer scores
# pseudo-labels against the hidden labels).
