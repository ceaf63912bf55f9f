"""One plain training loop for every method (no hook framework).

Each step: draw the global labeled and unlabeled index batches from seeded streams, build the
views the method asks for (batched, on the device), keep this rank's slice, call
``method.train_step`` and add the network's auxiliary loss (:func:`step_loss`), backward, average
gradients across ranks, step the optimiser and schedule, update the EMA model. Every ``eval_every`` steps the raw and EMA models are evaluated on the test
set; every ``ckpt_every`` steps an atomic checkpoint is written. A killed run restarted with the
same output folder resumes from its last checkpoint and ends exactly as an uninterrupted run would
(on CPU): model, optimiser, EMA, method buffers and all RNG states are saved.
"""
from __future__ import annotations

import copy
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from ssfer_core import distributed as ddp
from ssfer_core.atomic import torch_save
from ssfer_core.build import build_method
from ssfer_core.config import TrainConfig, resolve_split_seed, to_dict
from ssfer_core.data.config import label_budget
from ssfer_core.data.loading import FERData, load_data
from ssfer_core.data.official_views import official_view
from ssfer_core.data.views import normalize, strong_view, test_view, weak_view
from ssfer_core.devices import kind, resolve_device
from ssfer_core.errors import ConfigError
from ssfer_core.evaluate import evaluate
from ssfer_core.live_log import StepLogger, open_live, truncate_logs
from ssfer_core.methods.base import pseudo_label_stats
from ssfer_core.optim import decay_live_weights, ema_update, make_optimizer, make_schedule, official_ema_step

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


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_view(name: str, x: torch.Tensor, g: torch.Generator, cfg: TrainConfig) -> torch.Tensor:
    """One named view of a uint8 batch, normalised. Methods list the names they need in
    ``unlabeled_views``; a name not listed here is an error, never a silent weak view."""
    if cfg.augment == "official" and name in VIEW_NAMES:
        return normalize(official_view("strong" if name == "strong" else "weak", x, g))
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
    (probs, mask); ``logs['positive_sets']``: LEAF's boolean positive sets) with numbers: share passed
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


def train(cfg: TrainConfig, out_dir: str | Path, device: str | None = None, resume: bool = True,
          progress: bool = True, data: FERData | None = None, stop_after: int | None = None) -> dict:
    """Train ``cfg.method``; write ``metrics.json``, ``checkpoint.pt`` and dvclive logs to ``out_dir``.

    ``device`` pins the run to one device of the kind ``cfg.device`` names (``cuda:1`` for a
    ``cuda`` run: the study's scheduler gives each run its GPU); default: ``cfg.device``, resolved
    (``ssfer_core.devices``). ``stop_after`` ends the loop early at that step (after checkpointing)
    to simulate a killed run. Returns the metrics dict.
    """
    from tqdm.auto import tqdm

    resolve_split_seed(cfg)
    wanted = resolve_device(cfg.device)
    if device is not None and kind(resolve_device(device)) != kind(wanted):
        raise ConfigError(f"train.device={cfg.device!r} resolves to {wanted!r}; it cannot be pinned to {device!r}")
    rank, world, device = ddp.init(device or wanted)
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
    logger = StepLogger(open_live(out, resume and st.step > 0) if rank == 0 else None, bar)
    lab_slice = ddp.rank_slice(cfg.batch_size, rank, world)
    unl_slice = ddp.rank_slice(cfg.batch_size * cfg.mu, rank, world)
    t0 = time.time()
    method.train()
    while st.step < cfg.steps:
        labeled, unlabeled, y_unlabeled = make_batch(
            data, st.lab.next(), st.unl.next() if views else None, views, st.g_aug, cfg, device, lab_slice,
            unl_slice)
        with torch.autocast("cuda", dtype=amp_dtype, enabled=use_amp):
            loss, logs = step_loss(method, labeled, unlabeled, st.step, cfg.net.balance_coef)
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
    metrics = run_metrics(st.history, cfg, data, time.time() - t0, device)
    if rank == 0 and st.step >= cfg.steps:
        (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    if logger.live is not None:
        logger.live.end()
    ddp.cleanup()
    return metrics


def step_loss(method, labeled: dict, unlabeled: dict, step: int, balance_coef: float) -> tuple[torch.Tensor, dict]:
    """The loss a training step backpropagates: ``method.train_step``'s, plus the network's auxiliary
    loss of the step (its experts' load balancing, weighted by ``net.balance_coef``), added here so
    that no method can forget it. Everything that steps a method (the loop, the benchmarks, the
    lessons' speed probe) calls this."""
    loss, logs = method.train_step(labeled, unlabeled, step)
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
        official_ema_step(st.ema, st.method.model, cfg.ema, cfg.live_decay)
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


def _eval(method, model, data: FERData, cfg: TrainConfig, device) -> dict:
    model.eval()
    if method.needs_eval_memory:
        with torch.no_grad():
            method.prepare_predict(model, normalize(test_view(data.train_images[data.labeled_idx].to(device))),
                                   data.train_labels[data.labeled_idx].to(device))
    images, labels = data.eval_set(cfg.eval_on)
    return evaluate(lambda x: method.predict(model, x), images, labels, data.num_classes, cfg.eval_batch, device)


def run_metrics(history: list[dict], cfg: TrainConfig, data: FERData, seconds: float, device: str = "cpu") -> dict:
    """Last and best (by test accuracy, as the papers report: with one evaluation an epoch, as both
    releases, the best epoch; its step and epoch kept) for the raw and EMA models."""
    out = {"method": cfg.method, "seed": cfg.seed, "dataset": cfg.data.dataset, "protocol": cfg.protocol,
           "optimizer": cfg.optimizer, "lr": cfg.lr,
           "labels_per_class": label_budget(cfg.data), "split_hash": data.split_hash, "device": kind(device),
           "n_labeled": int(len(data.labeled_idx)), "steps": cfg.steps, "eval_on": cfg.eval_on,
           "train_seconds": round(seconds, 1)}
    for which in ("raw", "ema"):
        rows = [h for h in history if which in h]
        if not rows:
            continue
        last = rows[-1][which]
        best = max(rows, key=lambda h: h[which]["acc"])
        out[which] = {"last": dict(last),
                      "best": {k: v for k, v in best[which].items() if k != "confusion"}
                      | {"step": best["step"], "epoch": best["step"] / cfg.steps_per_epoch}}
    out["curve"] = [{"step": h["step"], **{f"{w}_acc": h[w]["acc"] for w in ("raw", "ema") if w in h}}
                    for h in history]
    return out
