"""``ssfer train --run NAME``: one run of a profile, trained from its resolved config. The CLI, the
training notebook (``notebooks/train.ipynb``, which the study's `train` stage runs) and any script
call :func:`run_training`, so a run's config is made one way everywhere."""
from __future__ import annotations

from pathlib import Path

from ssfer_core.devices import resolve_device
from ssfer_core.errors import ConfigError
from ssfer_core.train import train
from ssfer_study.study import load_study


def run_training(profile: str | Path, run: str | None = None, out: str | Path | None = None,
                 overrides: list[str] = (), device: str | None = None, resume: bool = True,
                 progress: bool = True) -> dict:
    """Train one run of a profile; returns its metrics. The config is checked before any data is
    read, and nothing is written for a run whose config is wrong: ``train.device`` included (``auto``
    is resolved here, so the recorded config names the device kind it trained on). ``device`` pins
    the run to one device of that kind (``cuda:1``)."""
    study = load_study(profile)
    cfg = study.config(run, overrides)
    cfg.device = resolve_device(cfg.device)
    if out is None:
        if run is None:
            raise ConfigError("give a run name (--run NAME) or an output folder (--out DIR)")
        out = study.run_dir(run)
    return train(cfg, out, device=device, resume=resume, progress=progress)
