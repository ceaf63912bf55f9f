"""The user-facing product end to end: the `smoke` profile through DVC and papermill.

Runs in a git copy of the project so the working tree is untouched. Every notebook is executed and
every report written under the smoke profile's own folders; the committed default outputs are not
touched; `dvc status` is clean afterwards and a second `dvc repro` has nothing to do.
"""
import json
import subprocess
from pathlib import Path

import pytest

from project_copy import BIN, git_copy
from project_copy import run as _run


@pytest.mark.slow
def test_smoke_study_end_to_end(tmp_path):
    proj = git_copy(tmp_path, drop_reports="smoke")
    assert (proj / "studies" / "smoke" / "dvc.yaml").is_symlink()  # one pipeline serves every profile
    _run([str(BIN / "dvc"), "repro", "studies/smoke/dvc.yaml"], proj)

    reports = proj / "reports" / "smoke"
    for f in ("README.md", "metrics.json", "results_block.md", "html/results.html", "html/analysis.html",
              "html/data_tour.html", "results/main.md", "results/sitfer_ablation.md", "results/leaf_ablation.md",
              "results/plugin.md", "results/leaf_experts.md", "results/ablation_leaf_experts.png",
              "results/leaf_positive_sets.png", "analysis/decoupling_probes.md", "analysis/decoupling_verdict.csv",
              "analysis/gate_weights.png", "analysis/umap_components.png", "analysis/analysis.json",
              "explorer/umap_explorer.html", "figures/contact_sheet.jpg", "data_tour/realism.json",
              "data_tour/samples.png", "data_tour/counts.csv"):
        assert (reports / f).exists(), f
    # what a reader sees: no NaN, Python repr, empty code cell or clipped title on any page or table
    from ssfer_study.stages import page_check

    pages = sorted((reports / "notebooks").glob("*.ipynb")) + sorted(reports.glob("*/*.md"))
    found = [f"{p.relative_to(reports)}: {x}" for p in pages
             for x in (page_check.problems(p) if p.suffix == ".ipynb" else page_check.text_problems(p.read_text()))]
    assert found == []
    for d in ("data/smoke/synthfacs", "data/smoke/splits", "data/smoke/pretrained", "runs/smoke/leaf_s0"):
        assert (proj / d).exists(), d
    metrics = json.loads((reports / "metrics.json").read_text())
    assert metrics["profile"] == "smoke" and metrics["dataset"].startswith("SynthFACS")
    assert {"supervised", "fixmatch", "sitfer", "leaf"} <= set(metrics["main"])
    assert all(isinstance(v["acc_mean"], float) for v in metrics["main"].values())  # numbers, not strings
    for page in ("results", "analysis", "data_tour"):
        html = (reports / "html" / f"{page}.html").read_text()
        assert "from ssfer_core" not in html and "from ssfer_study" not in html  # rendered without code
        assert "data:image/png;base64" in html, page  # with its figures inline
    assert "bokeh" in (reports / "explorer" / "umap_explorer.html").read_text().lower()
    # the learning curves are where `dvc plots` looks: one plot a main run, with its points
    shown = subprocess.run([str(BIN / "dvc"), "plots", "show", "--json"], cwd=proj, capture_output=True, text=True,
                           env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(Path.home())})
    plots = json.loads(shown.stdout)["data"]
    accuracy = plots["reports/smoke/results/curves/accuracy/fixmatch_s0.tsv"][0]["content"]["data"]["values"]
    assert accuracy and {"step", "accuracy"} <= set(accuracy[0])
    assert "reports/smoke/results/curves/pseudo_labels/leaf_s0.tsv" in plots

    # the smoke profile wrote nothing that belongs to the default study
    changed = _run(["git", "status", "--porcelain", "--untracked-files=all"], proj).splitlines()
    outside = [l for l in changed if "smoke" not in l]
    assert outside == [], outside
    assert "smoke" not in (proj / "README.md").read_text().split("results:start")[1].split("results:end")[0]

    status = _run([str(BIN / "dvc"), "status", "studies/smoke/dvc.yaml"], proj)
    assert "up to date" in status, status
    second = _run([str(BIN / "dvc"), "repro", "studies/smoke/dvc.yaml"], proj)
    assert "Running stage" not in second

    # a plot edit re-trains nothing: only the stages that draw figures are out of date
    plots = proj / "ssfer_study" / "stages" / "plots.py"
    plots.write_text(plots.read_text() + "\n# an edit of the plotting code\n")
    status = _run([str(BIN / "dvc"), "status", "studies/smoke/dvc.yaml"], proj)
    assert "dvc.yaml:train:" not in status and "splits" not in status, status
    assert "results:" in status and "analysis:" in status and "data_tour:" in status, status
    _run(["git", "checkout", "ssfer_study/stages/plots.py"], proj)

    # one method's setting re-trains that method's runs only: DVC re-runs the `train` stage, whose
    # command skips every run whose inputs (config file, notebook, split, backbone, code) are unchanged
    params = proj / "studies" / "smoke" / "params.yaml"
    import yaml

    runs = proj / "runs" / "smoke"
    before = {d.name: (d / ".fingerprint").read_text() for d in runs.iterdir() if (d / ".fingerprint").exists()}
    assert set(before) == set(yaml.safe_load(params.read_text())["runs"])
    mtimes = {k: (runs / k / "metrics.json").stat().st_mtime_ns for k in before}
    prof = yaml.safe_load(params.read_text())
    prof["train"]["sitfer"] = {"threshold": 0.5}
    params.write_text(yaml.safe_dump(prof, sort_keys=False))
    out = _run([str(BIN / "dvc"), "repro", "studies/smoke/dvc.yaml:train"], proj)
    after = {k: (runs / k / ".fingerprint").read_text() for k in before}
    retrained = {k for k in before if after[k] != before[k]}
    touched = {k for k in before if (runs / k / "metrics.json").stat().st_mtime_ns != mtimes[k]}
    # (an official-protocol run keeps its release's threshold: the recipe sits above train:)
    sitfer_runs = {k for k, r in prof["runs"].items() if r.get("method") in ("sitfer", "leaf+sitfer")
                   and r.get("protocol") != "official"}
    assert "sitfer_official_s0" in prof["runs"] and "sitfer_official_s0" not in retrained
    assert retrained == touched == sitfer_runs, out
    assert f"{len(sitfer_runs)} to train, {len(before) - len(sitfer_runs)} up to date" in out
