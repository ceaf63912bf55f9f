"""Atomic writes: write beside the target, then rename, so a killed process never leaves a
half-written checkpoint, cache or split behind."""
from __future__ import annotations

import os
from pathlib import Path

import torch


def torch_save(obj, path: str | Path) -> None:
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def write_text(path: str | Path, text: str) -> None:
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
