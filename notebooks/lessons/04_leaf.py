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
# # Lesson 4: LEAF's gates and ambiguous labels
# **Goal:** see LEAF's two ideas at work, ambiguous pseudo-labels split into a *positive* set (the
# face may be one of these) and a *negative* set (it is none of these), and gates that route each
# face to experts; and see what the released code's *tied* experts do to the gates.
#
# When the model is unsure between *fear* and *surprise*, FixMatch either drops the face (below the
# threshold) or bets on one class. LEAF keeps both as "positive" and only teaches that the face is
# **not** any of the other classes. Its mixtures of experts are meant to separate what is about the
# expression (the *relevant* part) from what is not (identity, pose: the *agnostic* part), with a
# gate choosing experts per face.

# %% tags=["parameters"]
experts = ["tied_residual", "residual"]   # expert designs to train: the release's, and independent experts
labels_per_class = 50
steps = 1500
mass = 0.9                                # the set rule applied below to the trained model (training keeps the method's own): the
                                          # positive set closes when the top classes hold this much probability
seed = 0

# %%
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
from ssfer_core.data.bundle import load_data
from ssfer_core.data.readers import read_synthfacs_metadata
from ssfer_core.data.views import normalize, test_view
from ssfer_core.labels import class_names
from ssfer_study import features, lessons, plots

names = class_names(7)
runs, models = {}, {}
for design in experts:
    cfg = lessons.config("leaf", steps, labels_per_class, seed, [f"net.experts={design}"])
    runs[design] = lessons.train_run(cfg, f"lesson4_{design}")
data = load_data(cfg.data)
for design in experts:
    models[design] = lessons.load_model(f"lesson4_{design}", data)
display(lessons.summary({f"leaf ({d})": m for d, m in runs.items()}))

# %% [markdown]
# ## Positive and negative sets on unlabeled faces
# `pseudo.ambiguous_sets` sorts a face's class probabilities and keeps the top classes until they
# hold `mass` of the probability (at most 3): those are the positive set; the rest are negative.

# %%
method, model = models[experts[0]]
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
display(lessons.face_grid(data.train_images[idx[show]].numpy(), titles, ncols=6,
                          title="Ambiguous faces: the true class, and the positive set (+)"))

# %% [markdown]
# ## What the gates route, per design
# Mean gate weight of each expert for faces of each true class, at both levels. With the tied
# design every slot holds **the same** expert: whichever the gate picks, the output is identical.

# %%
sub = data.test_images[:600]
meta = read_synthfacs_metadata(cfg.data.root).loc[data.test_keys[:600]].assign(label=data.test_labels[:600].numpy())
tables, same = {}, {}
for design, (_, m) in models.items():
    f = features.extract(m, sub)
    for level in ("semantic", "instance"):
        if f"gates_{level}" in f:
            tables[(design, level)] = features.gate_table(f, meta, level)
    h = torch.as_tensor(f["feature"][:64])
    with torch.no_grad():  # every expert's output on the same faces: [experts, faces, dim]
        ex = m.instance.experts  # the tied design keeps a list of one module; the others batch their experts
        outs = torch.stack([e(h) for e in ex]) if isinstance(ex, torch.nn.ModuleList) else ex(h).transpose(0, 1)
    same[design] = (outs - outs[0]).abs().max().item()
fig = plots.gate_weights(tables)
display(fig)
plots.close(fig)
display(pd.Series(same, name="largest difference between two experts' outputs on the same faces").to_frame())
acc = {d: lessons.accuracy(m) for d, m in runs.items()}
lessons.dump({"accuracy": acc, "expert_difference": same, "set_holds_truth": float(in_set.mean()),
              "random_set_would": float(chance.mean()), "top1_right": float(top1.mean())}, "lesson4")

# %% [markdown]
# ## Questions
# 1. How often does the positive set hold the true class, compared with how often the top-1 guess
#    is right? What does LEAF gain by training on sets instead of single labels?
# 2. With the release's tied experts, what is the largest difference between two experts' outputs?
#    What does that mean for the gates, and for the "relevant" and "agnostic" components?
# 3. With independent experts, do the gate rows differ between classes? Would you say the gates
#    have learned anything about the expression?

# %% jupyter={"outputs_hidden": true, "source_hidden": true}
set_noise = 1.96 * float(np.sqrt(chance.mean() * (1 - chance.mean()) / len(in_set)))  # 95 % noise of a share
lines = [f"1. LEAF reached {', '.join(f'{a:.1f} % ({d})' for d, a in acc.items())} on the test faces. On the unlabeled faces"
         f" above, the positive set holds the true class for {in_set.mean():.1%}, the top-1 guess is right for {top1.mean():.1%}"
         f", and a random set of the same sizes (mean {size.float().mean():.2f} classes) would hold it for {chance.mean():.1%}: "
         + ("the sets carry information beyond their size. " if in_set.mean() > chance.mean() + set_noise else
            "the sets hold the truth less often than random sets of their size: this model's probabilities point away"
            " from the true class. " if in_set.mean() < chance.mean() - set_noise else
            f"the sets do no better than their size alone (within the {set_noise:.1%} noise of a share of"
            f" {len(in_set)} faces): this model's probabilities say little yet. ")
         + "(The set always contains the top-1 class, so it can only hold the truth more often.) Training on the set never"
         " teaches a wrong single class for an ambiguous face: it only pushes down classes that are very likely wrong."]
if "tied_residual" in same:
    tied = same["tied_residual"]
    lines.append(f"2. Tied experts: the largest difference between two experts' outputs is {tied:.1e}. "
                 + ("Every slot is one module, so whichever expert the gate picks the output is the same: the gates get no"
                    " gradient, and the 'relevant' and 'agnostic' parts are one computation. Nothing is decoupled in the"
                    " released code." if tied < 1e-6 else "The experts differ, so the gates can route."))
spread = {d: float(t.groupby("label")[[c for c in t.columns if c.startswith("gate_")]].mean().std().mean())
          for (d, lvl), t in tables.items() if lvl == "instance"}
if spread:
    lines.append("3. Mean spread of an expert's gate weight across the classes (instance level): "
                 + ", ".join(f"{d} {v:.3f}" for d, v in spread.items())
                 + ". A spread near 0 means every expression is routed alike: the gates have learned nothing about the"
                 " expression; a larger one means some experts serve some expressions more (look at the rows in the figure)."
                 + (f" Here nothing stops the gates from collapsing: the load-balancing term is off (`net.balance_coef` ="
                    f" {cfg.net.balance_coef}), so a gate that favours one expert early feeds it all the gradient and"
                    " keeps favouring it; set `net.balance_coef` above 0 in the experiment's overrides to penalise"
                    " uneven routing." if cfg.net.balance_coef == 0 else ""))
lessons.answer("lesson4", lines)

# %% [markdown]
# **Where this lives in the library:** `ssfer_core.pseudo.ambiguous_sets`,
# `ssfer_core.pseudo.positive_negative_loss` and `ssfer_core.pseudo.category_level_loss` (the
# category level, pure functions), `ssfer_core.models.leaf_blocks.MixtureOfExperts` (gates and
# experts: `experts=tied_residual|residual|linear`), `ssfer_core.methods.leaf` (`Leaf.train_step`)
# and `ssfer_study.features` (gate tables and decoupling probes).
