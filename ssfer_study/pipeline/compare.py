"""``ssfer compare``: a study's ``metrics.json`` against a reference (by default the committed one),
each main-table mean judged by the committed spread over seeds.

A run is bit-identical on one machine, not across CPUs: the kernels torch picks (AVX2, AVX-512,
oneDNN's ISA) sum in other orders, the pretrained backbone's last digits move and two runs of the
same seed drift apart over training. So a re-run on another machine is judged as another draw: for
each method, the 95 % interval of the difference between your mean and the committed mean over
their seeds (Welch's two-sample t, each side's own spread; ``scipy.stats.ttest_ind``) must hold 0.
Each run is listed with its difference to the committed run of the same seed: on the committing
machine every difference is exactly 0, and a run that moved says where the drift is. A reference
without per-seed values (or one seed a side) falls back to a fixed :data:`TOLERANCE`.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

TOLERANCE = 2.5
"""Accuracy points a mean may move when no spread can be read (one seed, or a reference without
per-seed values): bench/results/cpu_spread_converged.txt moved the main-table means at most 1.42
points on an emulated AVX2 CPU."""
FIELDS = ("acc", "bal_acc")
MOVED = 0.005
"""A run whose accuracy differs from the committed run of its seed by more than this (points) moved:
the same machine reproduces every run to the last digit."""


def read_reference(reference: str, path: Path) -> dict:
    """``git:<rev>`` (the file at that revision, default ``git:HEAD``) or a path to a metrics.json."""
    if reference.startswith("git:"):
        rev = reference[4:] or "HEAD"
        try:
            text = subprocess.run(["git", "show", f"{rev}:{path.as_posix()}"], check=True, capture_output=True,
                                  text=True).stdout
        except (subprocess.CalledProcessError, FileNotFoundError) as e:
            raise FileNotFoundError(f"cannot read {path} at git revision {rev!r} ({getattr(e, 'stderr', e)}); "
                                    "pass --reference PATH to a metrics.json instead") from None
        return json.loads(text)
    return json.loads(Path(reference).read_text())


def compare(current: dict, reference: dict, tolerance: float | None = None) -> pd.DataFrame:
    """One row per (method, field) of the main table: both means, their difference, its 95 %
    two-sample interval over seeds and the verdict (``consistent`` when the interval holds 0,
    ``moved``), and the runs that moved (seed: difference to the committed run of that seed). With
    ``tolerance`` (or without per-seed values) the verdict is |difference| <= tolerance instead. A
    method present on one side only is a row marked ``missing``."""
    from scipy import stats

    rows = []
    cur, ref = current.get("main", {}), reference.get("main", {})
    for method in dict.fromkeys([*ref, *cur]):
        for f in FIELDS:
            a, b = cur.get(method, {}), ref.get(method, {})
            if a.get(f"{f}_mean") is None or b.get(f"{f}_mean") is None:
                rows.append({"method": method, "field": f, "yours": a.get(f"{f}_mean"), "reference": b.get(f"{f}_mean"),
                             "difference": None, "interval": "", "verdict": "missing", "runs that moved": ""})
                continue
            d = a[f"{f}_mean"] - b[f"{f}_mean"]
            mine, theirs = a.get(f"{f}_per_seed") or [], b.get(f"{f}_per_seed") or []
            seeds_a, seeds_b = dict(zip(a.get("seeds", []), mine)), dict(zip(b.get("seeds", []), theirs))
            moved = {s: seeds_a[s] - seeds_b[s] for s in sorted(set(seeds_a) & set(seeds_b))
                     if abs(seeds_a[s] - seeds_b[s]) > MOVED}
            if tolerance is None and len(mine) > 1 and len(theirs) > 1:
                if np.ptp(mine) == 0 and np.ptp(theirs) == 0:  # no spread on either side: exact or not
                    low = high = d
                else:
                    ci = stats.ttest_ind(mine, theirs, equal_var=False).confidence_interval(0.95)
                    low, high = float(ci.low), float(ci.high)
                interval, ok = f"[{low:+.2f}, {high:+.2f}]", low <= 0 <= high
            else:
                limit = TOLERANCE if tolerance is None else tolerance
                interval, ok = f"± {limit:g} (fixed)", abs(d) <= limit
            rows.append({"method": method, "field": f, "yours": round(a[f"{f}_mean"], 2),
                         "reference": round(b[f"{f}_mean"], 2), "difference": round(d, 2), "interval": interval,
                         "verdict": "consistent" if ok else "moved",
                         "runs that moved": ", ".join(f"s{s} {v:+.2f}" for s, v in moved.items()) or "-"})
    return pd.DataFrame(rows)


def run(metrics: Path, reference: str, tolerance: float | None = None) -> int:
    """Print the comparison; 0 when every mean is consistent with the reference, 1 otherwise."""
    if not metrics.exists():
        raise FileNotFoundError(f"{metrics} not found: run the study first (`make study`)")
    current = json.loads(metrics.read_text())
    ref = read_reference(reference, metrics)
    if current.get("dataset") != ref.get("dataset") or current.get("profile") != ref.get("profile"):
        print(f"note: comparing {current.get('dataset')} / {current.get('profile')} against "
              f"{ref.get('dataset')} / {ref.get('profile')}")
    table = compare(current, ref, tolerance)
    how = f"a fixed tolerance of {tolerance:g} points" if tolerance is not None else \
        "the 95 % two-sample interval over seeds of each difference"
    print(f"{metrics} against {reference}, judged by {how}\n")
    print(table.to_string(index=False))
    bad = table[table["verdict"] != "consistent"]
    print(f"\n{'every mean consistent with the reference' if bad.empty else f'{len(bad)} moved or missing'}")
    return 0 if bad.empty else 1
