"""Collect finished runs into the study's tables (mean +/- std over seeds, last and best)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd


def collect(runs_dir: str | Path, runs: dict) -> dict[str, dict]:
    out = {}
    for key in runs:
        path = Path(runs_dir) / key / "metrics.json"
        if path.exists():
            out[key] = json.loads(path.read_text())
    return out


def variant(key: str) -> str:
    """Run key without its seed suffix: 'fixmatch_s2' -> 'fixmatch'."""
    return re.sub(r"_s\d+$", "", key)


def _fmt(values: list[float]) -> str:
    if len(values) == 1:
        return f"{100 * values[0]:.1f}"
    return f"{100 * np.mean(values):.1f} ± {100 * np.std(values, ddof=1):.1f}"


def table(runs: dict[str, dict], keys: list[str]) -> pd.DataFrame:
    """One row per variant: accuracy (%) of raw/EMA models, last and best, mean ± std over seeds."""
    rows = {}
    for k in keys:
        if k in runs:
            rows.setdefault(variant(k), []).append(runs[k])
    out = []
    for name, ms in rows.items():
        row = {"variant": name, "seeds": len(ms), "labels/class": ms[0].get("labels_per_class")}
        for which in ("ema", "raw"):
            for when in ("last", "best"):
                vals = [m[which][when]["acc"] for m in ms if which in m]
                if vals:
                    row[f"{which} {when} acc"] = _fmt(vals)
        for metric in ("bal_acc", "macro_f1"):
            vals = [m["ema"]["last"][metric] for m in ms if "ema" in m]
            if vals:
                row[f"ema last {metric}"] = _fmt(vals)
        out.append(row)
    return pd.DataFrame(out)


def pl_series(runs_dir: str | Path, run: str, name: str) -> pd.DataFrame | None:
    """A dvclive training metric of one run as (step, value), or None if it was not logged."""
    path = Path(runs_dir) / run / "dvclive" / "plots" / "metrics" / "train" / f"{name}.tsv"
    if not path.exists():
        return None
    df = pd.read_csv(path, sep="\t")
    return df.rename(columns={name: "value"})[["step", "value"]]
