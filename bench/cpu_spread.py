"""How far the study's numbers move on another CPU, emulated on this one.

    python bench/cpu_spread.py --runs supervised_s0 fixmatch_s0 sitfer_s0 leaf_s0 --repeat sitfer_s2 \
        --out bench/results/cpu_spread.txt

A machine without AVX-512 runs other kernels (torch's ATen picks its vector ISA at start-up, oneDNN
its convolution ISA), which sum in other orders: bit-identical on one machine, not across them.
With ``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2`` this machine behaves like such a CPU. The
script re-runs the backbone pretraining and the named runs of the default study that way (in
/tmp, the study's files untouched) and prints each run's accuracy beside the study's own (which
must have run: ``make study``), with the main table's seed spread for scale. The largest move
says how far one CPU moves a run; ``ssfer compare`` reads a re-run against the spread over seeds
(ssfer_study/pipeline/compare.py).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from emit import emit  # bench/emit.py: scripts here run as `python bench/<name>.py`

import torch

EMULATE = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def sh(cmd: list[str], env: dict) -> None:
    subprocess.run(cmd, check=True, env=os.environ | env, stdout=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="params.yaml")
    ap.add_argument("--runs", nargs="+", default=["supervised_s0", "fixmatch_s0", "sitfer_s0", "leaf_s0"])
    ap.add_argument("--repeat", nargs="*", default=[],
                    help="runs to train again on this CPU as it is (same backbone): what moves without a CPU change")
    ap.add_argument("--workers", type=int, default=1, help="emulated runs trained side by side (the study's `workers`)")
    ap.add_argument("--work", default="/tmp/ssfer_cpu_spread")
    ap.add_argument("--out", default=None)
    ap.add_argument("--reuse", action="store_true",
                    help="read the runs already finished under --work instead of training them again (the table only)")
    a = ap.parse_args()
    from ssfer_study.study import load_study
    from ssfer_study.stages.tables import evaluated

    study = load_study(a.profile)
    work = Path(a.work)
    bin_dir = Path(sys.executable).parent
    cfg = study.base
    t0 = time.time()
    weights = work / "pretrained" / "backbone.pth"
    if not (a.reuse and weights.exists()):
        sh([str(bin_dir / "ssfer"), "pretrain", "--data", str(study.data_dir / "synthfacs_pretrain"), "--out", str(weights),
            "--backbone", cfg.net.backbone, "--size", str(cfg.data.image_size), "--steps", str(study.pretrain["steps"]),
            "--report", str(work / "pretrain.json")], EMULATE)
    ours, theirs = torch.load(cfg.net.weights), torch.load(weights)
    w_diff = max((ours[k].float() - theirs[k].float()).abs().max().item() for k in ours)
    lines = [f"$ python bench/cpu_spread.py --runs {' '.join(a.runs)}" + (f" --repeat {' '.join(a.repeat)}" if a.repeat else "")
             + (f" --workers {a.workers}" if a.workers > 1 else "") + (" --reuse (the runs trained before, read again)" if a.reuse else ""),
             f"emulated CPU: {' '.join(f'{k}={v}' for k, v in EMULATE.items())}; reference: this machine's default "
             f"(torch {torch.__version__}); SynthFACS, profile {study.name}", "",
             f"pretrained backbone: largest |weight difference| {w_diff:.2e}", "",
             f"{'run':<16} {'study':>7} {'emulated':>9} {'|diff|':>7} {'main-table sd':>14}"]
    main = json.loads((study.reports_dir / "metrics.json").read_text())["main"]
    def accuracy(run: str, out: Path, env: dict, extra: list[str]) -> tuple[float, float]:
        """Train ``run`` into ``out`` under ``env``; (the study's accuracy, this one's, the study's balanced
        accuracy, this one's), in %."""
        if not (a.reuse and (out / "metrics.json").exists()):
            sh([str(bin_dir / "ssfer"), "train", "--profile", a.profile, "--run", run, "--out", str(out), "--no-resume",
                *extra], env)
        last = [evaluated(json.loads((d / "metrics.json").read_text()))["last"] for d in (study.run_dir(run), out)]
        return tuple(100 * m[k] for k in ("acc", "bal_acc") for m in last)

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(a.workers) as pool:  # each run is its own process at the run's own threads
        done = list(pool.map(lambda run: accuracy(run, work / run, EMULATE, ["-S", f"net.weights={weights}"]), a.runs))
    moves, signed = [], {}
    for run, (ref, emu, bal_ref, bal_emu) in zip(a.runs, done):
        variant = study.runs[run].variant
        sd = main.get(variant, {}).get("acc_std")
        moves.append(abs(emu - ref))
        signed.setdefault(variant, []).append((emu - ref, bal_emu - bal_ref))
        lines.append(f"{run:<16} {ref:7.2f} {emu:9.2f} {abs(emu - ref):7.2f} {sd if sd is not None else '-':>14}")
    lines += ["", f"largest move {max(moves):.2f} points, mean {sum(moves) / len(moves):.2f} "
                  f"({len(moves)} runs, {a.workers} side by side, {time.time() - t0:.0f} s)"]
    if any(len(v) > 1 for v in signed.values()):  # what the table prints: a method's mean over its seeds
        lines += ["", "move of each method's mean over the seeds run here (emulated - study), what `ssfer compare` reads:", "",
                  f"{'method':<16} {'acc':>7} {'bal. acc':>9}"]
        lines += [f"{v:<16} {sum(x for x, _ in d) / len(d):+7.2f} {sum(y for _, y in d) / len(d):+9.2f}  ({len(d)} seeds)"
                  for v, d in signed.items()]
    if a.repeat:
        lines += ["", "the same runs again on this CPU, unchanged (the study's backbone):", "",
                  f"{'run':<16} {'study':>7} {'again':>9} {'|diff|':>7}"]
    for run in a.repeat:
        ref, again, _, _ = accuracy(run, work / "again" / run, {}, [])
        lines.append(f"{run:<16} {ref:7.2f} {again:9.2f} {abs(again - ref):7.2f}")
    emit(lines, a.out)


if __name__ == "__main__":
    main()
