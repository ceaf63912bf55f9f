"""Weak and strong augmented views, batched on uint8 image tensors.

The whole dataset lives in memory as a ``uint8`` tensor ``[N, 3, H, W]`` (see ``store.py``), so
views are computed for a whole batch at once with tensor ops on the training device instead of
per-image PIL calls in loader workers. That keeps a 2-core laptop busy with the model, not with
augmentation, and makes every random draw come from one ``torch.Generator`` (exact resume).

* weak: random horizontal flip + random crop with reflect padding (USB / FixMatch's weak view).
* strong: weak, then RandAugment-style (``n_ops`` ops per image drawn from the FixMatch list, each
  with a random magnitude) and Cutout (a square of side U(0, 0.5) * size filled with grey).
  Equalize is omitted (no cheap batched form); the geometric ops are fused into one affine warp.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
COLOR_OPS = ("identity", "autocontrast", "brightness", "color", "contrast", "posterize",
             "sharpness", "solarize")
GEOMETRIC_OPS = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")
ALL_OPS = COLOR_OPS + GEOMETRIC_OPS


def _uniform(g: torch.Generator, n: int, lo: float, hi: float) -> torch.Tensor:
    return torch.rand(n, generator=g) * (hi - lo) + lo


def to_float(x: torch.Tensor) -> torch.Tensor:
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x


def normalize(x: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    m = torch.tensor(mean, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, device=x.device).view(1, 3, 1, 1)
    return (x - m) / s


def weak_view(x: torch.Tensor, g: torch.Generator, pad_frac: float = 0.125) -> torch.Tensor:
    """Flip + pad-and-crop. ``x``: uint8 or float ``[B, 3, H, W]`` -> float in [0, 1]."""
    x = to_float(x)
    b, _, h, w = x.shape
    flip = (torch.rand(b, generator=g) < 0.5).to(x.device)
    x = torch.where(flip.view(b, 1, 1, 1), x.flip(3), x)
    pad = int(round(pad_frac * h))
    if pad == 0:
        return x
    xp = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=g).tolist()
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=g).tolist()
    # one slice per image: 10x faster than a batched gather on CPU, and the same pixels
    return torch.stack([xp[i, :, y : y + h, x_ : x_ + w] for i, (y, x_) in enumerate(zip(oy, ox))])


def _blend(a: torch.Tensor, b: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    return (b + (a - b) * f.view(-1, 1, 1, 1)).clamp(0, 1)


def _grey(x: torch.Tensor) -> torch.Tensor:
    return (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).expand_as(x)


def _color_op(name: str, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    f = lambda lo, hi: _uniform(g, n, lo, hi).to(x.device)  # noqa: E731
    if name == "identity":
        return x
    if name == "autocontrast":
        lo = x.amin(dim=(2, 3), keepdim=True)
        hi = x.amax(dim=(2, 3), keepdim=True)
        return ((x - lo) / (hi - lo).clamp_min(1e-3)).clamp(0, 1)
    if name == "brightness":
        return _blend(x, torch.zeros_like(x), f(0.05, 0.95) + 0.5)
    if name == "color":
        return _blend(x, _grey(x), f(0.05, 0.95) + 0.5)
    if name == "contrast":
        return _blend(x, _grey(x).mean(dim=(1, 2, 3), keepdim=True).expand_as(x), f(0.05, 0.95) + 0.5)
    if name == "posterize":
        bits = torch.randint(4, 9, (n,), generator=g).to(x.device).view(-1, 1, 1, 1)
        step = 2.0 ** (8 - bits)
        return torch.floor(x * 255 / step) * step / 255
    if name == "sharpness":
        k = torch.tensor([[1, 1, 1], [1, 5, 1], [1, 1, 1]], dtype=x.dtype, device=x.device) / 13
        smooth = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k.expand(3, 1, 3, 3), groups=3)
        return _blend(x, smooth, f(0.05, 0.95) + 0.5)
    if name == "solarize":
        t = f(0.0, 1.0).view(-1, 1, 1, 1)
        return torch.where(x >= t, 1 - x, x)
    raise KeyError(name)


def strong_view(x: torch.Tensor, g: torch.Generator, n_ops: int = 2, pad_frac: float = 0.125,
                cutout: float = 0.5) -> torch.Tensor:
    """Weak view, then RandAugment-style ops and Cutout; float in [0, 1]."""
    x = weak_view(x, g, pad_frac)
    b, _, h, w = x.shape
    ops = torch.randint(0, len(ALL_OPS), (b, n_ops), generator=g)
    for i, name in enumerate(COLOR_OPS[1:], 1):
        sel = (ops == i).any(1)
        if sel.any():
            idx = sel.nonzero().squeeze(1).to(x.device)
            x[idx] = _color_op(name, x[idx], g)
    # Fuse rotate / shear / translate into one affine matrix per image.
    theta = torch.eye(2, 3).repeat(b, 1, 1)
    for j, name in enumerate(GEOMETRIC_OPS, len(COLOR_OPS)):
        sel = (ops == j).any(1).float()
        if name == "rotate":
            a = _uniform(g, b, -30, 30) * sel * math.pi / 180
            rot = torch.stack([torch.cos(a), -torch.sin(a), torch.sin(a), torch.cos(a)], 1).view(b, 2, 2)
            theta[:, :, :2] = rot @ theta[:, :, :2]
        elif name.startswith("shear"):
            s = _uniform(g, b, -0.3, 0.3) * sel
            theta[:, 0 if name == "shear_x" else 1, 1 if name == "shear_x" else 0] += s
        else:
            t = _uniform(g, b, -0.3, 0.3) * sel * 2  # grid units span 2
            theta[:, 0 if name == "translate_x" else 1, 2] += t
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    x = F.grid_sample(x - 0.5, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + 0.5
    if cutout > 0:  # one grey square per image, side U(0, cutout) * size
        side = (_uniform(g, b, 0, cutout) * h).long().to(x.device)
        cy = torch.randint(0, h, (b,), generator=g).to(x.device)
        cx = torch.randint(0, w, (b,), generator=g).to(x.device)
        yy = torch.arange(h, device=x.device).view(1, h, 1)
        xx = torch.arange(w, device=x.device).view(1, 1, w)
        half = (side // 2).view(b, 1, 1)
        box = ((yy - cy.view(b, 1, 1)).abs() <= half) & ((xx - cx.view(b, 1, 1)).abs() <= half) & (half > 0)
        x = torch.where(box.unsqueeze(1), torch.full_like(x, 0.49), x)
    return x.clamp(0, 1)


def test_view(x: torch.Tensor) -> torch.Tensor:
    return to_float(x)
