"""Command line: ``ssfer synth | realism | train | eval | profile | pretrain | split``.

    ssfer synth --out data/synthfacs [--n-train 12271 --n-test 3068 --size 64 --seed 0]
    ssfer train --config params.yaml --profile default -S method=fixmatch -S seed=1 --out runs/x
    ssfer eval --run runs/x
    ssfer realism --data data/synthfacs   # a real-face FER2013 classifier's verdict on SynthFACS
    ssfer profile smoke      # writes the chosen profile's settings into params.yaml's 'active'
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import yaml

from ssfer_core.config import TrainConfig, apply_overrides, from_dict, to_dict


PARAMS_HEADER = """# Study parameters. Edit `profiles:`; `ssfer profile NAME` (run by `make study PROFILE=NAME`)
# copies that profile into `active:` (with its run list expanded), which DVC stages read.
"""


def load_config(config: str | None, profile: str | None, overrides: list[str]) -> TrainConfig:
    """params.yaml layout: ``train:`` (base TrainConfig fields) and ``profiles: {name: {train: ...}}``."""
    cfg = TrainConfig()
    if config:
        params = yaml.safe_load(Path(config).read_text()) or {}
        if profile is None and "active" in params:  # what `ssfer profile NAME` activated
            return apply_overrides(from_dict(params["active"].get("train", {}), cfg), overrides)
        cfg = from_dict(params.get("train", {}), cfg)
        if profile:
            profiles = params.get("profiles", {})
            if profile not in profiles:
                raise SystemExit(f"profile {profile!r} not in {config}; known: {sorted(profiles)}")
            cfg = from_dict(profiles[profile].get("train", {}), cfg)
    return apply_overrides(cfg, overrides)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    p = argparse.ArgumentParser(prog="ssfer")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("synth", help="generate the SynthFACS dataset (RAF-DB layout)")
    s.add_argument("--out", default="data/synthfacs")
    s.add_argument("--n-train", type=int, default=12271)
    s.add_argument("--n-test", type=int, default=3068)
    s.add_argument("--size", type=int, default=64)
    s.add_argument("--classes", type=int, default=7)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--workers", type=int, default=0)
    s.add_argument("--contact-sheet", default="", help="also write a contact-sheet PNG here")

    t = sub.add_parser("train", help="train one method")
    t.add_argument("--config", default="params.yaml")
    t.add_argument("--profile", default=None)
    t.add_argument("-S", "--set", action="append", default=[], metavar="KEY=VALUE")
    t.add_argument("--out", required=True)
    t.add_argument("--device", default="cpu")
    t.add_argument("--no-resume", action="store_true")

    e = sub.add_parser("eval", help="print the metrics of a finished run")
    e.add_argument("--run", required=True)

    pr = sub.add_parser("profile", help="set params.yaml's active profile")
    pr.add_argument("name")
    pr.add_argument("--config", default="params.yaml")

    pt = sub.add_parser("pretrain", help="face-geometry pretraining of the backbone (expression-agnostic)")
    pt.add_argument("--data", default="data/synthfacs_pretrain")
    pt.add_argument("--out", default="data/pretrained/backbone.pth")
    pt.add_argument("--backbone", default="synth_cnn")
    pt.add_argument("--size", type=int, default=48)
    pt.add_argument("--steps", type=int, default=1000)
    pt.add_argument("--report", default="")

    rl = sub.add_parser("realism", help="judge SynthFACS with a real-face FER2013 classifier")
    rl.add_argument("--data", default="data/synthfacs", help="a SynthFACS folder (metadata.csv + RAF-DB layout)")
    rl.add_argument("--split", default="test", choices=("train", "test"))
    rl.add_argument("--out", default="reports/data_tour/realism.json")
    rl.add_argument("--figure", default="reports/data_tour/realism.png")

    sp = sub.add_parser("split", help="make (or verify) the labeled/unlabeled split and cache images")
    sp.add_argument("--config", default="params.yaml")

    a = p.parse_args(argv)
    if a.cmd == "synth":
        from ssfer_core.data.synthetic import SynthConfig, contact_sheet, generate

        cfg = SynthConfig(seed=a.seed, n_train=a.n_train, n_test=a.n_test, image_size=a.size,
                          num_classes=a.classes, workers=a.workers)
        meta = generate(cfg, a.out)
        if a.contact_sheet:
            Path(a.contact_sheet).parent.mkdir(parents=True, exist_ok=True)
            contact_sheet(cfg).save(a.contact_sheet)
        print(meta)
    elif a.cmd == "train":
        from ssfer_core.train import train

        cfg = load_config(a.config if Path(a.config).exists() else None, a.profile, a.set)
        Path(a.out).mkdir(parents=True, exist_ok=True)
        (Path(a.out) / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
        m = train(cfg, a.out, device=a.device, resume=not a.no_resume)
        print(json.dumps({k: m[k] for k in ("method", "seed") if k in m} |
                         {w: m[w]["last"]["acc"] for w in ("raw", "ema") if w in m}))
    elif a.cmd == "eval":
        m = json.loads((Path(a.run) / "metrics.json").read_text())
        for w in ("raw", "ema"):
            if w in m:
                last, best = m[w]["last"], m[w]["best"]
                print(f"{w:4s} last acc {last['acc']:.4f} bal {last['bal_acc']:.4f} F1 {last['macro_f1']:.4f} "
                      f"ECE {last['ece']:.4f} | best acc {best['acc']:.4f} @ {best['step']}")
    elif a.cmd == "profile":
        from ssfer_core.study import activate

        params = yaml.safe_load(Path(a.config).read_text())
        new = activate(params, a.name)
        if new != params:  # rewrite only on change, so a second `dvc repro` does nothing
            Path(a.config).write_text(PARAMS_HEADER + yaml.safe_dump(new, sort_keys=False, width=120))
        print(f"profile: {a.name} ({len(new['active']['runs'])} runs)")
    elif a.cmd == "pretrain":
        from ssfer_core.pretrain import pretrain_geometry

        rep = pretrain_geometry(a.data, a.out, a.backbone, a.size, a.steps)
        if a.report:
            Path(a.report).parent.mkdir(parents=True, exist_ok=True)
            Path(a.report).write_text(json.dumps(rep, indent=1))
        print(json.dumps({k: rep[k] for k in ("steps", "seconds", "final_train_mse")}))
    elif a.cmd == "realism":
        from ssfer_core import realism

        try:
            rep = realism.judge_folder(a.data, a.split)
        except realism.JudgeUnavailable as e:
            # the rest of the study does not need the judge: say so, record why, go on
            print(f"realism: the FER2013 judge is unavailable, SynthFACS realism not measured: {e}", file=sys.stderr)
            rep = {"available": False, "reason": str(e)}
        realism.write_report(rep, a.out, a.figure)
        if rep["available"]:
            print(json.dumps({k: rep[k] for k in ("n", "agreement", "agreement_intensity_ge_0.6")} |
                             {"recall": {k: round(v, 3) for k, v in rep["recall"].items()}}))
    elif a.cmd == "split":
        from ssfer_core.data.bundle import load_data

        cfg = load_config(a.config, None, [])
        d = load_data(cfg.data, progress=True)
        print(f"split {d.split_hash[:12]}: {len(d.labeled_idx)} labeled, {len(d.unlabeled_idx)} unlabeled, "
              f"{len(d.val_idx)} validation, {len(d.test_labels)} test")
    return 0


if __name__ == "__main__":
    sys.exit(main())
