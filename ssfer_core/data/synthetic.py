"""SynthFACS: a procedural, FACS-driven face generator whose ground truth is fully known.

Every image is drawn from two groups of factors:

* **expression-agnostic**: identity (face shape, skin tone, eye spacing/size, nose, mouth width,
  hair, beard, glasses), head pose (roll; yaw/pitch as feature shifts), scale/translation,
  illumination (direction, contrast, colour cast), background texture, occluders (sunglasses,
  hand, scarf), blur, noise and JPEG quality;
* **expression-relevant**: Action Unit (AU) intensities in [0, 1] that move brows, lids, cheeks,
  nose and lips. Class prototypes follow EMFACS (see ``PROTOTYPES``).

Ambiguity is generated and recorded: intensity fades toward neutral, some samples blend two
prototypes, each sample carries its true soft label, and the annotated hard label is drawn from it
with probability ``annotator_noise`` (otherwise it is the soft label's argmax).

The output is a folder in RAF-DB's on-disk layout (``EmoLabel/list_patition_label.txt``,
``Image/aligned/train_00001_aligned.jpg``, 1-based labels) plus ``metadata.csv`` with every factor.
Images are deterministic per (seed, split, index) and identities per (seed, identity id), so a
dataset can be generated in parallel chunks and re-generated bit-for-bit.

This is a teaching and testing instrument, not a stand-in for claims about real faces.
"""
from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ssfer_core.labels import NEUTRAL, class_names

AUS: tuple[str, ...] = (
    "AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU9", "AU10", "AU12", "AU15", "AU16", "AU17",
    "AU20", "AU23", "AU25", "AU26", "AU12R", "AU14R",
)
# EMFACS prototypes (canonical class id -> AU intensities at full expression). Where EMFACS lists
# variants, the one a real-face classifier reads best was chosen with the FER2013 judge
# (``ssfer realism``): the open-mouthed anger (4+5+7+10+25+26), fear's stretched lips barely
# parted (1+2+4+5+7+20+25), the open smile (6+12+25) and sadness with slightly tightened lids.
# Contempt is unilateral AU12 + AU14.
PROTOTYPES: dict[int, dict[str, float]] = {
    0: {"AU1": 1.0, "AU2": 1.0, "AU5": 0.8, "AU26": 1.0, "AU25": 1.0},                 # surprise
    1: {"AU1": 1.0, "AU2": 0.2, "AU4": 0.7, "AU5": 1.0, "AU7": 0.5, "AU20": 1.0,
        "AU25": 0.3},                                                                  # fear
    2: {"AU9": 1.0, "AU15": 0.6, "AU16": 0.8, "AU10": 0.6, "AU4": 0.3, "AU25": 0.4},   # disgust
    3: {"AU6": 1.0, "AU12": 1.0, "AU25": 1.0},                                         # happiness
    4: {"AU1": 1.0, "AU4": 0.7, "AU7": 0.3, "AU15": 1.0, "AU17": 0.4},                 # sadness
    5: {"AU4": 1.0, "AU5": 0.5, "AU7": 1.0, "AU10": 1.0, "AU25": 1.0, "AU26": 0.7},    # anger
    6: {},                                                                             # neutral
    7: {"AU12R": 0.9, "AU14R": 1.0},                                                   # contempt
}
# RAF-DB basic train class counts in canonical order (surprise ... neutral): SynthFACS's class priors.
RAFDB_TRAIN_COUNTS = (1290, 281, 717, 4772, 1982, 705, 2524)
OCCLUDERS = ("none", "sunglasses", "hand", "scarf")
HAIR_STYLES = ("bald", "short", "long", "bangs")
BEARDS = ("none", "stubble", "full")


@dataclass
class SynthConfig:
    """What to generate. Every field is recorded in ``synthfacs.json`` next to the images."""

    seed: int = 0
    """Master seed; images are deterministic per (seed, split, index)."""
    n_train: int = 12271
    """Training images (RAF-DB basic's train size)."""
    n_test: int = 3068
    """Test images (RAF-DB basic's test size)."""
    image_size: int = 64
    """Output side in pixels (square RGB)."""
    supersample: int = 4
    """Draw at ``image_size * supersample`` and downsample, for anti-aliased edges."""
    face_scale: float = 0.46
    """Head half-width as a fraction of the image side. 0.46 gives a tight crop like RAF-DB's
    aligned faces (face fills the frame); 0.34 shows the whole head, hair and background."""
    num_classes: int = 7
    """7 basic classes, or 8 with contempt."""
    class_priors: tuple[float, ...] | None = None
    """Class probabilities; None means RAF-DB's train distribution (contempt gets 3% when 8)."""
    n_identities: int = 600
    """Size of the identity pool shared by train and test (so identity can be probed)."""
    min_intensity: float = 0.15
    """Expression intensity is drawn from [min_intensity, 1]; low values drift toward neutral."""
    blend_prob: float = 0.15
    """Probability that a sample blends a second prototype into its class prototype."""
    annotator_noise: float = 0.15
    """Probability that the annotated label is drawn from the soft label rather than its argmax."""
    au_jitter: float = 0.08
    """Std of Gaussian jitter added to every AU intensity."""
    occluder_prob: float = 0.2
    """Probability of an occluder (sunglasses, hand or scarf, uniformly)."""
    glasses_prob: float = 0.12
    """Probability that an identity wears clear glasses."""
    jpeg_quality: tuple[int, int] = (70, 95)
    """JPEG quality range."""
    workers: int = 0
    """Processes for generation; 0 means all cores."""

    def priors(self) -> np.ndarray:
        if self.class_priors is not None:
            p = np.asarray(self.class_priors, dtype=float)
            if len(p) != self.num_classes:
                raise ValueError(f"class_priors has {len(p)} entries, num_classes is {self.num_classes}")
        else:
            p = np.asarray(RAFDB_TRAIN_COUNTS, dtype=float)
            if self.num_classes == 8:
                p = np.append(p / p.sum() * 0.97, 0.03 * p.sum() / p.sum())
        return p / p.sum()


# ----------------------------------------------------------------------------- factor sampling
def sample_identity(seed: int, identity: int) -> dict:
    """Expression-agnostic appearance of one person; deterministic per (seed, identity)."""
    r = np.random.default_rng([seed, 1_000_003, identity])
    tone = r.uniform()
    skin = np.array([236, 200, 170]) * (1 - tone) + np.array([110, 72, 50]) * tone
    hair_palette = np.array([[30, 22, 18], [70, 45, 25], [130, 90, 50], [200, 170, 110],
                             [120, 120, 120], [150, 50, 30]])
    return {
        "identity": identity,
        "skin_r": float(skin[0]), "skin_g": float(skin[1]), "skin_b": float(skin[2]),
        "face_w": float(r.uniform(0.82, 1.02)), "face_h": float(r.uniform(1.15, 1.38)),
        "jaw_taper": float(r.uniform(0.0, 0.3)),
        "eye_sep": float(r.uniform(0.36, 0.46)), "eye_size": float(r.uniform(0.85, 1.2)),
        "eye_v": float(r.uniform(-0.22, -0.1)),
        "iris": int(r.integers(0, 4)),
        "brow_thick": float(r.uniform(0.035, 0.07)), "brow_arch": float(r.uniform(0.0, 0.06)),
        "nose_w": float(r.uniform(0.8, 1.25)), "nose_len": float(r.uniform(0.9, 1.15)),
        "mouth_w": float(r.uniform(0.85, 1.2)), "lip_thick": float(r.uniform(0.7, 1.3)),
        "mouth_v": float(r.uniform(0.5, 0.6)),
        "hair_color": int(r.integers(0, len(hair_palette))),
        "hair_style": HAIR_STYLES[int(r.integers(0, len(HAIR_STYLES)))],
        "beard": BEARDS[int(r.choice(3, p=[0.72, 0.14, 0.14]))],
        "_hair_rgb": tuple(int(c) for c in hair_palette[int(r.integers(0, len(hair_palette)))]),
    }


def sample_expression(r: np.random.Generator, cfg: SynthConfig, priors: np.ndarray) -> dict:
    """Class, intensity, optional blend, AU vector and the true soft label."""
    k = cfg.num_classes
    cls = int(r.choice(k, p=priors))
    intensity = float(r.uniform(cfg.min_intensity, 1.0)) if cls != NEUTRAL else 0.0
    blend_cls, blend_w = -1, 0.0
    if cls != NEUTRAL and r.uniform() < cfg.blend_prob:
        others = [c for c in range(k) if c not in (cls, NEUTRAL)]
        blend_cls = int(r.choice(others))
        blend_w = float(r.uniform(0.2, 0.45))
    au = np.zeros(len(AUS))
    for c, w in ((cls, 1 - blend_w), (blend_cls, blend_w)):
        if c >= 0:
            for name, v in PROTOTYPES[c].items():
                au[AUS.index(name)] += w * v
    au = au * intensity + r.normal(0.0, cfg.au_jitter, len(AUS)) * (au > 0)
    # Neutral faces still twitch a little: small random activations on a few AUs.
    au += (r.uniform(size=len(AUS)) < 0.1) * r.uniform(0, 0.15, len(AUS))
    au = np.clip(au, 0.0, 1.0)
    # True soft label: the generative mixture, with weak expressions drifting toward neutral.
    soft = np.zeros(k)
    if cls == NEUTRAL:
        soft[NEUTRAL] = 1.0
    else:
        strength = float(np.clip((intensity - 0.05) / 0.45, 0.0, 1.0))
        soft[cls] += strength * (1 - blend_w)
        if blend_cls >= 0:
            soft[blend_cls] += strength * blend_w
        soft[NEUTRAL] += 1 - strength
    if r.uniform() < cfg.annotator_noise:
        label = int(r.choice(k, p=soft))
    else:
        label = int(np.argmax(soft))
    return {"class": cls, "label": label, "intensity": intensity, "blend_class": blend_cls,
            "blend_weight": blend_w, "au": au, "soft": soft}


def sample_nuisance(r: np.random.Generator, cfg: SynthConfig) -> dict:
    """Pose, framing, illumination, background, occluder and degradation of one image."""
    occ = "none"
    if r.uniform() < cfg.occluder_prob:
        occ = OCCLUDERS[int(r.integers(1, len(OCCLUDERS)))]
    return {
        "roll": float(np.clip(r.normal(0, 8), -20, 20)), "yaw": float(r.uniform(-0.25, 0.25)),
        "pitch": float(r.uniform(-0.12, 0.12)), "scale": float(r.uniform(0.9, 1.1)),
        "tx": float(r.uniform(-0.05, 0.05)), "ty": float(r.uniform(-0.05, 0.05)),
        "light_dir": float(r.uniform(0, 2 * math.pi)), "light_strength": float(r.uniform(0, 0.45)),
        "contrast": float(r.uniform(0.7, 1.2)), "brightness": float(r.uniform(-20, 20)),
        "cast_r": float(r.normal(1, 0.06)), "cast_g": float(r.normal(1, 0.04)),
        "cast_b": float(r.normal(1, 0.06)),
        "bg_r": int(r.integers(30, 226)), "bg_g": int(r.integers(30, 226)),
        "bg_b": int(r.integers(30, 226)), "bg_texture": float(r.uniform(0, 60)),
        "occluder": occ, "glasses": bool(r.uniform() < cfg.glasses_prob),
        "blur": float(r.uniform(0, 0.8) if r.uniform() < 0.5 else 0.0),
        "noise": float(r.uniform(0, 7)),
        "jpeg": int(r.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1)),
        "occ_x": float(r.uniform(-0.5, 0.5)), "occ_color": int(r.integers(0, 6)),
        "_noise_seed": int(r.integers(0, 2**31)),
    }


# ----------------------------------------------------------------------------- drawing
class _Canvas:
    """Maps face coordinates (head half-width = 1, y down) to pixels with pose applied."""

    def __init__(self, img: Image.Image, nz: dict, ident: dict):
        self.draw = ImageDraw.Draw(img)
        s = img.size[0]
        self.radius = ident.get("_face_scale", 0.34) * s * nz["scale"]
        self.cx = s / 2 + nz["tx"] * s
        # eyes sit a little above the middle, as in aligned face crops
        self.cy = s / 2 + nz["ty"] * s + 0.06 * self.radius
        a = math.radians(nz["roll"])
        self.cos, self.sin = math.cos(a), math.sin(a)
        self.yaw, self.pitch = nz["yaw"], nz["pitch"]
        self.ident = ident

    def pt(self, u: float, v: float, inner: bool = True) -> tuple[float, float]:
        if inner:  # yaw/pitch move inner features across the head and foreshorten the far side
            u = u * (1 - 0.35 * abs(self.yaw) * (1 if u * self.yaw < 0 else 0)) + 0.45 * self.yaw
            v = v + 0.4 * self.pitch
        x, y = u * self.radius, v * self.radius
        return (self.cx + x * self.cos - y * self.sin, self.cy + x * self.sin + y * self.cos)

    def poly(self, pts, fill=None, outline=None, width=1, inner=True):
        self.draw.polygon([self.pt(u, v, inner) for u, v in pts], fill=fill, outline=outline,
                          width=width)

    def line(self, pts, fill, width: float, inner=True):
        w = max(1, int(round(width * self.radius)))
        self.draw.line([self.pt(u, v, inner) for u, v in pts], fill=fill, width=w, joint="curve")

    def ellipse(self, cu, cv, ru, rv, fill=None, outline=None, width=1, inner=True, n=28):
        t = np.linspace(0, 2 * np.pi, n, endpoint=False)
        self.poly(list(zip(cu + ru * np.cos(t), cv + rv * np.sin(t))), fill, outline, width, inner)


def _rgb(x) -> tuple[int, int, int]:
    return tuple(int(np.clip(c, 0, 255)) for c in x)


def _mix(a, b, t):
    return _rgb(np.asarray(a, float) * (1 - t) + np.asarray(b, float) * t)


def draw_face(ident: dict, au: np.ndarray, nz: dict, size: int) -> Image.Image:
    """Render one face at ``size`` pixels (already supersampled by the caller)."""
    A = dict(zip(AUS, np.clip(au * 1.35, 0.0, 1.0)))  # visible change saturates before full intensity
    r = np.random.default_rng(nz["_noise_seed"])
    # Background: flat colour plus a low-frequency texture.
    tex = r.normal(0, 1, (6, 6, 1)) * nz["bg_texture"]
    base = np.array([nz["bg_r"], nz["bg_g"], nz["bg_b"]], float)
    bg = np.clip(base + tex, 0, 255).astype(np.uint8)
    img = Image.fromarray(bg).resize((size, size), Image.BICUBIC)
    c = _Canvas(img, nz, ident)
    skin = (ident["skin_r"], ident["skin_g"], ident["skin_b"])
    skin_rgb, shade = _rgb(skin), _mix(skin, (60, 30, 20), 0.35)
    hair = ident["_hair_rgb"]
    fw, fh = ident["face_w"], ident["face_h"] * (1 + 0.06 * A["AU26"])

    # Hair behind the head, neck, ears, head.
    if ident["hair_style"] == "long":
        c.ellipse(0, 0.15, fw * 1.18, fh * 1.05, fill=hair, inner=False)
    c.poly([(-0.45, 0.8), (0.45, 0.8), (0.55, 2.2), (-0.55, 2.2)], fill=shade, inner=False)
    for side in (-1, 1):
        c.ellipse(side * fw * 0.98, -0.02, 0.13, 0.24, fill=skin_rgb, outline=shade, inner=False)
    t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    taper = 1 - ident["jaw_taper"] * np.clip(np.sin(t), 0, None)
    head = list(zip(fw * np.cos(t) * taper, fh * np.sin(t) * np.where(np.sin(t) > 0, 1, 0.95)))
    c.poly(head, fill=skin_rgb, inner=False)
    if ident["hair_style"] != "bald":
        tt = np.linspace(math.pi, 2 * math.pi, 24)
        top = 0.55 if ident["hair_style"] == "bangs" else 0.75
        cap = list(zip(fw * 1.04 * np.cos(tt), fh * 1.02 * np.sin(tt)))
        cap += [(fw * 0.9, -fh * top * 0.6), (0, -fh * top), (-fw * 0.9, -fh * top * 0.6)]
        c.poly(cap, fill=hair, inner=False)

    ey, es, ez = ident["eye_v"], ident["eye_sep"], ident["eye_size"]
    _shade_face(img, c, A, ident, nz, skin)
    # Forehead wrinkles from raised brows (AU1/AU2) and glabella lines from AU4.
    lift = (A["AU1"] + A["AU2"]) / 2
    if lift > 0.25:
        for k in range(3):
            v = ey - 0.46 - 0.09 * k
            c.line([(-0.3, v + 0.02), (0, v), (0.3, v + 0.02)], _mix(skin, shade, 0.6 * lift), 0.014)
    if A["AU4"] > 0.3:
        for s in (-1, 1):
            c.line([(s * 0.06, ey - 0.2), (s * 0.04, ey - 0.06)], _mix(skin, shade, A["AU4"]), 0.018)
    _draw_brows(c, A, ident)
    _draw_eyes(c, A, ident, skin)
    # Cheeks rise with AU6 and AU12.
    cheek = max(A["AU6"], A["AU12"])
    for s in (-1, 1):
        c.ellipse(s * (es + 0.05), 0.2 - 0.08 * cheek, 0.16, 0.1,
                  fill=_mix(skin, (210, 90, 90), 0.08 + 0.22 * cheek))

    # Nose: AU9 wrinkles the bridge and lifts the wings; AU10 lifts them a little.
    nw, nl = 0.1 * ident["nose_w"], ident["nose_len"]
    tip_v = ey + 0.36 * nl - 0.03 * A["AU9"]
    c.line([(0.02, ey + 0.05), (0.04, tip_v - 0.04)], shade, 0.015)
    wing_v = tip_v + 0.02 - 0.05 * A["AU9"] - 0.03 * A["AU10"]
    for s in (-1, 1):
        c.line([(s * nw * (1 + 0.3 * A["AU9"]), wing_v - 0.06), (s * nw * 1.2, wing_v), (s * 0.03, wing_v + 0.03)],
               shade, 0.018)
    if A["AU9"] > 0.25:
        for k in range(3):
            v = ey + 0.04 + 0.04 * k
            c.line([(-0.07, v), (0.07, v)], _mix(skin, (70, 40, 30), 0.3 + 0.5 * A["AU9"]), 0.012)
    # Nasolabial folds deepen with smiles and upper-lip raises.
    fold = max(A["AU12"], A["AU10"], A["AU9"], A["AU12R"])
    mv = ident["mouth_v"]
    if fold > 0.2:
        for s in (-1, 1):
            strength = fold if s > 0 or A["AU12R"] < fold else A["AU12"]
            if strength > 0.2:
                c.line([(s * nw * 1.5, wing_v - 0.02), (s * 0.33, mv + 0.03)], _mix(skin, shade, strength), 0.014)

    # Beard sits under the mouth.
    if ident["beard"] != "none":
        bc = hair if ident["beard"] == "full" else _mix(skin, hair, 0.45)
        tt = np.linspace(0, math.pi, 20)
        jaw = [(fw * 0.9 * math.cos(a) * (1 - ident["jaw_taper"] * math.sin(a)), fh * 0.97 * math.sin(a)) for a in tt]
        c.poly(jaw + [(-0.5, mv - 0.08), (0.5, mv - 0.08)], fill=bc, inner=False)

    _draw_mouth(c, A, ident, skin)

    # Accessories and occluders (expression-agnostic, but they hide expression evidence).
    if nz["glasses"]:
        for s in (-1, 1):
            c.ellipse(s * es, ey, 0.19, 0.14, outline=(40, 40, 40), width=max(1, size // 90))
        c.line([(-es + 0.19, ey), (es - 0.19, ey)], (40, 40, 40), 0.02)
    occ_colors = [(200, 40, 40), (40, 90, 180), (60, 140, 60), (220, 180, 40), (120, 60, 140), (230, 230, 230)]
    if nz["occluder"] == "sunglasses":
        for s in (-1, 1):
            c.ellipse(s * es, ey + 0.01, 0.2, 0.14, fill=(15, 15, 20))
        c.line([(-es + 0.2, ey), (es - 0.2, ey)], (15, 15, 20), 0.03)
    elif nz["occluder"] == "scarf":
        col = occ_colors[nz["occ_color"]]
        c.poly([(-fw * 1.1, tip_v + 0.08), (fw * 1.1, tip_v + 0.08), (fw * 1.2, 2.0), (-fw * 1.2, 2.0)], fill=col)
        for k in range(3):
            c.line([(-fw, tip_v + 0.2 + 0.18 * k), (fw, tip_v + 0.2 + 0.18 * k)], _mix(col, (0, 0, 0), 0.3), 0.02)
    elif nz["occluder"] == "hand":
        hu, hv = nz["occ_x"], 0.35
        hand = _mix(skin, (255, 220, 200), 0.2)
        c.ellipse(hu, hv + 0.25, 0.32, 0.38, fill=hand, outline=shade)
        for k in range(4):
            fu = hu - 0.24 + 0.16 * k
            c.ellipse(fu, hv - 0.12, 0.07, 0.24, fill=hand, outline=shade)
    return img


def _shade_face(img: Image.Image, c: _Canvas, A: dict, ident: dict, nz: dict, skin) -> None:
    """Soft shadows that make a drawn oval read as a face: eye sockets (deeper under lowered
    brows, AU4), the cheek contour, the nose's side and the shadow under the lower lip."""
    mask = Image.new("L", img.size, 0)
    m = _Canvas(mask, nz, ident)
    ey, es, fw = ident["eye_v"], ident["eye_sep"], ident["face_w"]
    sock = int(np.clip(120 + 110 * A["AU4"] + 30 * A["AU7"] - 50 * A["AU5"] - 30 * A["AU1"], 0, 255))
    for s in (-1, 1):
        m.ellipse(s * es, ey - 0.06 + 0.04 * A["AU4"], 0.24, 0.15, fill=sock)
        m.ellipse(s * fw * 0.93, 0.25, 0.16, 0.55, fill=130, inner=False)
        m.ellipse(s * 0.09, ey + 0.22, 0.04, 0.14, fill=110)
    m.ellipse(0, ident["mouth_v"] + 0.2, 0.2, 0.05, fill=120)
    mask = mask.filter(ImageFilter.GaussianBlur(0.07 * c.radius))
    dark = Image.new("RGB", img.size, _mix(skin, (30, 15, 10), 0.75))
    img.paste(dark, (0, 0), mask)


def _draw_brows(c: _Canvas, A: dict, ident: dict) -> None:
    """AU1 raises the inner end, AU2 the outer end, AU4 lowers the brow and draws it inward."""
    ey, es = ident["eye_v"], ident["eye_sep"]
    brow_v = ey - 0.19
    col = _mix(ident["_hair_rgb"], (20, 15, 10), 0.4)
    for s in (-1, 1):
        inner_u = s * (es - 0.15 - 0.08 * A["AU4"])
        outer_u = s * (es + 0.2)
        # with AU1 the brow lowerer mostly knits the brows instead of lowering them (fear, sadness)
        inner_v = brow_v - 0.2 * A["AU1"] + 0.2 * A["AU4"] * (1 - 0.7 * A["AU1"])
        outer_v = brow_v - 0.2 * A["AU2"] + 0.02 * A["AU4"] + 0.05 * A["AU1"] * (1 - A["AU2"])
        mid_v = (inner_v + outer_v) / 2 - ident["brow_arch"] - 0.06 * A["AU2"]
        c.line([(inner_u, inner_v), ((inner_u + outer_u) / 2, mid_v), (outer_u, outer_v)], col,
               ident["brow_thick"] * (1.5 + 0.5 * A["AU4"]))


def _draw_eyes(c: _Canvas, A: dict, ident: dict, skin) -> None:
    """Almond eyes whose upper lid covers the top of the iris; only AU5 (upper lid raiser)
    bares sclera above the iris, as in surprise and fear. AU7 and AU6 narrow the opening from
    below (lid tightening, cheek raise); AU4 lowers the upper lid a little."""
    ey, es, ez = ident["eye_v"], ident["eye_sep"], ident["eye_size"]
    iris = [(60, 90, 140), (90, 60, 30), (50, 35, 25), (70, 110, 70)][ident["iris"]]
    upper = 0.062 * ez * (1 + 1.6 * A["AU5"] - 0.35 * A["AU7"] - 0.35 * A["AU6"] - 0.3 * A["AU4"])
    lower = 0.048 * ez * (1 - 0.7 * A["AU6"] - 0.55 * A["AU7"] + 0.45 * A["AU5"])
    upper, lower = max(upper, 0.012), max(lower, 0.008)
    ew, ir = 0.16 * ez, 0.066 * ez
    tt = np.linspace(0, math.pi, 15)
    for s in (-1, 1):
        u0 = s * es
        top = [(u0 - ew * math.cos(a), ey - upper * math.sin(a)) for a in tt]
        bot = [(u0 + ew * math.cos(a), ey + lower * math.sin(a)) for a in tt]
        c.poly(top + bot, fill=(225, 222, 215))
        # iris and pupil, clipped to the lids so the upper lid hides the iris's top
        ic = ey - 0.012
        for rad, col in ((ir, iris), (0.4 * ir, (12, 8, 8))):
            t = np.linspace(0, 2 * math.pi, 20, endpoint=False)
            us = u0 + rad * np.cos(t)
            rel = np.clip((us - u0) / ew, -1, 1)
            lid_top = ey - upper * np.sqrt(1 - rel**2)
            lid_bot = ey + lower * np.sqrt(1 - rel**2)
            vs = np.clip(ic + rad * np.sin(t), lid_top, lid_bot)
            c.poly(list(zip(us, vs)), fill=col)
        c.line(top, (25, 15, 12), 0.03)  # upper lid and lashes
        c.line(bot, _mix(skin, (60, 30, 20), 0.5), 0.012)
        if A["AU7"] + A["AU6"] < 0.6:  # lid crease, hidden by a tightened or squinting eye
            crease = [(u0 - ew * 0.9 * math.cos(a), ey - upper - 0.03 - 0.025 * math.sin(a)) for a in tt]
            c.line(crease, _mix(skin, (60, 30, 20), 0.35), 0.012)
        if A["AU6"] > 0.3:  # cheek raise: a lower-lid bulge and crow's feet
            shade = _mix(skin, (60, 30, 20), 0.5 * A["AU6"])
            c.line([(u0 - ew * 0.8, ey + lower + 0.04), (u0, ey + lower + 0.065), (u0 + ew * 0.8, ey + lower + 0.04)],
                   shade, 0.014)
            for k in (-1, 0, 1):
                c.line([(u0 + s * (ew + 0.03), ey + 0.03 * k), (u0 + s * (ew + 0.11), ey + 0.07 * k)], shade, 0.012)


def _draw_mouth(c: _Canvas, A: dict, ident: dict, skin) -> None:
    """Lips from corner heights, opening and thickness, each driven by AUs.

    AU12 pulls the corners up and back (and, with AU25, opens a smile that bares the upper
    teeth); AU15 pulls them down; AU20 stretches the mouth sideways; AU23 presses and narrows
    the lips; AU17 pushes the lower lip up; AU26 drops the jaw (an O in surprise); AU10 raises the
    upper lip; AU16 lowers the lower lip."""
    mv = ident["mouth_v"]
    half_w = 0.32 * ident["mouth_w"] * (1 + 0.35 * A["AU20"] + 0.25 * A["AU12"] - 0.25 * A["AU23"]
                                        - 0.1 * A["AU17"] - 0.35 * A["AU26"] - 0.1 * A["AU15"])
    corner_l = -0.24 * A["AU12"] + 0.22 * A["AU15"] + 0.12 * A["AU20"]
    corner_r = corner_l - 0.2 * A["AU12R"] - 0.04 * A["AU14R"]
    thick = 0.06 * ident["lip_thick"] * (1 - 0.6 * A["AU23"])
    smile_open = A["AU12"] * A["AU25"]
    gap_up = 0.015 * A["AU25"] + 0.07 * A["AU10"] + 0.03 * A["AU26"] + 0.03 * smile_open
    gap_low = (0.015 * A["AU25"] + 0.3 * A["AU26"] + 0.07 * A["AU16"] + 0.12 * smile_open
               + 0.06 * A["AU20"] * A["AU25"] + 0.04 * A["AU10"] * A["AU25"] - 0.03 * A["AU17"])
    gap_low = max(gap_low, 0.0)
    open_ = gap_up + gap_low > 0.025
    t = np.linspace(-1, 1, 25)
    right_narrow = 1 - 0.12 * A["AU14R"]
    xs = np.where(t < 0, t * half_w, t * half_w * right_narrow)
    mid = mv + np.where(t < 0, corner_l, corner_r) * t**2
    bell = np.clip(1 - t**2, 0, 1)
    flat = bell ** (1 - 0.7 * A["AU20"])  # a stretched (AU20) mouth opens as a wide rectangle
    upper_top = mid - thick * bell**0.6 - 0.02 * A["AU10"] * bell + 0.012 * np.exp(-(t / 0.12) ** 2)
    upper_bot = mid - gap_up * flat
    lower_top = mid + gap_low * flat - 0.015 * A["AU17"] * bell
    lower_bot = lower_top + thick * 1.2 * bell**0.6 + 0.01 * bell
    lip = _mix(skin, (120, 40, 50), 0.6)
    if open_:
        c.poly(list(zip(xs, upper_bot)) + list(zip(xs[::-1], lower_top[::-1])), fill=(45, 15, 18))
        gap = upper_bot * 0 + (lower_top - upper_bot)
        show = A["AU10"] + A["AU12"] + A["AU20"]
        if show > 0.4:  # upper teeth fill the top of the opening; a wide smile shows most of it
            teeth = upper_bot + np.minimum(gap * (0.35 + 0.4 * smile_open), 0.09) * bell**0.3
            c.poly(list(zip(xs * 0.9, upper_bot)) + list(zip(xs[::-1] * 0.9, teeth[::-1])), fill=(235, 232, 220))
        if A["AU10"] > 0.4:  # bared, clenched teeth (AU10 + AU25): lower teeth too
            low = lower_top - np.minimum(gap * 0.4, 0.05) * bell**0.3
            c.poly(list(zip(xs * 0.85, low)) + list(zip(xs[::-1] * 0.85, lower_top[::-1])), fill=(225, 222, 210))
    c.poly(list(zip(xs, upper_top)) + list(zip(xs[::-1], upper_bot[::-1])), fill=lip)
    c.poly(list(zip(xs, lower_top)) + list(zip(xs[::-1], lower_bot[::-1])), fill=lip)
    c.line(list(zip(xs, (upper_bot + lower_top) / 2 if not open_ else upper_bot)), _mix(lip, (30, 8, 8), 0.6), 0.016)
    for sgn, cv in ((-1, mid[0]), (1, mid[-1])):  # corner dimples make the corner direction visible
        c.line([(xs[0 if sgn < 0 else -1] + sgn * 0.01, cv - 0.015), (xs[0 if sgn < 0 else -1] + sgn * 0.04, cv - 0.01)],
               _mix(skin, (60, 30, 20), 0.45), 0.014)
    if A["AU17"] > 0.3:  # chin boss
        c.line([(-0.12, mv + 0.28), (0, mv + 0.25), (0.12, mv + 0.28)], _mix(skin, (60, 30, 20), 0.35 * A["AU17"]), 0.012)


def finish(img: Image.Image, nz: dict, out_size: int) -> Image.Image:
    """Downsample, then light, colour-cast, blur and add sensor noise at the output size."""
    img = img.resize((out_size, out_size), Image.LANCZOS)
    a = np.asarray(img, dtype=np.float32)
    yy, xx = np.mgrid[0:out_size, 0:out_size] / out_size - 0.5
    grad = 1 + nz["light_strength"] * (np.cos(nz["light_dir"]) * xx + np.sin(nz["light_dir"]) * yy) * 2
    a = a * grad[..., None]
    a = (a - 128) * nz["contrast"] + 128 + nz["brightness"]
    a = a * np.array([nz["cast_r"], nz["cast_g"], nz["cast_b"]])
    if nz["noise"] > 0:
        a = a + np.random.default_rng(nz["_noise_seed"] + 1).normal(0, nz["noise"], a.shape)
    img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    if nz["blur"] > 0:
        img = img.filter(ImageFilter.GaussianBlur(nz["blur"]))
    return img


# ----------------------------------------------------------------------------- one sample
SPLIT_CODES = {"train": 0, "test": 1}


def render_sample(cfg: SynthConfig, split: str, index: int, priors: np.ndarray | None = None):
    """Return ``(PIL image, metadata row)`` for one (split, index); pure and deterministic."""
    priors = cfg.priors() if priors is None else priors
    r = np.random.default_rng([cfg.seed, SPLIT_CODES[split], index])
    identity = int(r.integers(0, cfg.n_identities))
    ident = sample_identity(cfg.seed, identity) | {"_face_scale": cfg.face_scale}
    expr = sample_expression(r, cfg, priors)
    nz = sample_nuisance(r, cfg)
    big = draw_face(ident, expr["au"], nz, cfg.image_size * cfg.supersample)
    img = finish(big, nz, cfg.image_size)
    row = {"split": split, "index": index, "class": expr["class"], "label": expr["label"],
           "intensity": round(expr["intensity"], 4), "blend_class": expr["blend_class"],
           "blend_weight": round(expr["blend_weight"], 4)}
    row.update({f"soft_{k}": round(float(v), 4) for k, v in enumerate(expr["soft"])})
    row.update({k: (round(v, 4) if isinstance(v, float) else v) for k, v in ident.items() if not k.startswith("_")})
    row.update({k: (round(v, 4) if isinstance(v, float) else v) for k, v in nz.items() if not k.startswith("_")})
    row.update({a: round(float(v), 4) for a, v in zip(AUS, expr["au"])})
    return img, row


def raf_name(split: str, index: int) -> str:
    """RAF-DB file stem: ``train_00001`` (5 digits) / ``test_0001`` (4 digits), 1-based."""
    return f"train_{index + 1:05d}" if split == "train" else f"test_{index + 1:04d}"


def _render_chunk(args):
    cfg, split, indices, out_dir = args
    priors = cfg.priors()
    rows = []
    for i in indices:
        img, row = render_sample(cfg, split, i, priors)
        stem = raf_name(split, i)
        img.save(Path(out_dir) / "Image" / "aligned" / f"{stem}_aligned.jpg", quality=row["jpeg"])
        row["file"] = f"{stem}.jpg"
        rows.append(row)
    return rows


def generate(cfg: SynthConfig, out_dir: str | Path, progress: bool = True) -> Path:
    """Write a SynthFACS dataset in RAF-DB layout to ``out_dir``; returns the metadata path.

    Re-running with the same config over a complete folder does nothing (the config and counts
    are checked through ``synthfacs.json``, written last).
    """
    from tqdm.auto import tqdm

    out = Path(out_dir)
    stamp = out / "synthfacs.json"
    want = asdict(cfg) | {"format": 1}
    want.pop("workers")
    if stamp.exists() and json.loads(stamp.read_text()) == json.loads(json.dumps(want)):
        return out / "metadata.csv"
    (out / "Image" / "aligned").mkdir(parents=True, exist_ok=True)
    (out / "EmoLabel").mkdir(parents=True, exist_ok=True)
    chunk = 64
    jobs = [(cfg, split, list(range(s, min(s + chunk, n))), str(out))
            for split, n in (("train", cfg.n_train), ("test", cfg.n_test)) for s in range(0, n, chunk)]
    workers = cfg.workers or os.cpu_count() or 1
    rows: list[dict] = []
    bar = tqdm(total=cfg.n_train + cfg.n_test, desc="SynthFACS", unit="img", disable=not progress)
    if workers == 1:
        for job in jobs:
            rows += _render_chunk(job)
            bar.update(len(job[2]))
    else:
        with get_context("spawn" if os.name == "nt" else "fork").Pool(workers) as pool:
            for part in pool.imap_unordered(_render_chunk, jobs):
                rows += part
                bar.update(len(part))
    bar.close()
    rows.sort(key=lambda r: (SPLIT_CODES[r["split"]], r["index"]))
    cols = ["file"] + [k for k in rows[0] if k != "file"]
    tmp = out / "metadata.csv.tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, out / "metadata.csv")
    with open(out / "EmoLabel" / "list_patition_label.txt", "w") as f:
        for r in rows:  # RAF-DB labels are 1-based
            f.write(f"{r['file']} {r['label'] + 1}\n")
    stamp.write_text(json.dumps(want, indent=1))
    return out / "metadata.csv"


def contact_sheet(cfg: SynthConfig, per_class: int = 6, seed_offset: int = 0) -> Image.Image:
    """A grid: one row per class at high intensity, columns are different identities."""
    names = class_names(cfg.num_classes)
    s = cfg.image_size
    sheet = Image.new("RGB", (s * per_class, s * len(names)), "white")
    for k in range(len(names)):
        for j in range(per_class):
            r = np.random.default_rng([cfg.seed, 77, seed_offset, k, j])
            ident = sample_identity(cfg.seed, j * 7 + 3) | {"_face_scale": cfg.face_scale}
            au = np.zeros(len(AUS))
            for name, v in PROTOTYPES[k].items():
                au[AUS.index(name)] = v * r.uniform(0.8, 1.0)
            nz = sample_nuisance(r, cfg)
            nz.update(occluder="none", glasses=False, blur=0.0, roll=float(r.normal(0, 4)))
            sheet.paste(finish(draw_face(ident, au, nz, s * cfg.supersample), nz, s), (j * s, k * s))
    return sheet
