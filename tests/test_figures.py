"""The analysis figures and the decoupling verdict on small made-up inputs: every figure has a
title and labelled axes; the verdict follows the issue's rule."""
import numpy as np
import pandas as pd

from ssfer_study.stages import features, plots


def _probes(expr_rel, expr_agn, id_rel, id_agn):
    return pd.DataFrame([{"factor": "expression", "metric": "accuracy", "relevant_instance": expr_rel,
                          "agnostic_instance": expr_agn},
                         {"factor": "identity (top-20 ids)", "metric": "accuracy", "relevant_instance": id_rel,
                          "agnostic_instance": id_agn}])


def test_decoupling_verdict():
    assert features.decoupling_verdict(_probes(0.80, 0.60, 0.10, 0.30))["instance"].startswith("met")
    # relevant ahead on expression by only 5 points: not met
    assert features.decoupling_verdict(_probes(0.65, 0.60, 0.10, 0.30))["instance"].startswith("not met")
    # identity read better from the relevant component: not met
    v = features.decoupling_verdict(_probes(0.80, 0.60, 0.40, 0.30))["instance"]
    assert v.startswith("not met") and "+20.0 points" in v and "-10.0 points" in v
    assert "semantic" not in features.decoupling_verdict(_probes(0.8, 0.6, 0.1, 0.3))  # level absent: no verdict


def _labelled(fig):
    return all(ax.get_title() for ax in fig.axes if ax.get_visible() and ax.has_data()) and \
        all(ax.get_xlabel() or not ax.get_xticks().size for ax in fig.axes if ax.has_data())


def test_new_figures_have_titles_and_labels():
    rng = np.random.default_rng(0)
    steps = pd.DataFrame({"step": [25, 50, 75], "value": [1.5, 1.4, 1.2]})
    fig = plots.panels("LEAF: positive sets", [("classes in the positive set", None, {"leaf_s0": steps}),
                                               ("share holding the true class", (0, 1), {"leaf_s0": steps.assign(value=0.7)})])
    assert fig.get_suptitle() and all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes)
    gates = {}
    for design in ("tied_residual, topk", "residual, dense"):
        for level in ("semantic", "instance"):
            g = rng.dirichlet(np.ones(4), size=40)
            gates[(design, level)] = pd.DataFrame({"label": rng.integers(0, 7, 40)} | {f"gate_{e}": g[:, e] for e in range(4)})
    fig = plots.gate_weights(gates)
    assert len(fig.axes) == 4 and all(ax.get_title() and ax.get_xlabel() == "expert" for ax in fig.axes)
    meta = pd.DataFrame({"label": rng.integers(0, 7, 60), "identity": rng.integers(0, 12, 60)})
    emb = {("residual, topk", c): rng.normal(size=(60, 2)) for c in ("relevant_instance", "agnostic_instance")}
    fig = plots.decoupled_umaps(emb, meta)
    assert fig.axes[0].get_title() and fig.axes[1].get_title() and fig.legends  # legend: classes and identities
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "happiness" in [s.lower() for s in labels] and sum(s.startswith("id ") for s in labels) == 8


def test_pretraining_report_holds_no_machine_dependent_value(tmp_path):
    """The report is a tracked file: no wall-clock seconds, values rounded to 2 decimals."""
    from ssfer_core.data.synthetic import SynthConfig, generate
    from ssfer_core.pretrain import pretrain_geometry

    generate(SynthConfig(seed=5, n_train=40, n_test=0, image_size=32), tmp_path / "faces")
    rep = pretrain_geometry(tmp_path / "faces", tmp_path / "bb.pth", "synth_cnn_tiny", 32, steps=3, batch=8,
                            progress=False)
    assert "seconds" not in rep and (tmp_path / "bb.pth").exists()
    assert rep["final_train_mse"] == round(rep["final_train_mse"], 2)
    assert all(v == round(v, 2) for v in rep["heldout_r2"].values())


def test_learning_curves_and_labels_figure_show_every_method_with_its_seeds():
    curve = lambda acc: [{"step": s, "ema_acc": acc + s / 1e5} for s in range(300, 6001, 300)]  # noqa: E731
    fig = plots.accuracy_curves({"fixmatch": [curve(0.6), curve(0.7), curve(0.65)], "supervised": [curve(0.5)]})
    ax = fig.axes[0]
    assert _labelled(fig) and [t.get_text() for t in ax.get_legend().get_texts()] == ["fixmatch (3 seeds)",
                                                                                    "supervised (1 seed)"]
    assert len(ax.collections) == 1  # one seed band: only the method with several seeds has one
    assert np.allclose(ax.lines[0].get_ydata()[-1], 100 * (0.65 + 0.06))
    df = pd.DataFrame({"method": ["fixmatch"] * 3 + ["supervised"] * 3, "labels/class": [25, 50, 100] * 2,
                       "seeds": [1, 3, 1] * 2, "acc_last_mean": [60, 70, 75, 40, 55, 65.0],
                       "acc_last_std": [np.nan, 2.0, np.nan] * 2})
    fig = plots.accuracy_by_labels(df)
    assert _labelled(fig) and fig.axes[0].get_xscale() == "log"
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["fixmatch", "supervised"]


def test_titles_stay_inside_their_figure_and_nothing_passed_is_a_gap():
    """The report's longest titles, drawn: every title box lies inside the figure (a clipped title is
    what ``plots.titles_outside`` reports, and ``plots.save`` prints for the page check)."""
    long = "SIT-FER: spread of each level's weighted term in the fused logit (sitfer_s0, a long run name)"
    steps = pd.DataFrame({"step": [25, 50, 75, 100], "value": [0.5, np.nan, np.nan, 0.8]})
    fig = plots.pseudo_label_quality({"instance": steps, "fused": steps.assign(value=0.7)}, long)
    assert plots.titles_outside(fig) == []
    assert np.isnan(fig.axes[0].lines[0].get_ydata()[1])  # nothing passed: a gap, not a 0
    df = pd.DataFrame({"variant": ["leaf", "leaf_no_instance"], "method": ["leaf", "leaf"], "seeds": [3, 1],
                       "acc_last_mean": [71.1, 81.4], "acc_last_std": [6.9, np.nan], "verdict": ["reference", "within noise"],
                       "reference": ["-", "leaf"], "noise": [np.nan, 13.8]})
    fig = plots.ablation_bars(df, "LEAF ablation: without its semantic, its instance or its category level "
                                  "(SynthFACS (embedded synthetic))")
    assert plots.titles_outside(fig) == [] and fig.axes[0].get_xlim()[0] == 0  # bars start at 0
    # a title set wider than its figure is caught
    plt = plots._plt()
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.set_title(long)
    assert plots.titles_outside(fig) == [long]


def test_identities_never_take_the_expression_colours():
    rng = np.random.default_rng(0)
    meta = pd.DataFrame({"label": rng.integers(0, 7, 60), "identity": rng.integers(0, 12, 60)})
    emb = {("residual, topk", "agnostic_instance"): rng.normal(size=(60, 2))}
    fig = plots.decoupled_umaps(emb, meta)
    plt = plots._plt()
    expression = {tuple(np.round(plt.cm.tab10(i), 3)) for i in range(7)}
    handles = fig.legends[0].legend_handles
    ids = [h for h in handles if h.get_label().startswith("id ")]
    assert ids and all(tuple(np.round(plt.matplotlib.colors.to_rgba(h.get_color()), 3)) not in expression for h in ids)


def test_one_colour_per_method_in_every_figure():
    """A method keeps its colour whatever the figure and the row's name (seed, variant, label budget)."""
    steps = pd.DataFrame({"step": [25, 50, 75], "value": [0.5, 0.6, 0.7]})
    curve = [{"step": 10, "ema_acc": 0.5}, {"step": 20, "ema_acc": 0.6}]
    acc = plots.accuracy_curves({"leaf": [curve], "fixmatch": [curve]})
    work = plots.ssl_at_work({"fixmatch": {"pl_pass_rate": steps, "pl_pass_acc": steps},
                              "leaf": {"pl_pass_rate": steps, "pl_pass_acc": steps}})
    by_figure = [{line.get_label().split(" ")[0]: line.get_color() for line in fig.axes[0].get_lines()}
                 for fig in (acc, work)]
    assert by_figure[0] == by_figure[1] == {"leaf": plots.METHOD_COLOURS["leaf"], "fixmatch": plots.METHOD_COLOURS["fixmatch"]}
    assert plots.method_colour("leaf_plus_fixmatch") == plots.METHOD_COLOURS["leaf+fixmatch"]
    assert plots.method_colour("sitfer_mssl_off") == plots.method_colour("sitfer @ 25") == plots.METHOD_COLOURS["sitfer"]
    assert plots.method_colour("toy") == plots.method_colour("toy_s1") not in plots.METHOD_COLOURS.values()
    assert "seed 0" in work.axes[0].get_title()


def test_the_explorer_switches_feature_space_and_colouring_with_the_legend_outside(tmp_path):
    """One offline HTML: a menu of feature spaces and one of colourings, each point's data for every
    choice in the page, the legend beside the plot (not over the points), the face on hover."""
    from bokeh.models import Legend, Select

    from ssfer_study.stages import plots

    rng = np.random.default_rng(0)
    n = 30
    spaces = {"fixmatch · feature": rng.normal(size=(n, 2)), "leaf · agnostic component, instance level": rng.normal(size=(n, 2))}
    colourings = {"expression": plots.categorical_colouring(list("ab") * (n // 2)),
                  "identity": plots.categorical_colouring(list(range(n))),
                  "yaw": plots.continuous_colouring(rng.normal(size=n))}
    images = rng.integers(0, 255, size=(n, 8, 8, 3), dtype=np.uint8)
    layout = plots.feature_explorer(spaces, colourings, images, pd.DataFrame({"expression": list("ab") * (n // 2)}),
                                    "test", start="leaf · agnostic component, instance level")
    selects = [m for m in layout.select({"type": Select})]
    assert sorted(s.options for s in selects) == sorted([list(spaces), list(colourings)])
    plot = layout.children[1]
    assert plot.title.text == "leaf · agnostic component, instance level (test)"  # the space, then what the faces are
    assert any(isinstance(r, Legend) for r in plot.right) and not any(isinstance(r, Legend) for r in plot.center)
    src = plot.renderers[0].data_source
    assert src.data["x"] == spaces["leaf · agnostic component, instance level"][:, 0].tolist()  # the start space
    assert src.data["x0"] == spaces["fixmatch · feature"][:, 0].tolist()
    assert len(set(src.data["l1"])) == 1  # 30 identities share one legend entry
    assert len(set(colourings["yaw"][1])) == 5 and src.data["img"][0].startswith("data:image/png;base64,")
    path = plots.write_explorer(layout, tmp_path / "explorer.html", "t")
    html = path.read_text()
    assert "agnostic component, instance level" in html and "cdn.bokeh.org" not in html  # offline


def test_text_over_text_is_found_and_printed_for_the_page_check(tmp_path, capsys):
    """Colliding tick labels (long class names at a small width) are reported and the page check
    fails on what ``save`` prints; the same axis at a readable width reports nothing."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ssfer_study.stages import page_check, plots

    names = ["happiness", "neutral", "surprise", "sadness", "disgust", "anger", "fear"]
    fig, ax = plt.subplots(figsize=(2.0, 2.0))
    ax.bar(names, range(7))
    assert plots.overlapping_texts(fig)
    plots.save(fig, tmp_path / "cramped.png")
    printed = capsys.readouterr().out
    assert page_check.OVERLAP in printed and page_check.text_problems(printed)
    fig, ax = plt.subplots(figsize=(9.0, 3.0))
    ax.bar(names, range(7))
    ax.set_title("seven classes")
    assert plots.overlapping_texts(fig) == []
    ax.set_xlim(-0.5, 1.5)  # ticks outside the view are not drawn, so they cannot collide
    assert plots.overlapping_texts(fig) == []


def test_slanted_tick_labels_that_do_not_touch_are_not_reported():
    """Rotated labels are tested as rotated boxes: neighbours at 40 degrees share their axis-aligned
    extents without touching; crowded ones still collide."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ssfer_study.stages import plots

    names = ["happiness", "neutral", "surprise", "sadness", "disgust", "anger", "fear"]
    fig, ax = plt.subplots(figsize=(4.0, 3.0))
    ax.bar(names, range(7))
    ax.tick_params(axis="x", rotation=40)
    assert plots.overlapping_texts(fig) == []
    fig, ax = plt.subplots(figsize=(1.2, 3.0))
    ax.bar(names, range(7))
    ax.tick_params(axis="x", rotation=40)
    assert plots.overlapping_texts(fig)
