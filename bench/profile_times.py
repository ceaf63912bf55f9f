"""How long each study profile's `train` stage should take on 2 cores, estimated from measured runs.

    python bench/profile_times.py --measured runs/default --out bench/results/profile_times.txt

An estimate, not a measurement: each run's seconds a step are those its method took in the measured
study (``train_seconds / steps`` of its finished runs, one thread, two runs side by side), times the
run's own steps; a method the measured study did not train borrows LEAF's rate (LEAF's plug-ins
train LEAF's head and are costed like it by ``MethodDef.cost``). Runs are dealt to the
profile's ``workers`` longest first, as ``ssfer train-runs`` starts them, and the stage ends with its
last run. A run the profile copies from its ``reuse_runs_from`` profile (same name, same config
but for the profile's folders: ``ssfer train-runs`` copies it when that profile has finished it) costs
nothing and is counted under "copied". The first line checks the estimate against the measured study's own runs; the stages
around `train` (synth, pretraining, data tour, results, analysis, report) add a few minutes
(docs/benchmarks.md).
"""
from __future__ import annotations

import argparse
import dataclasses
import heapq
import json
from pathlib import Path

from emit import emit  # bench/emit.py: scripts here run as `python bench/<name>.py`


def seconds_per_step(measured: Path) -> dict[str, float]:
    """Mean seconds a step per method over the finished runs under ``measured`` (shared protocol only:
    the release recipes' optimisers cost the same a step, but their runs are not in the default)."""
    rates: dict[str, list[float]] = {}
    for m in sorted(measured.glob("*/metrics.json")):
        r = json.loads(m.read_text())
        if r.get("protocol", "shared") == "shared" and r.get("train_seconds"):
            rates.setdefault(r["method"], []).append(r["train_seconds"] / r["steps"])
    return {k: sum(v) / len(v) for k, v in rates.items()}


def makespan(costs: list[float], workers: int) -> float:
    """When the last of ``costs`` ends, dealt longest first to the worker that frees up first."""
    free = [0.0] * workers
    for c in sorted(costs, reverse=True):
        heapq.heappush(free, heapq.heappop(free) + c)
    return max(free)


def portable(cfg) -> dict:
    """A run's config without the keys that name its profile's folders (train_runs.PROFILE_PATHS)."""
    from ssfer_study.pipeline.train_runs import strip_profile_paths

    return strip_profile_paths(dataclasses.asdict(cfg))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--measured", default="runs/default", help="a finished study's runs (their metrics.json)")
    ap.add_argument("--profiles", nargs="+", default=["default", "quick", "labels", "extended"])
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    from ssfer_study.study import load_study

    rates = seconds_per_step(Path(a.measured))
    measured_runs = [json.loads(m.read_text()) for m in sorted(Path(a.measured).glob("*/metrics.json"))]
    lines = [f"$ python bench/profile_times.py --measured {a.measured} --profiles {' '.join(a.profiles)}",
             "seconds a step measured per method (1 thread, two runs side by side): "
             + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in sorted(rates.items())), "",
             f"check: the measured study's own runs, summed per worker: "
             f"{makespan([r['train_seconds'] for r in measured_runs], 2) / 60:.1f} min (its `train` stage's wall"
             " time adds the gaps between runs: compare with docs/benchmarks.md)", "",
             f"{'profile':<10} {'runs':>5} {'copied':>7} {'workers':>8} {'run-minutes':>12} {'train, estimated':>17}"
             f" {'without copies':>15}  borrowed rates"]
    for name in a.profiles:
        study = load_study("params.yaml" if name == "default" else f"studies/{name}/params.yaml")
        workers = study.workers if isinstance(study.workers, int) else 1
        donor = load_study(study.reuse_runs_from) if study.reuse_runs_from else None
        costs, every, borrowed, copied = [], [], set(), 0
        for run in study.runs:
            cfg = study.config(run)
            if cfg.method not in rates:
                borrowed.add(cfg.method)
            every.append(cfg.steps * rates.get(cfg.method, rates["leaf"]))
            if donor and run in donor.runs and portable(donor.config(run)) == portable(cfg):
                copied += 1
            else:
                costs.append(every[-1])
        lines.append(f"{name:<10} {len(study.runs):>5} {copied:>7} {workers:>8} {sum(costs) / 60:>12.0f} "
                     f"{makespan(costs, workers) / 60:>13.0f} min {makespan(every, workers) / 60:>11.0f} min"
                     f"  {', '.join(sorted(borrowed)) or '-'}")
    emit(lines, a.out)


if __name__ == "__main__":
    main()
