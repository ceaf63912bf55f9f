"""Feature extraction, decoupling probes, gate statistics and UMAP embeddings for trained runs.

Where a dataset records the expression-agnostic factors (identity, pose, occluder) and the AU
intensities, as the embedded synthetic one does, we measure how much of each a feature carries: a
linear probe (logistic regression for categorical factors, ridge regression R^2 for continuous
ones) fitted on half the test images and scored on the other half. On a dataset without them only
the expression is probed; gate statistics use whatever factors are there.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ssfer_core.build import build_method
from ssfer_core.config import from_dict
from ssfer_core.data.loading import FERData
from ssfer_core.data.views import normalize, test_view


def load_run(run_dir: str | Path, data: FERData, use_ema: bool = True):
    """Rebuild a trained method from ``run_dir/checkpoint.pt``; returns (method, model)."""
    state = torch.load(Path(run_dir) / "checkpoint.pt", map_location="cpu", weights_only=False)
    cfg = from_dict(state["config"])
    method = build_method(cfg, data.num_classes, len(data.labeled_idx))
    method.load_state_dict(state["method"])
    model = method.model
    if use_ema and state.get("ema") is not None:
        model.load_state_dict(state["ema"])
    return method.eval(), model.eval()


@torch.no_grad()
def extract(model, images: torch.Tensor, batch: int = 512) -> dict[str, np.ndarray]:
    """Every per-sample tensor the network returns, concatenated over ``images``; for a network with
    SIT-FER's projection into its text space, the projected feature too (``projected``)."""
    parts: dict[str, list] = {}
    project = getattr(model, "text_proj", None) if getattr(model, "text_width", None) else None
    for i in range(0, images.shape[0], batch):
        out = model(normalize(test_view(images[i : i + batch])))
        if project is not None:
            out["projected"] = project(out["feature"])
        for k, v in out.items():
            if v.dim() and v.shape[0] == min(batch, images.shape[0] - i):
                parts.setdefault(k, []).append(v.float().cpu())
    return {k: torch.cat(v).numpy() for k, v in parts.items()}


def probe(features: np.ndarray, target: np.ndarray, kind: str, seed: int = 0) -> float:
    """Held-out linear decodability: accuracy (categorical) or R^2 (continuous)."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(target))
    tr, te = idx[: len(idx) // 2], idx[len(idx) // 2 :]
    x = StandardScaler().fit(features[tr]).transform(features)
    if kind == "categorical":
        clf = LogisticRegression(max_iter=300, C=0.5).fit(x[tr], target[tr])
        return float(clf.score(x[te], target[te]))
    reg = Ridge(alpha=10.0).fit(x[tr], target[tr])
    return float(reg.score(x[te], target[te]))


PROBE_TARGETS = {"expression": ("label", "categorical"), "identity (top-20 ids)": ("identity", "categorical"),
                 "occluder": ("occluder", "categorical"), "yaw": ("yaw", "continuous"),
                 "roll": ("roll", "continuous"), "intensity": ("intensity", "continuous")}


def decoupling_probes(feats: dict[str, np.ndarray], meta: pd.DataFrame, components: list[str],
                      targets: dict | None = None) -> pd.DataFrame:
    """Rows: factors (``targets``, default PROBE_TARGETS); columns: components (e.g. pooled,
    relevant_instance, agnostic_instance)."""
    rows = []
    for name, (col, kind) in (targets or PROBE_TARGETS).items():
        target = meta[col].to_numpy()
        sel = np.ones(len(meta), bool)
        if col == "identity":  # 600 ids are too many for a half split: use the 20 most frequent
            top = meta[col].value_counts().index[:20]
            sel = meta[col].isin(top).to_numpy()
        row = {"factor": name, "metric": "accuracy" if kind == "categorical" else "R^2"}
        for c in components:
            row[c] = probe(feats[c][sel], target[sel], kind)
        rows.append(row)
    return pd.DataFrame(rows)


def decoupling_verdict(probes: pd.DataFrame, margin: float = 0.10) -> dict[str, str]:
    """Per level present in ``probes`` (columns ``relevant_<level>`` / ``agnostic_<level>``): "met"
    when the relevant component reads the expression at least ``margin`` better than the agnostic
    one and the agnostic one reads identity better than the relevant one; else "not met" with the
    numbers."""
    rows = probes.set_index("factor")
    out = {}
    for level in ("semantic", "instance"):
        rel, agn = f"relevant_{level}", f"agnostic_{level}"
        if rel not in rows or agn not in rows or "expression" not in rows.index:
            continue
        expr = rows.loc["expression", rel] - rows.loc["expression", agn]
        ident = next((rows.loc[i, agn] - rows.loc[i, rel] for i in rows.index if i.startswith("identity")), np.nan)
        met = expr >= margin and (np.isnan(ident) or ident > 0)
        out[level] = (f"{'met' if met else 'not met'}: expression relevant - agnostic {100 * expr:+.1f} points, "
                      f"identity agnostic - relevant {100 * ident:+.1f} points")
    return out


def gate_table(feats: dict[str, np.ndarray], meta: pd.DataFrame, level: str) -> pd.DataFrame:
    """Per image: the expert the gate picked at ``level`` plus the factors to correlate it with."""
    g = feats[f"gates_{level}"]
    if g.ndim == 4:  # map variant: average the per-location gates
        g = g.mean((1, 2))
    df = meta[[c for c in ("label", "intensity", "yaw", "roll", "occluder") if c in meta]].copy()
    df["expert"] = g.argmax(1)
    for e in range(g.shape[1]):
        df[f"gate_{e}"] = g[:, e]
    return df


def gate_associations(df: pd.DataFrame) -> pd.DataFrame:
    """How much the chosen expert tells about each factor: normalised mutual information."""
    from sklearn.metrics import normalized_mutual_info_score as nmi

    out = {"expression": nmi(df["label"], df["expert"])}
    if "occluder" in df:
        out["occluder"] = nmi(df["occluder"], df["expert"])
    if "yaw" in df:
        out["|yaw| quartile"] = nmi(pd.qcut(df["yaw"].abs(), 4, labels=False, duplicates="drop"), df["expert"])
    if "intensity" in df:
        out["intensity quartile"] = nmi(pd.qcut(df["intensity"], 4, labels=False, duplicates="drop"), df["expert"])
    return pd.DataFrame({"factor": list(out), "NMI(expert, factor)": list(out.values())})


def umap_embed(x: np.ndarray, seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    import umap

    return umap.UMAP(n_neighbors=n_neighbors, random_state=seed, n_jobs=1).fit_transform(x)


def expert_usage(df: pd.DataFrame) -> pd.Series:
    """Share of images the gate routes to each expert (argmax), experts with no image included."""
    n = len([c for c in df.columns if c.startswith("gate_")])
    return pd.Series(np.bincount(df["expert"], minlength=n) / len(df), name="share of images")


def knn_accuracy(xy: np.ndarray, labels: np.ndarray, k: int = 10, folds: int = 5, seed: int = 0) -> float:
    """How well the 2-D embedding separates expressions: a k-nearest-neighbour classifier on the
    coordinates, cross-validated (stratified folds)."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    n_min = np.bincount(labels).min() if len(labels) else 0
    cv = StratifiedKFold(n_splits=max(2, min(folds, n_min)), shuffle=True, random_state=seed)
    return float(cross_val_score(KNeighborsClassifier(n_neighbors=k), xy, labels, cv=cv).mean())
