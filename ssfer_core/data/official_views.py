"""The releases' own augmentation, image by image with PIL as they do it (``augment: official``).

Both releases build the same views (LEAF main.py:94-102 and dataset/raf.py:13-24, SIT-FER
main.py:109-117, both dataset/randaugment.py):

* weak: ``RandomApply([RandomCrop(size, padding=8)], p=0.5)`` (zero fill, at 224 px), then
  ``RandomHorizontalFlip()``;
* strong: ``RandAugment(3, 5)`` *before* the weak transform: three ops drawn with replacement from
  the 14 below, each at a magnitude uniform in its range, then Cutout (a square of side
  U(0, 0.5) * width filled with (125, 123, 114)).

What differs from the releases is where the random numbers come from: the releases draw from
Python's ``random``, NumPy's and torch's global generators in their loader workers; here every draw
of a batch comes from the run's ``torch.Generator`` first (:func:`draw`, so a resumed run draws
the same views), and is then applied image by image (:func:`strong`, :func:`weak`), which lets a
test feed the draws recorded from the released code (tests/fixtures/official_augment.json). The
padding scales with the image: 8 px at the releases' 224 px (``RELEASE_PAD``), 2 px at 48 px.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

OPS = (("autocontrast", 0.0, 1.0), ("brightness", 0.05, 0.95), ("color", 0.05, 0.95), ("contrast", 0.05, 0.95),
       ("equalize", 0.0, 1.0), ("identity", 0.0, 1.0), ("posterize", 4.0, 8.0), ("rotate", -30.0, 30.0),
       ("sharpness", 0.05, 0.95), ("shear_x", -0.3, 0.3), ("shear_y", -0.3, 0.3), ("solarize", 0.0, 256.0),
       ("translate_x", -0.3, 0.3), ("translate_y", -0.3, 0.3))
"""The releases' ``augment_list()``: (op, lowest magnitude, highest), in their order."""
N_OPS, CUTOUT_MAX, CUTOUT_GREY = 3, 0.5, (125, 123, 114)
RELEASE_PAD = 8 / 224
"""RandomCrop's padding as a fraction of the side: 8 px at the releases' 224 px."""


def op(name: str, img: Image.Image, v: float) -> Image.Image:
    """One RandAugment op at magnitude ``v``, as dataset/randaugment.py applies it."""
    if name == "autocontrast":
        return ImageOps.autocontrast(img)
    if name in ("brightness", "color", "contrast", "sharpness"):
        enhancer = {"brightness": ImageEnhance.Brightness, "color": ImageEnhance.Color,
                    "contrast": ImageEnhance.Contrast, "sharpness": ImageEnhance.Sharpness}[name]
        return enhancer(img).enhance(v)
    if name == "equalize":
        return ImageOps.equalize(img)
    if name == "identity":
        return img
    if name == "posterize":
        return ImageOps.posterize(img, max(1, int(v)))
    if name == "rotate":
        return img.rotate(v)
    if name == "solarize":
        return ImageOps.solarize(img, v)
    w, h = img.size
    coefficients = {"shear_x": (1, v, 0, 0, 1, 0), "shear_y": (1, 0, 0, v, 1, 0),
                    "translate_x": (1, 0, v * w, 0, 1, 0), "translate_y": (1, 0, 0, 0, 1, v * h)}
    if name in coefficients:
        return img.transform(img.size, Image.AFFINE, coefficients[name])
    raise KeyError(f"unknown RandAugment op {name!r}; ops: {', '.join(n for n, _, _ in OPS)}")


def cutout(img: Image.Image, v: float, cx: float, cy: float) -> Image.Image:
    """The releases' ``Cutout(img, v)``: a square of side ``v * width`` whose corner is the point
    (cx, cy) moved back by half the side and clamped at 0. The releases draw cx with
    ``np.random.uniform(w)``, that is uniform(low=w, high=1): between 1 and w, never near 0."""
    if v <= 0:
        return img
    side = v * img.size[0]
    w, h = img.size
    x0, y0 = int(max(0, cx - side / 2.0)), int(max(0, cy - side / 2.0))
    img = img.copy()
    ImageDraw.Draw(img).rectangle((x0, y0, min(w, x0 + side), min(h, y0 + side)), CUTOUT_GREY)
    return img


def weak(img: Image.Image, crop: tuple[int, int] | None, flip: bool, pad: int) -> Image.Image:
    """RandomCrop(size, padding=pad) at offset ``crop`` = (top, left) when it applies (zero fill), then
    the flip."""
    if crop is not None:
        w, h = img.size
        top, left = crop
        img = ImageOps.expand(img, border=pad, fill=0).crop((left, top, left + w, top + h))
    return img.transpose(Image.FLIP_LEFT_RIGHT) if flip else img


@dataclass
class Draws:
    """The random numbers of one batch's views, one row per image."""
    ops: list[list[int]]
    magnitudes: list[list[float]]
    cutout: list[float]
    centre: list[tuple[float, float]]
    crop: list[tuple[int, int] | None]
    flip: list[bool]


def pad_of(size: int) -> int:
    return int(round(RELEASE_PAD * size))


def draw(n: int, size: int, g: torch.Generator, strong_ops: bool) -> Draws:
    """Every draw of ``n`` views of ``size``-px images from ``g``; RandAugment's only when ``strong_ops``."""
    pad = pad_of(size)
    if strong_ops:
        ops = torch.randint(0, len(OPS), (n, N_OPS), generator=g).tolist()
        u = torch.rand(n, N_OPS, generator=g, dtype=torch.float64).tolist()
        magnitudes = [[OPS[o][1] + (OPS[o][2] - OPS[o][1]) * x for o, x in zip(row_ops, row_u)]
                      for row_ops, row_u in zip(ops, u)]
        cut = (torch.rand(n, generator=g, dtype=torch.float64) * CUTOUT_MAX).tolist()
        c = torch.rand(n, 2, generator=g, dtype=torch.float64)
        centre = [(size + (1.0 - size) * a, size + (1.0 - size) * b) for a, b in c.tolist()]
    else:
        ops, magnitudes, cut, centre = [[]] * n, [[]] * n, [0.0] * n, [(0.0, 0.0)] * n
    applies = (torch.rand(n, generator=g) < 0.5).tolist()
    offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=g).tolist()
    flips = (torch.rand(n, generator=g) < 0.5).tolist()
    crop = [tuple(o) if a else None for a, o in zip(applies, offsets)]
    return Draws(ops, magnitudes, cut, centre, crop, flips)


def strong(img: Image.Image, ops: list[int], magnitudes: list[float], cut: float, centre: tuple[float, float],
           crop: tuple[int, int] | None, flip: bool, pad: int) -> Image.Image:
    """RandAugment (the ops in order, then Cutout), then the weak transform."""
    for o, v in zip(ops, magnitudes):
        img = op(OPS[o][0], img, v)
    return weak(cutout(img, cut, *centre), crop, flip, pad)


def official_view(kind: str, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """The ``weak`` or ``strong`` view of a uint8 batch ``[B, 3, H, W]`` (any device) -> float in
    [0, 1] on that device."""
    if kind not in ("weak", "strong"):
        raise ValueError(f"unknown view {kind!r}: the release's views are weak and strong")
    b, _, h, w = x.shape
    if h != w:
        raise ValueError(f"the release's views take square images, got {h}x{w}: set data.image_size")
    d, pad = draw(b, h, g, kind == "strong"), pad_of(h)
    images = x.to("cpu", torch.uint8).permute(0, 2, 3, 1).numpy()
    out = []
    for i in range(b):
        img = Image.fromarray(np.ascontiguousarray(images[i]))
        if kind == "strong":
            img = strong(img, d.ops[i], d.magnitudes[i], d.cutout[i], d.centre[i], d.crop[i], d.flip[i], pad)
        else:
            img = weak(img, d.crop[i], d.flip[i], pad)
        out.append(torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()))
    return torch.stack(out).permute(0, 3, 1, 2).to(x.device).float().div_(255.0)
