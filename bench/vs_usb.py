"""FixMatch, one training step at a time: ssfer_core versus USB (semilearn 0.3.2), on CPU.

    pip install --no-deps semilearn==0.3.2 && pip install tensorboard progress scikit-image
    python bench/vs_usb.py [--steps 30] [--warmup 5] [--sizes default resnet18]

USB imports torchaudio, wandb and aim, which have no build here; an import hook in this script
only (never in the package) serves empty stand-ins for them. USB's ``Trainer`` needs CUDA, so its
``FixMatch.train_step`` is driven directly, followed by the two hooks its loop runs after every
step (``ParamUpdateHook``: backward, SGD, schedule; ``EMAHook``: EMA of the weights).

Both sides get the same network (ssfer's ``FERNet``; USB's copy is wrapped to return USB's
``{'logits', 'feat'}``), the same weights at the start, the same batch sizes (B labeled, mu*B
unlabeled with a weak and a strong view), SGD (nesterov, momentum 0.9, wd 5e-4 off biases/norms),
the cosine schedule and an EMA of 0.999. First the two losses are compared on one batch and the
same weights (threshold 0.95, and 0.0 so that every pseudo-label counts). Then the steps are
timed alternately (ssfer, USB, ssfer, ...) so that machine noise hits both:

* data: ssfer's batched tensor views (``make_batch``) versus USB's per-image PIL pipeline
  (its CIFAR/STL transforms: Resize, reflect-padded RandomCrop, flip, RandAugment(3, 5) with
  Cutout, ToTensor, Normalize) through a ``DataLoader`` with ``num_workers=0`` (one process each,
  so neither gets a core the other lacks);
* compute: ``train_step`` + backward + optimiser + schedule + EMA.

Images per second count every image the step processes: B + 2 * mu * B.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import importlib.abc
import importlib.machinery
import os
import platform
import statistics
import sys
import time
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch


from ssfer_core.config import TrainConfig
from ssfer_core.data.loading import FERData
from ssfer_core.data.synthetic import SynthConfig, render_sample
from ssfer_core.build import build_method
from ssfer_core.train import TrainState, make_batch, optimizer_step, step_loss

from device_bench import as_fer_data

STAND_INS = ("torchaudio", "wandb", "aim")
SIZES = {  # name -> (backbone, image size, B, mu)
    "default": ("synth_cnn", 48, 16, 2),
    "resnet18": ("resnet18", 224, 16, 1),
}


# ----------------------------------------------------------------------------- USB import
class _StandIn(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serve an empty module (any attribute is a dummy class) for USB's unbuildable imports."""

    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in STAND_INS:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        mod = types.ModuleType(spec.name)
        mod.__path__ = []
        mod.__getattr__ = lambda attr: type(attr, (), {"__init__": lambda self, *a, **k: None})
        return mod

    def exec_module(self, module):
        pass


def import_usb():
    missing = [m for m in STAND_INS if importlib.util.find_spec(m) is None]
    if missing:
        sys.meta_path.insert(0, _StandIn())
    from semilearn.algorithms.fixmatch import FixMatch
    from semilearn.algorithms.hooks import FixedThresholdingHook, PseudoLabelingHook
    from semilearn.core.criterions import CELoss, ConsistencyLoss
    from semilearn.core.hooks import EMAHook, ParamUpdateHook
    from semilearn.core.utils import get_cosine_schedule_with_warmup, get_optimizer
    from semilearn.datasets.augmentation import RandAugment

    return types.SimpleNamespace(
        FixMatch=FixMatch, FixedThresholdingHook=FixedThresholdingHook, PseudoLabelingHook=PseudoLabelingHook,
        CELoss=CELoss, ConsistencyLoss=ConsistencyLoss, EMAHook=EMAHook, ParamUpdateHook=ParamUpdateHook,
        get_cosine_schedule_with_warmup=get_cosine_schedule_with_warmup, get_optimizer=get_optimizer,
        RandAugment=RandAugment, stand_ins=missing)


class USBNet(torch.nn.Module):
    """ssfer's FERNet answering in USB's format."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        out = self.net(x)
        return {"logits": out["logits"], "feat": out["feature"]}


def make_usb_fixmatch(usb, model, cfg: TrainConfig, threshold: float):
    """USB's FixMatch without its Trainer: the attributes train_step and its hooks read."""
    alg = usb.FixMatch.__new__(usb.FixMatch)
    alg.model, alg.ema_model = USBNet(model), USBNet(copy.deepcopy(model))
    alg.ema_m, alg.use_cat, alg.use_amp, alg.clip_grad, alg.resume = cfg.ema, True, False, 0.0, False
    alg.amp_cm, alg.lambda_u = contextlib.nullcontext, cfg.fixmatch.lambda_u
    alg.init(T=0.5, p_cutoff=threshold, hard_label=True)  # USB's FixMatch defaults
    alg.ce_loss, alg.consistency_loss = usb.CELoss(), usb.ConsistencyLoss()
    alg.optimizer = usb.get_optimizer(alg.model, "SGD", cfg.lr, 0.9, cfg.weight_decay, nesterov=True,
                                      bn_wd_skip=True)
    alg.scheduler = usb.get_cosine_schedule_with_warmup(alg.optimizer, cfg.steps, num_warmup_steps=0)
    alg.loss_scaler = torch.amp.GradScaler("cuda", enabled=False)
    alg._hooks, alg.hooks_dict, alg.it = [], OrderedDict(), 0
    alg.register_hook(usb.PseudoLabelingHook(), "PseudoLabelingHook")
    alg.register_hook(usb.FixedThresholdingHook(), "MaskingHook")
    alg.register_hook(usb.ParamUpdateHook(), "ParamUpdateHook")
    alg.register_hook(usb.EMAHook(), "EMAHook")
    alg.call_hook("before_run")
    return alg


def usb_loaders(usb, data: FERData, size: int, b: int, mu: int):
    """USB's data path: PIL images through its CIFAR/STL transforms in a DataLoader."""
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms

    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    crop = [transforms.Resize(size), transforms.RandomCrop(size, padding=int(size * 0.125), padding_mode="reflect"),
            transforms.RandomHorizontalFlip()]
    tail = [transforms.ToTensor(), transforms.Normalize(mean, std)]
    weak = transforms.Compose(crop + tail)
    strong = transforms.Compose(crop + [usb.RandAugment(3, 5)] + tail)

    class Pairs(Dataset):  # USB's BasicDataset, reduced to what FixMatch asks for
        def __init__(self, idx, unlabeled):
            self.images = data.train_images[idx].permute(0, 2, 3, 1).numpy()  # HWC uint8, as USB keeps them
            self.labels, self.unlabeled = data.train_labels[idx].numpy(), unlabeled

        def __len__(self):
            return len(self.images)

        def __getitem__(self, i):
            img = Image.fromarray(self.images[i])
            if self.unlabeled:
                return {"x_ulb_w": weak(img), "x_ulb_s": strong(img)}
            return {"x_lb": weak(img), "y_lb": int(self.labels[i])}

    def endless(ds, batch):
        while True:
            yield from DataLoader(ds, batch_size=batch, shuffle=True, num_workers=0, drop_last=True)

    return endless(Pairs(data.labeled_idx, False), b), endless(Pairs(data.unlabeled_idx, True), b * mu)


# ----------------------------------------------------------------------------- data and setup
def synth_images(n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    cfg = SynthConfig(image_size=64)
    rows = [render_sample(cfg, "train", i) for i in range(n)]
    from PIL import Image

    imgs = np.stack([np.asarray(im.resize((size, size), Image.BILINEAR)) for im, _ in rows])
    return imgs, np.array([r["label"] for _, r in rows])


def fer_data(images: np.ndarray, labels: np.ndarray, n_labeled: int) -> FERData:
    return as_fer_data(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels), n_labeled)


def make_cfg(backbone: str, size: int, b: int, mu: int, steps: int) -> TrainConfig:
    cfg = TrainConfig(method="fixmatch", batch_size=b, mu=mu, steps=steps, optimizer="sgd", lr=0.03,
                      weight_decay=5e-4, ema=0.999, randaugment_ops=3, threads=0)
    cfg.net.backbone, cfg.data.image_size = backbone, size
    return cfg


def check_losses(usb, cfg, method, data, threshold: float) -> tuple[float, float]:
    """Our FixMatch loss and USB's on one batch with the same weights (both in train mode)."""
    cfg = copy.deepcopy(cfg)
    cfg.fixmatch.threshold = threshold
    ours = build_method(cfg, 7, len(data.labeled_idx))
    ours.model.load_state_dict(method.model.state_dict())
    alg = make_usb_fixmatch(usb, copy.deepcopy(method.model), cfg, threshold)
    g = torch.Generator().manual_seed(0)
    labeled, unlabeled, _ = make_batch(data, torch.arange(cfg.batch_size), torch.arange(cfg.batch_size * cfg.mu),
                                       ("weak", "strong"), g, cfg, "cpu", slice(None), slice(None))
    ours.train()
    alg.model.train()
    loss_ours, _ = ours.train_step(labeled, unlabeled, 0)
    out, _ = alg.train_step(labeled["x"], labeled["y"], unlabeled["weak"], unlabeled["strong"])
    return loss_ours.item(), out["loss"].item()


def ssfer_side(cfg: TrainConfig, method, data: FERData, channels_last: bool):
    """A closure that runs one ssfer FixMatch step (batch, train_step, optimiser, EMA) on its own
    copy of the starting weights and returns (data seconds, whole-step seconds)."""
    cfg = copy.deepcopy(cfg)
    cfg.channels_last = channels_last
    m = build_method(cfg, 7, len(data.labeled_idx))
    m.model.load_state_dict(method.model.state_dict())
    if channels_last:
        m.to(memory_format=torch.channels_last)
    st = TrainState(cfg, m, data)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    m.train()

    def step():
        t0 = time.perf_counter()
        labeled, unlabeled, _ = make_batch(data, st.lab.next(), st.unl.next(), ("weak", "strong"), st.g_aug, cfg,
                                           "cpu", slice(None), slice(None))
        t1 = time.perf_counter()
        loss, _ = step_loss(m, labeled, unlabeled, st.step, cfg.net.balance_coef)
        optimizer_step(loss, st, scaler, cfg)
        st.step += 1
        return t1 - t0, time.perf_counter() - t0

    return step


def time_size(usb, name: str, steps: int, warmup: int, n_images: int) -> dict:
    backbone, size, b, mu = SIZES[name]
    torch.manual_seed(0)
    images, labels = synth_images(n_images, size)
    data = fer_data(images, labels, n_labeled=n_images // 4)
    cfg = make_cfg(backbone, size, b, mu, steps + warmup)
    method = build_method(cfg, 7, len(data.labeled_idx))
    checks = {t: check_losses(usb, cfg, method, data, t) for t in (0.95, 0.0)}
    alg = make_usb_fixmatch(usb, copy.deepcopy(method.model), cfg, cfg.fixmatch.threshold)
    lab_it, ulb_it = usb_loaders(usb, data, size, b, mu)
    # ssfer twice: the standard memory layout (the same work as USB), and channels_last as the
    # default profile trains (the same math in another layout)
    sides = {"ssfer": ssfer_side(cfg, method, data, False), "ssfer_cl": ssfer_side(cfg, method, data, True)}
    times = {k: {"data": [], "step": []} for k in ("ssfer", "ssfer_cl", "usb")}
    alg.model.train()
    for i in range(steps + warmup):
        for key, step_fn in sides.items():
            t_data, t_step = step_fn()
            if i >= warmup:
                times[key]["data"].append(t_data)
                times[key]["step"].append(t_step)
        t2 = time.perf_counter()
        lb, ulb = next(lab_it), next(ulb_it)
        t3 = time.perf_counter()
        alg.out_dict, alg.log_dict = alg.train_step(lb["x_lb"], lb["y_lb"], ulb["x_ulb_w"], ulb["x_ulb_s"])
        alg.call_hook("after_train_step")
        alg.it += 1
        t4 = time.perf_counter()
        if i >= warmup:
            times["usb"]["data"].append(t3 - t2)
            times["usb"]["step"].append(t4 - t2)
    def usb_step():
        alg.out_dict, alg.log_dict = alg.train_step(*_usb_batch(lab_it, ulb_it))
        alg.call_hook("after_train_step")

    prof = profile_tables(sides["ssfer"], usb_step) if PROFILE else {}
    return {"name": name, "backbone": backbone, "size": size, "b": b, "mu": mu, "checks": checks,
            "images_per_step": b + 2 * mu * b, "times": times, "profile": prof}


def _usb_batch(lab_it, ulb_it):
    lb, ulb = next(lab_it), next(ulb_it)
    return lb["x_lb"], lb["y_lb"], ulb["x_ulb_w"], ulb["x_ulb_s"]


PROFILE = False


def profile_tables(ssfer_step, usb_step, n: int = 3) -> dict[str, str]:
    """torch.profiler's top operators by self CPU time over ``n`` steps of each side."""
    from torch.profiler import ProfilerActivity, profile

    out = {}
    for name, fn in (("ssfer", ssfer_step), ("usb", usb_step)):
        with profile(activities=[ProfilerActivity.CPU]) as p:
            for _ in range(n):
                fn()
        out[name] = p.key_averages().table(sort_by="self_cpu_time_total", row_limit=8, max_name_column_width=40)
    return out


def _iqr(xs):
    q = statistics.quantiles(xs, n=4)
    return q[0], q[2]


def report(results: list[dict], argv: list[str], usb_version: str, stand_ins: list[str]) -> str:
    lines = [f"command: python bench/vs_usb.py {' '.join(argv)}",
             f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
             f"{torch.get_num_threads()} threads; semilearn {usb_version} (stand-ins: {', '.join(stand_ins) or 'none'}); "
             "nothing else running", ""]
    lines.append("Loss on one batch, same weights (ssfer vs USB):")
    for r in results:
        for t, (a, b) in r["checks"].items():
            lines.append(f"  {r['name']:9s} threshold {t:4.2f}: ssfer {a:.6f}  usb {b:.6f}  |diff| {abs(a - b):.2e}")
    lines += ["", f"{'size':9s} {'what':6s} {'ssfer ms':>16s} {'usb ms':>16s} {'ssfer img/s':>12s} {'usb img/s':>10s} "
              f"{'ratio':>6s}"]
    for r in results:
        n = r["images_per_step"]
        for side in ("ssfer", "ssfer_cl"):
            for what in ("data", "step"):
                if side == "ssfer_cl" and what == "data":
                    continue  # the same views as 'ssfer'
                a, b = r["times"][side][what], r["times"]["usb"][what]
                ma, mb = statistics.median(a), statistics.median(b)
                qa, qb = _iqr(a), _iqr(b)
                label = what if side == "ssfer" else "step, ssfer channels_last"
                lines.append(f"{r['name']:9s} {label:6s} {ma * 1e3:7.1f} [{qa[0] * 1e3:.0f}-{qa[1] * 1e3:.0f}] "
                             f"{mb * 1e3:7.1f} [{qb[0] * 1e3:.0f}-{qb[1] * 1e3:.0f}] {n / ma:12.0f} {n / mb:10.0f} "
                             f"{mb / ma:6.2f}")
    lines += ["", "ms: median [interquartile range] per step over the timed steps; 'data' = building the batch "
              "(labeled weak + unlabeled weak and strong views); 'step' = data + train_step + backward + optimiser "
              "+ schedule + EMA; ratio = ssfer images/s over USB images/s (target >= 1.3 for 'step').",
              "Sizes: " + "; ".join(f"{r['name']} = {r['backbone']} at {r['size']} px, B={r['b']}, mu={r['mu']}, "
                                   f"{r['images_per_step']} images a step" for r in results)]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--sizes", nargs="*", default=list(SIZES))
    p.add_argument("--images", type=int, default=512)
    p.add_argument("--out", default="")
    p.add_argument("--profile", action="store_true", help="also print torch.profiler's top operators")
    a = p.parse_args(argv)
    global PROFILE
    PROFILE = a.profile
    usb = import_usb()
    from importlib.metadata import version

    results = [time_size(usb, s, a.steps, a.warmup, a.images) for s in a.sizes]
    text = report(results, sys.argv[1:] if argv is None else argv, version("semilearn"), usb.stand_ins)
    for r in results:
        for side, table in r["profile"].items():
            text += f"\n\ntorch.profiler, {r['name']}, {side}: top operators by self CPU time over 3 steps\n{table}"
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
