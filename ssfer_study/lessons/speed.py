"""How fast this machine trains right now, in the unit the committed benchmark uses.

Machines of one kind differ up to 3x in speed, and one machine's speed moves by 1.3-1.8x within an
hour (docs/benchmarks.md). A wall-clock limit ("each lesson within 3 minutes on the 2-core machine") is
therefore read at the machine's **reference speed**: the training steps per second that
``bench/where_time_goes.py`` measured and committed in ``bench/results/where_time_goes.txt`` for
one workload, the default study's supervised run on ``synth_cnn_slim`` at 2 threads. A check
measures the same workload now (:func:`steps_per_second`, the code the benchmark runs) and divides
its wall time by how much slower the machine is than that (:func:`slowdown`).
"""
from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

REFERENCE = Path("bench/results/reference_speed.json")
"""The reference speed: the benchmark's steps/s of one workload (the default study's supervised run
on ``synth_cnn_slim`` at 2 threads), written by ``bench/where_time_goes.py`` with its table."""
MAX_SLOWDOWN = 3.0
"""The most a slow machine excuses: the spread between machines of one kind the project measured.
A slowdown beyond it is treated as the check's own (a lesson that became slower, not the machine)."""


def setup(cfg, data):
    """The method (in the run's memory format) and its TrainState, as the trainer builds them."""
    import torch

    from ssfer_core.build import build_method
    from ssfer_core.train import TrainState, seed_everything

    torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    method = build_method(cfg, data.num_classes, len(data.labeled_idx))
    if cfg.channels_last:
        method.to(memory_format=torch.channels_last)
    return method, TrainState(cfg, method, data)


def steps_per_second(cfg, data, steps: int, bf16: bool = False, method_out: list | None = None) -> float:
    """Training steps per second of ``cfg`` over ``steps`` steps after 5 warm-up steps (``bf16``:
    each step's forward under CPU bfloat16 autocast; ``method_out`` receives the trained method)."""
    import torch

    from ssfer_core.train import make_batch, optimizer_step, step_loss

    method, st = setup(cfg, data)
    views = tuple(method.unlabeled_views)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    method.train()
    for i in range(steps + 5):
        if i == 5:
            t = time.perf_counter()
        lab, unl, _ = make_batch(data, st.lab.next(), st.unl.next() if views else None, views, st.g_aug, cfg,
                                 "cpu", slice(None), slice(None))
        with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
            loss, _ = step_loss(method, lab, unl, st.step, cfg.net.balance_coef)
        optimizer_step(loss, st, scaler, cfg)
        st.step += 1
    sps = steps / (time.perf_counter() - t)
    if method_out is not None:
        method_out.append(method)
    return sps


def reference_steps_per_second(path: Path = REFERENCE) -> float:
    """The committed benchmark's steps/s of the reference workload (``reference_speed.json``, which
    ``bench/where_time_goes.py --out`` writes beside its table)."""
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: it holds the reference speed; restore it with git "
                                "or re-make it with `python bench/where_time_goes.py --out bench/results/where_time_goes.txt`")
    return float(json.loads(path.read_text())["steps_per_second"])


def slowdown(measured_sps: float, reference_sps: float, cap: float = MAX_SLOWDOWN) -> float:
    """How many times slower than its reference the machine runs now, between 1 (never stricter
    than the wall clock on a fast machine) and ``cap``."""
    if measured_sps <= 0 or reference_sps <= 0:
        raise ValueError(f"steps/s must be positive, got measured {measured_sps} and reference {reference_sps}")
    return min(cap, max(1.0, reference_sps / measured_sps))
