"""The lessons' kit: runs reused only when the train stage's identity of the run is the same,
answers carried to the instructor's page, the budget table."""
import json

import pytest
import yaml

from ssfer_study.lessons import kit, pages, runner


@pytest.fixture
def kit_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(kit, "KIT", tmp_path / "kit")
    return tmp_path / "kit"


def _finished(kit_dir, name, cfg, acc):
    """A finished lesson run of ``cfg`` (its key written after its metrics, as ``kit.train_run`` does)."""
    from ssfer_core.config import to_dict
    from ssfer_core.data.loading import load_data

    load_data(cfg.data)  # the split the run's identity reads
    run = kit_dir / "runs" / name
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    (run / "metrics.json").write_text(json.dumps({"acc": acc}))
    (run / kit.KEY).write_text(kit.run_key(cfg) + "\n")


def test_train_run_reuses_only_the_same_finished_run(kit_dir, tiny_cfg, monkeypatch):
    from ssfer_core.config import apply_overrides

    trained = []
    monkeypatch.setattr("ssfer_core.train.train", lambda cfg, out, progress, data: trained.append(out) or {"acc": "new"})
    _finished(kit_dir, "lesson1_50", tiny_cfg, 0.5)
    # the same config under another name: copied, not retrained
    assert kit.train_run(tiny_cfg, "lesson2_sup") == {"acc": 0.5} and not trained
    assert (kit_dir / "runs" / "lesson2_sup" / "metrics.json").exists()
    # one key changed: trained
    other = apply_overrides(tiny_cfg, ["seed=1"])
    assert kit.train_run(other, "lesson2_sup") == {"acc": "new"} and trained == [kit_dir / "runs" / "lesson2_sup"]
    # reuse=False always trains (a notebook-defined method's settings are not in the config)
    kit.train_run(tiny_cfg, "lesson1_50", reuse=False)
    assert len(trained) == 2
    # an unfinished run (its config written, no metrics.json: killed) is never reused
    _finished(kit_dir, "lesson3_killed", tiny_cfg, 0.7)
    (kit_dir / "runs" / "lesson3_killed" / "metrics.json").unlink()
    kit.train_run(tiny_cfg, "lesson5_sup")
    assert len(trained) == 3
    # the same config on other code (or data, or weights): the finished run is not reused
    _finished(kit_dir, "lesson1_50", tiny_cfg, 0.5)
    monkeypatch.setattr(kit, "_DIGESTS", {"code": b"another version of the library"})
    kit.train_run(tiny_cfg, "lesson6_sup")
    assert len(trained) == 4


def test_answers_reach_the_index_and_the_teaching_page(kit_dir, tmp_path, capsys):
    kit.dump({"accuracy": {"10": 20.0}}, "lesson1")
    kit.answer("lesson1", ["1. first answer 20.0 %", "2. second"])
    assert "first answer" in capsys.readouterr().out
    assert json.loads((kit_dir / "lesson1.json").read_text())["accuracy"] == {"10": 20.0}, "answers merge, numbers stay"
    kit.dump({"accuracy": {"10": 21.0}}, "lesson1")  # a new run of the lesson starts its file afresh
    assert "answers" not in json.loads((kit_dir / "lesson1.json").read_text())
    kit.answer("lesson1", ["1. rerun 21.0 %"])
    page = tmp_path / "teaching.md"
    page.write_text(f"intro\n{pages.BEGIN}\nstale\n{pages.END}\noutro\n")
    pages.write_teaching(["01_labels", "02_pseudo_labels"], page)
    text = page.read_text()
    assert text.startswith("intro\n") and text.endswith(f"{pages.END}\noutro\n") and "stale" not in text
    assert "- 1. rerun 21.0 %" in text and "(not run yet)" in text  # lesson 2 never ran here
    pages.write_teaching(["01_labels"], page)  # idempotent: the block is replaced, not appended
    assert page.read_text().count(pages.BEGIN) == 1
    index = pages.write_index(tmp_path, ["01_labels"]).read_text()
    assert "rerun 21.0 %" in index and '"10": 21.0' in index
    page.write_text("no markers")
    with pytest.raises(ValueError, match="markers"):
        pages.write_teaching(["01_labels"], page)


def test_budget_table_bolds_each_rows_best_lr(tmp_path):
    from ssfer_study.validation import lessons as mod

    rows = tmp_path / "rows.jsonl"
    rows.write_text("\n".join(json.dumps(r) for r in [
        {"spec": "fixmatch:0.01:1500:50", "val_acc": 58.4, "seconds": 1}, {"spec": "fixmatch:0.03:1500:50", "val_acc": 55.0, "seconds": 1},
        {"spec": "fixmatch:0.01:1500:10:fixmatch.threshold=0.5", "val_acc": 30.0, "seconds": 1},
        {"spec": "fixmatch:0.3:1500:50", "val_acc": None, "seconds": 1}]))
    table = mod.table(rows)
    assert "| fixmatch | 50 | 1500 | **58.4** | 55.0 | diverged |" in table
    assert "| fixmatch (fixmatch.threshold=0.5) | 10 | 1500 | 30.0 |  |  |" in table  # one lr: nothing to choose


def test_lesson_pages_show_their_code_report_pages_do_not(tmp_path):
    import nbformat

    from ssfer_study.stages.report import to_html

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("shown_in_lessons = 1", outputs=[nbformat.v4.new_output("stream", text="the-output"),
                                                                   nbformat.v4.new_output("stream", name="stderr", text="/home/me/warning")]),
        nbformat.v4.new_code_cell("answer_source = 2", metadata={"jupyter": {"source_hidden": True}})])
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    lesson, report = to_html(path, code=True), to_html(path, title="ssfer default study: results")
    assert "<title>ssfer default study: results</title>" in report and "<title>nb</title>" in lesson
    assert "shown_in_lessons" in lesson and "the-output" in lesson
    assert "shown_in_lessons" not in report and "the-output" in report
    assert "/home/me/warning" not in lesson + report  # stderr names the machine's paths: not in a page


def test_lesson_runs_are_layered_like_the_studys(kit_dir, monkeypatch):
    """A lesson's LEAF / SIT-FER run carries the shared protocol's loss weights (as the study's runs
    do), and ``protocol=official`` brings the release's recipe, not just a label."""
    from ssfer_core.methods import METHODS, leaf, sitfer

    monkeypatch.setattr(kit, "files", lambda: {"root": kit_dir / "synthfacs", "weights": kit_dir / "w.pth"})
    cfg = kit.config("leaf")
    assert (cfg.leaf.labeled_weight, cfg.leaf.unlabeled_weight, cfg.leaf.contrastive_weight) == (1.0, 2.0, 0.2)
    assert cfg.leaf.labeled_weight == leaf.LeafConfig().labeled_weight and cfg.lr == METHODS["leaf"].lesson_lr
    assert kit.config("sitfer").sitfer.loss_weights == sitfer.SitferConfig().loss_weights == (1.0, 1.0, 0.5)
    official = kit.config("leaf", overrides=["protocol=official"])
    assert official.optimizer == "adam" and official.lr == leaf.OFFICIAL["lr"] and official.leaf.labeled_weight == 0.5
    assert kit.config("fixmatch", overrides=["lr=0.2"]).lr == 0.2  # a student's override wins


def test_run_all_writes_the_teaching_page_only_after_a_complete_clean_series(kit_dir, tmp_path, monkeypatch):
    import nbformat
    import papermill

    page = tmp_path / "teaching.md"
    page.write_text(f"{pages.BEGIN}\nold\n{pages.END}\n{pages.TIMES_BEGIN}\n{pages.TIMES_END}\n")
    monkeypatch.setattr(pages, "TEACHING", page)
    broken = set()

    def execute(src, dst, **_):  # stands in for papermill: each lesson "prints" an answer
        name = src.split("/")[-1][:-6]
        if name in broken:
            raise RuntimeError("cell failed")
        kit.dump({}, f"lesson{int(name[:2])}")
        kit.answer(f"lesson{int(name[:2])}", [f"1. answer of {name}"])
        nbformat.write(nbformat.v4.new_notebook(), dst)

    monkeypatch.setattr(papermill, "execute_notebook", execute)
    monkeypatch.setattr(kit, "build_converged", lambda progress: None)
    out = tmp_path / "html"
    assert runner.run_all(out, names=("02_pseudo_labels",), record=True) == 0
    assert "old" in page.read_text(), "a partial series leaves the instructor's page alone"
    assert runner.run_all(out) == 0
    assert "old" in page.read_text(), "without --record the committed pages are left alone"
    assert "Made on" not in (out / "README.md").read_text()
    assert runner.run_all(out, record=True) == 0
    assert "| lesson kit |" in page.read_text() and "| 05_your_method |" in page.read_text()  # one measured time each
    assert "Made on" in (out / "README.md").read_text() and "torch CPU capability" in (out / "README.md").read_text()
    assert all(f"answer of {n}" in page.read_text() for n in pages.LESSONS)
    assert sorted(p.stem for p in out.glob("*.html")) == sorted(pages.LESSONS)
    assert sorted(p.stem for p in out.glob("*.md") if p.name != "README.md") == sorted(pages.LESSONS)
    broken.add("04_leaf")
    page.write_text(f"{pages.BEGIN}\nold\n{pages.END}\n{pages.TIMES_BEGIN}\n{pages.TIMES_END}\n")
    assert runner.run_all(out, record=True) == 1
    assert "old" in page.read_text(), "a failed series leaves the instructor's page alone"
    assert "answer of 05_your_method" in (out / "README.md").read_text()
    monkeypatch.chdir(tmp_path)  # the default place: build/lessons, never the committed pages
    broken.clear()
    assert runner.run_all(names=("01_labels",)) == 0
    assert (tmp_path / runner.SCRATCH / "01_labels.md").exists() and not (tmp_path / runner.RECORDED).exists()


@pytest.mark.parametrize("kit_seconds, seconds, ratio, verdict",
                         [(60.0, 270.0, 1.0, 1), (60.0, 270.0, 1.5, 0), (60.0, 270.0, 2.0, 0), (60.0, 600.0, 10.0, 1),
                          (1200.0, 100.0, 1.0, 1), (1200.0, 100.0, 1.5, 0)])
def test_the_time_limit_is_read_at_the_machines_reference_speed(kit_dir, tmp_path, monkeypatch, kit_seconds, seconds,
                                                                 ratio, verdict):
    """A 270 s lesson fails on a machine at its reference speed and passes when the machine trains
    1.5-2x slower than the benchmark (180 and 135 s at reference speed); a 10x slower machine
    excuses only 3x (600 s -> 200 s: fails). The kit's 15 minutes are read the same way."""
    import nbformat
    import papermill

    from ssfer_study.lessons import speed

    monkeypatch.setattr(pages, "TEACHING", tmp_path / "absent.md")
    clock = iter([0.0, kit_seconds, 0.0, seconds])  # the kit's start and end, the lesson's
    monkeypatch.setattr("time.perf_counter", lambda: next(clock))
    monkeypatch.setattr(kit, "build_converged", lambda progress: None)
    monkeypatch.setattr(papermill, "execute_notebook", lambda src, dst, **_: nbformat.write(nbformat.v4.new_notebook(), dst))
    measured = []
    monkeypatch.setattr(runner, "machine_slowdown",
                        lambda: measured.append(ratio) or (100.0 / ratio, 100.0, speed.slowdown(100.0 / ratio, 100.0)))
    assert runner.run_all(tmp_path / "html", names=("01_labels",)) == verdict
    assert measured == [ratio], "the machine is measured once, only for a job over its wall-clock limit"


def test_slowdown_is_clamped_and_the_reference_read_from_the_committed_table(tmp_path):
    from ssfer_study.lessons import speed

    assert speed.slowdown(50.0, 100.0) == 2.0
    assert speed.slowdown(200.0, 100.0) == 1.0, "a fast machine is held to the wall clock"
    assert speed.slowdown(10.0, 100.0) == speed.MAX_SLOWDOWN
    with pytest.raises(ValueError, match="positive"):
        speed.slowdown(0.0, 100.0)
    committed = speed.reference_steps_per_second()  # the committed file the check relies on
    assert 10 < committed < 1000
    # it is the 2-thread supervised row of the committed table it came from
    from pathlib import Path
    reference = json.loads(speed.REFERENCE.read_text())
    row = next(line.split() for line in Path(reference["table"]).read_text().splitlines()
               if line.split()[:2] == ["synth_cnn_slim", "supervised"])
    assert float(row[3]) == committed
    with pytest.raises(FileNotFoundError, match="where_time_goes.py"):
        speed.reference_steps_per_second(tmp_path / "missing.json")


def test_the_speed_probe_trains_the_config_it_is_given(tiny_cfg):
    """``speed.steps_per_second`` runs the trainer's own step (batches, loss, optimiser) on the
    given config: a positive rate, and the weights it hands back have moved from the seed's."""
    import torch

    from ssfer_core.data.loading import load_data
    from ssfer_study.lessons import speed

    data = load_data(tiny_cfg.data)
    start, _ = speed.setup(tiny_cfg, data)
    trained = []
    assert speed.steps_per_second(tiny_cfg, data, 3, method_out=trained) > 0
    moved = [not torch.equal(a, b) for a, b in zip(start.state_dict().values(), trained[0].state_dict().values())
             if a.is_floating_point()]
    assert any(moved)


def test_a_lesson_calls_two_runs_apart_only_past_the_test_sets_noise():
    from ssfer_study.lessons import kit

    def run(acc, n=1000):  # a confusion matrix of n faces, all in one class
        return {"ema": {"last": {"acc": acc, "confusion": [[n]]}}}

    # 55.5 against 53.1 on 1,000 faces: the 95 % noise of a difference is 1.96 sqrt(2 p (1 - p) / n) = 4.4
    verdict, d, noise = kit.versus(run(0.555), run(0.531))
    assert verdict == "not distinguishable" and d == pytest.approx(2.4) and noise == pytest.approx(4.37, abs=0.01)
    assert kit.versus(run(0.60), run(0.531))[0] == "above"
    assert kit.versus(run(0.531), run(0.60))[0] == "below"
    assert kit.versus(run(0.555, 100_000), run(0.531, 100_000))[0] == "above"  # more faces, less noise


def test_the_kits_converged_run_is_built_in_segments_exactly_and_rebuilt_when_the_recipe_changes(
        kit_dir, tiny_cfg, tmp_path, monkeypatch):
    """Snapshots at the chosen steps and at the end; the segmented run ends with the same weights as
    an uninterrupted one (each segment resumes from the checkpoint); a killed build resumes; a changed
    recipe throws the old run away."""
    import torch

    from ssfer_core.config import apply_overrides
    from ssfer_core.train import train

    recipe = {"cfg": apply_overrides(tiny_cfg, ["method=supervised", "steps=8", "eval_every=4", "ckpt_every=4"])}
    monkeypatch.setattr(kit, "converged_config", lambda method: recipe["cfg"])
    monkeypatch.setattr(kit, "SNAPSHOT_STEPS", (3, 5))
    out = kit.converged("supervised")
    assert sorted(kit.snapshots("supervised")) == [3, 5, 8]
    assert json.loads((out / "metrics.json").read_text())["steps"] == 8
    whole = tmp_path / "whole"
    train(recipe["cfg"], whole, progress=False)
    a = torch.load(out / "snapshots" / "step_00008" / "checkpoint.pt", weights_only=False)["method"]
    b = torch.load(whole / "checkpoint.pt", weights_only=False)["method"]
    assert all(torch.equal(a[k], b[k]) for k in b), "the segmented run must end where an uninterrupted one does"
    # killed after the first snapshot (its checkpoint is the run's last): the next build resumes there and
    # makes only what is missing, ending where the uninterrupted run did
    import shutil
    shutil.rmtree(out / "snapshots" / "step_00005")
    shutil.rmtree(out / "snapshots" / "step_00008")
    (out / "metrics.json").unlink()
    shutil.copy2(out / "snapshots" / "step_00003" / "checkpoint.pt", out / "checkpoint.pt")
    calls = []
    real_train = train
    monkeypatch.setattr("ssfer_core.train.train", lambda cfg, o, **kw: calls.append(kw["stop_after"]) or real_train(cfg, o, **kw))
    kit.converged("supervised")
    assert calls == [5, 8] and sorted(kit.snapshots("supervised")) == [3, 5, 8]
    a = torch.load(out / "snapshots" / "step_00008" / "checkpoint.pt", weights_only=False)["method"]
    assert all(torch.equal(a[k], b[k]) for k in b)
    # a new recipe: the old run is gone, everything is trained again
    recipe["cfg"] = apply_overrides(recipe["cfg"], ["lr=0.02"])
    calls.clear()
    kit.converged("supervised")
    assert calls == [3, 5, 8]
