"""Training-step speed on one device, per method, with AMP and memory-format variants.

    python bench/device_bench.py --device cuda [--backbone resnet18 --size 224 --batch 16 --mu 1]
                                 [--steps 30 --warmup 5] [--variants fp32 bf16 bf16+cl fp32+cl]
                                 [--methods fixmatch supervised sitfer leaf]

Each (method, variant) builds the method (``make_batch`` -> ``train_step`` -> ``optimizer_step``,
the trainer's own functions) on random uint8 images and times whole steps, synchronising the
device before reading the clock. ``bf16`` = autocast to bfloat16 (what ``amp=true`` does on CUDA);
``cl`` = ``channels_last=true``. Prints one row each: median and interquartile range of the step
time, steps per second (over all timed steps), images per second (every view of every image
counted) and the peak GPU memory the variant allocated.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch


from ssfer_core.config import TrainConfig
from ssfer_core.data.loading import FERData
from ssfer_core.build import build_method
from ssfer_core.train import TrainState, make_batch, optimizer_step, step_loss


def random_data(n: int, size: int, n_labeled: int) -> FERData:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)
    return as_fer_data(x, torch.randint(0, 7, (n,), generator=g), n_labeled)


def as_fer_data(x: torch.Tensor, y: torch.Tensor, n_labeled: int) -> FERData:
    """uint8 images ``[N, 3, S, S]`` as a training set: the first ``n_labeled`` labeled, the rest unlabeled."""
    idx = torch.arange(len(y))
    return FERData(train_images=x, train_labels=y, labeled_idx=idx[:n_labeled], unlabeled_idx=idx[n_labeled:],
                   val_idx=idx[:0], test_images=x[:1], test_labels=y[:1], train_keys=[], test_keys=[],
                   split_hash="bench", num_classes=7)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_variant(variant: str, a, data: FERData, method_name: str = "fixmatch") -> dict:
    cfg = TrainConfig(method=method_name, batch_size=a.batch, mu=a.mu, steps=a.steps + a.warmup,
                      amp="bf16" in variant, channels_last="cl" in variant)
    cfg.net.backbone, cfg.data.image_size = a.backbone, a.size
    cfg.sitfer.text_encoder = "random"  # the text tower is not part of the step
    torch.manual_seed(0)
    method = build_method(cfg, 7, len(data.labeled_idx)).to(a.device)
    if cfg.channels_last:
        method.to(memory_format=torch.channels_last)
    st = TrainState(cfg, method, data)
    use_amp = cfg.amp and a.device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=False)  # bf16 needs no loss scaling
    times = []
    if a.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    method.train()
    for i in range(cfg.steps):
        _sync(a.device)
        t0 = time.perf_counter()
        views = tuple(method.unlabeled_views)
        labeled, unlabeled, _ = make_batch(data, st.lab.next(), st.unl.next() if views else None, views, st.g_aug,
                                           cfg, a.device, slice(None), slice(None))
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
            loss, _ = step_loss(method, labeled, unlabeled, st.step, cfg.net.balance_coef)
        optimizer_step(loss, st, scaler, cfg)
        st.step += 1
        _sync(a.device)
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    n = a.batch + len(method.unlabeled_views) * a.mu * a.batch
    peak = torch.cuda.max_memory_allocated() / 2**20 if a.device.startswith("cuda") else float("nan")
    return {"method": method_name, "variant": variant, "median_ms": statistics.median(times) * 1e3, "q1_ms": q[0] * 1e3,
            "q3_ms": q[2] * 1e3, "img_s": n / statistics.median(times), "steps_s": 1 / statistics.mean(times),
            "peak_mib": peak, "loss": loss.item()}


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--backbone", default="resnet18")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--mu", type=int, default=1)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--variants", nargs="*", default=["fp32", "bf16", "fp32+cl", "bf16+cl"])
    p.add_argument("--methods", nargs="*", default=["fixmatch"])
    a = p.parse_args(argv)
    data = random_data(256, a.size, 64)
    name = torch.cuda.get_device_name() if a.device.startswith("cuda") else "cpu"
    print(f"command: python bench/device_bench.py {' '.join(sys.argv[1:] if argv is None else argv)}")
    print(f"training step, {a.backbone} at {a.size} px, B={a.batch}, mu={a.mu}, {a.steps} timed steps after "
          f"{a.warmup}, on {name} (torch {torch.__version__}, {torch.get_num_threads()} CPU threads)")
    print(f"{'method':11s} {'variant':10s} {'median ms':>10s} {'IQR ms':>14s} {'steps/s':>8s} {'img/s':>8s} "
          f"{'peak MiB':>9s} {'loss':>8s}")
    for m in a.methods:
        for v in a.variants:
            r = time_variant(v, a, data, m)
            assert torch.isfinite(torch.tensor(r["loss"])), f"{m} {v}: loss is {r['loss']}"
            print(f"{m:11s} {v:10s} {r['median_ms']:10.1f} {r['q1_ms']:6.1f}-{r['q3_ms']:<7.1f} {r['steps_s']:8.1f} "
                  f"{r['img_s']:8.0f} {r['peak_mib']:9.0f} {r['loss']:8.3f}")


if __name__ == "__main__":
    main()
