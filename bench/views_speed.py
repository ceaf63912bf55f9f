"""What the views cost: the batched tensor views (the shared protocol) against the releases' views
image by image with PIL (``augment: official``, the official recipes), one batch at a time.

    python bench/views_speed.py --out bench/results/views_speed.txt

One thread (as one worker of the study), uint8 batches of random pixels; each row is the mean of
``--repeats`` batches after one warm-up.
"""
from __future__ import annotations

import argparse
import time

import torch

from emit import emit  # bench/emit.py: scripts here run as `python bench/<name>.py`


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=100)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    from ssfer_core.data.official_views import official_view
    from ssfer_core.data.views import strong_view, weak_view

    torch.set_num_threads(1)
    x = torch.randint(0, 256, (a.batch, 3, a.size, a.size), dtype=torch.uint8)
    g = torch.Generator().manual_seed(0)
    views = {"weak": (lambda: weak_view(x, g), lambda: official_view("weak", x, g)),
             "strong": (lambda: strong_view(x, g), lambda: official_view("strong", x, g))}
    lines = [f"$ python bench/views_speed.py --batch {a.batch} --size {a.size} --repeats {a.repeats}",
             f"ms per batch of {a.batch} images at {a.size} px, 1 thread", "",
             f"{'view':<8} {'batched':>9} {'release':>9} {'ratio':>7}"]
    for name, fns in views.items():
        ms = []
        for f in fns:
            f()
            t = time.perf_counter()
            for _ in range(a.repeats):
                f()
            ms.append((time.perf_counter() - t) / a.repeats * 1000)
        lines.append(f"{name:<8} {ms[0]:>9.2f} {ms[1]:>9.2f} {ms[1] / ms[0]:>6.1f}x")
    emit(lines, a.out)


if __name__ == "__main__":
    main()
