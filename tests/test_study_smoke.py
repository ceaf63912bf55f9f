"""The user-facing product end to end: the `smoke` profile through DVC and papermill.

Runs in a git copy of the project so the working tree is untouched. Every notebook is executed and
every report written under the smoke profile's own folders; the committed default outputs are not
touched; `dvc status` is clean afterwards and a second `dvc repro` has nothing to do.
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
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg", "HOME": str(Path.home())}
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, f"{cmd} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout + r.stderr


@pytest.mark.slow
def test_smoke_study_end_to_end(tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    for item in ("dvc.yaml", "params.yaml", "README.md", "notebooks", "ssfer_core", "studies", ".gitignore",
                 "reports"):
        src = ROOT / item
        if src.exists():
            (shutil.copytree(src, proj / item, symlinks=True) if src.is_dir() else shutil.copy(src, proj / item))
    for lock in proj.glob("studies/*/dvc.lock"):
        lock.unlink()
    shutil.rmtree(proj / "reports" / "smoke", ignore_errors=True)
    _run(["git", "init", "-q"], proj)
    _run([str(BIN / "dvc"), "init", "-q"], proj)
    shutil.copy(ROOT / ".dvcignore", proj / ".dvcignore")  # __pycache__ is not part of a code dependency
    _run(["git", "add", "-A"], proj)
    _run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"], proj)
    assert (proj / "studies" / "smoke" / "dvc.yaml").is_symlink()  # one pipeline serves every profile
    _run([str(BIN / "dvc"), "repro", "studies/smoke/dvc.yaml"], proj)

    reports = proj / "reports" / "smoke"
    for f in ("README.md", "metrics.json", "results_block.md", "html/results.html", "html/analysis.html",
              "html/data_tour.html", "results/main.md", "results/sitfer_ablation.md", "results/leaf_ablation.md",
              "results/plugin.md", "analysis/decoupling_probes.md", "analysis/analysis.json",
              "explorer/umap_explorer.html", "figures/contact_sheet.jpg", "data_tour/realism.json"):
        assert (reports / f).exists(), f
    for d in ("data/smoke/synthfacs", "data/smoke/splits", "data/smoke/pretrained", "runs/smoke/leaf_s0"):
        assert (proj / d).exists(), d
    metrics = json.loads((reports / "metrics.json").read_text())
    assert metrics["profile"] == "smoke" and metrics["dataset"].startswith("SynthFACS")
    assert {"supervised", "fixmatch", "sitfer", "leaf"} <= set(metrics["main"])
    assert all(isinstance(v["acc_mean"], float) for v in metrics["main"].values())  # numbers, not strings
    for page in ("results", "analysis", "data_tour"):
        html = (reports / "html" / f"{page}.html").read_text()
        assert "from ssfer_core" not in html  # rendered without code
        assert "data:image/png;base64" in html, page  # with its figures inline
    assert "bokeh" in (reports / "explorer" / "umap_explorer.html").read_text().lower()

    # the smoke profile wrote nothing that belongs to the default study
    changed = _run(["git", "status", "--porcelain", "--untracked-files=all"], proj).splitlines()
    outside = [l for l in changed if "smoke" not in l]
    assert outside == [], outside
    assert "smoke" not in (proj / "README.md").read_text().split("results:start")[1].split("results:end")[0]

    status = _run([str(BIN / "dvc"), "status", "studies/smoke/dvc.yaml"], proj)
    assert "up to date" in status, status
    second = _run([str(BIN / "dvc"), "repro", "studies/smoke/dvc.yaml"], proj)
    assert "Running stage" not in second
