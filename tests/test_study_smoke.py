"""The user-facing product end to end: the `smoke` profile through DVC and papermill.

Runs in a temporary copy of the project so the working tree is untouched. Every notebook is
executed, every report written, and a second `dvc repro` has nothing to do.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(cmd, cwd):
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg", "HOME": str(cwd)}
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, f"{cmd} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout + r.stderr


@pytest.mark.slow
def test_smoke_study_end_to_end(tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    for item in ("dvc.yaml", "params.yaml", "notebooks", "ssfer_core"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, proj / item)
    _run(["git", "init", "-q"], proj)
    _run([str(BIN / "dvc"), "init", "-q"], proj)
    _run(["git", "add", "-A"], proj)
    _run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"], proj)
    _run([str(BIN / "python"), "-m", "ssfer_core.cli", "profile", "smoke"], proj)
    _run([str(BIN / "dvc"), "repro"], proj)
    reports = proj / "reports"
    for f in ("README.md", "metrics.json", "html/results.html", "html/analysis.html", "html/data_tour.html",
              "results/main.md", "results/sitfer_ablation.md", "results/leaf_ablation.md", "results/plugin.md",
              "analysis/decoupling_probes.md", "analysis/umap_explorer.html", "figures/contact_sheet.png"):
        assert (reports / f).exists(), f
    metrics = json.loads((reports / "metrics.json").read_text())
    assert metrics["dataset"] == "SynthFACS" and metrics["profile"] == "smoke"
    assert {"supervised", "fixmatch", "sitfer", "leaf"} <= set(metrics)
    html = (reports / "html" / "results.html").read_text()
    assert "from ssfer_core" not in html  # rendered without code
    assert "bokeh" in (reports / "analysis" / "umap_explorer.html").read_text().lower()
    second = _run([str(BIN / "dvc"), "repro"], proj)
    assert "Running stage" not in second
