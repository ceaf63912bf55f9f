"""`ssfer sweep`'s divergence probe: each plan line trains its first N steps and the row
says whether the loss stayed finite."""
import dataclasses
import json

import torch
import yaml

from ssfer_study.cli import main


def test_probe_trains_the_first_steps_and_records_a_divergence(tiny_cfg, tmp_path):
    cfg = dataclasses.replace(tiny_cfg, steps=40, eval_every=20, ckpt_every=20)
    profile = tmp_path / "params.yaml"
    profile.write_text(yaml.safe_dump({"profile": "probe", "train": json.loads(json.dumps(dataclasses.asdict(cfg))),
                                       "runs": {}}))
    plan = tmp_path / "plan.txt"
    plan.write_text("calm method=supervised lr=0.01 data.val_size=28\n"
                    "wild method=supervised lr=1000000000000.0 data.val_size=28  # the loss overflows\n")
    out = tmp_path / "probe.jsonl"
    argv = ["sweep", str(plan), "--profile", str(profile), "--runs-dir", str(tmp_path / "runs"), "--out", str(out),
            "--stop-after", "6"]
    assert main(argv) == 0
    rows = {r["name"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows["calm"]["diverged_at"] is None and rows["calm"]["stop_after"] == 6
    assert rows["calm"]["steps"] == 40  # the run's own schedule, stopped early
    assert torch.load(tmp_path / "runs" / "calm" / "checkpoint.pt", weights_only=False)["step"] == 6
    assert "loss became" in rows["wild"]["diverged_at"]
    assert main(argv) == 0  # a finished row is not probed again
    assert len(out.read_text().splitlines()) == 2
