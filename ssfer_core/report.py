"""Render the executed notebooks to HTML without code and write ``reports/README.md``."""
from __future__ import annotations

import json
from pathlib import Path

import yaml

NOTEBOOKS = {"data_tour": "reports/data_tour/data_tour.ipynb", "results": "reports/results/results.ipynb",
             "analysis": "reports/analysis/analysis.ipynb"}


def render(out_dir: str | Path = "reports/html") -> list[Path]:
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, src in NOTEBOOKS.items():
        if Path(src).exists():
            body, _ = exporter.from_notebook_node(nbformat.read(src, as_version=4))
            (out / f"{name}.html").write_text(body)
            written.append(out / f"{name}.html")
    return written


def index(reports: str | Path = "reports") -> Path:
    reports = Path(reports)
    params = yaml.safe_load(Path("params.yaml").read_text())
    profile = params.get("profile", "?")
    lines = ["# ssfer study report", "",
             f"Dataset: **SynthFACS** (embedded synthetic faces, not a real FER dataset). Profile: **{profile}**. "
             "Regenerate with `make study` (`dvc repro`).", "",
             "Accuracies in %; mean ± std over seeds; `ema`/`raw` = evaluation model; `last` = end of training, "
             "`best` = best test accuracy seen (the papers' protocol, optimistic).", ""]
    for name, title in (("main", "Main table"), ("sitfer_ablation", "SIT-FER ablation (MSSL / MIPG / levels)"),
                        ("leaf_ablation", "LEAF ablation (levels / gating)"), ("plugin", "LEAF plugged into other methods")):
        md = reports / "results" / f"{name}.md"
        if md.exists():
            lines += [f"## {title}", "", md.read_text().split("\n", 2)[-1], ""]
    probes = reports / "analysis" / "decoupling_probes.md"
    if probes.exists():
        lines += ["## Decoupling probes (LEAF, seed 0)", "", probes.read_text().split("\n", 2)[-1], ""]
    lines += ["## Figures", "", "![contact sheet](figures/contact_sheet.png)", ""]
    for fig in ("data_tour/class_distribution.png", "results/accuracy_curves.png", "results/sitfer_pl_levels.png",
                "results/leaf_pl.png", "analysis/umap_components.png", "analysis/gates_semantic.png",
                "analysis/gates_instance.png"):
        if (reports / fig).exists():
            lines += [f"![{fig}]({fig})", ""]
    lines += ["## Pages", "", "- [data tour](html/data_tour.html)", "- [results](html/results.html)",
              "- [analysis](html/analysis.html)", "- [interactive UMAP explorer](analysis/umap_explorer.html)", ""]
    path = reports / "README.md"
    path.write_text("\n".join(lines))
    return path


START, END = "<!-- results:start (written by `python -m ssfer_core.report`) -->", "<!-- results:end -->"


def update_readme(readme: str | Path = "README.md", reports: str | Path = "reports") -> bool:
    """Replace the block between the markers in the top-level README with the main table and
    the profile that made it, so the README never shows a number `dvc repro` did not make."""
    readme, reports = Path(readme), Path(reports)
    main = reports / "results" / "main.md"
    if not readme.exists() or not main.exists() or START not in readme.read_text():
        return False
    params = yaml.safe_load(Path("params.yaml").read_text())
    metrics = json.loads((reports / "metrics.json").read_text()) if (reports / "metrics.json").exists() else {}
    train = params["active"]["train"]
    block = [START, "",
             f"Dataset **SynthFACS** (embedded synthetic), profile **{params['profile']}**: "
             f"{train.get('data', {}).get('labels_per_class', '?')} labels per class, {train.get('steps')} steps, "
             f"backbone `{train.get('net', {}).get('backbone')}` from face-geometry pretraining. "
             "Test accuracy in %, mean ± std over seeds. Full tables, ablations, probes and figures: "
             "[reports/README.md](reports/README.md).", "",
             main.read_text().split("\n", 2)[-1].strip(), ""]
    if metrics.get("wall_seconds"):
        block += [f"Wall time of this `dvc repro`: {metrics['wall_seconds'] / 60:.1f} min.", ""]
    block.append(END)
    text = readme.read_text()
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    readme.write_text(head + "\n".join(block) + tail)
    return True


if __name__ == "__main__":
    render()
    print(index())
    update_readme()
