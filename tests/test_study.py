"""The typed study: profiles compose, run fields are checked, stage functions work on a tiny fake
study, and a method or a dataset is one registered definition."""
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from ssfer_core.config import ConfigError, method_view
from ssfer_study.stages import results
from ssfer_study.study import compose, load_study_dict

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


def test_profiles_compose(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("params.yaml").write_text(yaml.safe_dump({"profile": "default", "root": ".", "train": {"steps": 9, "lr": 0.1},
                                                   "runs": {"a_s0": {"method": "fixmatch"}, "b_s0": {"method": "leaf"}}}))
    (tmp_path / "studies" / "kid").mkdir(parents=True)
    Path("studies/kid/profile.yaml").write_text(yaml.safe_dump(
        {"extends": "default", "train": {"steps": 3}, "runs": {"b_s0": None, "c_s0": {"method": "sitfer"}}}))
    prof = compose("kid")
    assert prof["train"] == {"steps": 3, "lr": 0.1}  # merged key by key
    assert list(prof["runs"]) == ["a_s0", "c_s0"]      # added, and b dropped
    assert prof["profile"] == "kid" and prof["params_file"] == "studies/kid/params.yaml"


def _fake_run(runs_dir: Path, name: str, method: str, seed: int, acc: float, mask: float | None):
    lpc = "all" if name.endswith("_all_s0") else 5
    d = runs_dir / name
    (d / "dvclive/plots/metrics/train").mkdir(parents=True)
    conf = (np.eye(7, dtype=int) * 10 + 1).tolist()
    ev = {"acc": acc, "bal_acc": acc - 0.01, "confusion": conf}
    m = {"method": method, "seed": seed, "labels_per_class": lpc, "n_labeled": 35 if lpc == 5 else 700, "train_seconds": 1.0,
         "ema": {"last": ev, "best": ev}, "curve": [{"step": 2, "ema_acc": acc}]}
    (d / "metrics.json").write_text(json.dumps(m))
    if mask is not None:
        for key, v in (("mask_rate", mask), ("pl_acc_masked", 0.8), ("pl_coverage", mask)):
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
        _fake_run(s.runs_dir, name, "fixmatch", s.runs[name].seed, acc, 0.5)
    res = results.build(s)
    m = json.loads((s.reports_dir / "metrics.json").read_text())
    assert m == res.metrics and m["profile"] == "fake"
    assert m["main"]["supervised"]["acc_mean"] == pytest.approx(55.0)
    assert m["main"]["fixmatch"]["acc_mean"] == pytest.approx(75.0)
    assert m["main"]["fixmatch"]["gap_closed"] == pytest.approx((75 - 55) / (90 - 55), abs=1e-4)
    assert m["main"]["fixmatch"]["mask_rate_final"] == pytest.approx(0.5)
    assert set(res.side) == {"official"} and list(res.side["official"]["variant"]) == ["fixmatch_hot", "supervised",
                                                                                        "fixmatch"]
    for f in ("main.md", "main.csv", "calibration.md", "official.md", "calibration.png", "ssl_at_work.png",
              "accuracy_curves.png", "pseudo_label_diagnosis.csv"):
        assert (s.reports_dir / "results" / f).exists(), f
    assert res.diagnosis.loc[("fixmatch", "selected (what the method trains on)"), "share passed"] == 0.5
