"""Every figure of the study, one function each; notebooks call these and save the results."""
from __future__ import annotations

import base64
import io
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from ssfer_core.labels import class_names


METHOD_COLOURS = {"supervised": "#555555", "fixmatch": "#1f77b4", "sitfer": "#2ca02c", "leaf": "#d62728",
                  "leaf+fixmatch": "#9467bd", "leaf+sitfer": "#8c564b"}
"""One colour per method in every figure (supervised grey, the baselines and methods in the main
table's order); a method not listed takes the next of :data:`SPARE`, in the order it is first drawn."""
SPARE = ("#ff7f0e", "#17becf", "#bcbd22", "#e377c2", "#7f7f7f")
_spare: dict[str, str] = {}


def method_colour(name: str) -> str:
    """The colour of a method, or of a row named after one (``fixmatch_hot``, ``leaf @ 25``): the
    longest registered method name the row starts with; the plug-ins' ``leaf_plus_x`` reads ``leaf+x``."""
    key = name.replace("_plus_", "+")
    known = [m for m in METHOD_COLOURS if key == m or key.startswith((m + "_", m + " "))]
    if known:
        return METHOD_COLOURS[max(known, key=len)]
    return _spare.setdefault(key.split(" ")[0].split("_")[0], SPARE[len(_spare) % len(SPARE)])


def titles_outside(fig) -> list[str]:
    """The titles (axes titles and the figure's suptitle) whose box leaves the figure once drawn:
    a clipped title. Empty when every title is inside. The layout is computed without rasterising
    (``savefig`` then draws the figure once)."""
    fig.draw_without_rendering()
    r = fig.canvas.get_renderer()
    bounds = fig.bbox
    texts = [ax.title for ax in fig.axes] + ([fig._suptitle] if fig._suptitle is not None else [])
    out = []
    for t in texts:
        if t.get_text() and t.get_visible():
            b = t.get_window_extent(r)
            if b.x0 < bounds.x0 - 1 or b.x1 > bounds.x1 + 1 or b.y0 < bounds.y0 - 1 or b.y1 > bounds.y1 + 1:
                out.append(t.get_text())
    return out


def drawn_texts(fig) -> list:
    """Every text the figure draws (titles, labels, tick labels, legends, annotations), visible and
    non-empty, after a layout pass; the labels of ticks outside the view are not drawn: left out."""
    import matplotlib.text as mtext

    fig.draw_without_rendering()
    drawn, undrawn = set(), set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            # the ticks the axis draws at this view (none on an axis switched off)
            shown = axis._update_ticks() if ax.axison and axis.get_visible() else []
            drawn.update(id(lb) for tick in shown for lb in (tick.label1, tick.label2))
            undrawn.update(id(lb) for tick in axis.get_major_ticks() + axis.get_minor_ticks()
                           for lb in (tick.label1, tick.label2))
    undrawn -= drawn
    return [t for t in fig.findobj(mtext.Text)
            if t.get_visible() and t.get_text().strip() and id(t) not in undrawn]


def _text_box(t, renderer) -> np.ndarray:
    """A drawn text's box as its four corners in pixels: for a rotated text the rotated rectangle
    (its unrotated width and height about the centre of its axis-aligned extent), not that extent,
    which two neighbouring slanted tick labels share without touching."""
    bb = t.get_window_extent(renderer)
    angle = np.deg2rad(t.get_rotation())
    if abs(np.sin(2 * angle)) < 1e-6:  # 0, 90, 180, 270 degrees: the extent is the box
        return np.array([[bb.x0, bb.y0], [bb.x1, bb.y0], [bb.x1, bb.y1], [bb.x0, bb.y1]])
    rotation = t.get_rotation()
    t.set_rotation(0)
    flat = t.get_window_extent(renderer)
    t.set_rotation(rotation)
    w, h = flat.width / 2, flat.height / 2
    c, s_ = np.cos(angle), np.sin(angle)
    corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) @ np.array([[c, s_], [-s_, c]])
    return corners + [(bb.x0 + bb.x1) / 2, (bb.y0 + bb.y1) / 2]


def _overlap(a: np.ndarray, b: np.ndarray, tolerance: float) -> bool:
    """Two convex boxes overlap by more than ``tolerance`` pixels along every separating axis."""
    for box in (a, b):
        for k in range(4):
            edge = box[(k + 1) % 4] - box[k]
            normal = np.array([-edge[1], edge[0]])
            norm = np.linalg.norm(normal)
            if norm == 0:
                continue
            pa, pb = a @ normal / norm, b @ normal / norm
            if min(pa.max(), pb.max()) - max(pa.min(), pb.min()) <= tolerance:
                return False
    return True


def overlapping_texts(fig, tolerance: float = 1.0) -> list[tuple[str, str]]:
    """Pairs of drawn texts whose boxes overlap by more than ``tolerance`` pixels at the figure's
    size: text printed over text (tick labels that collide, a label over a title)."""
    texts = drawn_texts(fig)
    r = fig.canvas.get_renderer()
    boxes = [_text_box(t, r) for t in texts]
    return [(texts[i].get_text(), texts[j].get_text()) for i in range(len(texts)) for j in range(i + 1, len(texts))
            if _overlap(boxes[i], boxes[j], tolerance)]


def save(fig, path, **kwargs) -> None:
    """Save a figure the way every stage does; a title that leaves the figure is printed with
    ``page_check.CLIPPED``, text printed over text with ``page_check.OVERLAP``, so that the page
    check fails on either."""
    from ssfer_study.stages.page_check import CLIPPED, OVERLAP

    for title in titles_outside(fig):
        print(f"{CLIPPED} {Path(path).name}: {title!r}")
    for a, b in overlapping_texts(fig):
        print(f"{OVERLAP} {Path(path).name}: {a!r} / {b!r}")
    fig.savefig(path, **kwargs)


def _plt():
    # No backend is forced: in a notebook figures show inline; headless scripts get Agg.
    import matplotlib.pyplot as plt

    plt.rcParams["figure.dpi"] = 80  # inline figures are embedded in the HTML reports: keep them light
    return plt


def close(fig) -> None:
    """Release a figure from pyplot (so a notebook cell does not show it twice); ``display(fig)`` still works."""
    _plt().close(fig)


def text_figure(text: str):
    """A figure that only says something (stands in for a figure that could not be made)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 1.2))
    ax.axis("off")
    ax.text(0.0, 0.5, text, va="center", fontsize=9, wrap=True)
    return fig


def class_distribution(counts: dict[str, np.ndarray], num_classes: int = 7):
    """Share of each class per split; ``counts`` maps a split to its images per class."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3))
    names = class_names(num_classes)
    width = 0.8 / max(1, len(counts))
    for i, (split, n) in enumerate(counts.items()):
        ax.bar(np.arange(num_classes) + width * i, n / max(1, n.sum()), width=width, label=f"{split} ({n.sum()})")
    ax.set_xticks(np.arange(num_classes) + 0.4 - width / 2, names, rotation=30)
    ax.set_ylabel("fraction")
    ax.legend()
    ax.set_title("annotated class distribution")
    fig.tight_layout()
    return fig


def sample_grid(images: dict[int, list[np.ndarray]], num_classes: int = 7):
    """One row per class, its sample images (``HxWx3`` uint8) left to right."""
    plt = _plt()
    cols = max([len(v) for v in images.values()] + [1])
    fig, axes = plt.subplots(num_classes, cols, figsize=(1.1 * cols, 1.15 * num_classes), squeeze=False)
    for c, name in enumerate(class_names(num_classes)):
        for j, ax in enumerate(axes[c]):
            ax.axis("off")
            if j < len(images.get(c, [])):
                ax.imshow(images[c][j])
        axes[c][0].set_title(name, fontsize=8, loc="left")
    fig.tight_layout()
    return fig


def factor_histograms(meta: pd.DataFrame, columns=("intensity", "yaw", "roll", "light_strength", "noise", "blur")):
    plt = _plt()
    fig, axes = plt.subplots(1, len(columns), figsize=(2.3 * len(columns), 2.3))
    for ax, c in zip(axes, columns):
        ax.hist(meta[c], bins=30, color="steelblue")
        ax.set_title(c)
    fig.tight_layout()
    return fig


def accuracy_curves(curves: dict[str, list[list[dict]]], key: str = "ema_acc"):
    """Accuracy against step per method: the mean over seeds as a line, the band from the lowest to
    the highest seed (``curves``: method -> one curve per seed, as in a run's ``metrics.json``)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for name, runs in curves.items():
        steps = [r["step"] for r in runs[0]]
        acc = np.array([[100 * r.get(key, r.get("raw_acc", np.nan)) for r in rows][: len(steps)] for rows in runs
                        if len(rows) >= len(steps)])
        line, = ax.plot(steps, acc.mean(0), label=f"{name} ({len(acc)} seed{'s' if len(acc) > 1 else ''})",
                        color=method_colour(name))
        if len(acc) > 1:
            ax.fill_between(steps, acc.min(0), acc.max(0), color=line.get_color(), alpha=0.2, lw=0)
    ax.set_xlabel("step")
    ax.set_ylabel(f"accuracy, % ({key.split('_')[0]})")
    ax.set_title("Accuracy over training: mean over seeds, band from the lowest to the highest seed", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def accuracy_by_labels(df: pd.DataFrame):
    """Accuracy against labels per class, one line per method (``df``: method, labels/class, seeds,
    acc_last_mean, acc_last_std; a point from one seed is drawn hollow)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for method, rows in df.sort_values("labels/class").groupby("method", sort=False):
        x, y, sd, n = (rows[c].to_numpy() for c in ("labels/class", "acc_last_mean", "acc_last_std", "seeds"))
        line, = ax.plot(x, y, label=method, color=method_colour(method))
        for xi, yi, si, ni in zip(x, y, sd, n):
            ax.errorbar(xi, yi, yerr=si if ni > 1 else None, marker="o", color=line.get_color(), capsize=3,
                        mfc=line.get_color() if ni > 1 else "white")
    ax.set_xscale("log")
    ticks = sorted(df["labels/class"].unique())
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("labels per class")
    ax.set_ylabel("accuracy, % (EMA, last)")
    ax.set_title("Accuracy by label budget (filled: mean ± sd over seeds; hollow: one seed)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def pseudo_label_quality(series: dict[str, pd.DataFrame], title: str, ylabel: str = "accuracy"):
    """``series``: name -> DataFrame with columns step, value (e.g. per-level pseudo-label accuracy)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
    for name, df in series.items():
        ax.plot(df["step"], df["value"], label=name)  # NaN (nothing passed) stays a gap in the line
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(textwrap.fill(title, 60), fontsize=9)
    ax.legend(fontsize=7)
    return fig


def umap_by_method(emb: dict[str, np.ndarray], labels: np.ndarray, knn: dict[str, float], num_classes: int = 7):
    """One panel per method, points coloured by expression; the title gives the 10-NN accuracy."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(emb), figsize=(2.6 * len(emb), 2.8), squeeze=False)
    for ax, (name, xy) in zip(axes[0], emb.items()):
        ax.scatter(xy[:, 0], xy[:, 1], c=labels, s=2, cmap="tab10", vmin=0, vmax=9)
        ax.set_title(f"{name}\n10-NN acc {knn[name]:.2f}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [plt.Line2D([], [], marker="o", ls="", color=plt.cm.tab10(i), label=n)
               for i, n in enumerate(class_names(num_classes))]
    fig.legend(handles=handles, loc="lower center", ncol=num_classes, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def _thumb(img: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def categorical_colouring(values, max_legend: int = 12) -> tuple[list[str], list[str]]:
    """(colour, legend text) per point for a categorical factor: one colour a value; a factor with
    more values than ``max_legend`` (identities) shares one legend entry instead of one per value."""
    from bokeh.palettes import Category10, Category20

    uniq = sorted(set(values), key=str)
    pal = Category10[10] if len(uniq) <= 10 else Category20[20]
    colour = {u: pal[k % len(pal)] for k, u in enumerate(uniq)}
    legend = [str(v) for v in values] if len(uniq) <= max_legend else [f"one colour a value ({len(uniq)} values)"] * len(values)
    return [colour[v] for v in values], legend


def continuous_colouring(values, bins: int = 5) -> tuple[list[str], list[str]]:
    """(colour, legend text) per point for a continuous factor: its quantile bins on Viridis."""
    from bokeh.palettes import Viridis

    v = np.asarray(values, dtype=float)
    edges = np.unique(np.quantile(v, np.linspace(0, 1, bins + 1)))
    k = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, len(edges) - 2)
    pal = Viridis[max(3, len(edges) - 1)]
    text = [f"{edges[b]:.2f} to {edges[b + 1]:.2f}" for b in range(len(edges) - 1)]
    return [pal[b] for b in k], [text[b] for b in k]


def feature_explorer(spaces: dict[str, np.ndarray], colourings: dict[str, tuple[list[str], list[str]]],
                     images: np.ndarray, hover: pd.DataFrame, title: str, start: str | None = None):
    """The explorer: a 2-D embedding of every feature space (``spaces``: name -> [N, 2]) of the same
    test faces, picked from a menu, coloured by a factor picked from another (``colourings``: name ->
    (colour, legend text) per point), the face and its factors on hover, the legend outside the
    points. A bokeh layout (``bokeh.io.show`` in JupyterLab; :func:`write_explorer` for the file)."""
    from bokeh.layouts import column, row
    from bokeh.models import ColumnDataSource, CustomJS, HoverTool, Legend, Select
    from bokeh.plotting import figure

    start = start or next(iter(spaces))
    first = next(iter(colourings))
    data = {"img": [_thumb(im) for im in images], **{c: hover[c].astype(str).tolist() for c in hover}}
    for k, (name, xy) in enumerate(spaces.items()):
        data[f"x{k}"], data[f"y{k}"] = xy[:, 0].tolist(), xy[:, 1].tolist()
    for k, (colour, legend) in enumerate(colourings.values()):
        data[f"c{k}"], data[f"l{k}"] = colour, legend
    s0, c0 = list(spaces).index(start), 0
    data |= {"x": data[f"x{s0}"], "y": data[f"y{s0}"], "colour": data[f"c{c0}"], "legend": data[f"l{c0}"]}
    src = ColumnDataSource(data)
    tips = " | ".join(f"{c} @{{{c}}}" for c in hover)
    p = figure(title=f"{start} ({title})", width=760, height=620, tools=["pan", "wheel_zoom", "box_zoom", "reset"])
    p.add_tools(HoverTool(tooltips=f'<div><img src="@img" width="96" height="96"></div><div>{tips}</div>'))
    p.scatter("x", "y", source=src, color="colour", size=6, alpha=0.75, legend_field="legend")
    legend = p.legend[0]
    p.right = [r for r in p.right if r is not legend]
    p.center = [r for r in p.center if r is not legend]
    p.add_layout(Legend(items=legend.items, title=first, location="top_left"), "right")  # outside the points
    space = Select(title="feature space (run · feature)", value=start, options=list(spaces), width=420)
    colour = Select(title="colour by", value=first, options=list(colourings), width=260)
    cb = CustomJS(args={"src": src, "space": space, "colour": colour, "spaces": list(spaces),
                        "colourings": list(colourings), "leg": p.right[-1], "plot": p, "faces": f" ({title})"},
                  code="""
        const d = src.data, s = spaces.indexOf(space.value), c = colourings.indexOf(colour.value);
        d.x = d['x' + s]; d.y = d['y' + s]; d.colour = d['c' + c]; d.legend = d['l' + c];
        leg.title = colour.value; plot.title.text = space.value + faces;
        src.change.emit();""")
    space.js_on_change("value", cb)
    colour.js_on_change("value", cb)
    return column(row(space, colour), p)


def explorer_views(spaces: dict[str, np.ndarray], colourings: dict[str, tuple[list[str], list[str]]],
                   picks: list[tuple[str, str]]):
    """Stills of the explorer: one panel a (feature space, colouring) pick, drawn with the explorer's
    own colours, its legend beside it (a colouring with one legend entry a value shows up to 8)."""
    plt = _plt()
    picks = [(sp, c) for sp, c in picks if sp in spaces and c in colourings]
    fig, axes = plt.subplots(1, len(picks), figsize=(4.2 * len(picks), 4.6), squeeze=False)
    for ax, (sp, c) in zip(axes[0], picks):
        xy, (colour, legend) = spaces[sp], colourings[c]
        ax.scatter(xy[:, 0], xy[:, 1], c=colour, s=3)
        ax.set_title(textwrap.fill(sp, 34) + "\n" + textwrap.fill(f"coloured by {c}", 34), fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        seen = dict(zip(legend, colour))
        handles = [plt.Line2D([], [], marker="o", ls="", color=col, label=textwrap.shorten(lab, 44))
                   for lab, col in list(sorted(seen.items()))[:8]]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=2, fontsize=6, frameon=False)
    fig.tight_layout()
    return fig


def write_explorer(layout, path: str | Path, title: str) -> Path:
    """The explorer as one standalone offline HTML file (bokeh's JS inline)."""
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(file_html(layout, INLINE, title))
    return path


def realism_figure(rep: dict):
    """The FER2013 judge on SynthFACS: confusion matrix (rows: SynthFACS label, normalised),
    per-class recall, what the judge predicts, and agreement by expression intensity."""
    plt = _plt()
    import seaborn as sns

    names = rep["classes"]
    cm = np.asarray(rep["confusion"], dtype=float)
    cm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), gridspec_kw={"width_ratios": [1.3, 1, 0.8]})
    sns.heatmap(cm, annot=True, fmt=".2f", cmap="Blues", cbar=False, ax=axes[0],
                xticklabels=names, yticklabels=names)
    axes[0].tick_params(axis="x", rotation=40)  # seven class names side by side collide
    axes[0].set_xlabel("FER2013 judge's prediction")
    axes[0].set_ylabel("SynthFACS label")
    axes[0].set_title(f"agreement {rep['agreement']:.1%} (intensity ≥ 0.6: {rep['agreement_intensity_ge_0.6']:.1%})")
    x = np.arange(len(names))
    axes[1].bar(x - 0.2, [rep["recall"][n] or 0 for n in names], 0.4, label="recall")
    axes[1].bar(x + 0.2, [rep["prediction_share"][n] for n in names], 0.4, label="share of predictions")
    axes[1].axhline(0.4, color="grey", ls="--", lw=0.8)
    axes[1].set_xticks(x, names, rotation=40)
    axes[1].legend(fontsize=7)
    axes[1].set_title("per class")
    bands = rep["by_intensity"]
    axes[2].bar(list(bands), [b["agreement"] or 0 for b in bands.values()], color="seagreen")
    axes[2].axhline(rep["majority_baseline"], color="grey", ls="--", lw=0.8, label="majority class")
    axes[2].set_ylim(0, 1)
    axes[2].tick_params(axis="x", rotation=40)
    axes[2].legend(fontsize=7)
    axes[2].set_title("agreement by intensity")
    fig.tight_layout()
    return fig


def realism_or_reason(rep: dict):
    """The judge's figure, or a note saying why it was not run."""
    return realism_figure(rep) if rep["available"] else text_figure(f"SynthFACS realism not measured:\n{rep['reason']}")


def calibration(df: pd.DataFrame):
    """Supervised accuracy against the label budget (mean ± std over seeds)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    x = np.arange(len(df))
    ax.errorbar(x, df["acc_last_mean"], yerr=df["acc_last_std"], marker="o", capsize=3, label="accuracy")
    ax.errorbar(x, df["bal_acc_last_mean"], yerr=df["bal_acc_last_std"], marker="s", capsize=3, label="balanced accuracy")
    ax.axhline(df["majority_baseline"].iloc[0], color="grey", ls="--", lw=0.8, label="majority class")
    ax.set_xticks(x, [str(v) for v in df["labels/class"]])
    ax.set_xlabel("labels per class")
    ax.set_ylabel("% (supervised, EMA, last)")
    ax.set_title("Supervised accuracy by label budget", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def ssl_at_work(curves: dict[str, dict[str, pd.DataFrame | None]], runs: str = "seed 0"):
    """Per method: the share of pseudo-labels that pass and the accuracy of what passes over
    training (``runs`` says whose: the seed-0 runs of the main table)."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for name, series in curves.items():
        for ax, key in zip(axes, ("pl_pass_rate", "pl_pass_acc")):
            s = series.get(key)
            if s is not None:
                ax.plot(s["step"], s["value"].rolling(5, min_periods=1).mean(), label=name, color=method_colour(name))
    axes[0].set_title(f"share passed: unlabeled faces whose pseudo-label passes ({runs})", fontsize=9)
    axes[1].set_title(f"accuracy of what passes, against the hidden labels ({runs})", fontsize=9)
    axes[0].set_ylabel("share of the unlabeled batch")
    axes[1].set_ylabel("accuracy")
    for ax in axes:
        ax.set_xlabel("step")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def ablation_bars(df: pd.DataFrame, title: str):
    """Each row's last accuracy (``tables.against_reference``): reference rows with their ±1 sd
    error bar; each other row with its noise band around its reference's mean (the paired 95 %
    interval, or 2 sd of the reference's seeds for one seed), hatched when it is not decided (within
    noise, or one seed) and labelled with its verdict."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 0.38 * len(df) + 1.7), layout="constrained")  # room for every label
    y = np.arange(len(df))[::-1]
    refs = df[df["verdict"] == "reference"].set_index("method")
    for i, (_, r) in zip(y, df.iterrows()):
        is_ref = r["verdict"] == "reference"
        colour = "tab:blue" if is_ref else {"above": "tab:green", "below": "tab:red"}.get(r["verdict"], "tab:grey")
        ax.barh(i, r["acc_last_mean"], color=colour, alpha=0.8 if is_ref else 0.6,
                hatch="//" if r["verdict"] not in ("above", "below", "reference") else None,
                xerr=r["acc_last_std"] if is_ref and r["seeds"] > 1 else None, capsize=3)
        note = f"{r['acc_last_mean']:.1f}" + ("" if is_ref else f" ({r['verdict']})")
        bar_end = r["acc_last_mean"] + (r["acc_last_std"] if is_ref and r["seeds"] > 1 else 0.0)
        ax.text(bar_end + 0.5, i, note, va="center", fontsize=7)  # right of the error bar, not on it
        if not is_ref and r["reference"] in refs.index:
            m = refs.loc[r["reference"], "acc_last_mean"]
            ax.fill_betweenx([i - 0.45, i + 0.45], m - r["noise"], m + r["noise"], color="grey", alpha=0.2, lw=0)
    ax.set_yticks(y, [f"{v} ({n} seed{'s' if n > 1 else ''})" for v, n in zip(df["variant"], df["seeds"])], fontsize=7)
    ax.set_xlim(0.0, min(100.0, float(np.nanmax(df["acc_last_mean"] + df["acc_last_std"].fillna(0))) + 14))  # from 0
    # the band's key sits in the axis label: a legend inside the axes covered the last bar's label
    ax.set_xlabel("accuracy, % (EMA, last)\ngrey band: the reference's mean ± the row's noise")
    fig.suptitle(textwrap.fill(title, 75), fontsize=9)  # over the figure, wrapped: long titles stay inside
    return fig


def panels(title: str, panels: list[tuple[str, tuple | None, dict[str, pd.DataFrame]]]):
    """A figure of logged training quantities, side by side: each panel is (y label, y limits or
    None, legend label -> DataFrame with columns step, value), drawn as a rolling mean of 5 logged
    steps (NaN, where nothing passed, stays a gap)."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.4), squeeze=False)
    for ax, (ylabel, ylim, lines) in zip(axes[0], panels):
        for name, df in lines.items():
            ax.plot(df["step"], df["value"].rolling(5, min_periods=1).mean(), label=name)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        if ylim:
            ax.set_ylim(*ylim)
        if lines:
            ax.legend(fontsize=7)
    fig.suptitle(textwrap.fill(title, 90), fontsize=9)
    fig.tight_layout()
    return fig


def gate_weights(tables: dict[str, pd.DataFrame], num_classes: int = 7):
    """Rows: expert designs; columns: levels. Each panel: the mean gate weight of each expert for
    each true class (a design whose gates matter shows rows that differ)."""
    plt = _plt()
    import seaborn as sns

    designs = list(dict.fromkeys(d for d, _ in tables))
    levels = list(dict.fromkeys(lv for _, lv in tables))
    fig, axes = plt.subplots(len(designs), len(levels), figsize=(5.4 * len(levels), 3.4 * len(designs)),
                             squeeze=False)
    for (design, level), df in tables.items():
        ax = axes[designs.index(design), levels.index(level)]
        cols = [c for c in df.columns if c.startswith("gate_")]
        mean = df.groupby("label")[cols].mean()
        mean.index = [class_names(num_classes)[i] for i in mean.index]
        mean.columns = [c.split("_")[1] for c in cols]
        sns.heatmap(mean, annot=True, fmt=".2f", cmap="Blues", vmin=0, vmax=1, ax=ax, cbar=False, annot_kws={"size": 8})
        ax.set_title(f"{design}: {level} level", fontsize=9)
        ax.set_xlabel("expert")
        ax.set_ylabel("true class")
    fig.tight_layout()
    return fig


ID_MARKERS = ("^", "s", "D", "v", "P", "X", "*", "p")
"""Identities are told apart by marker shape in shades of grey: colour means expression in every figure."""


def _id_colour(plt, j: int):
    return plt.cm.Greys(0.95 - 0.07 * (j % 8))


def decoupled_umaps(emb: dict[tuple[str, str], np.ndarray], meta: pd.DataFrame, num_classes: int = 7,
                    n_ids: int = 8):
    """Rows: (design, component); columns: coloured by expression, and by identity (the ``n_ids``
    most frequent identities in colour, the rest grey). Decoupling shows as a relevant component
    that clusters by expression and an agnostic one that clusters by identity."""
    plt = _plt()
    fig, axes = plt.subplots(len(emb), 2, figsize=(7, 2.6 * len(emb)), squeeze=False)
    top = meta["identity"].value_counts().index[:n_ids] if "identity" in meta else []
    for r, ((design, comp), xy) in enumerate(emb.items()):
        ax = axes[r, 0]
        ax.scatter(xy[:, 0], xy[:, 1], c=meta["label"], s=2, cmap="tab10", vmin=0, vmax=9)
        ax.set_ylabel(f"{design}\n{comp}", fontsize=7)
        ax = axes[r, 1]
        if len(top):
            other = ~meta["identity"].isin(top).to_numpy()
            ax.scatter(xy[other, 0], xy[other, 1], c="lightgrey", s=1)
            for j, ident in enumerate(top):
                sel = (meta["identity"] == ident).to_numpy()
                ax.scatter(xy[sel, 0], xy[sel, 1], marker=ID_MARKERS[j % len(ID_MARKERS)], color=_id_colour(plt, j), s=10)
        for a in axes[r]:
            a.set_xticks([])
            a.set_yticks([])
    axes[0, 0].set_title("coloured by expression", fontsize=8)
    axes[0, 1].set_title(f"coloured by identity ({len(top)} most frequent; rest grey)", fontsize=8)
    handles = [plt.Line2D([], [], marker="o", ls="", color=plt.cm.tab10(i), label=n)
               for i, n in enumerate(class_names(num_classes))]
    handles += [plt.Line2D([], [], marker=ID_MARKERS[j % len(ID_MARKERS)], ls="", color=_id_colour(plt, j), label=f"id {i}")
                for j, i in enumerate(top)]
    fig.legend(handles=handles, loc="lower center", ncol=8, fontsize=6, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig
