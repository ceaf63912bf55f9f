"""The GPU device check is ready to run: its dry run on CPU goes through every part."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_device_check_dry_run_on_cpu():
    env = dict(os.environ, PY=sys.executable)
    r = subprocess.run(["bash", "bench/device_check.sh", "--dry-run"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    table = r.stdout.split("== device check: one table", 1)[1]
    assert "tests -m cuda" in table and "ok" in table.splitlines()[2]
    # every method and precision printed a row with its steps/s and a finite loss
    for method in ("supervised", "fixmatch", "sitfer", "leaf"):
        for variant in ("fp32", "bf16"):
            row = next(l for l in table.splitlines() if l.split()[:2] == [method, variant])
            assert float(row.split()[-1]) > 0 and float(row.split()[4]) > 0
    assert "default study on the GPU" in table and "DDP 2 GPUs" in table and "skipped" in table


def test_profile_time_estimate_deals_runs_longest_first_and_reads_measured_rates(tmp_path, monkeypatch):
    import importlib.util
    import json

    monkeypatch.syspath_prepend(str(ROOT / "bench"))  # as `python bench/profile_times.py` sees its neighbours
    spec = importlib.util.spec_from_file_location("profile_times", ROOT / "bench" / "profile_times.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.makespan([5, 1, 1, 1, 1, 1], 2) == 5  # the long run on one worker, the five short ones on the other
    assert mod.makespan([3, 3, 2, 2, 2], 2) == 7  # longest first, as train-runs starts them (not the best packing, 6)
    assert mod.makespan([4.0], 3) == 4.0
    for name, method, seconds, steps, protocol in [("a", "leaf", 600, 1000, "shared"), ("b", "leaf", 800, 1000, "shared"),
                                                   ("c", "supervised", 100, 1000, "shared"),
                                                   ("d", "leaf", 9999, 1000, "official")]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps(
            {"method": method, "train_seconds": seconds, "steps": steps, "protocol": protocol}))
    assert mod.seconds_per_step(tmp_path) == {"leaf": 0.7, "supervised": 0.1}, "the official run is left out"
    # a run the labels profile copies from the default: the same config but for the profile's folders
    from ssfer_study.study import load_study

    monkeypatch.chdir(ROOT)
    default, labels = load_study("default"), load_study("labels")
    assert labels.config("leaf_s0").data.root != default.config("leaf_s0").data.root
    assert mod.portable(labels.config("leaf_s0")) == mod.portable(default.config("leaf_s0"))
    assert mod.portable(labels.config("leaf_s0")) != mod.portable(default.config("leaf_s1"))


def test_views_speed_prints_both_views_for_both_kinds(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "views.txt"
    subprocess.run([sys.executable, str(ROOT / "bench" / "views_speed.py"), "--batch", "2", "--repeats", "1",
                    "--out", str(out)], check=True, capture_output=True, cwd=ROOT)
    rows = {line.split()[0]: line.split()[1:] for line in out.read_text().splitlines()[4:] if line.strip()}
    assert set(rows) == {"weak", "strong"}
    assert all(float(r[0]) > 0 and float(r[1]) > 0 and r[2].endswith("x") for r in rows.values())
