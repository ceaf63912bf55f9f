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
# # Lesson 5: add your own method
# **Goal:** write a semi-supervised method of about 30 lines, register it, train it and place it in
# the same table as supervised and FixMatch, with nothing else in the project changed.
#
# A method is a class with one function, `train_step(labeled, unlabeled, step)`: it gets a batch of
# labeled faces (`x`, `y`) and the unlabeled views it asked for, and returns a loss and a dict of
# numbers to log. The training loop, optimiser, EMA, evaluation, checkpoints and logging are the
# library's. Our example is the **Π-model** (Laine & Aila, 2017): the prediction on a strong view
# of an unlabeled face should match the prediction on a weak view. No threshold: every unlabeled
# face trains, softly.

# %% tags=["parameters"]
consistency_weight = 1.0   # weight of the unlabeled consistency term: try 0, 0.3, 3
fixmatch_threshold = 0.95  # FixMatch's published default; lesson 2 shows how much the choice moves it at this budget
labels_per_class = 50
steps = 1500
seed = 0

# %%
import os
from pathlib import Path

if not Path("params.yaml").exists():  # opened from notebooks/lessons/ in JupyterLab
    os.chdir("../..")
# %matplotlib inline
import torch.nn.functional as F
from IPython.display import Markdown, display

from ssfer_core.methods import METHODS, SSLMethod, register_method
from ssfer_study.lessons import kit
from ssfer_study.stages import plots

# %% [markdown]
# ## The method: 30 lines

# %%
class PiModel(SSLMethod):
    """Labeled cross-entropy + the squared distance between the class probabilities of a strong and a
    weak view of each unlabeled face (the weak one is the fixed target)."""

    unlabeled_views = ("weak", "strong")   # the views the trainer builds for us

    def __init__(self, weight, model, ctx):
        super().__init__(None, model, ctx)
        self.weight = weight

    def train_step(self, labeled, unlabeled, step):
        out_l, out_w, out_s = self.forward_views([labeled["x"], unlabeled["weak"], unlabeled["strong"]])
        loss_s = F.cross_entropy(out_l["logits"], labeled["y"])
        target = out_w["logits"].detach().softmax(-1)
        loss_u = ((out_s["logits"].softmax(-1) - target) ** 2).sum(-1).mean()
        loss = loss_s + self.weight * loss_u
        # "pseudo": the trainer scores these labels against the hidden truth (every face "passes" here)
        logs = {"loss_s": loss_s.item(), "loss_u": loss_u.item(), "pl_pass_rate": 1.0,
                "pseudo": {"pl_": (target, target.new_ones(len(target)))}}
        return loss, logs


if "pi_model" in METHODS:   # re-running this cell replaces the method
    METHODS.remove("pi_model")


@register_method("pi_model")
def pi_model(model, ctx):
    """Pi-model: consistency between a weak and a strong view (a lesson's method)."""
    return PiModel(consistency_weight, model, ctx)


# %% [markdown]
# ## Train it beside the four methods of the course, same labels, steps and recipe
# Supervised, FixMatch, SIT-FER and LEAF at this lesson's budget (most were trained by lessons 1-4 and are
# reused), and your method. Beside them, the default study's numbers for the same four methods trained to
# the end (13,500 steps, three seeds, each its own labeled split): a short budget and a converged one need
# not rank methods alike.

# %%
# the baselines are reused if an earlier lesson trained the same config; the Pi-model always trains (its weight
# is a notebook variable, not part of the config)
overrides = {"fixmatch": [f"fixmatch.threshold={fixmatch_threshold}"]}
methods = ("supervised", "fixmatch", "sitfer", "leaf", "pi_model")
runs = {m: kit.train_run(kit.config(m, steps, labels_per_class, seed, overrides.get(m, [])), f"lesson5_{m}",
                             reuse=m != "pi_model")
        for m in methods}
study = kit.study_spread()  # the study's seed spread, borrowed (None if reports/default/metrics.json is missing)
borrowed = float(study["study sd over seeds"].loc[["supervised", "fixmatch"]].max()) if study is not None else None


def seed_sd(m):
    """A run's seed-to-seed sd, borrowed from the study (the Pi-model: the larger of supervised's and FixMatch's)."""
    return float(study["study sd over seeds"].get(m, borrowed)) if study is not None else 0.0


table = kit.summary(runs)
compared = [kit.versus(runs[m], runs["supervised"], (seed_sd(m), seed_sd("supervised"))) for m in methods]
table["vs supervised (points)"] = ["-" if m == "supervised" else f"{d:+.1f}" for m, (_, d, _) in zip(methods, compared)]
table["noise (95 %)"] = ["-" if m == "supervised" else f"{n:.1f}" for m, (_, _, n) in zip(methods, compared)]
table["verdict"] = ["-" if m == "supervised" else v for m, (v, _, _) in zip(methods, compared)]
if study is not None:
    table = table.join(study.round(1), on="method").fillna("-")
display(table)
plt = kit.pyplot()
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
axes[0].bar(table["method"], table["test accuracy (%)"], color=["tab:grey", "tab:blue", "tab:green", "tab:red", "tab:orange"])
axes[0].set_ylim(0, 100)
axes[0].set_ylabel("test accuracy (%)")
axes[0].set_title(f"Your method in the table (SynthFACS, {labels_per_class} labels per class, {steps} steps)", fontsize=9)
axes[0].tick_params(axis="x", labelsize=8)
for m in ("fixmatch", "pi_model"):
    s = kit.series(f"lesson5_{m}", "pl_acc")
    if s is not None:
        axes[1].plot(s["step"], s["value"].rolling(5, min_periods=1).mean(), label=m)
axes[1].set_ylim(0, 1)
axes[1].set_xlabel("step")
axes[1].set_ylabel("accuracy of the weak-view guess")
axes[1].set_title("How right the unlabeled targets are, over training", fontsize=9)
axes[1].legend(fontsize=7)
fig.tight_layout()
display(fig)
plots.close(fig)
kit.dump({"table": table.to_dict("records"), "consistency_weight": consistency_weight}, "lesson5")

# %% [markdown]
# ## Questions
# 1. Does your Π-model beat supervised? Does it beat FixMatch, past the noise? Re-run with
#    `consistency_weight = 0`: what method is that, and what accuracy does it get? Do the four methods
#    of the course rank here as they do trained to the end in the study?
# 2. The Π-model trains on *every* unlabeled face, FixMatch only on confident ones. Which is more
#    exposed to wrong targets early in training, and how does the soft target soften that?
# 3. What would you change in `train_step` to turn the Π-model into FixMatch?

# %% jupyter={"outputs_hidden": true, "source_hidden": true}
acc = table.set_index("method")["test accuracy (%)"]
pi, sup, fm = acc["pi_model"], acc["supervised"], acc["fixmatch"]
vs_sup, d_sup, noise = compared[methods.index("pi_model")]  # the table's row: the Pi-model against supervised
vs_fm, d_fm, noise_fm = kit.versus(runs["pi_model"], runs["fixmatch"], (seed_sd("pi_model"), seed_sd("fixmatch")))
word = {"above": "above", "below": "below", "not distinguishable": "not distinguishable from"}
spread_source = (f"chance on these test faces plus the seed-to-seed spread borrowed from the default study"
                 f" ({kit.STUDY_METRICS}: each method's sd over its seeds; the Pi-model gets {borrowed:.1f} points,"
                 " the larger of supervised's and FixMatch's)"
                 if study is not None else "chance on these test faces alone (the study's seed spread is not there:"
                 " `make study` writes it), so another seed may move them further")
verdict = (f"{word[vs_sup]} supervised ({d_sup:+.1f} points, noise {noise:.1f}) and {word[vs_fm]} FixMatch ({d_fm:+.1f},"
           f" noise {noise_fm:.1f}); the noise is the 95 % band of {spread_source}")
four = [m for m in methods if m != "pi_model"]
here = sorted(four, key=lambda m: -acc[m])
ranked = " > ".join(here)
there = sorted(four, key=lambda m: -study.loc[m, "study mean (%)"]) if study is not None else None
apart = [m for m in four[1:] if table.set_index("method").loc[m, "verdict"] != "not distinguishable"]
kit.answer("lesson5", [
    f"1. Pi-model {pi} %, supervised {sup} %, FixMatch {fm} % (weight {consistency_weight}, SynthFACS): {verdict}. With"
    " weight 0 the unlabeled term vanishes and it is supervised learning (the unlabeled views are still computed,"
    " and still pass through batch normalisation), so it should land near the supervised row: try it."
    f" The four methods of the course here, at {steps} steps: {ranked} by accuracy, and "
    + (f"{', '.join(apart)} apart from supervised past the noise" if apart else "none apart from supervised past the noise")
    + (f"; trained to the end in the study: {' > '.join(there)}"
       + (" (the same order)" if there == here else ": another order, so a ranking at a short budget says how fast a"
          " method learns, not where it ends (lesson 4 shows why LEAF is slow)") + "." if there is not None else "."),
    "2. The Pi-model: early guesses are poor and it learns from all of them. A soft target (probabilities, not a class)"
    " that is unsure asks little, so wrong-but-unsure guesses do less harm than FixMatch's hard labels would;"
    " FixMatch instead keeps only confident guesses, and is exposed when a confident guess is wrong.",
    "3. Replace the squared distance by a cross-entropy to the argmax of the weak view, kept only where its top"
    " probability passes a threshold: `ssfer_core.pseudo.threshold_mask` and `masked_cross_entropy`."])

# %% [markdown]
# **Where this lives in the library:** `ssfer_core.methods.base.SSLMethod` (what a method is),
# `ssfer_core.methods.registry.register_method` (how the config, the trainer and the study find it;
# with a settings dataclass a method also gets its own config section, as `methods/fixmatch.py`
# shows), `ssfer_core.train.train` (the loop that calls `train_step`). To put it in the study, add a
# run such as `pi_model_s0: {group: main, method: pi_model}` to a profile, with the method in a
# module of `ssfer_core/methods/`: that file and its settings are all it takes. What the report
# should draw of it (its pseudo-label sources, its own figures), its cost per step and its lessons'
# step size are declared with `register_method` (`diagnostics=`, `cost=`, `lesson_lr=`), as
# `methods/sitfer.py` does; the tables, figures and the `train` stage's scheduler read them there.
