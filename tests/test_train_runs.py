"""The `train` stage's scheduler (ssfer_study/pipeline/train_runs.py): which runs it trains, in what order,
how many at once, and what it keeps when a run fails. The notebook launch is stood in for by a
function that writes what a finished run writes; the fingerprint reads the real library code."""
import threading
import time
from pathlib import Path

import pytest
import yaml

from ssfer_study.pipeline import train_runs as tr

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path, monkeypatch):
    """Run configs for three runs, their split and backbone folders; cwd = the project root (the
    fingerprint hashes the real notebook and library)."""
    monkeypatch.chdir(ROOT)
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "split.json").write_text("[1, 2, 3]")
    (tmp_path / "pre").mkdir()
    (tmp_path / "pre" / "backbone.pth").write_bytes(b"weights")
    configs = tmp_path / "run_configs"
    configs.mkdir()
    for name, method in (("supervised_s0", "supervised"), ("fixmatch_s0", "fixmatch"), ("leaf_s0", "leaf")):
        write_config(configs / f"{name}.yaml", method, tmp_path)
    return tmp_path


def write_config(path: Path, method: str, root: Path, **extra) -> None:
    cfg = {"method": method, "steps": 100, "threads": 1, "data": {"split_dir": str(root / "splits")},
           "net": {"weights": str(root / "pre" / "backbone.pth")}, **extra}
    path.write_text(yaml.safe_dump(cfg))


class Launcher:
    """Writes a checkpoint, then metrics.json (what the notebook leaves behind); records each call."""

    def __init__(self, fail: set[str] = frozenset(), delay: float = 0.0):
        self.calls, self.fail, self.delay = [], set(fail), delay
        self.active = self.max_active = 0
        self.lock = threading.Lock()

    def __call__(self, job):
        with self.lock:
            self.calls.append(job.name)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            (job.out_dir / "checkpoint.pt").write_text("step")
            time.sleep(self.delay)
            if job.name in self.fail:
                raise RuntimeError(f"{job.name} diverged")
            (job.out_dir / "metrics.json").write_text("{}")
        finally:
            with self.lock:
                self.active -= 1


def run(project, launch, workers=1):
    return tr.train_runs(Path("params.yaml"), project / "run_configs", project / "runs", workers, launch=launch,
                         say=lambda s: None)


def test_current_runs_are_skipped_and_a_changed_config_retrains_that_run_only(project):
    first = Launcher()
    done = run(project, first)
    assert sorted(done["trained"]) == ["fixmatch_s0", "leaf_s0", "supervised_s0"] and done["skipped"] == []
    again = Launcher()
    assert run(project, again)["trained"] == [] and again.calls == []

    write_config(project / "run_configs" / "fixmatch_s0.yaml", "fixmatch", project, lr=0.1)
    changed = Launcher()
    done = run(project, changed)
    assert changed.calls == ["fixmatch_s0"] and sorted(done["skipped"]) == ["leaf_s0", "supervised_s0"]


def test_a_shared_input_change_retrains_every_run(project):
    run(project, Launcher())
    (project / "pre" / "backbone.pth").write_bytes(b"other weights")
    after = Launcher()
    run(project, after)
    assert sorted(after.calls) == ["fixmatch_s0", "leaf_s0", "supervised_s0"]


def test_longest_runs_start_first_and_workers_run_side_by_side(project):
    one = Launcher()
    run(project, one, workers=1)
    assert one.calls == ["leaf_s0", "fixmatch_s0", "supervised_s0"]  # LEAF's steps cost most
    for d in (project / "runs").iterdir():
        (d / tr.DONE).unlink()
    two = Launcher(delay=0.3)
    run(project, two, workers=2)
    assert two.max_active == 2


def test_a_failed_run_is_named_kept_and_resumed_and_stops_new_runs(project):
    failing = Launcher(fail={"leaf_s0"})
    with pytest.raises(RuntimeError, match=r"leaf_s0: leaf_s0 diverged \(log: .*leaf_s0/papermill.log"):
        run(project, failing, workers=1)
    assert failing.calls == ["leaf_s0"]  # the others were not started after the failure
    leaf = project / "runs" / "leaf_s0"
    assert (leaf / tr.STARTED).exists() and not (leaf / tr.DONE).exists()

    resumed = Launcher()
    seen = []
    resumed_call = resumed.__call__

    def check(job):
        if job.name == "leaf_s0":
            seen.append((job.out_dir / "checkpoint.pt").exists())  # same inputs: its checkpoint is kept
        resumed_call(job)

    run(project, check, workers=1)
    assert seen == [True] and (leaf / tr.DONE).exists()


def test_a_killed_run_whose_inputs_changed_starts_afresh(project):
    with pytest.raises(RuntimeError):
        run(project, Launcher(fail={"leaf_s0"}), workers=1)
    write_config(project / "run_configs" / "leaf_s0.yaml", "leaf", project, lr=0.5)
    seen = []

    def check(job):
        seen.append((job.name, (job.out_dir / "checkpoint.pt").exists()))
        Launcher()(job)

    run(project, check, workers=1)
    assert ("leaf_s0", False) in seen


def test_runs_that_left_the_profile_are_removed_and_variants_kept(project):
    run(project, Launcher())
    variant = project / "runs" / "leaf_s0_variant"
    variant.mkdir()
    (project / "run_configs" / "fixmatch_s0.yaml").unlink()
    done = run(project, Launcher())
    assert done["dropped"] == ["fixmatch_s0"] and not (project / "runs" / "fixmatch_s0").exists()
    assert variant.exists()


def test_bad_input_is_named(project, tmp_path):
    with pytest.raises(Exception, match="no run configs in"):
        tr.train_runs(Path("params.yaml"), tmp_path / "empty", tmp_path / "runs", 1, launch=Launcher(), say=lambda s: None)
    (project / "splits" / "split.json").unlink()
    (project / "splits").rmdir()
    with pytest.raises(FileNotFoundError, match="splits is missing"):
        run(project, Launcher())
    with pytest.raises(Exception, match="workers must be >= 1"):
        run(project, Launcher(), workers=0)


def donor_project(root: Path, weights: bytes = b"weights") -> Path:
    """A profile folder as another profile's runs see it: its dataset, split and backbone, and the
    configs of two runs that name them."""
    (root / "faces").mkdir(parents=True)
    (root / "faces" / "train.npz").write_bytes(b"faces")
    (root / "splits").mkdir()
    (root / "splits" / "synthfacs_per_class_50pc_seed0.csv").write_text("index,labeled\n0,1\n")
    (root / "splits" / "synthfacs_per_class_25pc_seed0.csv").write_text(f"index,labeled\n{root.name},1\n")
    (root / "pre").mkdir()
    (root / "pre" / "backbone.pth").write_bytes(weights)
    (root / "run_configs").mkdir()
    for name, method in (("fixmatch_s0", "fixmatch"), ("leaf_s0", "leaf")):
        cfg = {"method": method, "steps": 100, "threads": 1, "lr": 0.03,
               "data": {"root": str(root / "faces"), "split_dir": str(root / "splits"), "cache_dir": str(root / "cache"),
                        "labels_per_class": 50, "split_seed": 0},
               "net": {"weights": str(root / "pre" / "backbone.pth")}}
        (root / "run_configs" / f"{name}.yaml").write_text(yaml.safe_dump(cfg))
    return root


def finished(root: Path) -> dict:
    """Train the runs of ``root`` and return them as ``train_runs``'s donors."""
    tr.train_runs(Path("params.yaml"), root / "run_configs", root / "runs", 1, launch=Launcher(), say=lambda s: None)
    for d in (root / "runs").iterdir():  # what the notebook writes: the run's whole config
        (d / "config.yaml").write_text(yaml.safe_dump(yaml.safe_load((root / "run_configs" / f"{d.name}.yaml").read_text())))
    return {j.name: j for j in tr.plan(Path("params.yaml"), root / "run_configs", root / "runs") if tr.is_current(j)}


def test_a_run_another_profile_finished_on_the_same_inputs_is_copied_not_trained(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    donors = finished(donor_project(tmp_path / "default"))
    mine = donor_project(tmp_path / "labels")  # same bytes, other folder; a split folder holding other splits
    said, launcher = [], Launcher()
    done = tr.train_runs(Path("params.yaml"), mine / "run_configs", mine / "runs", 1, launch=launcher,
                         say=said.append, donors=donors)
    assert sorted(done["reused"]) == ["fixmatch_s0", "leaf_s0"] and launcher.calls == [] and done["trained"] == []
    copy = mine / "runs" / "leaf_s0"
    assert (copy / "metrics.json").exists() and str(donors["leaf_s0"].out_dir) in (copy / tr.REUSED).read_text()
    cfg = yaml.safe_load((copy / "config.yaml").read_text())
    assert cfg["data"]["root"] == str(mine / "faces") and cfg["net"]["weights"] == str(mine / "pre" / "backbone.pth")
    assert cfg["lr"] == 0.03  # the rest of the config is the run's own
    # the copy is a finished run of this profile: the next stage skips it
    again = tr.train_runs(Path("params.yaml"), mine / "run_configs", mine / "runs", 1, launch=Launcher(),
                          say=lambda s: None, donors=donors)
    assert sorted(again["skipped"]) == ["fixmatch_s0", "leaf_s0"] and again["reused"] == []


def test_a_run_whose_inputs_differ_from_the_finished_one_trains_and_says_which_differ(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    donors = finished(donor_project(tmp_path / "default"))
    mine = donor_project(tmp_path / "labels", weights=b"other weights")
    cfg_file = mine / "run_configs" / "fixmatch_s0.yaml"
    cfg_file.write_text(cfg_file.read_text().replace("lr: 0.03", "lr: 0.01"))
    said, launcher = [], Launcher()
    done = tr.train_runs(Path("params.yaml"), mine / "run_configs", mine / "runs", 1, launch=launcher,
                         say=said.append, donors=donors)
    assert done["reused"] == [] and sorted(launcher.calls) == ["fixmatch_s0", "leaf_s0"]
    assert any("fixmatch_s0 not reused" in s and "config, weights differ" in s for s in said)
    assert any("leaf_s0 not reused" in s and "its weights differ" in s for s in said)
    assert not (mine / "runs" / "leaf_s0" / tr.REUSED).exists()


def test_identity_reads_contents_not_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    a, b = donor_project(tmp_path / "a"), donor_project(tmp_path / "b")
    ida, idb = (tr.identity(p / "run_configs" / "leaf_s0.yaml") for p in (a, b))
    assert ida == idb
    (b / "faces" / "train.npz").write_bytes(b"other faces")
    (b / "splits" / "synthfacs_per_class_50pc_seed0.csv").write_text("index,labeled\n0,0\n")
    changed = tr.identity(b / "run_configs" / "leaf_s0.yaml")
    assert [k for k in ida if ida[k] != changed[k]] == ["dataset", "split"]
    assert tr.identity(a / "run_configs" / "leaf_s0.yaml", "cuda")["device"] != ida["device"]
