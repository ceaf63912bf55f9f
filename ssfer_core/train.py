"""One plain training loop for every method (no hook framework).

Each step: draw the global labeled and unlabeled index batches from seeded streams, build the
views the method asks for (batched, on the device), keep this rank's slice, call
``method.train_step``, add the network's auxiliary loss, backward, average gradients across ranks, step the optimiser and schedule,
update the EMA model. Every ``eval_every`` steps the raw and EMA models are evaluated on the test
set; every ``ckpt_every`` steps an atomic checkpoint is written. A killed run restarted with the
same output folder resumes from its last checkpoint and ends exactly as an uninterrupted run would
(on CPU): model, optimiser, EMA, method buffers and all RNG states are saved.
"""
from __future__ import annotations

import copy
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from ssfer_core import distributed as ddp
from ssfer_core.atomic import torch_save
from ssfer_core.build import build_method
from ssfer_core.config import TrainConfig, to_dict
from ssfer_core.data.bundle import FERData, load_data
from ssfer_core.data.views import normalize, strong_view, test_view, weak_view
from ssfer_core.evaluate import evaluate
from ssfer_core.methods.base import pseudo_label_stats

log = logging.getLogger(__name__)


class IndexStream:
    """Endless batches of indices into ``range(n)``: a fresh seeded permutation every pass."""

    def __init__(self, n: int, batch: int, generator: torch.Generator):
        if n <= 0:
            raise ValueError("cannot draw batches from an empty set")
        self.n, self.batch, self.g = n, batch, generator
        self.perm = torch.randperm(n, generator=generator)
        self.pos = 0

    def next(self) -> torch.Tensor:
        out = []
        need = self.batch
        while need:
            take = min(need, self.n - self.pos)
            out.append(self.perm[self.pos : self.pos + take])
            self.pos += take
            need -= take
            if self.pos == self.n:
                self.perm, self.pos = torch.randperm(self.n, generator=self.g), 0
        return torch.cat(out)

    def state(self) -> dict:
        return {"perm": self.perm, "pos": self.pos}

    def load(self, s: dict) -> None:
        self.perm, self.pos = s["perm"], s["pos"]


def make_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, p in params:
        if not p.requires_grad:
            continue
        (no_decay if p.dim() <= 1 or name.endswith(".bias") else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr)
    raise ValueError(f"optimizer must be sgd or adam, got {cfg.optimizer!r}")


def make_schedule(cfg: TrainConfig, opt) -> torch.optim.lr_scheduler.LambdaLR:
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda k: math.cos(7 * math.pi * k / (16 * cfg.steps)))
    if cfg.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0)
    raise ValueError(f"schedule must be cosine or constant, got {cfg.schedule!r}")


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float, step: int | None = None) -> None:
    """EMA of parameters (buffers copied). With ``step``, the decay warms up as
    min(decay, (1 + step) / (10 + step)) so short runs are not dominated by the random init."""
    if step is not None:
        decay = min(decay, (1 + step) / (10 + step))
    for e, p in zip(ema.parameters(), model.parameters()):
        e.mul_(decay).add_(p.detach(), alpha=1 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


@torch.no_grad()
def release_ema_step(ema: torch.nn.Module, model: torch.nn.Module, decay: float, live_decay: float) -> None:
    """The LEAF release's ``WeightEMA.step``, entry by entry over the state_dicts (duplicates kept):
    ``ema = decay * ema + (1 - decay) * live`` then ``live *= 1 - live_decay``, for float32 entries."""
    pairs = zip(ema.state_dict(keep_vars=True).values(), model.state_dict(keep_vars=True).values())
    for e, p in pairs:
        if e.dtype == torch.float32:
            e.mul_(decay).add_(p * (1.0 - decay))
            p.mul_(1 - live_decay)


@torch.no_grad()
def decay_live_weights(model: torch.nn.Module, factor: float) -> None:
    """Multiply every float parameter and buffer by ``1 - factor`` once (an explicit form of the
    LEAF release's hidden decay, for ``ema_state: parameters``)."""
    for t in list(model.parameters()) + list(model.buffers()):
        if t.is_floating_point():
            t.mul_(1 - factor)


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_view(name: str, x: torch.Tensor, g: torch.Generator, cfg: TrainConfig) -> torch.Tensor:
    """One named view of a uint8 batch, normalised. Methods list the names they need in
    ``unlabeled_views``; a name not listed here is an error, never a silent weak view."""
    if name == "strong":
        return normalize(strong_view(x, g, cfg.randaugment_ops, cfg.pad_frac))
    if name in ("weak", "weak2"):  # LEAF's second weak view is another independent draw
        return normalize(weak_view(x, g, cfg.pad_frac))
    raise ValueError(f"unknown view {name!r}; views are: {VIEW_NAMES}")


VIEW_NAMES = ("weak", "weak2", "strong")


def make_batch(data: FERData, li: torch.Tensor, ui: torch.Tensor | None, views: tuple[str, ...],
               g_aug: torch.Generator, cfg: TrainConfig, device: str, lab_slice: slice, unl_slice: slice):
    """Assemble this rank's slice of the global batch: ``(labeled, unlabeled, y_unlabeled)``.

    ``y_unlabeled`` (the hidden labels of the unlabeled batch) stays with the trainer, which uses
    it only to score the pseudo-labels a method returns; methods never see it."""
    x_l = data.train_images[data.labeled_idx[li]].to(device)
    labeled = {"x": make_view("weak", x_l, g_aug, cfg)[lab_slice],
               "y": data.train_labels[data.labeled_idx[li]].to(device)[lab_slice],
               "idx": li.to(device)[lab_slice]}
    unlabeled, y_unlabeled = {}, None
    if views:
        x_u = data.train_images[data.unlabeled_idx[ui]].to(device)
        unlabeled = {name: make_view(name, x_u, g_aug, cfg)[unl_slice] for name in views}
        y_unlabeled = data.train_labels[data.unlabeled_idx[ui]].to(device)[unl_slice]
    return labeled, unlabeled, y_unlabeled


def score_pseudo_labels(logs: dict, y_true: torch.Tensor | None) -> dict:
    """Replace what a method reports about its pseudo-labels (``logs['pseudo']``: prefix ->
    (probs, mask); ``logs['positive_sets']``: LEAF's boolean positive sets) with numbers: coverage
    and accuracy against the hidden true labels."""
    out = {k: v for k, v in logs.items() if k not in ("pseudo", "positive_sets")}
    for prefix, (probs, mask) in logs.get("pseudo", {}).items():
        out.update(pseudo_label_stats(prefix, probs, mask, y_true))
    positive = logs.get("positive_sets")
    known = y_true >= 0 if y_true is not None else None  # extra unlabeled faces have no true class
    if positive is not None and known is not None and known.any():  # is the true class in the positive set?
        out["pl_positive_recall"] = positive[known].gather(1, y_true[known].unsqueeze(1)).float().mean().item()
    return out


class TrainState:
    """Everything a resumed run needs; ``state_dict`` and ``load_state_dict`` mirror each other."""

    def __init__(self, cfg: TrainConfig, method, data: FERData):
        self.method = method
        self.ema = copy.deepcopy(method.model).eval() if cfg.ema > 0 else None
        self.opt = make_optimizer(cfg, method.named_parameters())
        self.sched = make_schedule(cfg, self.opt)
        self.g_data = torch.Generator().manual_seed(cfg.seed * 1000 + 1)
        self.g_aug = torch.Generator().manual_seed(cfg.seed * 1000 + 2)
        self.lab = IndexStream(len(data.labeled_idx), cfg.batch_size, self.g_data)
        # Supervised runs draw no unlabeled batches (the stream exists so checkpoints look alike).
        self.unl = IndexStream(max(1, len(data.unlabeled_idx)), cfg.batch_size * cfg.mu, self.g_data)
        self.history: list[dict] = []
        self.step = 0

    def state_dict(self, cfg: TrainConfig) -> dict:
        return {"method": self.method.state_dict(), "ema": self.ema.state_dict() if self.ema else None,
                "opt": self.opt.state_dict(), "sched": self.sched.state_dict(),
                "g_data": self.g_data.get_state(), "g_aug": self.g_aug.get_state(),
                "lab": self.lab.state(), "unl": self.unl.state(), "torch_rng": torch.get_rng_state(),
                "history": self.history, "step": self.step, "config": to_dict(cfg)}

    def load_state_dict(self, s: dict) -> None:
        self.method.load_state_dict(s["method"])
        if self.ema is not None:
            self.ema.load_state_dict(s["ema"])
        self.opt.load_state_dict(s["opt"])
        self.sched.load_state_dict(s["sched"])
        self.g_data.set_state(s["g_data"])
        self.g_aug.set_state(s["g_aug"])
        self.lab.load(s["lab"])
        self.unl.load(s["unl"])
        torch.set_rng_state(s["torch_rng"])
        self.history, self.step = s["history"], s["step"]


class StepLogger:
    """Means of the per-step logs over ``log_every`` steps, to the progress bar and dvclive. Each
    key is averaged over the steps that emitted it: ``pl_acc_masked`` exists only on steps where a
    pseudo-label passed, and dividing by every step of the window would deflate it."""

    def __init__(self, live, bar):
        self.live, self.bar, self.sums, self.counts = live, bar, {}, {}

    def add(self, logs: dict) -> None:
        for k, v in logs.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
            self.counts[k] = self.counts.get(k, 0) + 1

    def means(self) -> dict:
        return {k: v / self.counts[k] for k, v in self.sums.items()}

    def flush(self, step: int) -> None:
        means = self.means()
        self.sums, self.counts = {}, {}
        self.bar.set_postfix(loss=f"{means['loss']:.3f}", mask=f"{means.get('mask_rate', 0):.2f}")
        if self.live is not None:
            self.live.step = step  # label the row with the step it summarises
            for k, v in means.items():
                self.live.log_metric(f"train/{k}", v)
            self.live.next_step()


def train(cfg: TrainConfig, out_dir: str | Path, device: str = "cpu", resume: bool = True,
          progress: bool = True, data: FERData | None = None, stop_after: int | None = None) -> dict:
    """Train ``cfg.method``; write ``metrics.json``, ``checkpoint.pt`` and dvclive logs to ``out_dir``.

    ``stop_after`` ends the loop early at that step (after checkpointing) to simulate a killed run.
    Returns the metrics dict.
    """
    from tqdm.auto import tqdm

    rank, world, device = ddp.init(device)
    out = Path(out_dir)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    data = data or load_data(cfg.data, progress=progress and rank == 0)
    method = build_method(cfg, data.num_classes, len(data.labeled_idx)).to(device)
    if rank == 0:  # the run starts: record the resolved config (the checkpoint records the same)
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    if cfg.channels_last:
        method.to(memory_format=torch.channels_last)
    views = tuple(method.unlabeled_views)
    if views and len(data.unlabeled_idx) == 0:
        raise ValueError(f"{cfg.method} needs unlabeled images but the split labels all of them; "
                         "use a smaller labels_per_class / label_fraction")
    st = TrainState(cfg, method, data)
    ckpt = out / "checkpoint.pt"
    if resume and ckpt.exists():
        st.load_state_dict(torch.load(ckpt, map_location=device, weights_only=False))
        if rank == 0:
            truncate_logs(out / "dvclive", st.step)  # a kill after a log write leaves rows past the checkpoint
            log.info("resumed %s at step %d", out, st.step)

    use_amp = cfg.amp and device.startswith("cuda")
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    bar = tqdm(total=cfg.steps, initial=st.step, desc=f"{cfg.method} s{cfg.seed}", unit="step",
               disable=not progress or rank != 0, dynamic_ncols=True)
    logger = StepLogger(_live(out, resume and st.step > 0) if rank == 0 else None, bar)
    lab_slice = ddp.rank_slice(cfg.batch_size, rank, world)
    unl_slice = ddp.rank_slice(cfg.batch_size * cfg.mu, rank, world)
    t0 = time.time()
    method.train()
    while st.step < cfg.steps:
        labeled, unlabeled, y_unlabeled = make_batch(
            data, st.lab.next(), st.unl.next() if views else None, views, st.g_aug, cfg, device, lab_slice,
            unl_slice)
        with torch.autocast("cuda", dtype=amp_dtype, enabled=use_amp):
            loss, logs = method.train_step(labeled, unlabeled, st.step)
            loss, logs = add_aux_loss(method, loss, logs, cfg.net.balance_coef)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {st.step}; lower the lr or disable amp")
        optimizer_step(loss, st, scaler, cfg)
        st.step += 1
        if method.needs_labeled_logits and st.step % cfg.steps_per_epoch == 0:
            model = st.ema if st.ema is not None else method.model
            method.end_epoch(*labeled_logits(method, model, data, cfg, device, st.step // cfg.steps_per_epoch),
                             st.step // cfg.steps_per_epoch)
            method.train()
        logger.add(score_pseudo_labels(logs, y_unlabeled) | {"loss": loss.item(), "lr": st.sched.get_last_lr()[0]})
        bar.update(1)
        if st.step % cfg.log_every == 0 or st.step == cfg.steps:
            logger.flush(st.step)
        if rank == 0 and (st.step % cfg.eval_every == 0 or st.step == cfg.steps):  # only rank 0 records it
            st.history.append(evaluate_models(st, data, cfg, device, logger.live))
        if rank == 0 and (st.step % cfg.ckpt_every == 0 or st.step == cfg.steps or st.step == stop_after):
            torch_save(st.state_dict(cfg), ckpt)
        if stop_after is not None and st.step >= stop_after:
            break
    bar.close()
    metrics = summarize(st.history, cfg, data, time.time() - t0)
    if rank == 0 and st.step >= cfg.steps:
        (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    if logger.live is not None:
        logger.live.end()
    ddp.cleanup()
    return metrics


def add_aux_loss(method, loss: torch.Tensor, logs: dict, balance_coef: float) -> tuple[torch.Tensor, dict]:
    """The method's loss plus the network's auxiliary loss of the step (its experts' load balancing,
    weighted by ``net.balance_coef``), added here so that no method can forget it."""
    aux = method.pop_aux_loss()
    if aux is None:
        return loss, logs
    return loss + balance_coef * aux, logs | {"balance": aux.item()}


def optimizer_step(loss: torch.Tensor, st: TrainState, scaler, cfg: TrainConfig) -> None:
    """Backward, average gradients across ranks, step the optimiser and schedule, update the EMA."""
    st.opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(st.opt)
    ddp.average_gradients(st.method.parameters())
    scaler.step(st.opt)
    scaler.update()
    st.sched.step()
    if st.ema is not None and cfg.ema_state == "state_dict":
        release_ema_step(st.ema, st.method.model, cfg.ema, cfg.live_decay)
        return
    if st.ema is not None:
        ema_update(st.ema, st.method.model, cfg.ema, st.step if cfg.ema_warmup else None)
    if cfg.live_decay:
        decay_live_weights(st.method.model, cfg.live_decay)


@torch.no_grad()
def labeled_logits(method, model: torch.nn.Module, data: FERData, cfg: TrainConfig, device: str, epoch: int
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """``model``'s logits (eval mode, in ``method``'s input format) on weak views of the whole labeled set, drawn from a generator
    of their own per epoch (the batch streams are untouched, so resume stays exact)."""
    g = torch.Generator().manual_seed(cfg.seed * 1000 + 3 + epoch)
    model.eval()
    images = data.train_images[data.labeled_idx]
    logits = []
    for i in range(0, len(images), cfg.eval_batch):
        x = make_view("weak", images[i : i + cfg.eval_batch].to(device), g, cfg)
        logits.append(model(method.as_input(x))["logits"].float())
    return torch.cat(logits), data.train_labels[data.labeled_idx].to(device)


def evaluate_models(st: TrainState, data: FERData, cfg: TrainConfig, device: str, live) -> dict:
    """Evaluate the raw and EMA models on ``cfg.eval_on``; log the accuracies; back to train mode."""
    row = {"step": st.step, "raw": _eval(st.method, st.method.model, data, cfg, device)}
    if st.ema is not None:
        row["ema"] = _eval(st.method, st.ema, data, cfg, device)
    if live is not None:
        live.step = st.step
        for which in ("raw", "ema"):
            if which in row:
                live.log_metric(f"test/{which}_acc", row[which]["acc"], plot=False)
    st.method.train()
    return row


def truncate_logs(live_dir: Path, step: int) -> None:
    """Drop dvclive TSV rows logged after ``step`` (the checkpoint a run resumes from), so the
    resumed run writes every later step exactly once."""
    for tsv in Path(live_dir).glob("plots/metrics/**/*.tsv"):
        lines = tsv.read_text().splitlines(keepends=True)
        if not lines:
            continue
        col = lines[0].rstrip("\n").split("\t").index("step")
        kept = [lines[0]] + [l for l in lines[1:] if int(l.split("\t")[col]) <= step]
        if len(kept) != len(lines):
            tsv.write_text("".join(kept))


def _live(out: Path, resume: bool):
    try:
        from dvclive import Live
    except ImportError:
        return None
    try:
        return Live(str(out / "dvclive"), resume=resume, save_dvc_exp=False, dvcyaml=None)
    except Exception as e:  # e.g. a git repo with no commit yet: train anyway, say what is lost
        log.warning("dvclive disabled (%s); per-step metrics will not be logged", e)
        return None


def _eval(method, model, data: FERData, cfg: TrainConfig, device) -> dict:
    model.eval()
    if method.needs_eval_memory:
        with torch.no_grad():
            method.prepare_predict(model, normalize(test_view(data.train_images[data.labeled_idx].to(device))),
                                   data.train_labels[data.labeled_idx].to(device))
    images, labels = data.eval_set(cfg.eval_on)
    return evaluate(lambda x: method.predict(model, x), images, labels, data.num_classes, cfg.eval_batch, device)


def labels_per_class_name(cfg: TrainConfig):
    """How a table names the label budget: the count per class, 'all', or the protocol's amount."""
    d = cfg.data
    if d.split_protocol == "per_class":
        return d.labels_per_class
    if d.split_protocol == "fraction":
        return "all" if d.label_fraction >= 1 else f"{d.label_fraction:.0%}"
    return f"{d.split_protocol} {d.n_labeled}"


def summarize(history: list[dict], cfg: TrainConfig, data: FERData, seconds: float) -> dict:
    """Last and best (by test accuracy, as the papers report) for the raw and EMA models."""
    out = {"method": cfg.method, "seed": cfg.seed, "dataset": cfg.data.dataset, "protocol": cfg.protocol,
           "optimizer": cfg.optimizer, "lr": cfg.lr,
           "labels_per_class": labels_per_class_name(cfg), "split_hash": data.split_hash,
           "n_labeled": int(len(data.labeled_idx)), "steps": cfg.steps, "eval_on": cfg.eval_on,
           "train_seconds": round(seconds, 1)}
    for which in ("raw", "ema"):
        rows = [h for h in history if which in h]
        if not rows:
            continue
        last = rows[-1][which]
        best = max(rows, key=lambda h: h[which]["acc"])
        out[which] = {"last": dict(last),
                      "best": {k: v for k, v in best[which].items() if k != "confusion"} | {"step": best["step"]}}
    out["curve"] = [{"step": h["step"], **{f"{w}_acc": h[w]["acc"] for w in ("raw", "ema") if w in h}}
                    for h in history]
    return out
