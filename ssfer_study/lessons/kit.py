"""What the lessons (``notebooks/lessons/``) call: a small SynthFACS draw and a geometry-pretrained
slim backbone, made once under ``data/lessons/`` and reused by every lesson, short training runs on
them, and the small helpers their cells use (tables, face grids, saving numbers and answers). A lesson
never needs the study to have run. Running every lesson: :mod:`ssfer_study.lessons.runner`; the pages
written from their answers: :mod:`ssfer_study.lessons.pages`.

The kit takes about a minute on 2 cores the first time (6,000 + 1,000 faces drawn at 64 px and read
at 48, then 1,000 steps of face-geometry pretraining of ``synth_cnn_slim``); later lessons find it on
disk. Its converged part (:func:`converged`: LEAF and supervised trained on the study's converged
recipe, for lesson 4) takes about 12 minutes more and is built by ``make lessons-kit`` (``make
lessons`` builds it first).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ssfer_core.config import TrainConfig, compose_config, to_dict

KIT = Path("data/lessons")
SIZE = 48
BACKBONE = "synth_cnn_slim"


def files(n_train: int = 6000, n_test: int = 1000, pretrain_steps: int = 1000) -> dict[str, Path]:
    """Make (once) and return the lesson data: ``root`` (SynthFACS, RAF-DB layout) and ``weights``
    (the backbone pretrained on face geometry, never on expressions)."""
    from ssfer_core.data.synthetic import SynthConfig, generate
    from ssfer_core.pretrain import pretrain_geometry

    root, weights = KIT / "synthfacs", KIT / "pretrained" / f"{BACKBONE}.pth"
    if not (root / "synthfacs.json").exists():
        generate(SynthConfig(seed=7, n_train=n_train, n_test=n_test, image_size=64), root, progress=False)
    if not weights.exists():
        # the lessons' own draw serves the geometry pretraining too (its targets are identity and
        # pose, never the expression); the study uses a separate draw
        pretrain_geometry(root, weights, BACKBONE, SIZE, pretrain_steps, progress=False)
    return {"root": root, "weights": weights}


STEPS = 1500
"""Steps of every lesson run unless a lesson's parameters say otherwise: the most that lets lesson 2
(five runs) fit its 3 minutes."""


def lesson_lrs() -> dict[str, float]:
    """Each registered method's step size at the lessons' budget (1,500 steps, 50 labels per class,
    batch 16, mu 1, the shared protocol), as it declares it (``MethodDef.lesson_lr``): the best
    validation accuracy of a grid of step sizes (each method's best lies inside its grid) on 500
    faces carved from the kit's training draw, seed 0 (``ssfer lesson-sweep``; rows in
    ``studies/validation/lessons_sweep.jsonl``, the choice in docs/teaching.md). A method that
    declares none (one written in lesson 5) gets FixMatch's."""
    from ssfer_core.methods import METHODS

    return {m: d.lesson_lr or METHODS["fixmatch"].lesson_lr for m, d in METHODS.items()}


def config(method: str = "supervised", steps: int = STEPS, labels_per_class: int = 50, seed: int = 0,
           overrides: list[str] = ()) -> TrainConfig:
    """A short run on the kit: the study's shared recipe (SGD, cosine, EMA) at the method's lesson
    lr (:func:`lesson_lrs`), batch 16, mu 1, one evaluation at the end; ``overrides`` are ``key=value`` strings as
    in ``ssfer train -S`` (they win over the lr)."""
    k = files()
    lrs = lesson_lrs()
    base = {"method": method, "seed": seed, "steps": steps, "lr": lrs["fixmatch"],
            "batch_size": 16, "mu": 1,
            "eval_every": steps, "ckpt_every": steps, "log_every": max(1, steps // 40), "threads": 2,
            "data": {"root": str(k["root"]), "split_dir": str(KIT / "splits"), "cache_dir": str(KIT / "cache"),
                     "image_size": SIZE, "labels_per_class": labels_per_class},
            "net": {"backbone": BACKBONE, "weights": str(k["weights"])}}
    # layered as the study layers a run: a `protocol=official` override brings the release's recipe
    return compose_config(base, None, list(overrides), {m: {"lr": lr} for m, lr in lrs.items()})


CONVERGED = ("supervised", "leaf")
"""The methods the kit trains on the study's converged recipe (:func:`converged`): lesson 4 shows a
LEAF that has finished learning beside a supervised run of the same recipe."""
SNAPSHOT_STEPS = (675, 1500, 3375, 6750)
"""Where a converged run's weights are kept along the way (besides its last step), so a lesson can show
what changes as training goes on (LEAF's logits grow: lesson 4)."""


def converged_config(method: str) -> TrainConfig:
    """The study's converged recipe for ``method`` on the kit: the default profile's steps, evaluation
    interval, memory layout and the method's lr (``params.yaml``: the plateau rule's budget,
    docs/validation.md), the lessons' data, labels (50 per class), network and seed 0; one 2-thread
    process (the study trains two 1-thread runs side by side, which sums in another order)."""
    from ssfer_study.study import load_study

    study = load_study("params.yaml")
    base = study.base
    return config(method, base.steps, overrides=[f"eval_every={base.eval_every}", f"ckpt_every={base.ckpt_every}",
                                                 f"channels_last={str(base.channels_last).lower()}",
                                                 f"lr={study.config(None, [f'method={method}']).lr}"])


def run_key(cfg: TrainConfig) -> str:
    """The `train` stage's identity of a run (``pipeline.train_runs.run_key``: its config, dataset,
    split, weights, code and device kind), the one rule by which a finished run is reused."""
    import copy

    from ssfer_core.config import resolve_net_defaults, resolve_split_seed
    from ssfer_core.devices import kind, resolve_device
    from ssfer_study.pipeline.train_runs import run_key as key

    resolved = resolve_split_seed(resolve_net_defaults(copy.deepcopy(cfg)))  # as train() completes it
    return key(to_dict(resolved), kind(resolve_device(cfg.device)), _DIGESTS)


_DIGESTS: dict = {}
"""The dataset's and the code's digests, read once a kernel (a lesson trains several runs)."""
STARTED, KEY = ".started", ".fingerprint"
"""A lesson run's :func:`run_key`, written before it trains and again once it has finished."""


def converged(method: str, progress: bool = False) -> Path:
    """Make (once) and return the kit's converged run of ``method`` (:data:`CONVERGED`):
    ``data/lessons/converged/<method>`` with its ``metrics.json`` (a test evaluation every
    ``eval_every`` steps: the learning curve) and, under ``snapshots/step_NNNNN/``, the weights at
    :data:`SNAPSHOT_STEPS` and at the end (each loadable by :func:`load_snapshot`). A killed build
    resumes from its last checkpoint; a run whose inputs changed (its recipe in ``params.yaml``, the
    kit's data or weights, the code: :func:`run_key`) is retrained."""
    import shutil

    from ssfer_core.config import resolve_split_seed
    from ssfer_core.data.loading import load_data
    from ssfer_core.train import train

    cfg = converged_config(method)
    out = KIT / "converged" / method
    data = load_data(resolve_split_seed(cfg).data)  # makes the split the run's identity reads
    key = run_key(cfg)
    for marker in (STARTED, KEY):
        if (out / marker).exists() and (out / marker).read_text().strip() != key:
            shutil.rmtree(out)  # other inputs: nothing of the old run may be resumed or reused
            break
    if (out / KEY).exists() and (out / "metrics.json").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    (out / STARTED).write_text(key + "\n")
    for stop in (*SNAPSHOT_STEPS, cfg.steps):
        snap = out / "snapshots" / f"step_{stop:05d}"
        if (snap / "checkpoint.pt").exists():
            continue
        train(cfg, out, progress=progress, stop_after=stop, data=data)  # resumes at the last snapshot's step
        tmp = snap.with_name(snap.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        shutil.copy2(out / "checkpoint.pt", tmp / "checkpoint.pt")
        tmp.rename(snap)  # a snapshot is there whole or not at all
    (out / KEY).write_text(key + "\n")
    return out


def snapshots(method: str) -> dict[int, Path]:
    """The converged run's snapshot folders by step (see :func:`converged`)."""
    root = KIT / "converged" / method / "snapshots"
    return {int(d.name.split("_")[1]): d for d in sorted(root.glob("step_?????"))}


def load_snapshot(method: str, step: int, data):
    """The converged run's (method, model) at ``step`` (EMA weights), as :func:`load_model` gives a lesson run's."""
    from ssfer_study.stages.features import load_run

    return load_run(snapshots(method)[step], data)


def build_converged(progress: bool = True) -> None:
    """``make lessons-kit``: the data, the pretrained backbone and every converged run (:data:`CONVERGED`)."""
    files()
    for method in CONVERGED:
        converged(method, progress=progress)


def train_run(cfg: TrainConfig, name: str, reuse: bool = True) -> dict:
    """Train ``cfg`` into ``data/lessons/runs/<name>`` and return its metrics.

    A finished run with the same :func:`run_key` (the `train` stage's rule: config, data, split,
    weights, code, device kind; under any name: lessons share their baselines) is reused instead of
    retrained. Pass ``reuse=False`` when what is trained depends on more than that (a method defined
    in the notebook, whose code is no file of the library)."""
    import shutil

    from ssfer_core.config import resolve_split_seed
    from ssfer_core.data.loading import load_data
    from ssfer_core.train import train

    out = KIT / "runs" / name
    data = load_data(resolve_split_seed(cfg).data)  # makes the split the run's identity reads
    key = run_key(cfg) if reuse else None
    done = [d for d in sorted((KIT / "runs").glob("*")) if (d / "metrics.json").exists()
            and (d / KEY).exists() and (d / KEY).read_text().strip() == key] if reuse else []
    if out in done:
        return json.loads((out / "metrics.json").read_text())
    shutil.rmtree(out, ignore_errors=True)
    if done:
        shutil.copytree(done[0], out)
        return json.loads((out / "metrics.json").read_text())
    metrics = train(cfg, out, progress=False, data=data)
    if key and (out / "metrics.json").exists():  # finished: from now on it may be reused
        (out / KEY).write_text(key + "\n")
    return metrics


def series(name: str, key: str) -> pd.DataFrame | None:
    """A per-step log of a lesson run (step, value), e.g. ``pl_pass_rate``."""
    from ssfer_study.stages.tables import train_series

    return train_series(KIT / "runs", name, key)


def accuracy(metrics: dict) -> float:
    """The evaluated model's last test accuracy, in %."""
    from ssfer_study.stages.tables import evaluated

    return 100 * evaluated(metrics)["last"]["acc"]


def versus(a: dict, b: dict, seed_sd: tuple[float, float] | None = None) -> tuple[str, float, float]:
    """Two lesson runs' last test accuracies compared as a lesson may state them: ``("above" |
    "below" | "not distinguishable", a - b in points, noise)``, where noise is the 95 % binomial
    noise of a difference between two accuracies on the test faces (``tables.evaluation_noise``).
    That is the least two runs differ by chance: another seed (another split, another
    initialisation) adds its own spread, which a one-seed lesson does not measure; ``seed_sd``
    (each run's seed-to-seed standard deviation in points, borrowed from where the lesson says, e.g.
    :func:`study_spread`) adds it in quadrature: 1.96 * sqrt(sd_a^2 + sd_b^2)."""
    from ssfer_study.stages.tables import evaluated, evaluation_noise, printed_difference

    acc_a, acc_b = accuracy(a), accuracy(b)
    n = int(np.asarray(evaluated(a)["last"]["confusion"]).sum())
    noise = evaluation_noise((acc_a + acc_b) / 2, n)
    if seed_sd is not None:
        noise = float(np.hypot(noise, 1.96 * np.hypot(*seed_sd)))
    d = printed_difference(acc_a, acc_b)
    return ("not distinguishable" if abs(d) <= noise else "above" if d > 0 else "below"), d, noise


STUDY_METRICS = Path("reports/default/metrics.json")
"""The default study's committed numbers (``make study``): what a lesson may borrow a seed spread from."""


def study_spread() -> pd.DataFrame | None:
    """The default study's main table as a lesson may cite it: per method, the test accuracy mean and
    its standard deviation over seeds (each seed its own labeled split), SynthFACS, at the study's
    converged budget; None when the study's numbers are not there."""
    if not STUDY_METRICS.exists():
        return None
    main = json.loads(STUDY_METRICS.read_text())["main"]
    return pd.DataFrame({m: {"study mean (%)": r["acc_mean"], "study sd over seeds": r["acc_std"]}
                         for m, r in main.items()}).T


def load_model(name: str, data):
    """The trained method and evaluated network of lesson run ``name`` (EMA weights when it has them)."""
    from ssfer_study.stages.features import load_run

    return load_run(KIT / "runs" / name, data)


def pyplot():
    """matplotlib's pyplot as the study's figures use it (inline in notebooks, light in the HTML)."""
    from ssfer_study.stages.plots import _plt

    return _plt()


def face_grid(images: np.ndarray, titles: list[str], ncols: int = 8, title: str = ""):
    """Faces (``uint8 [N, 3, H, W]``) with a caption each."""
    plt = pyplot()
    n = len(images)
    rows = max(1, int(np.ceil(n / ncols)))
    fig, axes = plt.subplots(rows, ncols, figsize=(1.7 * ncols, 2.3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, t in zip(axes.flat, images, titles):
        ax.imshow(np.transpose(img, (1, 2, 0)))
        ax.set_title(t, fontsize=8)  # readable on the rendered page (6 pt came out about 5 px)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    plt.close(fig)  # shown once, by the caller's display(fig), not again by the inline backend
    return fig


def summary(metrics: dict[str, dict]) -> pd.DataFrame:
    """Lesson runs as one table: method, label budget, steps, last test accuracy (%)."""
    return pd.DataFrame([{"run": k, "method": m["method"], "labels/class": m["labels_per_class"],
                          "steps": m["steps"], "test accuracy (%)": round(accuracy(m), 1)}
                         for k, m in metrics.items()])


def dump(obj, name: str, merge: bool = False) -> None:
    """Save a lesson's numbers (``data/lessons/<name>.json``; ``merge`` keeps what this run of the
    lesson saved before) so the lessons' index and the instructor's page can cite them. Returns
    nothing: a lesson ends its cell with it, and a returned path would print on the page."""
    path = KIT / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = json.loads(path.read_text()) if merge and path.exists() else {}
    path.write_text(json.dumps(saved | obj, indent=1, default=float).replace("NaN", "null"))


def answer(name: str, lines: list[str]) -> None:
    """Print a lesson's answers (each computed from its own runs) and save them with its numbers."""
    for line in lines:
        print(line)
    dump({"answers": lines}, name, merge=True)
