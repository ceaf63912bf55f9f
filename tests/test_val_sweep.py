"""`ssfer sweep`: the probe (each plan line trains its first N steps; the row says whether the loss
stayed finite and how its pseudo-labels went), the generated page, the grid and the choice over seeds."""
import dataclasses
import json

import torch
import yaml

from ssfer_study.cli import main


def write_profile(tmp_path, cfg):
    """A profile whose base config is ``cfg`` (a sweep's plan lines add their overrides to it)."""
    profile = tmp_path / "params.yaml"
    profile.write_text(yaml.safe_dump({"profile": "probe", "train": json.loads(json.dumps(dataclasses.asdict(cfg))),
                                       "runs": {}}))
    return profile


def test_probe_trains_the_first_steps_and_records_a_divergence(tiny_cfg, tmp_path):
    profile = write_profile(tmp_path, dataclasses.replace(tiny_cfg, steps=40, eval_every=20, ckpt_every=20))
    plan = tmp_path / "plan.txt"
    plan.write_text("calm method=supervised lr=0.01 data.val_size=28\n"
                    "wild method=supervised lr=1000000000000.0 data.val_size=28  # the loss overflows\n"
                    "semi method=fixmatch lr=0.01 fixmatch.threshold=0.0 data.val_size=28 log_every=1\n")
    out = tmp_path / "probe.jsonl"
    argv = ["sweep", str(plan), "--profile", str(profile), "--runs-dir", str(tmp_path / "runs"), "--out", str(out),
            "--stop-after", "6"]
    assert main(argv) == 0
    rows = {r["name"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows["calm"]["diverged_at"] is None and rows["calm"]["stop_after"] == 6
    assert rows["calm"]["steps"] == 40  # the run's own schedule, stopped early
    assert torch.load(tmp_path / "runs" / "calm" / "checkpoint.pt", weights_only=False)["step"] == 6
    assert "loss became" in rows["wild"]["diverged_at"]
    # the pseudo-labels over the probed steps: none for supervised; at threshold 0 every one passes
    assert rows["calm"]["pl_pass_rate_first_half"] is None
    assert rows["semi"]["pl_pass_rate_first_half"] == rows["semi"]["pl_pass_rate_second_half"] == 1.0
    assert 0 <= rows["semi"]["pl_pass_acc_first_half"] <= 1
    assert main(argv) == 0  # a finished row is not probed again
    assert len(out.read_text().splitlines()) == 3


def test_the_validation_page_shows_the_sweeps_rows_as_they_are(tmp_path):
    """docs/validation.md's tables are generated blocks: refreshing them from the committed rows
    changes nothing (a hand edit of a number, or a new row, makes this fail)."""
    import shutil
    from pathlib import Path

    from ssfer_study.validation import sweep

    root = Path(__file__).resolve().parents[1]
    page = tmp_path / "validation.md"
    shutil.copy(root / "docs" / "validation.md", page)
    import os
    cwd = os.getcwd()
    os.chdir(root)
    try:
        assert sweep.GENERATED.search(page.read_text()), "the page has generated blocks"
        assert not sweep.refresh(page), "run `ssfer sweep --refresh docs/validation.md`"
        page.write_text(page.read_text().replace("| supervised | 62.4 |", "| supervised | 99.9 |"))
        assert sweep.refresh(page) and "| supervised | 62.4 |" in page.read_text()
    finally:
        os.chdir(cwd)


def test_the_grid_keeps_one_budget_and_names_a_diverged_run(tmp_path):
    from ssfer_study.validation import sweep

    rows = tmp_path / "rows.jsonl"
    rows.write_text("\n".join(json.dumps(r) for r in [
        {"name": "a", "val_acc": 60.0, "overrides": "method=fixmatch lr=0.01 steps=100", "steps": 100},
        {"name": "b", "val_acc": None, "overrides": "method=fixmatch lr=0.1 steps=100", "steps": 100},
        {"name": "c", "val_acc": 70.0, "overrides": "method=fixmatch lr=0.03 steps=150", "steps": 150}]))
    table = sweep.grid([str(rows)], 100)
    assert "| fixmatch | 60.0 | diverged |" in table and "70.0" not in table


def test_a_step_size_is_chosen_over_seeds_by_one_stability_rule(tmp_path):
    """Out: a candidate with a diverged seed, or a seed under the majority class after the first
    10 % of training; among the rest the best mean, unless a smaller step is not shown below it."""
    from ssfer_study.validation import sweep

    def row(lr, seed, acc, curve=((100, 20.0), (500, 60.0), (1000, None))):
        return {"name": f"x{lr}_{seed}", "val_acc": acc, "majority": 32.0, "steps": 1000,
                "overrides": f"method=fixmatch lr={lr} seed={seed} steps=1000",
                "curve": [[s, acc if a is None else a] for s, a in curve]}

    rows = [row(0.003, s, a) for s, a in enumerate((60.0, 61.0, 62.0))]          # shown below the best
    rows += [row(0.01, s, a) for s, a in enumerate((70.0, 72.0, 74.0))]
    rows += [row(0.03, s, a) for s, a in enumerate((71.0, 74.0, 75.0))]          # +1, +2, +1: inside the noise
    rows += [row(0.1, s, a, ((100, 14.0), (200, 25.0), (1000, None))) for s, a in enumerate((80.0, 81.0, 82.0))]
    rows += [row(0.3, 0, 90.0), row(0.3, 1, 91.0), {**row(0.3, 2, None), "diverged_at": "loss became nan"}]
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    table = sweep.choose([str(path)])
    lines = {ln.split("|")[2].strip(): ln for ln in table.splitlines()[2:]}
    assert "no: seed 0 at 25.0 % at step 200, under the majority class" in lines["`lr=0.1 steps=1000`"]
    assert "no: seed 2 diverged" in lines["`lr=0.3 steps=1000`"]
    assert "best" in lines["`lr=0.03 steps=1000`"] and "**chosen**" in lines["`lr=0.01 steps=1000`"]
    # under the majority class within the first 10 % of training is allowed
    early = {0: {"val_acc": 70.0, "majority": 30.0, "steps": 100, "curve": [[5, 10.0], [50, 60.0]]}}
    assert sweep.stable(early) == (True, "")


def test_the_plan_over_seeds_resolves_two_points_of_evaluation_noise():
    from pathlib import Path

    from ssfer_study.stages.tables import evaluation_noise

    plan = Path(__file__).resolve().parents[1] / "studies" / "validation" / "lr_seeds_plan.txt"
    runs = [line.split() for line in plan.read_text().splitlines() if line.strip() and not line.startswith("#")]
    sizes = {dict(o.split("=") for o in r[1:])["data.val_size"] for r in runs}
    seeds = {dict(o.split("=") for o in r[1:])["seed"] for r in runs}
    (size,) = sizes
    # a mean over the seeds is read on seeds x size faces; at 70 % the noise of a difference of two means
    assert evaluation_noise(70.0, len(seeds) * int(size)) <= 2.0 < evaluation_noise(70.0, len(seeds) * (int(size) - 100))


def test_a_run_under_the_majority_class_stops_and_puts_its_candidate_out(tiny_cfg, tmp_path, monkeypatch):
    """The sweep checks the majority-class bar at each evaluation of the checked stretch: a run that
    fails it stops there (its row says where), and the candidate's other seeds are not trained."""
    from ssfer_study.validation import sweep

    monkeypatch.setattr(sweep, "CHECK_UNTIL", 1.0)  # check every evaluation of this short run
    cfg = dataclasses.replace(tiny_cfg, steps=40, eval_every=5, ckpt_every=20)
    profile = write_profile(tmp_path, cfg)
    plan = tmp_path / "plan.txt"
    # lr 0 never learns: it drifts under the majority class of the 28 validation faces
    plan.write_text("still_s0 method=supervised lr=0.0 seed=0 data.val_size=28\n"
                    "still_s1 method=supervised lr=0.0 seed=1 data.val_size=28\n")
    out = tmp_path / "rows.jsonl"
    sweep.run(str(plan), str(profile), str(tmp_path / "runs"), str(out))
    rows = {r["name"]: r for r in map(json.loads, out.read_text().splitlines())}
    still = rows["still_s0"]
    assert still["val_acc"] is None and 4 < still["stopped_at"] < 40
    assert still["curve"][-1][0] == still["stopped_at"] and still["curve"][-1][1] < still["majority"]
    assert all(a >= still["majority"] for s, a in still["curve"][:-1] if s > 4)  # it stopped at the first one
    assert "still_s1" not in rows  # its candidate was out on seed 0
    assert sweep.out_of_the_running(str(out), ["method=supervised", "lr=0.0", "seed=1", "data.val_size=28"])
    assert not sweep.out_of_the_running(str(out), ["method=supervised", "lr=0.01", "seed=1", "data.val_size=28"])
    # a run that passes the check is the same run as one trained in one go (the segments resume exactly)
    whole = train_whole(cfg, tmp_path)
    plan.write_text("calm method=supervised lr=0.01 seed=0 data.val_size=28\n")
    monkeypatch.setattr(sweep, "CHECK_UNTIL", 1.0)
    monkeypatch.setattr(sweep, "under_majority", lambda *a, **k: None)
    sweep.run(str(plan), str(profile), str(tmp_path / "runs"), str(out))
    calm = [json.loads(r) for r in out.read_text().splitlines() if json.loads(r)["name"] == "calm"][0]
    assert calm["curve"] == whole


def train_whole(cfg, tmp_path):
    from ssfer_core.data.loading import load_data
    from ssfer_core.train import train

    c = dataclasses.replace(cfg, method="supervised", lr=0.01, seed=0, eval_on="val",
                            data=dataclasses.replace(cfg.data, val_size=28))
    m = train(c, tmp_path / "whole", progress=False, data=load_data(c.data))
    return [[e["step"], round(100 * e.get("ema_acc", e.get("raw_acc")), 1)] for e in m["curve"]]


def test_a_choice_is_final_only_when_every_stable_candidate_has_three_seeds(tmp_path):
    from ssfer_study.validation import sweep

    def row(lr, seed, acc):
        return {"name": f"x{lr}_{seed}", "val_acc": acc, "majority": 32.0, "steps": 1000,
                "overrides": f"method=fixmatch lr={lr} seed={seed} steps=1000", "curve": [[500, 60.0], [1000, acc]]}

    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [row(0.01, 0, 70.0), row(0.03, 0, 75.0), row(0.01, 1, 71.0)]))
    assert "leading (a stable candidate has fewer than 3 seeds)" in sweep.choose([str(path)])
    assert "**chosen**" not in sweep.choose([str(path)])
    rows = [row(lr, s, 70.0 + s + (lr == 0.03) * (1, 0, 2)[s]) for lr in (0.01, 0.03) for s in range(3)]  # inside the noise
    path.write_text("\n".join(json.dumps(r) for r in rows))
    # 0.01 wins the tie, but it is the smallest step tried: a smaller one could win it in turn
    assert "leading (the choice is the smallest step size tried: try a smaller one)" in sweep.choose([str(path)])
    rows += [row(0.003, s, 50.0 + s) for s in range(3)]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    assert "**chosen**" in sweep.choose([str(path)])
    # a planned candidate not trained yet keeps the choice open
    plan = tmp_path / "plan.txt"
    plan.write_text("a method=fixmatch lr=0.1 seed=0 steps=1000\n")
    table = sweep.choose([str(path)], str(plan))
    assert "**chosen**" not in table and "not trained yet" in table


def test_a_final_choice_is_written_into_the_profile_and_nothing_else(tmp_path):
    from ssfer_study.validation import sweep

    def row(method, lr, seed, acc):
        return {"name": f"{method}{lr}_{seed}", "val_acc": acc, "majority": 32.0, "steps": 1000,
                "overrides": f"method={method} lr={lr} seed={seed} steps=1000", "curve": [[500, 60.0], [1000, acc]]}

    rows = [row("sitfer", lr, s, acc + s) for lr, acc in ((0.001, 60.0), (0.003, 75.0), (0.01, 70.0)) for s in range(3)]
    rows += [row("leaf", lr, s, 70.0) for lr in (0.01, 0.03) for s in range(2)]  # not final: two seeds
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    profile = tmp_path / "params.yaml"
    profile.write_text("methods:\n  sitfer: {lr: 0.1}   # a comment stays\n  leaf: {lr: 0.03}\n")
    assert sweep.apply([str(path)], None, profile) == ["sitfer: 0.1 -> 0.003"]
    assert profile.read_text() == "methods:\n  sitfer: {lr: 0.003}   # a comment stays\n  leaf: {lr: 0.03}\n"
    assert sweep.apply([str(path)], None, profile) == []


def test_the_plateau_rule_reads_the_mean_gain_over_seeds(tmp_path):
    """Over seeds the gain from B to 1.5 B is the mean of the paired per-seed gains, read against the
    evaluation noise of a difference of two means over seeds x carve faces (smaller than one
    seed's); the per-seed gains are printed."""
    from ssfer_study.stages.tables import evaluation_noise
    from ssfer_study.validation import sweep

    rows = []
    for seed, (a, b) in enumerate(((76.0, 78.0), (75.0, 76.0), (79.0, 80.5))):
        for steps, acc in ((13500, a), (20250, b)):
            rows.append({"name": f"r{seed}_{steps}", "val_acc": acc, "steps": steps,
                         "overrides": f"method=sitfer lr=0.003 seed={seed} steps={steps} data.val_size=1400"})
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    (line,) = [ln for ln in sweep.plateau([str(path)]).splitlines() if ln.startswith("| `")]
    cells = [c.strip() for c in line.split("|")[1:-1]]
    assert cells[1] == "3" and cells[5] == "+1.5 (+2.0, +1.0, +1.5)"
    noise = evaluation_noise((76.67 + 78.17) / 2, 3 * 1400)
    assert cells[7] == f"{noise:.1f}" and noise < evaluation_noise(77.0, 1400)
    assert cells[8] == ("yes" if 1.5 < noise else "no")
