"""One plain training loop for every method (no hook framework).

Each step: draw the global labeled and unlabeled index batches from seeded streams, build the
views the method asks for (batched, on the device), keep this rank's slice, call
``method.train_step``, backward, average gradients across ranks, step the optimiser and schedule,
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

from ssfer_core import distributed as ddp
from ssfer_core.atomic import torch_save
from ssfer_core.config import TrainConfig, to_dict
from ssfer_core.data.bundle import FERData, load_data
from ssfer_core.data.views import normalize, strong_view, weak_view
from ssfer_core.evaluate import evaluate
from ssfer_core.methods import build
from ssfer_core.methods.base import DataInfo

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


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(cfg: TrainConfig, out_dir: str | Path, device: str = "cpu", resume: bool = True,
          progress: bool = True, data: FERData | None = None, stop_after: int | None = None) -> dict:
    """Train ``cfg.method``; write ``metrics.json``, ``checkpoint.pt`` and dvclive logs to ``out_dir``.

    ``stop_after`` ends the loop early at that step (after checkpointing) to simulate a killed run.
    Returns the metrics dict.
    """
    from tqdm.auto import tqdm

    rank, world, device = ddp.init(device)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    data = data or load_data(cfg.data, progress=progress and rank == 0)
    info = DataInfo(num_classes=data.num_classes, n_labeled=len(data.labeled_idx), steps=cfg.steps,
                    steps_per_epoch=cfg.steps_per_epoch, cache_dir=cfg.data.cache_dir)
    method = build(cfg, info).to(device)
    ema_model = copy.deepcopy(method.model).eval() if cfg.ema > 0 else None
    opt = make_optimizer(cfg, method.named_parameters())
    sched = make_schedule(cfg, opt)
    g_data = torch.Generator().manual_seed(cfg.seed * 1000 + 1)
    g_aug = torch.Generator().manual_seed(cfg.seed * 1000 + 2)
    lab = IndexStream(len(data.labeled_idx), cfg.batch_size, g_data)
    if method.unlabeled_views and len(data.unlabeled_idx) == 0:
        raise ValueError(f"{cfg.method} needs unlabeled images but the split labels all of them; "
                         "use a smaller labels_per_class / label_fraction")
    # Supervised runs draw no unlabeled batches (the stream exists so checkpoints look alike).
    unl = IndexStream(max(1, len(data.unlabeled_idx)), cfg.batch_size * cfg.mu, g_data)
    history, step = [], 0
    ckpt = out / "checkpoint.pt"
    if resume and ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        method.load_state_dict(state["method"])
        if ema_model is not None:
            ema_model.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        g_data.set_state(state["g_data"])
        g_aug.set_state(state["g_aug"])
        lab.load(state["lab"])
        unl.load(state["unl"])
        torch.set_rng_state(state["torch_rng"])
        history, step = state["history"], state["step"]
        if rank == 0:
            log.info("resumed %s at step %d", out, step)

    use_amp = cfg.amp and device.startswith("cuda")
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    live = _live(out, resume and step > 0) if rank == 0 else None
    sums: dict[str, float] = {}
    bar = tqdm(total=cfg.steps, initial=step, desc=f"{cfg.method} s{cfg.seed}", unit="step",
               disable=not progress or rank != 0, dynamic_ncols=True)
    lab_slice = ddp.rank_slice(cfg.batch_size, rank, world)
    unl_slice = ddp.rank_slice(cfg.batch_size * cfg.mu, rank, world)
    t0 = time.time()
    method.train()
    while step < cfg.steps:
        li = lab.next()
        ui = unl.next() if method.unlabeled_views else None
        x_l = data.train_images[data.labeled_idx[li]].to(device)
        labeled = {"x": normalize(weak_view(x_l, g_aug, cfg.pad_frac))[lab_slice],
                   "y": data.train_labels[data.labeled_idx[li]].to(device)[lab_slice],
                   "idx": li.to(device)[lab_slice]}
        unlabeled = {}
        if method.unlabeled_views:
            x_u = data.train_images[data.unlabeled_idx[ui]].to(device)
            for name in method.unlabeled_views:
                view = (strong_view(x_u, g_aug, cfg.randaugment_ops, cfg.pad_frac) if name == "strong"
                        else weak_view(x_u, g_aug, cfg.pad_frac))
                unlabeled[name] = normalize(view)[unl_slice]
            unlabeled["y_true"] = data.train_labels[data.unlabeled_idx[ui]].to(device)[unl_slice]
        with torch.autocast("cuda", dtype=amp_dtype, enabled=use_amp):
            loss, logs = method.train_step(labeled, unlabeled, step)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {step}; lower the lr or disable amp")
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        ddp.average_gradients(method.parameters())
        scaler.step(opt)
        scaler.update()
        sched.step()
        if ema_model is not None:
            ema_update(ema_model, method.model, cfg.ema, step)
        step += 1
        logs["loss"] = loss.item()
        logs["lr"] = sched.get_last_lr()[0]
        for k, v in logs.items():
            sums[k] = sums.get(k, 0.0) + v
        sums["_n"] = sums.get("_n", 0) + 1
        bar.update(1)
        if step % cfg.log_every == 0 or step == cfg.steps:
            means = {k: v / sums["_n"] for k, v in sums.items() if k != "_n"}
            sums = {}
            bar.set_postfix(loss=f"{means['loss']:.3f}", mask=f"{means.get('mask_rate', 0):.2f}")
            if live is not None:
                for k, v in means.items():
                    live.log_metric(f"train/{k}", v)
                live.step = step
                live.next_step()
        if rank == 0 and (step % cfg.eval_every == 0 or step == cfg.steps):  # only rank 0 records it
            row = {"step": step, "raw": _eval(method, method.model, data, cfg, device)}
            if ema_model is not None:
                row["ema"] = _eval(method, ema_model, data, cfg, device)
            history.append(row)
            if live is not None:
                for which in ("raw", "ema"):
                    if which in row:
                        live.log_metric(f"test/{which}_acc", row[which]["acc"], plot=False)
            method.train()
        if rank == 0 and (step % cfg.ckpt_every == 0 or step == cfg.steps or step == stop_after):
            torch_save({"method": method.state_dict(), "ema": ema_model.state_dict() if ema_model else None,
                         "opt": opt.state_dict(), "sched": sched.state_dict(), "g_data": g_data.get_state(),
                         "g_aug": g_aug.get_state(), "lab": lab.state(), "unl": unl.state(),
                         "torch_rng": torch.get_rng_state(), "history": history, "step": step,
                         "config": to_dict(cfg)}, ckpt)
        if stop_after is not None and step >= stop_after:
            break
    bar.close()
    metrics = summarize(history, cfg, data, time.time() - t0)
    if rank == 0 and step >= cfg.steps:
        (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    if live is not None:
        live.end()
    ddp.cleanup()
    return metrics


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
    images, labels = data.eval_set(cfg.eval_on)
    return evaluate(lambda x: method.predict(model, x), images, labels, data.num_classes, cfg.eval_batch, device)


def summarize(history: list[dict], cfg: TrainConfig, data: FERData, seconds: float) -> dict:
    """Last and best (by test accuracy, as the papers report) for the raw and EMA models."""
    out = {"method": cfg.method, "seed": cfg.seed, "dataset": cfg.data.dataset,
           "labels_per_class": cfg.data.labels_per_class, "split_hash": data.split_hash,
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
