"""Load records into one in-memory ``uint8 [N, 3, S, S]`` tensor (PIL, RGB), with a disk cache.

Missing or corrupt images are skipped with a warning naming them and a count
(``on_bad="skip"``) or raise :class:`DatasetError` (``on_bad="error"``).

The cache file is named by a hash of everything the tensor depends on: each image's resolved
path, size and modification time (or, for images stored as CSV pixels, the pixels), the image
size, the channel order and the bad-image policy. Another folder with the same file names, or a
changed image, therefore never reuses a stale cache.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ssfer_core.data.readers import Record
from ssfer_core.errors import DatasetError

log = logging.getLogger(__name__)


def open_image(rec: Record) -> Image.Image:
    """One record's decoded image as stored (any mode), before any crop or resize."""
    if rec.pixels is not None:
        return Image.fromarray(rec.pixels)
    img = Image.open(rec.path)
    img.load()  # decode now so a truncated file fails here, not later
    return img


def crop_to_box(img: Image.Image, box: tuple[int, int, int, int], where) -> Image.Image:
    """Crop to a face box (x, y, width, height), clipped to the image; a box that misses the image
    is a bad image (ValueError, handled by the bad-image policy)."""
    x, y, w, h = box
    x0, y0, x1, y1 = max(0, x), max(0, y), min(img.width, x + w), min(img.height, y + h)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"face box {box} lies outside the {img.width}x{img.height} image {where}")
    return img.crop((x0, y0, x1, y1))


def load_image(rec: Record, size: int, bgr: bool = False) -> np.ndarray:
    """One record as ``uint8 [S, S, 3]`` RGB (or BGR for checkpoints trained on cv2 input),
    cropped to its face box first when it has one."""
    img = open_image(rec)
    if rec.box is not None:
        img = crop_to_box(img, rec.box, rec.path)
    img = img.convert("RGB")
    if img.size != (size, size):
        img = img.resize((size, size), Image.BILINEAR)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[..., ::-1].copy() if bgr else arr


def _fingerprint(rec: Record) -> bytes:
    """What the cached pixels of one record depend on (its face box included)."""
    box = f"|{rec.box}" if rec.box is not None else ""
    if rec.pixels is not None:
        return rec.key.encode() + hashlib.sha1(np.ascontiguousarray(rec.pixels).tobytes()).digest() + box.encode()
    p = os.path.abspath(rec.path)  # not resolve(): realpath's lstat per path component costs 1 s a run
    try:
        st = os.stat(p)
        return f"{rec.key}|{p}|{st.st_size}|{st.st_mtime_ns}{box}\n".encode()
    except OSError:
        return f"{rec.key}|{p}|missing{box}\n".encode()


def load_images(records: list[Record], size: int, cache_dir: str | Path | None = None,
                on_bad: str = "skip", bgr: bool = False, progress: bool = False
                ) -> tuple[torch.Tensor, list[Record]]:
    """Return (images ``uint8 [N, 3, S, S]``, the records that loaded)."""
    if on_bad not in ("skip", "error"):
        raise ValueError("on_bad must be 'skip' or 'error'")
    cache = None
    if cache_dir is not None:
        h = hashlib.sha256()
        for r in records:
            h.update(_fingerprint(r))
        h.update(f"|{size}|{bgr}|{on_bad}".encode())
        cache = Path(cache_dir) / f"images_{size}px_{h.hexdigest()[:16]}.npz"
        if cache.exists():
            z = np.load(cache)
            keep = set(z["keys"].tolist())
            return torch.from_numpy(z["images"]), [r for r in records if r.key in keep]
    from tqdm.auto import tqdm

    arrays, kept, bad = [], [], []
    for rec in tqdm(records, desc="loading images", unit="img", disable=not progress):
        try:
            arrays.append(load_image(rec, size, bgr))
            kept.append(rec)
        except (FileNotFoundError, UnidentifiedImageError, OSError, ValueError) as e:
            if on_bad == "error":
                raise DatasetError(f"cannot read image {rec.path}: {e}. Replace or delete the file, "
                                   "or skip unreadable images with -S data.on_bad_image=skip") from None
            bad.append((rec.path, e))
    if bad:
        shown = "; ".join(f"{p} ({type(e).__name__})" for p, e in bad[:5])
        log.warning("skipped %d unreadable image(s) of %d: %s%s", len(bad), len(records), shown,
                    " ..." if len(bad) > 5 else "")
    if not arrays:
        raise DatasetError("no image could be read; check the dataset path")
    images = np.stack(arrays).transpose(0, 3, 1, 2).copy()
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, images=images, keys=np.array([r.key for r in kept]))
        os.replace(tmp, cache)
    return torch.from_numpy(images), kept
