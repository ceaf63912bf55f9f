"""The typed study: profiles merge, run fields are checked, stage functions work on a tiny fake
study, and a method or a dataset is one registered definition."""
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ssfer_core.config import ConfigError, method_view
from ssfer_study.stages import results
from ssfer_study.study import load_study, load_study_dict, merge_profile

ROOT = Path(__file__).resolve().parents[1]

BASE = {"profile": "fake", "train": {"steps": 4, "data": {"split_dir": "data/fake/splits", "cache_dir": "data/fake/c"}},
        "analysis": {"max_points": 77}, "readme": "reports/fake/results_block.md"}


def _study(runs, **kw):
    return load_study_dict(BASE | {"runs": runs} | kw, Path("fake.yaml"))


def test_run_fields_seed_and_variant():
    s = _study({"fixmatch_s1": {"group": "main", "method": "fixmatch", "seed": 1},
                "sup_10pc_s0": {"group": "calibration", "method": "supervised"},
                "odd": {"method": "leaf", "variant": "leaf_x"}})
    assert (s.runs["fixmatch_s1"].variant, s.runs["fixmatch_s1"].seed) == ("fixmatch", 1)
    assert s.runs["sup_10pc_s0"].group == "calibration" and s.runs["odd"].variant == "leaf_x"
    assert s.analysis.max_points == 77
    assert s.runs_dir == Path("runs/fake") and s.run_dir("odd") == Path("runs/fake/odd")
    with pytest.raises(ConfigError, match="named for seed 2 but trains seed 0"):
        _study({"fixmatch_s2": {"method": "fixmatch"}})
    with pytest.raises(ConfigError, match="another profile's folder"):
        load_study_dict(BASE | {"train": {"data": {"split_dir": "data/default/splits"}}, "runs": {}}, Path("f.yaml"))


def test_method_view_keeps_only_the_runs_sections():
    s = _study({"fixmatch_s0": {"method": "fixmatch"}, "sitfer_s0": {"method": "sitfer"}})
    fm, sf = method_view(s.config("fixmatch_s0")), method_view(s.config("sitfer_s0"))
    assert "fixmatch" in fm and "sitfer" not in fm and "leaf" not in fm
    assert "sitfer" in sf and "fixmatch" not in sf and fm["data"] == sf["data"]


def test_profiles_merge(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("params.yaml").write_text(yaml.safe_dump({"profile": "default", "root": ".", "train": {"steps": 9, "lr": 0.1},
                                                   "runs": {"a_s0": {"method": "fixmatch"}, "b_s0": {"method": "leaf"}}}))
    (tmp_path / "studies" / "kid").mkdir(parents=True)
    Path("studies/kid/profile.yaml").write_text(yaml.safe_dump(
        {"extends": "default", "train": {"steps": 3},
         "runs": {"a_s0": {"lr": 0.5}, "b_s0": None, "c_s0": {"method": "sitfer"}}}))
    prof = merge_profile("kid")
    assert prof["train"] == {"steps": 3, "lr": 0.1}  # merged key by key
    assert list(prof["runs"]) == ["a_s0", "c_s0"]      # added, and b dropped
    assert prof["runs"]["a_s0"] == {"method": "fixmatch", "lr": 0.5}  # a parent's run: only the changed key
    assert prof["profile"] == "kid" and prof["params_file"] == "studies/kid/params.yaml"


def _fake_run(runs_dir: Path, name: str, method: str, seed: int, acc: float, mask: float | None,
              best_epoch: float | None = None):
    lpc = "all" if name.endswith("_all_s0") else 5
    d = runs_dir / name
    (d / "dvclive/plots/metrics/train").mkdir(parents=True)
    conf = (np.eye(7, dtype=int) * 10 + 1).tolist()
    ev = {"acc": acc, "bal_acc": acc - 0.01, "confusion": conf}
    m = {"method": method, "seed": seed, "labels_per_class": lpc, "n_labeled": 35 if lpc == 5 else 700, "train_seconds": 1.0,
         "ema": {"last": ev, "best": ev | ({"step": 2, "epoch": best_epoch} if best_epoch else {})},
         "curve": [{"step": 2, "ema_acc": acc}]}
    (d / "metrics.json").write_text(json.dumps(m))
    if mask is not None:
        for key, v in (("pl_pass_rate", mask), ("pl_pass_acc", 0.8)):
            (d / f"dvclive/plots/metrics/train/{key}.tsv").write_text(
                "step\t" + key + "\n" + "".join(f"{s}\t{v}\n" for s in range(1, 11)))


def test_results_stage_on_a_fake_study(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = _study({"supervised_s0": {"group": "main", "method": "supervised"},
                "supervised_s1": {"group": "main", "method": "supervised", "seed": 1},
                "fixmatch_s0": {"group": "main", "method": "fixmatch"},
                "fixmatch_s1": {"group": "main", "method": "fixmatch", "seed": 1},
                "supervised_all_s0": {"group": "calibration", "method": "supervised"},
                "fixmatch_hot_s0": {"group": "official", "method": "fixmatch"}})
    for name, acc in (("supervised_s0", 0.5), ("supervised_s1", 0.6), ("supervised_all_s0", 0.9)):
        _fake_run(s.runs_dir, name, "supervised", s.runs[name].seed, acc, None)
    for name, acc in (("fixmatch_s0", 0.7), ("fixmatch_s1", 0.8), ("fixmatch_hot_s0", 0.4)):
        _fake_run(s.runs_dir, name, "fixmatch", s.runs[name].seed, acc, 0.5, 14.0 if name == "fixmatch_hot_s0" else None)
    res = results.build(s)
    m = json.loads((s.reports_dir / "metrics.json").read_text())
    assert m == res.metrics and m["profile"] == "fake"
    assert m["main"]["supervised"]["acc_mean"] == pytest.approx(55.0)
    assert m["main"]["fixmatch"]["acc_mean"] == pytest.approx(75.0)
    assert m["main"]["fixmatch"]["gap_closed"] == pytest.approx((75 - 55) / (90 - 55), abs=1e-4)
    assert m["main"]["fixmatch"]["pl_pass_rate_final"] == pytest.approx(0.5)
    assert set(res.side) == {"official"} and list(res.side["official"]["variant"]) == ["fixmatch_hot", "supervised",
                                                                                        "fixmatch"]
    for f in ("main.md", "main.csv", "calibration.md", "official.md", "calibration.png", "ssl_at_work.png",
              "accuracy_curves.png", "pseudo_label_diagnosis.csv"):
        assert (s.reports_dir / "results" / f).exists(), f
    # the curves dvc plots draws: every main run's accuracy, the semi-supervised runs' pseudo-labels
    curves = s.reports_dir / "results" / "curves"
    assert sorted(p.stem for p in (curves / "accuracy").glob("*.tsv")) == ["fixmatch_s0", "fixmatch_s1",
                                                                          "supervised_s0", "supervised_s1"]
    acc = pd.read_csv(curves / "accuracy" / "fixmatch_s1.tsv", sep="\t")
    assert list(acc.columns) == ["step", "accuracy"] and acc["accuracy"].tolist() == [80.0]
    passed = pd.read_csv(curves / "pseudo_labels" / "fixmatch_s0.tsv", sep="\t")
    assert list(passed.columns) == ["step", "pl_pass_rate", "pl_pass_acc"] and len(passed) == 10
    assert not (curves / "pseudo_labels" / "supervised_s0.tsv").exists()
    official = (s.reports_dir / "results" / "official.md").read_text()
    assert "best at epoch" in official and "| 14 " in official  # the releases' best epoch, named
    diag = res.diagnosis.set_index(["method", "pseudo-label source"])
    assert diag.loc[("fixmatch", "selected (what the method trains on)"), "share passed"] == 0.5
    md = (s.reports_dir / "results" / "pseudo_label_diagnosis.md").read_text()
    assert "| fixmatch | selected" in md.replace("  ", " ").replace("  ", " ") and "('" not in md and "nan" not in md


def test_a_one_seed_ablation_is_read_paired_on_its_seed_and_left_undecided(tmp_path, monkeypatch):
    """A one-seed ablation or plug-in row: its difference to the reference's run of the same seed,
    the reference's 2-sd band beside it for scale, and no verdict (the rule of the claims table); a
    plug-in is read against its host; each group has a chart with a title and a caption."""
    from ssfer_study.stages.captions import CAPTIONS

    monkeypatch.chdir(tmp_path)
    runs = {f"fixmatch_s{i}": {"group": "main", "method": "fixmatch", "seed": i} for i in range(3)}
    runs |= {"fixmatch_noisy_s0": {"group": "sitfer_ablation", "method": "fixmatch", "fixmatch": {"threshold": 0.9}},
             "fixmatch_low_s0": {"group": "sitfer_ablation", "method": "fixmatch", "fixmatch": {"threshold": 0.8}},
             "leaf_plus_fixmatch_s0": {"group": "plugin", "method": "leaf+fixmatch"}}
    s = _study(runs)
    for i, acc in enumerate((0.70, 0.72, 0.74)):  # mean 72, sd 2 -> noise band 72 +- 4
        _fake_run(s.runs_dir, f"fixmatch_s{i}", "fixmatch", i, acc, 0.5)
    _fake_run(s.runs_dir, "fixmatch_noisy_s0", "fixmatch", 0, 0.69, 0.5)   # -1 against seed 0's 70
    _fake_run(s.runs_dir, "fixmatch_low_s0", "fixmatch", 0, 0.60, 0.5)     # -10
    _fake_run(s.runs_dir, "leaf_plus_fixmatch_s0", "leaf+fixmatch", 0, 0.80, 0.5)  # +10 vs its host's seed 0
    res = results.build(s)
    t = res.side["sitfer_ablation"].set_index("variant")
    assert t.loc["fixmatch", "verdict"] == "reference"
    assert t.loc["fixmatch_noisy", "delta"] == pytest.approx(-1.0) and t.loc["fixmatch_noisy", "noise"] == pytest.approx(4.0)
    assert t.loc["fixmatch_low", "delta"] == pytest.approx(-10.0)
    assert set(t.loc[["fixmatch_noisy", "fixmatch_low"], "verdict"]) == {"not decided (one seed)"}
    p = res.side["plugin"].set_index("variant")
    assert p.loc["leaf_plus_fixmatch", "reference"] == "fixmatch" and p.loc["leaf_plus_fixmatch", "delta"] == pytest.approx(10.0)
    for g in ("sitfer_ablation", "plugin"):
        fig = res.figures[f"ablation_{g}"]
        assert fig.get_suptitle() and fig.axes[0].get_xlabel() and f"results/ablation_{g}.png" in CAPTIONS
        assert (s.reports_dir / "results" / f"ablation_{g}.png").exists()
    assert "not decided (one seed)" in (s.reports_dir / "results" / "sitfer_ablation.md").read_text()


def test_every_figure_a_stage_writes_has_a_caption(tmp_path, monkeypatch):
    from ssfer_study.stages.captions import all_captions

    monkeypatch.chdir(tmp_path)
    s = _study({"supervised_s0": {"group": "main", "method": "supervised"},
                "fixmatch_s0": {"group": "main", "method": "fixmatch"}})
    _fake_run(s.runs_dir, "supervised_s0", "supervised", 0, 0.5, None)
    _fake_run(s.runs_dir, "fixmatch_s0", "fixmatch", 0, 0.7, 0.5)
    res = results.build(s)
    assert res.figures and all(f"results/{name}.png" in all_captions() for name in res.figures)


def test_compare_judges_each_mean_by_the_spread_over_seeds_and_names_the_runs_that_moved(tmp_path):
    from scipy import stats

    from ssfer_study.pipeline import compare

    def row(accs, seeds=(0, 1, 2)):
        return {"acc_mean": sum(accs) / len(accs), "bal_acc_mean": sum(accs) / len(accs) - 1, "seeds": list(seeds),
                "acc_per_seed": list(accs), "bal_acc_per_seed": [a - 1 for a in accs]}

    ref = {"dataset": "d", "profile": "p", "main": {"fixmatch": row([70.0, 74.0, 78.0]), "leaf": row([60.0, 61.0, 62.0])}}
    cur = {"dataset": "d", "profile": "p", "main": {"fixmatch": row([71.0, 74.0, 81.0]), "sitfer": row([50.0, 50.5, 51.0])}}
    t = compare.compare(cur, ref).set_index(["method", "field"])
    # a wide spread (sd 4): +1.3 is well inside Welch's interval
    ci = stats.ttest_ind([71, 74, 81], [70, 74, 78], equal_var=False).confidence_interval(0.95)
    assert t.loc[("fixmatch", "acc"), "verdict"] == "consistent"
    assert t.loc[("fixmatch", "acc"), "interval"] == f"[{ci.low:+.2f}, {ci.high:+.2f}]"
    assert t.loc[("fixmatch", "acc"), "runs that moved"] == "s0 +1.00, s2 +3.00"
    assert t.loc[("leaf", "acc"), "verdict"] == t.loc[("sitfer", "acc"), "verdict"] == "missing"
    tight = {"dataset": "d", "profile": "p", "main": {"leaf": row([63.0, 64.0, 65.0])}}  # +3 at sd 1: moved
    assert compare.compare(tight, {"main": {"leaf": ref["main"]["leaf"]}}).iloc[0]["verdict"] == "moved"
    # one seed a side (or no per-seed values): a fixed tolerance, named as such
    one = {"main": {"leaf": {"acc_mean": 60.0, "bal_acc_mean": 59.0}}}
    near = {"main": {"leaf": {"acc_mean": 62.0, "bal_acc_mean": 58.0}}}
    f = compare.compare(near, one).set_index(["method", "field"])
    assert f.loc[("leaf", "acc"), "verdict"] == "consistent" and "fixed" in f.loc[("leaf", "acc"), "interval"]
    assert compare.compare(near, one, tolerance=1.0).set_index(["method", "field"]).loc[("leaf", "acc"), "verdict"] == "moved"
    mine, other = tmp_path / "metrics.json", tmp_path / "ref.json"
    mine.write_text(json.dumps(ref))
    other.write_text(json.dumps(ref))
    assert compare.run(mine, str(other)) == 0  # the same numbers: every run exactly where it was
    other.write_text(json.dumps(cur))
    assert compare.run(mine, str(other)) == 1


def _run(seed: int, acc: float, method: str = "fixmatch", curve=None) -> dict:
    return {"method": method, "seed": seed, "steps": 2500, "ema": {"last": {"acc": acc}},
            "curve": curve or [{"step": 2500, "ema_acc": acc}]}


def test_a_difference_is_shown_only_when_its_paired_interval_excludes_zero():
    from ssfer_study.stages import tables

    sup = {f"s{i}": _run(i, a, "supervised") for i, a in enumerate((0.60, 0.62, 0.64))}
    wide = sup | {f"w{i}": _run(i, a + d) for i, (a, d) in enumerate(zip((0.60, 0.62, 0.64), (0.01, 0.02, 0.03)))}
    p = tables.paired_difference(wide, ["w0", "w1", "w2"], ["s0", "s1", "s2"])
    # differences 1, 2, 3 points: mean 2, sd 1, t(0.975, 2) = 4.303 -> half-width 2.48: zero inside
    assert p["mean"] == pytest.approx(2.0) and p["ci95"] == pytest.approx(4.3027 / 3 ** 0.5, abs=1e-3)
    assert p["verdict"] == "not shown"
    tight = sup | {f"t{i}": _run(i, a + d) for i, (a, d) in enumerate(zip((0.60, 0.62, 0.64), (0.020, 0.021, 0.019)))}
    assert tables.paired_difference(tight, ["t0", "t1", "t2"], ["s0", "s1", "s2"])["verdict"] == "shown"
    # pairs are made on the seed, not on the order; an unpaired seed is left out
    shuffled = sup | {"x2": _run(2, 0.66), "x0": _run(0, 0.62), "x9": _run(9, 0.99)}
    q = tables.paired_difference(shuffled, ["x2", "x0", "x9"], ["s0", "s1", "s2"])
    assert q["pairs"] == 2 and q["mean"] == pytest.approx(2.0)
    assert tables.paired_difference(sup, ["s0"], ["s0"])["verdict"] == "not decided (one seed)"  # no interval


def test_last_quarter_gain_reads_the_curve_at_three_quarters_of_training():
    from ssfer_study.stages import tables

    rising = [{"step": 1250, "ema_acc": 0.50}, {"step": 2500, "ema_acc": 0.70}]
    assert tables.last_quarter_gain(rising, 2500) == pytest.approx(10.0)  # 70 - interp(1875) = 70 - 60
    flat = [{"step": s, "ema_acc": 0.7} for s in range(250, 2501, 250)]
    assert tables.last_quarter_gain(flat, 2500) == pytest.approx(0.0)
    assert math.isnan(tables.last_quarter_gain([{"step": 2500, "raw_acc": 0.7}], 2500))  # one evaluation


def test_a_claim_is_shown_contradicted_or_not_shown_within_its_family():
    from ssfer_study.stages import tables

    accs = {"leaf": (0.70, 0.72, 0.74), "fixmatch": (0.60, 0.63, 0.63), "sitfer": (0.65, 0.61, 0.60)}
    runs = {f"{m}_s{i}": _run(i, a, m) for m, vals in accs.items() for i, a in enumerate(vals)}
    runs["leaf_plus_fixmatch_s0"] = _run(0, 0.9, "leaf+fixmatch")
    variants = {k: k.rsplit("_s", 1)[0] for k in runs}
    paper = load_study(ROOT / "params.yaml").claims  # the default profile's claims
    c = tables.claims(runs, variants, paper).set_index("better")
    # LEAF - FixMatch: 10, 9, 11 -> shown after Holm over the two paired claims; SIT-FER - FixMatch:
    # 5, -2, -3 -> not shown
    assert c.loc["leaf", "verdict"] == "shown" and c.loc["leaf", "difference"] == pytest.approx(10.0)
    assert c.loc["leaf", "per_seed"] == [10.0, 9.0, 11.0] and c.loc["leaf", "win"] == 1.0
    assert c.loc["leaf", "p_holm"] == pytest.approx(2 * c.loc["leaf", "p"])  # the smaller of two p's, times 2
    assert c.loc["sitfer", "verdict"] == "not shown" and c.loc["sitfer", "win"] == pytest.approx(1 / 3)
    assert c.loc["leaf_plus_fixmatch", "verdict"] == "not decided (one seed)"
    assert "sitfer_mssl_off" not in set(c["than"])  # a claim whose runs the study lacks is left out
    worse = runs | {f"sitfer_s{i}": _run(i, a, "sitfer") for i, a in enumerate((0.50, 0.52, 0.53))}
    assert tables.claims(worse, variants, paper).set_index("better").loc["sitfer", "verdict"] == "contradicted"
    m = tables.metrics_json(pd.DataFrame(), None, "SynthFACS", "t", claims_table=tables.claims(runs, variants, paper))
    assert m["claims"]["leaf_vs_fixmatch"]["verdict"] == "shown" and m["claims"]["leaf_vs_fixmatch"]["seeds"] == 3


def test_an_ablation_with_seeds_is_read_paired_and_one_seed_left_undecided():
    from ssfer_study.stages import tables

    ref = {f"sitfer_s{i}": _run(i, a, "sitfer") for i, a in enumerate((0.60, 0.70, 0.80))}
    off = {f"off_s{i}": _run(i, a - 0.02, "sitfer") for i, a in enumerate((0.60, 0.70, 0.80))}
    runs = ref | off | {"one_s0": _run(0, 0.58, "sitfer")}
    variants = {k: k.rsplit("_s", 1)[0] for k in runs}
    main = pd.DataFrame({"variant": ["sitfer"], "method": ["sitfer"], "acc_last_mean": [70.0], "acc_last_std": [10.0]})
    side = pd.DataFrame({"variant": ["off", "one"], "method": ["sitfer", "sitfer"],
                         "acc_last_mean": [68.0, 58.0], "acc_last_std": [10.0, np.nan]})
    t = tables.against_reference(side, main, runs, list(off) + ["one_s0"], list(ref), variants).set_index("variant")
    # paired: -2 on every seed, interval of width 0 -> below, although 2 sd of the seeds is 20 points
    assert t.loc["off", "verdict"] == "below" and t.loc["off", "delta"] == pytest.approx(-2.0)
    assert "paired" in t.loc["off", "reading"]
    # one seed: -2 against the reference's run of seed 0, 2 sd = 20 beside it, no verdict
    assert t.loc["one", "verdict"] == "not decided (one seed)" and t.loc["one", "delta"] == pytest.approx(-2.0)
    assert t.loc["one", "noise"] == pytest.approx(20.0)


def test_evaluation_noise_is_the_binomial_noise_of_a_difference():
    from ssfer_study.stages import tables

    assert tables.evaluation_noise(80.0, 1000) == pytest.approx(100 * 1.96 * (2 * 0.8 * 0.2 / 1000) ** 0.5)
    assert tables.evaluation_noise(80.0, 4000) == pytest.approx(tables.evaluation_noise(80.0, 1000) / 2)


def test_a_printed_difference_agrees_with_the_rounded_means_beside_it():
    """Means of 73.46 and 63.84 print as 73.5 and 63.8, so the difference printed beside them is +9.7,
    although the exact 9.62 would print as +9.6: a reader checks the subtraction."""
    from ssfer_study.stages import tables

    sup = {f"s{i}": _run(i, a, "supervised") for i, a in enumerate((0.6384, 0.6384, 0.6384))}
    runs = sup | {f"m{i}": _run(i, a) for i, a in enumerate((0.7344, 0.7344, 0.7344))}
    p = tables.paired_difference(runs, ["m0", "m1", "m2"], ["s0", "s1", "s2"])
    assert p["mean"] == pytest.approx(9.6) and p["printed"] == pytest.approx(73.4 - 63.8)
    skew = sup | {"m0": _run(0, 0.7346), "m1": _run(1, 0.7346), "m2": _run(2, 0.7346)}
    q = tables.paired_difference(skew, ["m0", "m1", "m2"], ["s0", "s1", "s2"])
    assert f"{q['mean']:+.1f}" == "+9.6" and q["printed"] == pytest.approx(73.5 - 63.8)  # 73.46 prints 73.5
    # an incomplete pairing (a seed without its partner) keeps the paired mean
    part = sup | {"m0": _run(0, 0.7346), "m9": _run(9, 0.99)}
    assert tables.paired_difference(part, ["m0", "m9"], ["s0", "s1", "s2"])["printed"] == pytest.approx(9.62)
    assert tables.printed_difference(73.44, 63.86) == pytest.approx(9.5)


def test_one_verdict_rule_reads_every_paired_difference():
    """Tables, claims and the README block read an interval by one rule: undirected for a difference
    to supervised, directed for a paper's claim (which can be contradicted)."""
    import math

    from ssfer_study.stages import report
    from ssfer_study.stages.statistics import verdict

    assert [verdict(d, 2.0) for d in (3.0, -3.0, 1.0, -2.0)] == ["shown", "shown", "not shown", "not shown"]
    assert verdict(5.0, math.nan) == verdict(5.0, math.nan, directed=True) == "not decided (one seed)"
    assert [verdict(d, 2.0, directed=True) for d in (3.0, -3.0, 1.0)] == ["shown", "contradicted", "not shown"]
    assert report._paired({"delta_vs_supervised_mean": -3.04, "delta_vs_supervised_ci95": 2.0,
                           "delta_vs_supervised_printed": -3.0}) == "-3.0 ± 2.0 (shown)"
    assert report._paired({"delta_vs_supervised_mean": 1.5, "delta_vs_supervised_ci95": 2.0}).endswith("(not shown)")


@pytest.fixture
def toy_method():
    """A method written the way lesson 5 and the registry's docstring say: one registered factory
    with its declarations (diagnostics, cost), nothing edited elsewhere. (A settings section of its
    own needs its file in ``ssfer_core/methods/``, which the package imports before TrainConfig is made.)"""
    from ssfer_core.methods import METHODS
    from ssfer_core.methods.fixmatch import FixMatch, FixMatchConfig
    from ssfer_core.methods.registry import (SELECTED, DiagnosticFigure, Diagnostics, Panel, PseudoLabelSource,
                                             register_method)
    from ssfer_core.methods.unlabeled import HardLabelLoss

    figure = DiagnosticFigure("wobble", "Toy: how much it wobbles", (Panel("wobble", {"wobble": "toy_wobble"}),),
                              "Toy: the wobble, a quantity only this method logs.")

    @register_method("toy", cost=1.5,
                     diagnostics=Diagnostics(sources=(SELECTED, PseudoLabelSource("pl_toy_", "toy level")),
                                             figures=(figure,)))
    def toy(model, ctx):
        """A toy: FixMatch at a lower threshold."""
        return FixMatch(FixMatchConfig(threshold=0.9), model, ctx, HardLabelLoss("batch"))

    yield "toy"
    METHODS.remove("toy")


def test_a_registered_method_reaches_the_reports_tables_and_figures_with_no_edit_elsewhere(
        tmp_path, monkeypatch, toy_method):
    from ssfer_study.pipeline.train_runs import relative_cost
    from ssfer_study.stages.captions import all_captions

    monkeypatch.chdir(tmp_path)
    s = _study({"supervised_s0": {"group": "main", "method": "supervised"},
                "toy_s0": {"group": "main", "method": toy_method}})
    _fake_run(s.runs_dir, "supervised_s0", "supervised", 0, 0.5, None)
    _fake_run(s.runs_dir, "toy_s0", toy_method, 0, 0.7, 0.4)
    logs = s.runs_dir / "toy_s0" / "dvclive/plots/metrics/train"
    for key, value in (("toy_wobble", 0.3), ("pl_toy_pass_rate", 0.2), ("pl_toy_pass_acc", 0.6)):
        (logs / f"{key}.tsv").write_text("step\t" + key + "\n" + "".join(f"{i}\t{value}\n" for i in range(1, 11)))
    res = results.build(s)
    assert list(res.main["variant"]) == ["supervised", "toy"]
    assert res.metrics["main"]["toy"]["pl_pass_rate_final"] == pytest.approx(0.4)
    toy_rows = res.diagnosis[res.diagnosis["method"] == "toy"].set_index("pseudo-label source")
    assert toy_rows.loc["toy level", "share passed"] == pytest.approx(0.2)
    assert toy_rows.loc["toy level", "accuracy of what passes"] == pytest.approx(0.6)
    assert res.method_figures == ["toy_wobble"] and (s.reports_dir / "results" / "toy_wobble.png").exists()
    assert all_captions()["results/toy_wobble.png"].startswith("Toy: the wobble")
    assert "toy" in res.figures["ssl_at_work"].axes[0].get_legend_handles_labels()[1]
    assert relative_cost("toy") == 1.5


def test_the_verdicts_profile_trains_the_seeds_the_default_study_says_its_claims_need():
    """From the default study's paired spreads (committed metrics.json): the seeds a ± 2-point
    interval needs for each claim paired over seeds and each method against supervised, capped at
    20; the verdicts profile trains exactly that many seeds of every main method, and 3 seeds of
    every ablation the claims name."""
    from ssfer_study.stages.statistics import MAX_SEEDS

    metrics = json.loads((ROOT / "reports" / "default" / "metrics.json").read_text())
    paired = [c for c in metrics["claims"].values() if c["seeds"] >= 2]
    needed = [c["seeds_for_2"] for c in paired] + [r["delta_vs_supervised_seeds_for_2"] for r in metrics["main"].values()
                                                   if r.get("delta_vs_supervised_ci95") is not None]
    assert paired and needed
    want = MAX_SEEDS if None in needed else max(needed)
    verdicts = load_study(ROOT / "studies" / "verdicts" / "params.yaml")
    assert verdicts.reuse_runs_from == "default"
    for method in ("supervised", "fixmatch", "sitfer", "leaf"):
        seeds = {r.seed for r in verdicts.runs.values() if r.group == "main" and r.method == method}
        assert seeds == set(range(want)), method
    ablations = {c.than for c in verdicts.claims} - {"fixmatch"} - set(verdicts.runs_of("main"))
    for variant in ablations & {r.variant for r in verdicts.runs.values()}:
        assert {r.seed for r in verdicts.runs.values() if r.variant == variant} == {0, 1, 2}, variant


def test_a_row_whose_unlabeled_loss_never_engaged_is_labelled_so(tmp_path, monkeypatch):
    """Every semi-supervised row shows the step its first pseudo-label passed and the share passed
    over the whole run; a row whose selection never passed one is named "unlabeled loss off" in the
    table, metrics.json and the README block, never read as the method's result."""
    from ssfer_study.stages import report

    monkeypatch.chdir(tmp_path)
    s = _study({"supervised_s0": {"group": "main", "method": "supervised"},
                "fixmatch_s0": {"group": "main", "method": "fixmatch"},
                "leaf_s0": {"group": "main", "method": "leaf"}})
    _fake_run(s.runs_dir, "supervised_s0", "supervised", 0, 0.5, None)
    _fake_run(s.runs_dir, "fixmatch_s0", "fixmatch", 0, 0.7, 0.0)  # nothing ever passed
    _fake_run(s.runs_dir, "leaf_s0", "leaf", 0, 0.6, 0.0)
    late = [0.0] * 6 + [0.4] * 4  # LEAF's first pass in the log's 7th window, at step 7
    (s.runs_dir / "leaf_s0/dvclive/plots/metrics/train/pl_pass_rate.tsv").write_text(
        "step\tpl_pass_rate\n" + "".join(f"{i + 1}\t{v}\n" for i, v in enumerate(late)))
    res = results.build(s)
    m = res.metrics["main"]
    assert m["fixmatch"]["first_pass_step"] is None and m["fixmatch"]["unlabeled_loss_engaged"] is False
    assert m["leaf"]["first_pass_step"] == 7 and m["leaf"]["unlabeled_loss_engaged"] is True
    assert m["leaf"]["pl_pass_rate_mean"] == pytest.approx(0.16)
    assert "first_pass_step" not in m["supervised"]
    table = (s.reports_dir / "results" / "main.md").read_text()
    assert "never: unlabeled loss off" in table and "| 7 " in table
    block = report.results_block(s)
    assert "| fixmatch (unlabeled loss off) |" in block and "| leaf |" in block
    assert "fixmatch never" in block and "leaf at step 7, 16 %" in block
    assert "**fixmatch: no pseudo-label passed in all training**" in block


def test_an_official_row_is_read_paired_against_its_labeled_part_alone(tmp_path, monkeypatch):
    """The official table: each release's row beside the run the profile's claims pair it with (its
    labeled part alone), the paired difference per seed, its 95 % interval and the chance to win."""
    monkeypatch.chdir(tmp_path)
    runs = {f"supervised_s{s}": {"group": "main", "method": "supervised", "seed": s} for s in range(3)}
    runs |= {f"sitfer_official_s{s}": {"group": "official", "method": "sitfer", "protocol": "official", "seed": s}
             for s in range(3)}
    runs |= {f"sitfer_official_labeled_only_s{s}": {"group": "official", "method": "sitfer", "protocol": "official",
                                                    "seed": s, "sitfer": {"loss_weights": [0.4, 0.4, 0.0]}}
             for s in range(3)}
    s = _study(runs, claims=[{"claim": "release gains", "better": "sitfer_official", "than": "sitfer_official_labeled_only"}])
    for seed, (sup, off, lab) in enumerate(((0.5, 0.70, 0.60), (0.6, 0.72, 0.66), (0.55, 0.66, 0.62))):
        _fake_run(s.runs_dir, f"supervised_s{seed}", "supervised", seed, sup, None)
        _fake_run(s.runs_dir, f"sitfer_official_s{seed}", "sitfer", seed, off, 0.3)
        _fake_run(s.runs_dir, f"sitfer_official_labeled_only_s{seed}", "sitfer", seed, lab, 0.0)
    res = results.build(s)
    row = res.side["official"].set_index("variant").loc["sitfer_official"]
    assert row["versus"] == "sitfer_official_labeled_only"
    assert row["delta_vs_pair_per_seed"] == pytest.approx([10.0, 6.0, 4.0])
    assert row["delta_vs_pair_win"] == 1.0
    table = (s.reports_dir / "results" / "official.md").read_text()
    assert "vs sitfer_official_labeled_only" in table and "+10.0, +6.0, +4.0" in table
    assert "never: unlabeled loss off" in table  # the labeled part alone passes nothing
    from ssfer_study.stages import report

    page = report.index(s).read_text()
    assert "**Unlabeled loss off** in sitfer_official_labeled_only:" in page


def test_the_readme_headline_comes_from_the_verdicts_once_they_exist():
    """One profile writes the README's results block: the default until the `verdicts` study has a
    committed report, the verdicts after (their `readme:` keys change hands, the other profile then
    writes its block under reports/)."""
    default = load_study(ROOT / "params.yaml")
    verdicts = load_study(ROOT / "studies" / "verdicts" / "params.yaml")
    readme = (ROOT / "README.md").resolve()
    writers = [s.name for s in (default, verdicts) if (ROOT / s.readme).resolve() == readme]
    ran = (ROOT / "reports" / "verdicts" / "metrics.json").exists()
    assert writers == (["verdicts"] if ran else ["default"])
