"""Profiles and runs: one route from a YAML file to a trained run.

A profile is a plain YAML file (``params.yaml`` is the ``default`` study; ``studies/<name>/params.yaml``
the others). Its ``train:`` section is the base ``TrainConfig`` of every run; ``runs:`` maps each run
name to an overlay that lists only the keys it changes (lightning-hydra-template's experiment
overlays), plus ``group`` (which table the run belongs to)::

    train: {steps: 2000, data: {labels_per_class: 50}}
    runs:
      fixmatch_s1: {group: main, method: fixmatch, seed: 1}
      sitfer_mssl_off_s0: {group: sitfer_ablation, method: sitfer, sitfer: {mssl: false}}

DVC passes a run's name; the CLI (``ssfer train --run NAME``) and the train notebook both call
:func:`run_training`. The trainer writes the *resolved* config (after the method's defaults) to
``runs/<profile>/<name>/config.yaml``, the same config the checkpoint records.
"""
from __future__ import annotations

import copy
from pathlib import Path

import yaml

from ssfer_core.config import ConfigError, TrainConfig, apply_overrides, from_dict, validate

STUDY_KEYS = ("group",)  # run-overlay keys that describe the study, not the training


def load_profile(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"profile file {path} not found; profiles are params.yaml and studies/<name>/params.yaml")
    prof = yaml.safe_load(path.read_text()) or {}
    for key in ("profile", "train", "runs"):
        if key not in prof:
            raise ConfigError(f"{path} has no '{key}:' section; see params.yaml for the layout")
    return prof


def run_config(prof: dict, run: str | None = None, overrides: list[str] = ()) -> TrainConfig:
    """The checked TrainConfig of ``run`` (base ``train:`` + the run's overlay + ``-S`` overrides),
    with the method's network defaults filled in. ``run=None``: the base config alone."""
    cfg = from_dict(copy.deepcopy(prof["train"]))
    if run is not None:
        if run not in prof["runs"]:
            raise ConfigError(f"run {run!r} is not in profile {prof['profile']!r}; runs: {', '.join(prof['runs'])}")
        overlay = {k: v for k, v in prof["runs"][run].items() if k not in STUDY_KEYS}
        cfg = from_dict(overlay, cfg)
    cfg = validate(apply_overrides(cfg, list(overrides)))
    from ssfer_core.methods import resolve_net_defaults

    return resolve_net_defaults(cfg)


def split_configs(prof: dict, overrides: list[str] = ()) -> list:
    """The data configs of the base config and every run, one per distinct split file: what
    ``ssfer split`` makes and ``ssfer data check --config`` checks."""
    from ssfer_core.data.bundle import split_path

    out = {}
    for run in [None, *prof["runs"]]:
        data = run_config(prof, run, overrides).data
        out.setdefault(split_path(data), data)
    return list(out.values())


def run_dir(prof: dict, run: str) -> Path:
    return Path("runs") / prof["profile"] / run


def run_training(profile: str | Path, run: str | None = None, out: str | Path | None = None,
                 overrides: list[str] = (), device: str = "cpu", resume: bool = True, progress: bool = True) -> dict:
    """Train one run of a profile; returns its metrics. The config is checked before any data is
    read, and nothing is written for a run whose config is wrong."""
    from ssfer_core.train import train

    prof = load_profile(profile)
    cfg = run_config(prof, run, overrides)
    if out is None:
        if run is None:
            raise ConfigError("give a run name (--run NAME) or an output folder (--out DIR)")
        out = run_dir(prof, run)
    return train(cfg, out, device=device, resume=resume, progress=progress)


def groups(prof: dict) -> dict[str, list[str]]:
    """Run names by table, in file order."""
    out: dict[str, list[str]] = {}
    for name, overlay in prof["runs"].items():
        out.setdefault(overlay.get("group", "main"), []).append(name)
    return out
