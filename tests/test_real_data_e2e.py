"""Every reader end to end: a tiny copy of each real dataset's on-disk layout (written from
SynthFACS faces, tests/real_layouts.py) runs through the same DVC pipeline as the study
(splits -> data tour -> train -> results -> analysis -> report) under a tiny profile of its own.

Checks that every stage wrote its outputs, that the reports name that dataset and never SynthFACS,
that the ground-truth probes say "not available" where the data has no factors, and that DVC is
up to date afterwards.
"""
import json

import pytest
import yaml

from project_copy import BIN, ROOT, commit, git_copy, run
from real_layouts import LAYOUTS
from ssfer_core.data.datasets import DATASETS

OUTPUTS = ("README.md", "metrics.json", "results_block.md", "html/data_tour.html", "html/results.html",
           "html/analysis.html", "data_tour/samples.png", "data_tour/counts.csv", "data_tour/class_distribution.png",
           "results/main.md", "analysis/analysis.json", "analysis/umap_methods.png", "explorer/umap_explorer.html")


def _prose_and_outputs(path) -> str:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    parts = [c.source for c in nb.cells if c.cell_type == "markdown"]
    for c in nb.cells:
        for o in c.get("outputs", []):
            parts += [o.get("text", "")] + [str(v) for k, v in o.get("data", {}).items() if k.startswith("text/")]
    return "\n".join(parts)


def tiny_profile(name: str, data: dict) -> dict:
    """The smoke profile on dataset ``data`` with two runs (supervised and LEAF)."""
    prof = yaml.safe_load((ROOT / "studies" / "smoke" / "params.yaml").read_text())
    prof.update(profile=name, params_file=f"studies/{name}/params.yaml", readme=f"reports/{name}/results_block.md",
                synth={"n_train": 14, "n_test": 7, "size": 32}, pretrain={"n_images": 60, "steps": 3})
    prof["train"]["data"].update(data, split_dir=f"data/{name}/splits", cache_dir=f"data/{name}/cache",
                                 labels_per_class=2, val_size=8)
    prof["train"]["net"]["weights"] = f"data/{name}/pretrained/backbone.pth"
    prof["runs"] = {"supervised_s0": {"group": "main", "method": "supervised"},
                    "leaf_s0": {"group": "main", "method": "leaf"}}
    return prof


@pytest.mark.slow
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_reader_through_the_whole_pipeline(layout, faces8, tmp_path):
    name = f"e2e_{layout}"
    proj = git_copy(tmp_path, drop_reports=name)
    data = LAYOUTS[layout](faces8, proj / "data" / "raw" / layout)
    data["root"] = f"data/raw/{layout}"  # relative to the project: a DVC dependency of the splits stage
    study = proj / "studies" / name
    study.mkdir()
    (study / "params.yaml").write_text(yaml.safe_dump(tiny_profile(name, data), sort_keys=False))
    (study / "dvc.yaml").symlink_to("../../dvc.yaml")
    commit(proj, name)
    check = run([str(BIN / "ssfer"), "data", "check", "--profile", f"studies/{name}/params.yaml"], proj)
    assert "verdict: training can start" in check
    run([str(BIN / "dvc"), "repro", f"studies/{name}/dvc.yaml"], proj)

    reports = proj / "reports" / name
    for f in OUTPUTS:
        assert (reports / f).exists(), f
    for d in (f"data/{name}/splits", f"runs/{name}/leaf_s0/checkpoint.pt", f"runs/{name}/supervised_s0/metrics.json"):
        assert (proj / d).exists(), d
    dataset = DATASETS[data["dataset"]].display
    assert json.loads((reports / "metrics.json").read_text())["dataset"] == dataset
    assert f"Dataset: **{dataset}**. Profile: **{name}**" in (reports / "README.md").read_text()
    texts = {p: p.read_text() for p in reports.rglob("*") if p.suffix in (".md", ".html", ".json", ".csv")}
    for nb in [*reports.glob("notebooks/*.ipynb"), *(proj / "runs" / name).glob("*/train.ipynb")]:
        texts[nb] = _prose_and_outputs(nb)  # what a reader of the executed notebook sees, code aside
    assert not [p for p, t in texts.items() if "synthfacs" in t.lower()]  # nothing names the wrong data
    assert all(dataset in texts[reports / "notebooks" / f"{nb}.ipynb"] for nb in ("data_tour", "results", "analysis"))
    assert not (reports / "data_tour" / "realism.json").exists()  # the real-face judge is for synthetic faces
    assert "not available" in texts[reports / "html" / "analysis.html"]  # identity, pose... probes
    assert "not available" in texts[reports / "html" / "data_tour.html"]  # generating factors
    status = run([str(BIN / "dvc"), "status", f"studies/{name}/dvc.yaml"], proj)
    assert "up to date" in status, status
