"""``ssfer compare``: a study's ``metrics.json`` against a reference (by default the committed one),
within the tolerance measured for another machine of the same kind.

A run is bit-identical on one machine, not across CPUs: the kernels torch picks (AVX2, AVX-512,
oneDNN's ISA) sum in other orders, the pretrained backbone's last digits move and two runs of the
same seed drift apart over training. ``bench/cpu_spread.py`` measures how far by emulating
another CPU on this one; :data:`TOLERANCE` is the bound it supports for a main-table mean (README).
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd

TOLERANCE = 2.5
"""Accuracy points a main-table mean (``main.<method>.acc_mean``, ``bal_acc_mean``) may move on
another CPU: bench/results/cpu_spread_converged.txt trained the converged default's 12 main runs
again on an emulated AVX2 CPU (the pretrained backbone included): the method means moved at most 1.42
points in accuracy and 2.01 in balanced accuracy (single runs up to 3.42 and 5.59); 2.5 covers both
with a little room. One emulated CPU, so a real one may move more (a mean past it says: look)."""
FIELDS = ("acc_mean", "bal_acc_mean")


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


def compare(current: dict, reference: dict, tolerance: float = TOLERANCE) -> pd.DataFrame:
    """One row per (method, field) of the main table: both values, |difference|, within tolerance.
    A method present on one side only is a row marked ``missing``."""
    rows = []
    cur, ref = current.get("main", {}), reference.get("main", {})
    for method in dict.fromkeys([*ref, *cur]):
        for f in FIELDS:
            a, b = cur.get(method, {}).get(f), ref.get(method, {}).get(f)
            if a is None or b is None:
                rows.append({"method": method, "field": f, "yours": a, "reference": b, "|diff|": None,
                             "verdict": "missing"})
                continue
            d = abs(a - b)
            rows.append({"method": method, "field": f, "yours": round(a, 2), "reference": round(b, 2),
                         "|diff|": round(d, 2), "verdict": "ok" if d <= tolerance else "outside tolerance"})
    return pd.DataFrame(rows)


def run(metrics: Path, reference: str, tolerance: float) -> int:
    """Print the comparison; 0 when every number is within ``tolerance``, 1 otherwise."""
    if not metrics.exists():
        raise FileNotFoundError(f"{metrics} not found: run the study first (`make study`)")
    current = json.loads(metrics.read_text())
    ref = read_reference(reference, metrics)
    if current.get("dataset") != ref.get("dataset") or current.get("profile") != ref.get("profile"):
        print(f"note: comparing {current.get('dataset')} / {current.get('profile')} against "
              f"{ref.get('dataset')} / {ref.get('profile')}")
    table = compare(current, ref, tolerance)
    print(f"{metrics} against {reference}, tolerance {tolerance:g} accuracy points\n")
    print(table.to_string(index=False))
    bad = table[table["verdict"] != "ok"]
    print(f"\n{'all within tolerance' if bad.empty else f'{len(bad)} outside tolerance or missing'}")
    return 0 if bad.empty else 1
