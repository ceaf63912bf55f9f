"""Render a profile's executed notebooks to HTML (no code, figures inline), write its report index
``reports/<profile>/README.md``, and write the results block into the profile's ``readme`` (the
top-level README for the ``default`` study; a file under ``reports/<profile>/`` for the others).

    ssfer report --profile params.yaml
"""
from __future__ import annotations

import json
from pathlib import Path

from ssfer_study.stages.captions import TABLE_TITLES, all_captions
from ssfer_study.study import Study
from ssfer_study.stages.statistics import verdict
from ssfer_study.stages.tables import PASSED

NOTEBOOKS = ("data_tour", "results", "analysis")
START, END = "<!-- results:start (written by the report stage: ssfer report) -->", \
    "<!-- results:end -->"


def without_stderr(nb):
    """``nb`` with the stderr streams of its code cells removed (in place; returns it)."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")]
    return nb


def to_html(notebook: Path, code: bool = False, title: str | None = None) -> str:
    """An executed notebook as one HTML page for readers: outputs and figures; its code only with
    ``code`` (the lessons, whose code is part of what they teach; the report pages show results).
    stderr (library warnings, which name this machine's paths) stays in the executed notebook only."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = without_stderr(nbformat.read(notebook, as_version=4))
    exporter = HTMLExporter(exclude_input=not code, exclude_input_prompt=True, exclude_output_prompt=True)
    name = title or notebook.stem.replace("_", " ")
    return exporter.from_notebook_node(nb, resources={"metadata": {"name": name}})[0]


def render_pages(reports: Path) -> list[Path]:
    out = reports / "html"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in NOTEBOOKS:
        src = reports / "notebooks" / f"{name}.ipynb"
        if src.exists():
            (out / f"{name}.html").write_text(to_html(src, title=f"ssfer {reports.name} study: {name.replace('_', ' ')}"))
            written.append(out / f"{name}.html")
    return written


def _table(reports: Path, name: str) -> str | None:
    md = reports / "results" / f"{name}.md"
    return md.read_text().split("\n", 2)[-1] if md.exists() else None


def unlabeled_off(reports: Path, name: str) -> list[str]:
    """The rows of a results table whose selection never passed a pseudo-label (``tables.NEVER``)."""
    import pandas as pd

    csv = reports / "results" / f"{name}.csv"
    if not csv.exists():
        return []
    df = pd.read_csv(csv)
    if "first pass at step" not in df:
        return []
    return [str(v) for v, f in zip(df["variant"], df["first pass at step"]) if str(f).startswith("never")]


def index(study: Study) -> Path:
    reports = study.reports_dir
    lines = ["# ssfer study report", "",
             f"Dataset: **{study.dataset.display}**. Profile: **{study.name}**. Regenerate with "
             f"`{study.make_command}`.", "",
             "Accuracy in % (EMA model; the live model for runs without one, as SIT-FER's official recipe), mean ± std over seeds; `last` = end of training, `best` = best evaluation "
             "seen (the papers' protocol, optimistic: both releases report their best epoch; `best at epoch` says "
             "where, mean over seeds).", ""]
    for name, title in TABLE_TITLES.items():
        t = _table(reports, name)
        if t:
            lines += [f"## {title}", "", t, ""]
            off = unlabeled_off(reports, name)
            if off:
                lines += [f"**Unlabeled loss off** in {', '.join(off)}: no pseudo-label passed in all training, so "
                          f"{'this row is' if len(off) == 1 else 'these rows are'} the labeled part alone, not the "
                          "method's result.", ""]
    probes = reports / "analysis" / "decoupling_probes.md"
    analysis = reports / "analysis" / "analysis.json"
    n_points = json.loads(analysis.read_text()).get("n_points") if analysis.exists() else None
    if probes.exists():
        lines += ["## Decoupling probes (LEAF, seed 0, per expert design)", "",
                  f"Held-out linear probes on {n_points} test images (`analysis.max_points`).", "",
                  probes.read_text().split("\n", 2)[-1], ""]
    else:
        lines += ["## Decoupling probes", "", "Not available: the profile has no LEAF run in its main table "
                  "(the expression probe runs on any dataset; the other factors where the dataset records them).", ""]
    # the contact sheet shows the synthetic generator: it belongs to a synthetic study's report only
    captions = all_captions()  # every figure the index may show, in its order, each with its caption
    figures = [f for f in captions if (reports / f).exists() and (study.dataset.synthetic or "contact_sheet" not in f)]
    lines += ["## Figures", ""] + [f"![{f}]({f})\n\n*{captions[f]}*\n" for f in figures]
    lines += ["## Pages", "",
              f"Made by the study and kept by DVC, not git: a clone has them after `{study.make_command}` (or `dvc pull` "
              "from your remote); this page and its figures hold the same tables and figures.", "",
              "- [data tour](html/data_tour.html)", "- [results](html/results.html)",
              "- [analysis](html/analysis.html)",
              "- interactive UMAP explorer: `explorer/umap_explorer.html` (open it in a browser)", ""]
    path = reports / "README.md"
    path.write_text("\n".join(lines))
    return path


def _pm(mean, std, seeds: int = 2) -> str:
    """'74.5 ± 4.1' over seeds; one seed has no spread to print."""
    return "-" if mean is None else f"{mean:.1f}" if seeds < 2 else f"{mean:.1f} ± {std:.1f}"


def _paired(m: dict) -> str:
    """'+4.2 ± 3.1 (shown)': the paired difference to supervised and its 95 % interval's half-width."""
    d, ci = m.get("delta_vs_supervised_mean"), m.get("delta_vs_supervised_ci95")
    if d is None:
        return "-"
    shown = m.get("delta_vs_supervised_printed", d)  # agrees with the rounded means printed beside it
    if ci is None:
        return f"{shown:+.1f} (one seed)"
    return f"{shown:+.1f} ± {ci:.1f} ({verdict(d, ci)})"


def _share(x) -> str:
    return "-" if x is None else f"{100 * x:.0f} %"


def results_block(study: Study) -> str:
    """The README's short view of ``metrics.json``: the main table in five columns and the two
    reference points (majority class, all labels); the full tables are in the report."""
    cfg = study.base
    d = cfg.data
    metrics_path = study.reports_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    budget = d.labels_per_class if d.split_protocol == "per_class" else \
        f"{d.split_protocol} {d.n_labeled or d.label_fraction}"
    block = [START, "",
             f"Dataset **{metrics.get('dataset', study.dataset.display)}**, profile **{study.name}**, "
             f"{budget} labels per class, {cfg.steps} steps, `{cfg.net.backbone}`, {cfg.eval_on} set; "
             f"mean ± std over seeds (full tables: [{study.reports_dir}/README.md]({study.reports_dir}/README.md)).", "",
             "| method | accuracy % | vs supervised, paired 95 % CI | balanced accuracy % | "
             + " | ".join(PASSED.values()) + " |",
             "|---|---|---|---|---|---|"]
    main = metrics.get("main", {})
    for method, m in main.items():
        off = " (unlabeled loss off)" if m.get("unlabeled_loss_engaged") is False else ""
        block.append(f"| {method}{off} | {_pm(m['acc_mean'], m['acc_std'], len(m.get('seeds', [0, 1])))} | {_paired(m)} | {m['bal_acc_mean']:.1f} | "
                     f"{_share(m['pl_pass_rate_final'])} | {_share(m['pl_pass_acc_final'])} |")
    refs = []
    if main:
        refs.append(f"majority class {next(iter(main.values()))['majority_baseline']:.1f} %")
    if "all" in metrics.get("calibration", {}):
        refs.append(f"supervised with every label {metrics['calibration']['all']['acc_mean']:.1f} %")
    if refs:
        block += ["", "For reference: " + "; ".join(refs) + "."]
    block += verdict_lines(study, metrics)
    block += ["", END]
    return "\n".join(block)


def verdict_lines(study: Study, metrics: dict) -> list[str]:
    """The block's sentences, each written from ``metrics.json``: which method is shown above
    supervised, how each paper's claim with paired seeds reads, and which methods were still
    learning when training stopped (the last quarter's gain beyond the noise of one evaluation)."""
    main = metrics.get("main", {})
    out = []
    vs_sup = [f"{m} {_paired(r)}" for m, r in main.items() if r.get("delta_vs_supervised_mean") is not None]
    if vs_sup:
        out += ["", "Against supervised (paired 95 % interval over seeds; shown only when it excludes zero): "
                + "; ".join(vs_sup) + "."]
    texts = {f"{c.better}_vs_{c.than}": c.claim for c in study.claims}
    claims = [f"{texts.get(k, k)}: {c['printed']:+.1f} ± {c['ci95']:.1f}, **{c['verdict']}**"
              for k, c in metrics.get("claims", {}).items() if c.get("ci95") is not None]
    if claims:
        out += ["", "The papers' claims this profile pairs over seeds: " + "; ".join(claims) + "."]
    firsts = {m: r["first_pass_step"] for m, r in main.items() if "unlabeled_loss_engaged" in r}
    if firsts:
        off = [m for m, r in main.items() if r.get("unlabeled_loss_engaged") is False]
        out += ["", "When the unlabeled loss engaged (the first step at which a pseudo-label passed, the last seed's; "
                "the share passed over the whole run): " + "; ".join(
                    f"{m} {'never' if f is None else f'at step {f}'}, {_share(main[m].get('pl_pass_rate_mean'))}"
                    for m, f in firsts.items()) + "."
                + (f" **{', '.join(off)}: no pseudo-label passed in all training**, so "
                   f"{'its row is' if len(off) == 1 else 'their rows are'} the labeled part alone, not the method's result."
                   if off else "")]
    learning = {m: r for m, r in main.items() if r.get("last_quarter_gain") is not None}
    still = [f"{m} (+{r['last_quarter_gain']:.1f} against {r['last_quarter_noise95']:.1f})" for m, r in learning.items()
             if r["last_quarter_gain"] > r["last_quarter_noise95"]]
    flat = [m for m, r in learning.items() if r["last_quarter_gain"] <= r["last_quarter_noise95"]]
    if still:
        out += ["", "Still learning when training stopped (accuracy gained over the last quarter, mean over seeds, "
                "against the noise of one evaluation): " + ", ".join(still)
                + (f"; finished: {', '.join(flat)}." if flat else ".")]
    elif flat:
        out += ["", f"Every method had finished learning (the last quarter's gain within the noise): {', '.join(flat)}."]
    return out


def update_readme(study: Study) -> Path:
    """Replace the block between the markers of the profile's ``readme`` (create the file if it
    is a block file of its own), so it never shows a number the pipeline did not make."""
    path = study.readme
    block = results_block(study)
    text = path.read_text() if path.exists() else ""
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path

