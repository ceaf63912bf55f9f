"""Where a training run's time goes, on this machine: start costs, data load, each part of a step,
evaluation, threads, and how close a step is to the machine's float32 limit.

    python bench/where_time_goes.py --profile params.yaml --steps 60 \
        --out bench/results/where_time_goes.txt

Reads the seed-0 run configs of the main table (the `configs` stage writes them) and the dataset and
pretrained backbone they name. Prints one table per question, with the command line. Run it with
nothing else on the machine: on 2 cores a second process changes every number.

* start: a bare interpreter, ``import torch``, the trainer's imports, and a papermill kernel running
  an empty notebook (what each training stage pays before its first step).
* run parts (in process, threads as the profile): data load, method build, a step split into views,
  forward + losses, backward + optimiser + EMA; one evaluation (raw + EMA on the test set); LEAF's
  once-per-epoch threshold pass.
* threads: steps/s of one process at 1 and at 2 threads, and the summed steps/s of two 1-thread
  processes running at once (the other way to use 2 cores).
* limit: FLOPs of one step (forward + backward, counted by ``torch.utils.flop_counter``), the
  step's achieved GFLOP/s, and a 1024 x 1024 float32 matmul's GFLOP/s at the same threads.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from emit import emit  # bench/emit.py: scripts here run as `python bench/<name>.py`

from ssfer_study.lessons import speed  # the step loop the lessons' time check shares

METHODS = ("supervised", "fixmatch", "sitfer", "leaf")


def wall(cmd: list[str], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def start_costs() -> list[tuple[str, float]]:
    py = sys.executable
    empty = {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                        "source": "pass"}], "metadata": {"kernelspec": {"name": "python3", "language": "python",
                                                                         "display_name": "Python 3"}},
             "nbformat": 4, "nbformat_minor": 5}
    with tempfile.TemporaryDirectory() as tmp:
        nb = Path(tmp, "empty.ipynb")
        nb.write_text(json.dumps(empty))
        papermill = [str(Path(py).parent / "papermill"), str(nb), str(Path(tmp, "out.ipynb")), "-k", "python3",
                     "--log-level", "WARNING"]
        return [("python -c pass", wall([py, "-c", "pass"])),
                ("python -c 'import torch'", wall([py, "-c", "import torch"])),
                ("python -c 'import ssfer_core.train' (the trainer's imports)",
                 wall([py, "-c", "import ssfer_core.train, ssfer_core.build"])),
                ("papermill: kernel start + an empty notebook", wall(papermill))]


def load_cfg(profile_file: Path, method: str, threads: int | None, overrides: list[str] = ()):
    """The method's seed-0 run config; ``threads=None`` keeps the run's own (the profile's)."""
    from ssfer_study.study import load_study

    return load_study(profile_file).config(f"{method}_s0", [*([f"threads={threads}"] if threads else []), *overrides])


def run_parts(cfg, data, steps: int) -> dict:
    """Time ``steps`` training steps part by part (after 5 warm-up steps), one evaluation and, for
    LEAF, one threshold pass; returns seconds."""
    import torch

    from ssfer_core.train import evaluate_models, labeled_logits, make_batch, optimizer_step, step_loss

    t = time.perf_counter()
    method, st = speed.setup(cfg, data)
    build = time.perf_counter() - t
    views = tuple(method.unlabeled_views)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    whole = slice(None)
    parts = {"views": 0.0, "forward": 0.0, "backward+opt+ema": 0.0}
    method.train()
    for i in range(steps + 5):
        t0 = time.perf_counter()
        lab, unl, _ = make_batch(data, st.lab.next(), st.unl.next() if views else None, views, st.g_aug, cfg,
                                 "cpu", whole, whole)
        t1 = time.perf_counter()
        loss, _ = step_loss(method, lab, unl, st.step, cfg.net.balance_coef)
        t2 = time.perf_counter()
        optimizer_step(loss, st, scaler, cfg)
        st.step += 1
        t3 = time.perf_counter()
        if i >= 5:
            parts["views"] += t1 - t0
            parts["forward"] += t2 - t1
            parts["backward+opt+ema"] += t3 - t2
    out = {k: v / steps for k, v in parts.items()}
    out["step"] = sum(out.values())
    out["build"] = build
    t = time.perf_counter()
    evaluate_models(st, data, cfg, "cpu", None)
    out["evaluation"] = time.perf_counter() - t
    if method.needs_labeled_logits:
        t = time.perf_counter()
        labeled_logits(method, st.ema if st.ema is not None else method.model, data, cfg, "cpu", 1)
        out["threshold pass"] = time.perf_counter() - t
    out["flops"] = step_flops(method, data, cfg, st)
    return out


def step_flops(method, data, cfg, st) -> float:
    """FLOPs of one training step's forward and backward (the optimiser and views not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    from ssfer_core.train import make_batch, step_loss

    views = tuple(method.unlabeled_views)
    lab, unl, _ = make_batch(data, st.lab.next(), st.unl.next() if views else None, views, st.g_aug, cfg, "cpu",
                             slice(None), slice(None))
    with FlopCounterMode(display=False) as fc:
        loss, _ = step_loss(method, lab, unl, st.step, cfg.net.balance_coef)
        loss.backward()
    method.zero_grad(set_to_none=True)
    return float(fc.get_total_flops())


def matmul_gflops(threads: int, n: int = 1024, repeats: int = 20) -> float:
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    t = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n ** 3 * repeats / (time.perf_counter() - t) / 1e9


def steps_per_second(profile_file: Path, method: str, threads: int, steps: int, overrides: list[str] = ()) -> float:
    from ssfer_core.data.loading import load_data

    cfg = load_cfg(profile_file, method, threads, overrides)
    return speed.steps_per_second(cfg, load_data(cfg.data), steps)


def child(a) -> None:
    print(json.dumps({"sps": steps_per_second(Path(a.profile), a.child, a.threads, a.steps, a.set)}))


def concurrent_pair(profile_file: Path, method: str, steps: int, overrides: list[str] = ()) -> float:
    cmd = [sys.executable, __file__, "--profile", str(profile_file), "--child", method, "--threads", "1",
           "--steps", str(steps), *[f"--set={o}" for o in overrides]]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, text=True) for _ in range(2)]
    return sum(json.loads(p.communicate()[0].strip().splitlines()[-1])["sps"] for p in procs)


def threads_table(profile_file: Path, steps: int, overrides: list[str] = (), label: str = "",
                  two_threads: dict | None = None) -> list[str]:
    """The table's lines; ``two_threads`` (when given) gets each method's 2-thread steps/s."""
    lines = [f"{'backbone':<15} {'method':<11} {'1 thread':>9} {'2 threads':>10} {'2 x 1 thread':>13} {'2x1 / 2':>8}"]
    for m in METHODS:
        s1 = steps_per_second(profile_file, m, 1, steps, overrides)
        s2 = steps_per_second(profile_file, m, 2, steps, overrides)
        if two_threads is not None:
            two_threads[m] = s2
        pair = concurrent_pair(profile_file, m, steps, overrides)
        lines.append(f"{label:<15} {m:<11} {s1:9.1f} {s2:10.1f} {pair:13.1f} {pair / s2:8.2f}")
    return lines


def threads_by_backbone(a) -> None:
    """The threads table for each backbone in one run of the script (ratios between backbones are
    only comparable within one run)."""
    import torch

    lines = [f"$ python bench/where_time_goes.py --profile {a.profile} --steps {a.steps} --backbones "
             + " ".join(a.backbones), f"torch {torch.__version__}, {os.cpu_count()} CPUs", "",
             "## steps/s of a process at 1 and 2 threads, and of two 1-thread processes at once, per backbone", ""]
    for i, b in enumerate(a.backbones):
        table = threads_table(Path(a.profile), a.steps, [f"net.backbone={b}", "net.weights=null"], b)
        lines += table if i == 0 else table[1:]
    emit(lines, a.out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="params.yaml", help="profile file: the benchmark times its seed-0 runs")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--threads", type=int, default=None, help="(child mode) threads")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None)
    ap.add_argument("--set", action="append", default=[], help="(child mode) a config override")
    ap.add_argument("--backbones", nargs="+", default=None,
                    help="only the threads table, once per backbone (its weights left out: speed only), "
                         "e.g. --backbones synth_cnn synth_cnn_slim")
    a = ap.parse_args()
    if a.child:
        return child(a)
    if a.backbones:
        return threads_by_backbone(a)
    import torch

    from ssfer_core.data.loading import load_data

    profile_file = Path(a.profile)
    lines = [f"$ python bench/where_time_goes.py --profile {a.profile} --steps {a.steps}",
             f"torch {torch.__version__}, {os.cpu_count()} CPUs, SynthFACS default profile configs", ""]
    lines += ["## start costs (median of 3, seconds)", ""]
    lines += [f"{name:<60} {s:7.2f}" for name, s in start_costs()]
    cfg0 = load_cfg(profile_file, "supervised", None)  # the parts as the study runs them
    t = time.perf_counter()
    data = load_data(cfg0.data)
    lines += [f"{'data load (decoded-image cache warm)':<60} {time.perf_counter() - t:7.2f}", ""]
    lines += [f"## one run's parts at {cfg0.threads} thread(s) (the run's own), seconds ({a.steps} steps after 5 warm-up)", "",
              f"{'method':<11} {'views':>7} {'forward':>8} {'bwd+opt':>8} {'step':>7} {'x steps':>8} "
              f"{'build':>6} {'1 eval':>7} {'evals':>6} {'thr pass':>9} {'run':>7}"]
    limit = {}
    for m in METHODS:
        cfg = load_cfg(profile_file, m, None)
        p = run_parts(cfg, data, a.steps)
        n_evals = len(range(cfg.eval_every, cfg.steps + 1, cfg.eval_every)) + (cfg.steps % cfg.eval_every != 0)
        n_pass = cfg.steps // cfg.steps_per_epoch if "threshold pass" in p else 0
        run = p["step"] * cfg.steps + p["build"] + n_evals * p["evaluation"] + n_pass * p.get("threshold pass", 0)
        lines.append(f"{m:<11} {p['views'] * 1e3:6.1f}m {p['forward'] * 1e3:7.1f}m {p['backward+opt+ema'] * 1e3:7.1f}m "
                     f"{p['step'] * 1e3:6.1f}m {p['step'] * cfg.steps:8.1f} {p['build']:6.2f} {p['evaluation']:7.2f} "
                     f"{n_evals:>6} {p.get('threshold pass', 0):9.3f} {run:7.1f}")
        limit[m] = (p["flops"], p["step"])
    lines += ["", "(m = milliseconds per step; 'x steps' = step x the run's steps; 'run' = steps + build + "
              "evaluations + LEAF's threshold passes, without the start costs and data load above)", ""]
    lines += ["## threads: steps/s of a process at 1 and 2 threads, and of two 1-thread processes at once", ""]
    two_threads: dict = {}
    lines += threads_table(profile_file, a.steps, label=cfg0.net.backbone, two_threads=two_threads)
    mm = {t: matmul_gflops(t) for t in (1, 2)}
    lines += ["", "## how close a step is to the machine's limit (float32)", "",
              f"1024x1024 matmul: {mm[1]:.1f} GFLOP/s at 1 thread, {mm[2]:.1f} GFLOP/s at 2 threads", "",
              f"(a step at {cfg0.threads} thread(s), the run's own, against the matmul at as many)", "",
              f"{'method':<11} {'GFLOP/step':>11} {'step ms':>8} {'GFLOP/s':>8} {'of matmul':>10}"]
    for m, (flops, step) in limit.items():
        lines.append(f"{m:<11} {flops / 1e9:11.3f} {step * 1e3:8.1f} {flops / step / 1e9:8.2f} "
                     f"{flops / step / 1e9 / mm.get(cfg0.threads, mm[2]):9.1%}")
    emit(lines, a.out)
    if a.out:  # the reference speed the lessons' time check reads (ssfer_study.lessons.speed.REFERENCE)
        Path(a.out).with_name("reference_speed.json").write_text(json.dumps({
            "workload": f"the {profile_file} study's supervised run on {cfg0.net.backbone} at 2 threads",
            "steps_per_second": round(two_threads["supervised"], 1), "table": str(a.out), "command": lines[0]}, indent=1))


if __name__ == "__main__":
    main()
