"""The device is part of a run: ``train.device`` resolved in one place, never a silent CPU fallback,
in the run's fingerprint, one run per GPU in the `train` stage, float32 under `official`. All on the
CPU: the GPUs are a number handed in, the launches stand-ins (tests marked `cuda` run on a GPU)."""
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from ssfer_core.config import ConfigError, compose_config
from ssfer_core.devices import resolve_device
from ssfer_study.pipeline import train_runs as tr
from test_train_runs import Launcher, write_config

ROOT = Path(__file__).resolve().parents[1]


def test_auto_picks_a_gpu_when_there_is_one_and_the_cpu_otherwise():
    assert resolve_device("auto", gpus=0) == "cpu" and resolve_device("auto", gpus=2) == "cuda"
    assert resolve_device("cpu", gpus=2) == "cpu" and resolve_device("cuda:1", gpus=2) == "cuda:1"


def test_a_missing_gpu_stops_the_run_naming_the_device_and_the_way_to_the_cpu():
    with pytest.raises(ConfigError) as e:
        resolve_device("cuda", gpus=0)
    msg = str(e.value)
    assert "train.device='cuda'" in msg and "torch.cuda.is_available() is" in msg and "device: cpu" in msg
    assert "\n" not in msg
    with pytest.raises(ConfigError, match="2 GPU"):
        resolve_device("cuda:2", gpus=2)
    with pytest.raises(ConfigError, match="auto, cpu, cuda or cuda:N"):
        compose_config({"method": "supervised", "device": "gpu"})


def test_official_recipes_train_in_float32_and_the_shared_protocol_may_autocast():
    for method in ("supervised", "fixmatch", "sitfer", "leaf"):
        assert compose_config({"method": method}).amp is True
        assert compose_config({"method": method}, {"protocol": "official"}).amp is False, method


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "split.json").write_text("[1]")
    (tmp_path / "pre").mkdir()
    (tmp_path / "pre" / "backbone.pth").write_bytes(b"weights")
    (tmp_path / "run_configs").mkdir()
    return tmp_path


def test_the_device_kind_is_part_of_a_runs_fingerprint(project):
    write_config(project / "run_configs" / "a_s0.yaml", "supervised", project, device="auto")
    write_config(project / "run_configs" / "b_s0.yaml", "supervised", project, device="cpu")
    on_cpu = {j.name: j for j in tr.plan(Path("params.yaml"), project / "run_configs", project / "runs", gpus=0)}
    on_gpu = {j.name: j for j in tr.plan(Path("params.yaml"), project / "run_configs", project / "runs", gpus=1)}
    assert on_cpu["a_s0"].device == "cpu" and on_gpu["a_s0"].device == "cuda"
    assert on_cpu["a_s0"].fingerprint != on_gpu["a_s0"].fingerprint, "trained on the CPU: trained again on a GPU"
    assert on_cpu["b_s0"].fingerprint == on_gpu["b_s0"].fingerprint, "a CPU run stays a CPU run"


def test_a_gpu_run_without_a_gpu_stops_the_stage_before_anything_trains(project):
    write_config(project / "run_configs" / "a_s0.yaml", "supervised", project, device="cuda")
    launch = Launcher()
    with pytest.raises(ConfigError, match="no GPU was found"):
        tr.train_runs(Path("params.yaml"), project / "run_configs", project / "runs", "auto", launch=launch,
                      say=lambda s: None, gpus=0)
    assert launch.calls == []


def test_one_run_per_gpu_each_pinned_to_a_gpu_no_other_running_run_holds(project):
    for i in range(5):
        write_config(project / "run_configs" / f"r{i}_s0.yaml", "fixmatch", project, device="cuda")
    held, lock, seen, overlap = set(), threading.Lock(), [], []

    def launch(job):
        with lock:
            overlap.append(job.device in held)
            held.add(job.device)
            seen.append(job.device)
        time.sleep(0.05)
        (job.out_dir / "metrics.json").write_text("{}")
        with lock:
            held.discard(job.device)

    counting = Launcher(delay=0.05)
    done = tr.train_runs(Path("params.yaml"), project / "run_configs", project / "runs", "auto",
                         launch=lambda j: (launch(j), counting.__call__(j)), say=lambda s: None, gpus=2)
    assert len(done["trained"]) == 5 and not any(overlap)
    assert set(seen) == {"cuda:0", "cuda:1"} and counting.max_active <= 2
    assert tr.resolve_workers("auto", tr.plan(Path("params.yaml"), project / "run_configs", project / "runs",
                                              gpus=4), 4) == 4
    assert tr.resolve_workers("auto", [], 0) == 1 and tr.resolve_workers(3, [], 8) == 3


def test_a_shard_trains_its_slice_and_drops_nothing(project):
    for i in range(5):
        write_config(project / "run_configs" / f"r{i}_s0.yaml", "supervised", project)
    (project / "runs" / "other_s0").mkdir(parents=True)
    (project / "runs" / "other_s0" / tr.DONE).write_text("x")  # another shard's finished run
    launch = Launcher()
    done = tr.train_runs(Path("params.yaml"), project / "run_configs", project / "runs", 1, launch=launch,
                         say=lambda s: None, shard=(1, 2), gpus=0)
    assert sorted(done["trained"]) == ["r1_s0", "r3_s0"] and done["dropped"] == []
    assert (project / "runs" / "other_s0").exists()
    with pytest.raises(ConfigError, match="shard 2/2"):
        tr.shard_of([Path("a")], (2, 2))


def test_run_training_records_the_device_it_resolved(monkeypatch, tmp_path):
    import ssfer_study.pipeline.training as training

    seen = []
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(training, "train", lambda cfg, out, **k: seen.append((cfg.device, k.get("device"))) or {})
    monkeypatch.setattr(training, "resolve_device", lambda d: resolve_device(d, gpus=0))
    training.run_training("params.yaml", "fixmatch_s0", tmp_path, ["device=auto"])
    assert seen == [("cpu", None)]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine with a GPU can train the paper profile")
def test_the_paper_profile_stops_at_once_on_a_machine_without_a_gpu():
    """What `make study PROFILE=paper` runs first: one line, exit 2, before any stage."""
    r = subprocess.run([sys.executable, "-m", "ssfer_study.cli", "profile", "devices", "--profile",
                        "studies/paper/params.yaml"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "no GPU was found" in lines[0] and "device: cpu" in lines[0]
