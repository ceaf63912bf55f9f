"""SynthFACS generation speed on this machine.

    python bench/synth_speed.py [--n 15339] [--workers 0]

Prints a table: images, workers, seconds, images/second. Target: the default 15,339-image
dataset (12,271 + 3,068 at 64 px) in under 60 s on 2 cores.
"""
import argparse
import os
import shutil
import tempfile
import time

from ssfer_core.data.synthetic import SynthConfig, generate


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=15339)
    p.add_argument("--workers", type=int, nargs="*", default=[1, 0])
    a = p.parse_args()
    rows = []
    for w in a.workers:
        n = a.n if w != 1 else min(a.n, 2000)  # single process: a sample is enough
        out = tempfile.mkdtemp()
        cfg = SynthConfig(n_train=int(n * 0.8), n_test=n - int(n * 0.8), workers=w)
        t = time.perf_counter()
        generate(cfg, out, progress=False)
        dt = time.perf_counter() - t
        shutil.rmtree(out)
        rows.append((n, w or os.cpu_count(), dt, n / dt))
    print(f"command: python bench/synth_speed.py --n {a.n}  (cores: {os.cpu_count()})")
    print(f"{'images':>8} {'workers':>8} {'seconds':>8} {'img/s':>8}")
    for n, w, dt, r in rows:
        print(f"{n:>8} {w:>8} {dt:>8.1f} {r:>8.0f}")


if __name__ == "__main__":
    main()
