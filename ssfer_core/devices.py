"""Which device a run trains on. ``train.device`` is part of a run's config and identity: ``auto``
(CUDA when there is one, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``. A run that asks for a GPU
never falls back to the CPU in silence: it stops, naming the device and what torch said."""
from __future__ import annotations

import re

import torch

from ssfer_core.errors import ConfigError

DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def cuda_count() -> int:
    """GPUs torch can use here (0 when ``torch.cuda.is_available()`` is False)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def check_device_name(device: str) -> str:
    if not isinstance(device, str) or not DEVICE_PATTERN.match(device):
        raise ConfigError(f"device={device!r} is not allowed: expected auto, cpu, cuda or cuda:N")
    return device


def resolve_device(device: str, gpus: int | None = None) -> str:
    """``device`` as the run will use it: ``auto`` becomes ``cuda`` or ``cpu``; ``cuda`` / ``cuda:N``
    are checked against the ``gpus`` there are (default: what torch sees). Raises ConfigError, in
    one line that says how to train on the CPU instead, when the GPU asked for is not there."""
    check_device_name(device)
    gpus = cuda_count() if gpus is None else gpus
    if device == "auto":
        return "cuda" if gpus else "cpu"
    if device == "cpu":
        return device
    index = int(device.split(":")[1]) if ":" in device else 0
    if gpus == 0:
        raise ConfigError(f"train.device={device!r} but no GPU was found (torch.cuda.is_available() is "
                          f"{torch.cuda.is_available()}); to train on the CPU anyway set `device: cpu` under "
                          "`train:` in the profile, or pass `-S device=cpu` to `ssfer train` "
                          "(`-S train.device=cpu` to `dvc exp run`)")
    if index >= gpus:
        raise ConfigError(f"train.device={device!r} but this machine has {gpus} GPU(s) (cuda:0..cuda:{gpus - 1})")
    return device


def kind(device: str) -> str:
    """``cpu`` or ``cuda``: what a run's fingerprint records (which GPU it ran on does not matter)."""
    return device.split(":")[0]
