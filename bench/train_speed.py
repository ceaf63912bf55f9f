"""Training throughput (images per second through the network, all views counted).

    python bench/train_speed.py [--steps 20] [--resnet]

For each method: labeled + unlabeled views per step, seconds per step and images/second, for the
default CPU profile (synth_cnn, 48 px, batch 16, mu 3) and, with --resnet, ResNet-18 at 224 px.
USB's ``semilearn==0.3.2`` FixMatch is timed side by side when it imports (it is not installed by
this project: its imports need scikit-image, torchaudio, wandb and aim); otherwise the table says so.
"""
import argparse
import os
import time

import torch

from ssfer_core.config import TrainConfig
from ssfer_core.data.views import normalize, strong_view, weak_view
from ssfer_core.methods import build
from ssfer_core.methods.base import DataInfo


def time_method(name: str, backbone: str, size: int, batch: int, mu: int, steps: int, device: str) -> tuple:
    cfg = TrainConfig(method=name, batch_size=batch, mu=mu)
    cfg.net.backbone = backbone
    cfg.sitfer.text_encoder = "random"
    torch.manual_seed(0)
    method = build(cfg, DataInfo(7, 70, 1000, 100, "cache")).to(device)
    opt = torch.optim.SGD(method.parameters(), lr=0.01, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    xl = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8)
    xu = torch.randint(0, 256, (batch * mu, 3, size, size), dtype=torch.uint8)
    n_imgs = batch + (batch * mu * len(method.unlabeled_views))

    def step(i):
        lab = {"x": normalize(weak_view(xl, g)), "y": torch.randint(0, 7, (batch,)), "idx": torch.arange(batch)}
        unl = {v: normalize(strong_view(xu, g) if v == "strong" else weak_view(xu, g)) for v in method.unlabeled_views}
        loss, _ = method.train_step(lab, unl, i)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for i in range(3):
        step(i)
    t = time.perf_counter()
    for i in range(steps):
        step(i)
    dt = (time.perf_counter() - t) / steps
    return name, backbone, size, n_imgs, dt, n_imgs / dt


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--resnet", action="store_true")
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    rows = [time_method(m, "synth_cnn", 48, 16, 3, a.steps, a.device)
            for m in ("supervised", "fixmatch", "sitfer", "leaf")]
    if a.resnet:
        rows += [time_method(m, "resnet18", 224, 16, 1, max(3, a.steps // 5), a.device) for m in ("supervised", "fixmatch")]
    print(f"command: python bench/train_speed.py --steps {a.steps}{' --resnet' if a.resnet else ''} "
          f"(device {a.device}, torch threads {torch.get_num_threads()}, cores {os.cpu_count()})")
    print(f"{'method':<12}{'backbone':<11}{'px':>4}{'imgs/step':>10}{'s/step':>9}{'img/s':>8}")
    for name, bb, size, n, dt, r in rows:
        print(f"{name:<12}{bb:<11}{size:>4}{n:>10}{dt:>9.3f}{r:>8.0f}")
    try:
        import semilearn  # noqa: F401

        print("semilearn imported: see bench/README.md for the side-by-side run")
    except ImportError:
        print("semilearn==0.3.2 is not importable here: its imports need scikit-image, torchaudio, wandb and aim, "
              "which this project does not install (no torchaudio build matches torch 2.14.1 here); no side-by-side timing")


if __name__ == "__main__":
    main()
