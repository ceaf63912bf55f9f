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
# # Lesson 4: LEAF's gates and ambiguous labels
# **Goal:** see LEAF's two ideas at work, ambiguous pseudo-labels split into a *positive* set (the
# face may be one of these) and a *negative* set (it is none of these), and gates that route each
# face to experts; see why LEAF needs a long training run, and what the released code's *tied*
# experts and a missing load-balancing term do to the gates.
#
# When the model is unsure between *fear* and *surprise*, FixMatch either drops the face (below the
# threshold) or bets on one class. LEAF keeps both as "positive" and only teaches that the face is
# **not** any of the other classes. Its mixtures of experts are meant to separate what is about the
# expression (the *relevant* part) from what is not (identity, pose: the *agnostic* part), with a
# gate choosing experts per face.
#
# LEAF learns slowly: a 1,500-step run, as in the other lessons, ends below supervised learning. So
# this lesson reads a LEAF and a supervised run that the **lesson kit** trained beforehand on the
# study's converged recipe (13,500 steps, `make lessons-kit`, about 12 minutes once), and trains live
# only what needs no more than a minute: two short runs that show what the gates do.

# %% tags=["parameters"]
mass = 0.9            # the set rule applied below to the trained model (training keeps the method's own): the
                      # positive set closes when the top classes hold this much probability; no retraining
experts = "residual"  # the live runs' expert design: independent experts ("tied_residual" is the release's)
balance_coef = 0.01   # the load-balancing weight of the second live run (the first has 0, as the release)
live_steps = 1500
labels_per_class = 50
seed = 0

# %%
import json
import os
from pathlib import Path

if not Path("params.yaml").exists():  # opened from notebooks/lessons/ in JupyterLab
    os.chdir("../..")
# %matplotlib inline
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display

from ssfer_core import pseudo
from ssfer_core.data.loading import load_data
from ssfer_core.data.readers import read_synthfacs_metadata
from ssfer_core.data.views import normalize, test_view
from ssfer_core.labels import class_names
from ssfer_study.stages import features, plots, tables
from ssfer_study.lessons import kit

names = class_names(7)
# the kit's converged runs: made by `make lessons-kit` (or `make lessons`); about 12 minutes here if they are not there yet
conv = {m: json.loads((kit.converged(m) / "metrics.json").read_text()) for m in kit.CONVERGED}
data = load_data(kit.converged_config("leaf").data)
display(kit.summary({f"{m}, kit (converged recipe)": r for m, r in conv.items()}))
above, gap, noise = kit.versus(conv["leaf"], conv["supervised"])

# %% [markdown]
# ## Why LEAF needs the long run
# Left: test accuracy along both kit runs (an evaluation every 675 steps). Right: how large the
# logits are at a few points of the runs (on 600 test faces: the top logit minus the mean logit).
# LEAF's classifier sits on mixtures of experts whose outputs are not normalised, and it only gives
# confident probabilities once those outputs have grown; its pseudo-labels wait for confidence.

# %%
sub, sub_y = data.test_images[:600], data.test_labels[:600]
growth = []
for m in kit.CONVERGED:
    for step in kit.snapshots(m):
        logits = torch.as_tensor(features.extract(kit.load_snapshot(m, step, data)[1], sub)["logits"])
        p = logits.softmax(-1)
        growth.append({"method": m, "step": step, "accuracy (%)": round(100 * (p.argmax(-1) == sub_y).float().mean().item(), 1),
                       "top logit - mean logit": round((logits.max(-1).values - logits.mean(-1)).mean().item(), 2),
                       "mean top probability": round(p.max(-1).values.mean().item(), 3)})
growth = pd.DataFrame(growth)
mask = tables.train_series(kit.KIT / "converged", "leaf", "pl_pass_rate")
plt = kit.pyplot()
fig, axes = plt.subplots(1, 3, figsize=(13, 3.3))
for m, r in conv.items():
    curve = pd.DataFrame(r["curve"])
    axes[0].plot(curve["step"], 100 * curve["ema_acc"], marker="o", ms=3, label=m)
    g = growth[growth["method"] == m]
    axes[1].plot(g["step"], g["top logit - mean logit"], marker="o", label=m)
axes[0].set_ylim(0, 100)
axes[0].set_ylabel("test accuracy (%)")
axes[0].set_title("Accuracy along the kit's runs", fontsize=9)
axes[1].set_ylim(bottom=0)
axes[1].set_ylabel("top logit - mean logit")
axes[1].set_title("How large the logits grow", fontsize=9)
if mask is not None:
    axes[2].plot(mask["step"], mask["value"].rolling(20, min_periods=1).mean(), color="tab:orange")
axes[2].set_ylim(0, 1)
axes[2].set_ylabel("share of unlabeled faces trained on")
axes[2].set_title("LEAF's pseudo-labels (share passed, smoothed)", fontsize=9)
for ax in axes:
    ax.set_xlabel("step")
axes[0].legend(fontsize=7)
fig.tight_layout()
display(fig)
plots.close(fig)
display(growth.pivot(index="step", columns="method"))

# %% [markdown]
# ## Positive and negative sets on unlabeled faces
# `pseudo.ambiguous_sets` sorts a face's class probabilities and keeps the top classes until they
# hold `mass` of the probability (at most 3): those are the positive set; the rest are negative. A
# set of 3 classes out of 7 holds the truth 3/7 of the time by chance alone, so each set size is
# read against a random set of that size.

# %%
method, model = kit.load_snapshot("leaf", max(kit.snapshots("leaf")), data)
idx = data.unlabeled_idx[:400]
truth = data.train_labels[idx].numpy()
with torch.no_grad():
    probs = model(normalize(test_view(data.train_images[idx])))["logits"].softmax(-1)
positive, size, _ = pseudo.ambiguous_sets(probs, mass=mass)
in_set = positive[torch.arange(len(idx)), torch.as_tensor(truth)].numpy()
top1 = probs.argmax(-1).numpy() == truth
chance = size.numpy() / len(names)  # how often a random set of that many classes would hold the true class
stats = pd.DataFrame({"positive-set size": size.numpy(), "true class in the set": in_set, "top-1 right": top1,
                      "a random set that size": chance})
display(stats.groupby("positive-set size").agg(faces=("top-1 right", "size"), set_holds_truth=("true class in the set", "mean"),
                                               random_set_would=("a random set that size", "mean"),
                                               top1_right=("top-1 right", "mean")).round(3))
show = np.flatnonzero(size.numpy() > 1)[:12]
titles = [f"true {names[truth[i]]}\n+ " + ", ".join(names[c][:5] for c in np.flatnonzero(positive[i].numpy()))
          for i in show]
if len(show):
    display(kit.face_grid(data.train_images[idx[show]].numpy(), titles, ncols=6,
                              title="Ambiguous faces: the true class, and the positive set (+)"))

# %% [markdown]
# ## The release's tied experts
# The kit's LEAF uses the released code's experts: **one** module in every expert slot. The largest
# difference between two experts' outputs on the same faces:

# %%
def expert_difference(net, faces) -> float:
    """The largest difference between two experts' outputs on the same faces (instance level)."""
    h = torch.as_tensor(features.extract(net, faces)["feature"])
    with torch.no_grad():  # every expert's output: [experts, faces, dim]
        ex = net.instance.experts  # the tied design keeps a list of one module; the others batch their experts
        outs = torch.stack([e(h) for e in ex]) if isinstance(ex, torch.nn.ModuleList) else ex(h).transpose(0, 1)
    return (outs - outs[0]).abs().max().item()


tied = expert_difference(model, sub[:64])
display(Markdown(f"Largest difference between two experts' outputs, kit LEAF (tied experts): **{tied:.1e}**"))

# %% [markdown]
# ## Live: what the gates do with independent experts, with and without load balancing
# Two short LEAF runs with independent experts (`experts`), one without the load-balancing term (as the
# release) and one with it (`balance_coef`). The heatmaps give the mean gate weight of each expert for
# faces of each true class on the test faces (no gate noise at test time); the curve, how unevenly the
# experts are used during training, where the gate adds noise before it picks its top expert (the
# balancing term itself: squared coefficients of variation of the experts' shares, 0 when even). The
# table adds the largest gate weight each run learned: the gates start at zero.

# %%
live, nets, gate_tabs = {}, {}, {}
meta = read_synthfacs_metadata(kit.files()["root"]).loc[data.test_keys[:600]].assign(label=sub_y.numpy())
for coef in (0.0, balance_coef):
    name = f"lesson4_{experts}_balance{coef:g}"
    cfg = kit.config("leaf", live_steps, labels_per_class, seed, [f"net.experts={experts}", f"net.balance_coef={coef}"])
    live[coef] = kit.train_run(cfg, name)
    nets[coef] = kit.load_model(name, data)[1]
    f = features.extract(nets[coef], sub)
    for level in ("semantic", "instance"):
        if f"gates_{level}" in f:
            gate_tabs[(f"balance_coef {coef:g}", level)] = features.gate_table(f, meta, level)
fig = plots.gate_weights(gate_tabs)
display(fig)
plots.close(fig)
use = []  # per run and level: how many experts carry the gates, and how much the routing depends on the class
for (run, level), t in gate_tabs.items():
    cols = [c for c in t.columns if c.startswith("gate_")]
    share = t[cols].mean()  # each expert's share of the gate weight over the faces
    moe = getattr(nets[float(run.split()[-1])], level)  # the level's mixture of experts: its gate weights
    use.append({"run": run, "level": level, "experts with >= 5 % of the weight": int((share >= 0.05).sum()),
                "largest learned gate weight": float(moe.w_gate.detach().abs().max()),
                "largest expert's share": round(float(share.max()), 3),
                "spread across classes": round(float(t.groupby("label")[cols].mean().std().mean()), 3)})
use = pd.DataFrame(use)
display(use)
fig, ax = plt.subplots(figsize=(6, 3))
for coef in live:
    b = kit.series(f"lesson4_{experts}_balance{coef:g}", "balance")
    if b is not None:
        ax.plot(b["step"], b["value"].rolling(5, min_periods=1).mean(), label=f"balance_coef {coef:g}")
ax.set_ylim(bottom=0)
ax.set_xlabel("step")
ax.set_ylabel("uneven use of the experts")
ax.set_title("Load imbalance during training (both levels, smoothed)", fontsize=9)
ax.legend(fontsize=7)
fig.tight_layout()
display(fig)
plots.close(fig)
display(kit.summary({f"live, balance_coef {c:g}": r for c, r in live.items()}))
kit.dump({"converged_accuracy": {m: kit.accuracy(r) for m, r in conv.items()}, "leaf_vs_supervised": [above, gap, noise],
              "growth": growth.to_dict("records"), "expert_difference_tied": tied, "set_holds_truth": float(in_set.mean()),
              "random_set_would": float(chance.mean()), "top1_right": float(top1.mean()),
              "gate_use": use.to_dict("records"), "live_accuracy": {str(c): kit.accuracy(r) for c, r in live.items()}},
             "lesson4")

# %% [markdown]
# ## Questions
# 1. Is the kit's LEAF above its supervised run? Where along training does LEAF overtake it, and
#    what happens to its logits and to the share of unlabeled faces it trains on until then?
# 2. How often does the positive set hold the true class, compared with the top-1 guess and with a
#    random set of the same size? What does LEAF gain by training on sets instead of single labels?
# 3. With the release's tied experts, what is the largest difference between two experts' outputs?
#    What does that mean for the gates, and for the "relevant" and "agnostic" components?
# 4. With independent experts and no load balancing, how many experts carry the gates at test time,
#    and what did the gates learn (their largest weight)? What changes with the balancing term, and
#    do the gate rows then differ between classes?

# %% jupyter={"outputs_hidden": true, "source_hidden": true}
acc = {m: kit.accuracy(r) for m, r in conv.items()}
word = {"above": "above", "below": "below", "not distinguishable": "not distinguishable from"}
curve = {m: pd.DataFrame(r["curve"]).set_index("step")["ema_acc"] * 100 for m, r in conv.items()}
ahead = curve["leaf"] > curve["supervised"] + noise  # past the noise of a difference between two evaluations
overtakes = next((int(s) for s in ahead.index if ahead.loc[s:].all()), None)
g = growth.set_index(["method", "step"])["top logit - mean logit"]
first, last = min(kit.snapshots("leaf")), max(kit.snapshots("leaf"))
lines = [f"1. Kit runs (SynthFACS, the study's converged recipe, seed 0): LEAF {acc['leaf']:.1f} %, supervised"
         f" {acc['supervised']:.1f} %: LEAF is {word[above]} supervised ({gap:+.1f} points; chance alone moves two"
         f" accuracies on these {len(data.test_labels)} test faces up to {noise:.1f} points apart, 95 %). "
         + (f"LEAF stays ahead of supervised by more than that from step {overtakes} on. " if overtakes is not None else
            "LEAF never stays ahead of supervised by more than that. ")
         + f"Its logits grow from {g['leaf', first]:.2f} (top minus mean, step {first}) to {g['leaf', last]:.2f} (step {last}),"
         f" supervised's from {g['supervised', first]:.2f} to {g['supervised', last]:.2f}"
         + (f"; the share of unlabeled faces passing its class thresholds goes from"
            f" {mask[mask['step'] <= 500]['value'].mean():.2f} (first 500 steps) to"
            f" {mask[mask['step'] > mask['step'].max() - 500]['value'].mean():.2f} (last 500; its category-level loss"
            " trains on every face, this is the share with a confident single class)" if mask is not None else "")
         + ". Until its outputs are large and confident, LEAF's thresholds let few pseudo-labels through and its"
         " unlabeled losses teach little; a short run stops it there."]
set_noise = 1.96 * float(np.sqrt(chance.mean() * (1 - chance.mean()) / len(in_set)))  # 95 % noise of a share
lines.append(f"2. On 400 unlabeled faces the kit's LEAF puts the true class in the positive set for {in_set.mean():.1%},"
             f" its top-1 guess is right for {top1.mean():.1%}, and a random set of the same sizes (mean"
             f" {size.float().mean():.2f} classes) would hold it for {chance.mean():.1%}: "
             + ("the sets carry information beyond their size. " if in_set.mean() > chance.mean() + set_noise else
                "the sets hold the truth less often than random sets of their size. " if in_set.mean() < chance.mean() - set_noise
                else f"the sets do no better than their size alone (within the {set_noise:.1%} noise of a share of {len(in_set)} faces). ")
             + "(The set always contains the top-1 class, so it can only hold the truth more often.) Training on the set never"
             " teaches a wrong single class for an ambiguous face: it only pushes down classes that are very likely wrong.")
lines.append(f"3. Tied experts: the largest difference between two experts' outputs is {tied:.1e}. "
             + ("Every slot is one module, so whichever expert the gate picks the output is the same: the gates get no"
                " gradient, and the 'relevant' and 'agnostic' parts are one computation. Nothing is decoupled in the"
                " released code." if tied < 1e-6 else "The experts differ, so the gates can route."))
u = use.set_index(["run", "level"])
off, on = f"balance_coef {0.0:g}", f"balance_coef {balance_coef:g}"
biggest = "largest expert's share"
levels = [lvl for lvl in ("semantic", "instance") if (off, lvl) in u.index]
n_experts = len([c for c in gate_tabs[(off, levels[0])].columns if c.startswith("gate_")])
carry = "experts with >= 5 % of the weight"
spread_out = [lvl for lvl in levels if u.loc[(on, lvl), carry] > u.loc[(off, lvl), carry]]
still = [lvl for lvl in levels if lvl not in spread_out]
lines.append(f"4. Experts carrying at least 5 % of the gate weight, of {n_experts}: "
             + "; ".join(f"{lvl} level {u.loc[(off, lvl), carry]} without balancing, {u.loc[(on, lvl), carry]} with"
                         f" balance_coef {balance_coef:g} (largest share {u.loc[(off, lvl), biggest]:.2f} and"
                         f" {u.loc[(on, lvl), biggest]:.2f})" for lvl in levels)
             + ". Why: with top-1 gates (the release's) the chosen expert's weight is the softmax of one logit, always 1,"
             " so the classification losses send the gate no gradient; only the balancing term trains it. Largest learned"
             " gate weight without the term: "
             + ", ".join(f"{lvl} {u.loc[(off, lvl), 'largest learned gate weight']:.1e}" for lvl in levels)
             + (" (the initial zeros: the gate never trained). During training the gate's noise picks experts at random"
                " (the imbalance curve is low in both runs); at test time, without noise, every face's gate logits are"
                " equal and one expert takes every face." if max(u.loc[(off, lvl), 'largest learned gate weight']
                                                                  for lvl in levels) == 0 else ".")
             + " With the term: " + ", ".join(f"{lvl} {u.loc[(on, lvl), 'largest learned gate weight']:.1e}" for lvl in levels)
             + "; "
             + (f"it spread the test-time weight at the {' and '.join(spread_out)} level" if spread_out
                else "at this weight it spread nothing")
             + (f"; at the {' and '.join(still)} level it did not break the collapse at this weight (try a larger"
                " `balance_coef`, e.g. 0.1 or 1)" if still else "")
             + ". Spread of an expert's weight across the classes: "
             + "; ".join(f"{lvl} {u.loc[(off, lvl), 'spread across classes']:.3f} without,"
                         f" {u.loc[(on, lvl), 'spread across classes']:.3f} with" for lvl in levels)
             + ". A spread near 0 means every expression is routed alike, so even spread-out gates need not have"
             " learned anything about the expression.")
kit.answer("lesson4", lines)

# %% [markdown]
# **Where this lives in the library:** `ssfer_core.pseudo.ambiguous_sets`,
# `ssfer_core.pseudo.positive_negative_loss` and `ssfer_core.pseudo.category_level_loss` (the
# category level, pure functions), `ssfer_core.models.leaf_blocks.MixtureOfExperts` (gates, experts
# `experts=tied_residual|residual|linear`, and the load-balancing term `balance`, weighted by
# `net.balance_coef`), `ssfer_core.methods.leaf` (`Leaf.train_step`), `ssfer_study.stages.features` (gate
# tables) and `ssfer_study.lessons.kit.converged` (the kit's converged runs).
