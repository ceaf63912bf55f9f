"""Would bfloat16 autocast on the CPU buy the default study its time? Steps per second of each main
method in float32 and under ``torch.autocast("cpu", dtype=torch.bfloat16)``, in one process, and the
largest logit difference after the same steps from the same start.

    python bench/cpu_bf16.py --profile params.yaml --steps 40 \
        --out bench/results/cpu_bf16.txt

Run from the study's directory (the configs name its data and backbone), with nothing else on the
machine. A speed-up here is only a lever: the study's step sizes were chosen in float32, so using it
would mean repeating the validation search under bfloat16 (docs/validation.md).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from emit import emit  # bench/emit.py: scripts here run as `python bench/<name>.py`

from where_time_goes import METHODS, load_cfg

from ssfer_study.lessons.speed import steps_per_second


def timed_steps(cfg, data, steps: int, bf16: bool) -> tuple[float, "torch.Tensor"]:
    """Steps per second (``ssfer_study.lessons.speed``'s loop, the benchmark's) and the evaluated logits of 64 test faces at the
    end (to compare the two precisions' training)."""
    import torch

    from ssfer_core.data.views import normalize, test_view

    trained = []
    sps = steps_per_second(cfg, data, steps, bf16=bf16, method_out=trained)
    method = trained[0].eval()
    with torch.no_grad():
        logits = method.model(method.as_input(normalize(test_view(data.test_images[:64]))))["logits"]
    return sps, logits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="params.yaml", help="profile file: the benchmark times its seed-0 runs")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    import torch

    from ssfer_core.data.loading import load_data

    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    lines = [f"$ python bench/cpu_bf16.py --profile {a.profile} --steps {a.steps}",
             f"torch {torch.__version__}, {os.cpu_count()} CPUs, avx512_bf16 {'yes' if 'avx512_bf16' in flags else 'no'}, "
             f"amx_bf16 {'yes' if 'amx_bf16' in flags else 'no'}; SynthFACS default profile, seed-0 configs, "
             f"{a.steps} steps after 5 warm-up, float32 then bfloat16 in one process", "",
             f"{'method':<11} {'fp32 steps/s':>13} {'bf16 steps/s':>13} {'speed-up':>9} {'max |logit diff|':>17}"]
    data = None
    for method in METHODS:
        cfg = load_cfg(Path(a.profile), method, 2)
        data = data or load_data(cfg.data)
        fp32, l32 = timed_steps(cfg, data, a.steps, bf16=False)
        bf16, l16 = timed_steps(cfg, data, a.steps, bf16=True)
        lines.append(f"{method:<11} {fp32:13.2f} {bf16:13.2f} {bf16 / fp32:8.2f}x {(l32 - l16).abs().max().item():17.3f}")
        print(lines[-1], flush=True)
    emit(lines, a.out)


if __name__ == "__main__":
    main()
