"""One checked route from a profile to a run: every run of every profile parses and builds (as
timm tests every registered model); bad values stop before any data is read, in one line."""
import subprocess
import sys
from pathlib import Path

import pytest

from ssfer_core.config import ConfigError, TrainConfig, apply_overrides
from ssfer_core.methods import build
from ssfer_core.methods.base import DataInfo
from ssfer_core.study.profiles import load_profile, run_config

ROOT = Path(__file__).resolve().parents[1]
PROFILES = [ROOT / "params.yaml"] + sorted(ROOT.glob("studies/*/params.yaml"))
RUNS = [(p, r) for p in PROFILES for r in load_profile(p)["runs"]]


@pytest.mark.parametrize("profile,run", RUNS, ids=[f"{p.parent.name or 'default'}:{r}" for p, r in RUNS])
def test_every_run_of_every_profile_parses_and_builds(profile, run, tmp_path):
    prof = load_profile(profile)
    cfg = run_config(prof, run, [f"data.cache_dir={tmp_path}", "net.weights=null", "sitfer.text_encoder=random"])
    assert cfg.method in run or run.startswith(cfg.method.replace("+", "_plus_"))
    method = build(cfg, DataInfo(cfg.data.num_classes, 70, cfg.steps, cfg.steps_per_epoch, str(tmp_path)))
    assert sum(p.numel() for p in method.parameters()) > 0
    assert cfg.net.dropout is not None and cfg.net.l2_normalize is not None  # resolved, as recorded


def test_profiles_name_their_own_output_folders():
    for p in PROFILES:
        prof = load_profile(p)
        name = prof["profile"]
        assert Path(prof["params_file"]) == p.relative_to(ROOT)
        for key in ("root", "split_dir", "cache_dir"):
            path = prof["train"]["data"][key]
            assert name in path or not path.startswith("data/"), (p, key, path)
        assert prof["readme"] == "README.md" if name == "default" else prof["readme"].startswith(f"reports/{name}/")


def test_run_overlay_lists_only_its_changes():
    prof = {"profile": "t", "train": {"steps": 10, "sitfer": {"threshold": 0.7}},
            "runs": {"a": {"group": "x", "method": "sitfer", "sitfer": {"mssl": False}}}}
    cfg = run_config(prof, "a")
    assert cfg.steps == 10 and cfg.sitfer.threshold == 0.7 and cfg.sitfer.mssl is False and cfg.method == "sitfer"
    with pytest.raises(ConfigError, match="run 'b' is not in profile 't'"):
        run_config(prof, "b")


@pytest.mark.parametrize("override,needle", [
    ("lr=abc", "lr='abc'"), ("leaf.threshold=adaptve", "adaptive, fixed"), ("sitfer.weights=[1,2]", "list of 3"),
    ("net.top_k=two", "net.top_k='two'"), ("method=foo", "method='foo'"),
    ("data.labels_per_class=abc", "data.labels_per_class"), ("fixmatch.thresh=0.9", "unknown config key"),
    ("steps=0", "steps=0")])
def test_bad_values_are_refused(override, needle):
    from ssfer_core.config import validate

    with pytest.raises(ConfigError, match=None) as e:
        validate(apply_overrides(TrainConfig(), [override]))
    assert needle in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("override", ["lr=abc", "leaf.threshold=adaptve", "sitfer.weights=[1,2]", "net.top_k=two",
                                      "method=foo", "data.labels_per_class=abc"])
def test_cli_exits_2_with_one_line_and_writes_nothing(override, tmp_path):
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "ssfer_core.cli", "train", "--config", str(ROOT / "params.yaml"),
                        "--run", "fixmatch_s0", "-S", override, "--out", str(out)], capture_output=True, text=True,
                       cwd=tmp_path, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and override.split("=")[0] in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()  # validated before any data is read: nothing written


def test_cli_data_error_exits_3(tmp_path):
    r = subprocess.run([sys.executable, "-m", "ssfer_core.cli", "train", "--config", str(ROOT / "params.yaml"),
                        "--run", "supervised_s0", "-S", f"data.root={tmp_path / 'missing'}", "--out",
                        str(tmp_path / "run")], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 3, r.stderr
    assert "Traceback" not in r.stderr and "missing" in r.stderr
    assert not (tmp_path / "run").exists()


def test_notebook_pairs_are_in_sync():
    """Each notebooks/<name>.py (py:percent, the reviewed source) and <name>.ipynb (what JupyterLab and
    papermill open) hold the same cells; `make notebooks` re-syncs after an edit of either."""
    import jupytext

    for py in sorted((ROOT / "notebooks").glob("*.py")):
        a = jupytext.read(py)
        b = jupytext.read(py.with_suffix(".ipynb"))
        cells = lambda nb: [(c.cell_type, c.source.strip()) for c in nb.cells]  # noqa: E731
        assert cells(a) == cells(b), f"{py.name} and its .ipynb differ: run `make notebooks`"
        params = [c for c in b.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1, f"{py.name}: papermill needs exactly one 'parameters' cell"
