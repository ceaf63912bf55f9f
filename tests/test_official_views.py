"""``augment: official`` against the LEAF release's own augmentation, op by op.

Fixture: tests/fixtures/official_augment.json, written by tests/fixtures/record_official.py
--only augment from zfkarl/LEAF 7873d3a (dataset/raf.py's TransformTwice, dataset/randaugment.py,
the weak transform of main.py:94-102) on generated 48 px images, with every random draw recorded
where the release makes it. ssfer's functions get those draws and must give the same pixels.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ssfer_core.config import compose_config
from ssfer_core.data import official_views as rv

FX = json.loads((Path(__file__).parent / "fixtures" / "official_augment.json").read_text())
RELEASE_NAMES = {"AutoContrast": "autocontrast", "Brightness": "brightness", "Color": "color", "Contrast": "contrast",
                 "Equalize": "equalize", "Identity": "identity", "Posterize": "posterize", "Rotate": "rotate",
                 "Sharpness": "sharpness", "ShearX": "shear_x", "ShearY": "shear_y", "Solarize": "solarize",
                 "TranslateX": "translate_x", "TranslateY": "translate_y"}


def image(b64: str) -> Image.Image:
    n = FX["size"]
    return Image.fromarray(np.frombuffer(base64.b64decode(b64), np.uint8).reshape(n, n, 3).copy())


def same(a: Image.Image, b64: str) -> None:
    mine, theirs = np.asarray(a, np.int16), np.asarray(image(b64), np.int16)
    assert mine.shape == theirs.shape
    assert np.abs(mine - theirs).max() == 0, f"{(mine != theirs).any(-1).sum()} pixels differ"


def weak_draws(log: list) -> tuple[tuple[int, int] | None, bool]:
    """(crop offset or None, flip) from a weak transform's recorded draws."""
    crop = next((tuple(v) for k, v in log if k == "crop"), None)
    return crop, any(k == "flip" for k, _ in log)


def test_the_op_list_is_the_releases():
    assert [RELEASE_NAMES[n] for n in FX["op_names"]] == [n for n, _, _ in rv.OPS]
    assert rv.pad_of(FX["size"]) == FX["pad"] and rv.pad_of(224) == 8


@pytest.mark.parametrize("case", FX["single_ops"], ids=lambda c: c["op"])
def test_each_op_gives_the_releases_pixels(case):
    """All 14 ops, each at a magnitude drawn in its range, on the same image."""
    same(rv.op(RELEASE_NAMES[case["op"]], image(FX["images"][0]), case["v"]), case["out"])


def test_weak_views_match_the_release():
    """RandomApply(RandomCrop(padding, zero fill), p=0.5), then the flip, with the recorded draws;
    the fixture holds cropped and uncropped, flipped and unflipped views."""
    seen = set()
    for img, run in zip(FX["images"], FX["runs"]):
        for view, log in zip(run["weak"], run["weak_draws"]):
            crop, flip = weak_draws(log)
            seen.add((crop is not None, flip))
            same(rv.weak(image(img), crop, flip, FX["pad"]), view)
    assert len(seen) >= 3


def test_strong_views_match_the_release_op_by_op():
    """RandAugment's three ops (each stage compared), Cutout with the release's corner rule, then the
    weak transform: the recorded draws in, the release's pixels out."""
    for img, run in zip(FX["images"], FX["runs"]):
        log = run["strong_draws"]
        (kind, chosen), rest = log[0], log[1:]
        assert kind == "choices" and len(chosen) == rv.N_OPS
        randoms = [v for k, v in rest if k == "random"]
        centre = tuple(v for k, v in rest if k == "uniform")
        crop, flip = weak_draws([e for e in rest if e[0] in ("crop", "flip")])
        x = image(img)
        magnitudes = []
        for o, u, stage in zip(chosen, randoms, run["stages"]):
            name, lo, hi = rv.OPS[o]
            v = lo + (hi - lo) * u
            assert stage[1] in RELEASE_NAMES and RELEASE_NAMES[stage[1]] == name and stage[2] == pytest.approx(v)
            x = rv.op(name, x, v)
            same(x, stage[3])
            magnitudes.append(v)
        cut_v = randoms[rv.N_OPS] * rv.CUTOUT_MAX
        assert run["stages"][-1][0] == "cutout" and run["stages"][-1][2] == pytest.approx(cut_v)
        same(rv.cutout(x, cut_v, *centre), run["stages"][-1][3])
        same(rv.strong(image(img), chosen, magnitudes, cut_v, centre, crop, flip, FX["pad"]), run["strong"])


def test_release_views_draw_from_the_run_generator_in_the_releases_ranges():
    n, size = 2000, 48
    d = rv.draw(n, size, torch.Generator().manual_seed(0), strong_ops=True)
    ops = np.array(d.ops)
    assert ops.shape == (n, 3) and set(ops.ravel()) == set(range(len(rv.OPS)))
    for row_ops, row_v in zip(d.ops, d.magnitudes):
        for o, v in zip(row_ops, row_v):
            assert rv.OPS[o][1] <= v <= rv.OPS[o][2]
    assert 0 <= min(d.cutout) and max(d.cutout) <= rv.CUTOUT_MAX
    centres = np.array(d.centre)
    assert centres.min() >= 1 and centres.max() <= size  # uniform(low=w, high=1), as the release
    applied = [c for c in d.crop if c is not None]
    assert 0.45 < len(applied) / n < 0.55 and 0.45 < np.mean(d.flip) < 0.55
    assert np.array(applied).min() == 0 and np.array(applied).max() == 2 * rv.pad_of(size)

    x = torch.randint(0, 256, (4, 3, size, size), dtype=torch.uint8)
    a = rv.official_view("strong", x, torch.Generator().manual_seed(1))
    b = rv.official_view("strong", x, torch.Generator().manual_seed(1))
    w = rv.official_view("weak", x, torch.Generator().manual_seed(1))
    assert a.shape == (4, 3, size, size) and a.dtype == torch.float32 and torch.equal(a, b)
    assert 0 <= a.min() and a.max() <= 1 and not torch.equal(a, w)
    with pytest.raises(ValueError, match="unknown view"):
        rv.official_view("strong2", x, torch.Generator())


def test_official_recipes_use_the_release_views_and_the_shared_protocol_keeps_its_own():
    for method in ("leaf", "sitfer"):
        assert compose_config({"method": method, "protocol": "official"}, None, [], {}).augment == "official"
        assert compose_config({"method": method}, None, [], {}).augment == "batched"
