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
# # Lesson 3: SIT-FER's three opinions
# **Goal:** see the three independent guesses SIT-FER makes for each unlabeled face, where they
# agree and disagree, and what its text encoder's class embeddings look like.
#
# SIT-FER asks three "levels" for a face's class: the **semantic** level (the classifier's
# logits), the **text** level (how close the face's feature is to an embedding of a sentence such
# as "A face image of happiness"), and the **instance** level (how close it is to the labeled faces
# of each class, kept in a memory). It fuses them into one pseudo-label. Three opinions are worth
# more than one when they make *different* mistakes.

# %% tags=["parameters"]
text_encoder = "minilm"   # "minilm" (a sentence encoder), "random" (random class vectors) or "official" (the release's untrained encoder)
labels_per_class = 50
steps = 1500
n_faces = 600             # unlabeled faces to ask
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

from ssfer_core.data.loading import load_data
from ssfer_core.data.views import normalize, test_view
from ssfer_core.labels import class_names
from ssfer_core.models.text import class_prompts
from ssfer_study.lessons import kit
from ssfer_study.stages import plots

names = class_names(7)
cfg = kit.config("sitfer", steps, labels_per_class, seed, [f"sitfer.text_encoder={text_encoder}"])
metrics = kit.train_run(cfg, "lesson3_sitfer")
data = load_data(cfg.data)
method, model = kit.load_model("lesson3_sitfer", data)
display(Markdown(f"SIT-FER trained for {steps} steps on {labels_per_class} labels per class: "
                 f"**{kit.accuracy(metrics):.1f} %** test accuracy (SynthFACS)."))

# %% [markdown]
# ## The text level's class embeddings
# Each class is the embedding of one sentence. How similar are the classes to each other? A face
# feature is pulled toward its class's vector (the MSSL loss), so similar vectors make classes
# harder to separate at this level.

# %%
prompts = class_prompts(7, cfg.sitfer.prompt, cfg.sitfer.descriptions)
sim = (method.text @ method.text.T).numpy()
plt = kit.pyplot()
import seaborn as sns

fig, ax = plt.subplots(figsize=(5, 4))
sns.heatmap(pd.DataFrame(sim, index=names, columns=names), annot=True, fmt=".2f", cmap="Blues", ax=ax, cbar=False)
ax.set_title(f"Cosine similarity of the class prompts ({text_encoder})", fontsize=9)
ax.set_xlabel("class")
ax.set_ylabel("class")
display(Markdown(f"Prompt: *{prompts[3]}*"), fig)
plots.close(fig)

# %% [markdown]
# ## Three opinions on unlabeled faces
# `SitFer.levels` returns each level's scores for a batch; their argmax is that level's guess.

# %%
idx = data.unlabeled_idx[:n_faces]
x = normalize(test_view(data.train_images[idx]))
with torch.no_grad():
    scores = method.levels(model(x), instance_on=True)
    fused = method.fuse(scores, instance_on=True)
truth = data.train_labels[idx].numpy()   # hidden from the method; we use it to score the guesses
guess = pd.DataFrame({lvl: s.argmax(-1).numpy() for lvl, s in scores.items()} | {"fused": fused.argmax(-1).numpy()})
levels = [c for c in guess.columns if c != "fused"]
n_distinct = guess[levels].nunique(axis=1)
guess["agreement"] = n_distinct.map({1: "all three agree", 2: "two agree", 3: "all differ"})
guess["fused right"] = guess["fused"] == truth
per_level = pd.Series({lvl: (guess[lvl] == truth).mean() for lvl in levels + ["fused"]}, name="accuracy on these faces")
by_agreement = guess.groupby("agreement")["fused right"].agg(["size", "mean"]).rename(
    columns={"size": "faces", "mean": "fused label right"}).reindex(["all three agree", "two agree", "all differ"]).dropna()
display(per_level.round(3).to_frame(), by_agreement.round(3))
fig, ax = plt.subplots(figsize=(5, 3))
few = by_agreement["faces"] < 30  # a share over so few faces moves by 10+ points with a handful of them
ax.bar(by_agreement.index, by_agreement["fused label right"], color=["lightgrey" if f else "tab:blue" for f in few])
for i, (n, v) in enumerate(zip(by_agreement["faces"], by_agreement["fused label right"])):
    ax.text(i, v + 0.02, f"{int(n)} faces" + (" (too few to read)" if n < 30 else ""), ha="center", fontsize=7)
ax.set_ylim(0, 1.15)
ax.set_ylabel("share of fused pseudo-labels right")
ax.set_title("Is the fused pseudo-label right more often when the levels agree?", fontsize=9)
display(fig)
plots.close(fig)

# %%
disagree = np.flatnonzero(n_distinct.to_numpy() > 1)[:16]
titles = [f"true {names[truth[i]]}\n" + "\n".join(f"{lvl[:3]}: {names[guess.loc[i, lvl]]}" for lvl in levels)
          for i in disagree]
display(kit.face_grid(data.train_images[idx[disagree]].numpy(), titles,
                          title="Faces where the levels disagree (sem / tex / ins guesses)"))
kit.dump({"per_level": per_level.to_dict(), "by_agreement": by_agreement.to_dict()}, "lesson3")

# %% [markdown]
# ## Questions
# 1. Which level is most accurate on its own, and is the fused label better than the best level?
# 2. How much more often is the fused label right when all three levels agree than when they do not?
#    How could a method use that?
# 3. How similar are the class prompts to each other with this encoder, with random class vectors
#    (`text_encoder = "random"`) and with the released code's untrained encoder (`"official"`)?
#    What does a sentence encoder give the text level that fixed vectors do not?

# %% jupyter={"outputs_hidden": true, "source_hidden": true}
from ssfer_core.models.text import text_embeddings

best = per_level.drop("fused").idxmax()
rest = guess.loc[guess["agreement"] != "all three agree", "fused right"].mean()
agree = by_agreement["fused label right"].get("all three agree", float("nan"))
others = [e for e in ("minilm", "random", "official") if e != text_encoder]
off_diagonal = {}
dims = {"random": model.feat_dim, "official": model.feat_dim, "minilm": 512}  # as SitFer builds them
for enc, emb in ((text_encoder, method.text),
                 *((o, text_embeddings(o, prompts, cfg.data.cache_dir, seed=seed, dim=dims[o])) for o in others)):
    sim_e = (emb @ emb.T).numpy()
    off_diagonal[enc] = float(sim_e[~np.eye(len(sim_e), dtype=bool)].mean())
pairs = [(names[i], names[j], float(sim[i, j])) for i in range(len(names)) for j in range(i + 1, len(names))]
closest, farthest = max(pairs, key=lambda p: p[2]), min(pairs, key=lambda p: p[2])
kit.answer("lesson3", [
    f"1. Alone: {', '.join(f'{k} {v:.1%}' for k, v in per_level.drop('fused').items())}; the best is {best}. "
    f"Fused: {per_level['fused']:.1%} "
    + ("(above the best level: the levels err on different faces, and the vote corrects some)."
       if per_level["fused"] > per_level[best] else
       "(not above the best level: here the weaker levels pull the vote away from the best one as often as they correct"
       " it; fusion pays only when the levels are comparably good and err on different faces)."),
    f"2. The fused label is right {agree:.1%} of the time when all three agree, against {rest:.1%} otherwise. "
    + ("Agreement is a free confidence signal: a method can train only on faces where the levels agree, or weight them"
       " more." if agree > rest else
       "Here agreement does not make the label more often right, so it would not help to select faces: the levels share"
       " their mistakes on this run."),
    "3. Mean similarity between two different classes' vectors: "
    + ", ".join(f"{enc} {v:.2f}" for enc, v in off_diagonal.items())
    + f". Random vectors in {dims['random']} dimensions are nearly orthogonal: each class gets a fixed, unrelated target and no"
    " knowledge of language. "
    + (f"The released code's untrained encoder gives fixed vectors too, but {'far from' if off_diagonal['official'] > 0.3 else 'nearly'}"
       f" orthogonal ({off_diagonal['official']:.2f}): a shared structure from its untrained layers, not a language model's"
       " geometry. " if "official" in off_diagonal else "")
    + (f"With {text_encoder}, the closest pair of classes is {closest[0]}-{closest[1]} ({closest[2]:.2f}) and the"
       f" farthest {farthest[0]}-{farthest[1]} ({farthest[2]:.2f}): the sentence encoder's geometry, which the MSSL"
       " loss passes on to the face features, follows the wording of the prompts, not necessarily which expressions"
       " look alike." if text_encoder != "random" else
       "Switch `text_encoder` to `minilm` to see which classes a sentence encoder puts close together.")])

# %% [markdown]
# **Where this lives in the library:** `ssfer_core.methods.sitfer` (`SitFer.levels`, `SitFer.fuse`,
# `SitFer.train_step`), `ssfer_core.pseudo.fuse_official` (the weighted fusion),
# `ssfer_core.memory.InstanceMemory` (the instance level's memory of labeled features) and
# `ssfer_core.models.text` (prompts and text encoders).
