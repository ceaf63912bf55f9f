"""The one command line, ``ssfer <subcommand>``: one function per subcommand (``cmd_<name>``).

    ssfer synth --out data/default/synthfacs [--n-train 12271 --n-test 3068 --size 64 --seed 0]
    ssfer data check --dataset rafdb --root data/raw/rafdb   # or --profile studies/<name>/params.yaml
    ssfer realism --data data/default/synthfacs     # a real-face FER2013 classifier's verdict
    ssfer split --profile params.yaml                # make (or verify) the split, cache the images
    ssfer train --profile params.yaml --run fixmatch_s0 [-S key=value ...] [--out DIR]
    ssfer train-runs --configs data/default/run_configs --out runs/default --workers 2   # the `train` stage
    ssfer eval --run runs/default/fixmatch_s0
    ssfer compare --profile params.yaml               # your metrics.json against the committed one
    ssfer profile resolve smoke                       # studies/smoke/profile.yaml -> studies/smoke/params.yaml
    ssfer profile configs --profile params.yaml       # each run's resolved config (the `configs` stage)
    ssfer notebook results --profile params.yaml      # a stage notebook under papermill (data_tour, results, analysis)
    ssfer report --profile params.yaml                # the `report` stage: HTML pages, index, results block
    ssfer lessons [--kit]                             # every lesson (the kit first), or the kit alone
    ssfer sweep PLAN [--out studies/validation/...]   # a validation sweep (ssfer_study.validation.sweep)
    ssfer lesson-sweep KIT_DIR SPEC...                # the lessons' step sizes on the kit's validation faces
    ssfer deps [--write]                              # each stage's code dependencies (--write: into dvc.yaml)
    ssfer page-check FILE...                          # a page's glitches (executed notebooks, Markdown)

``--profile`` is always the profile file (params.yaml or studies/<name>/params.yaml). Each
subcommand imports what it needs when it runs (``ssfer synth`` never loads the training stack), so a
DVC stage that calls one depends on this file and on that subcommand's modules only.

Expected failures print one line (no traceback unless ``--debug``): exit code 2 for usage and
configuration errors, 3 for data errors. ``ssfer data check`` exits 0 when training can start and 2
(with its reasons) when it cannot.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from ssfer_core.errors import ConfigError, DatasetError

EXIT_CONFIG, EXIT_DATA = 2, 3


def _workers(text: str) -> int | str:
    return text if text == "auto" else int(text)


def _shard(text: str) -> tuple[int, int]:
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r}: expected K/N, e.g. 0/4")
    return int(k), int(n)


def _parser() -> argparse.ArgumentParser:
    from ssfer_core.data.datasets import DATASETS  # for the help text

    p = argparse.ArgumentParser(prog="ssfer", description="Semi-supervised facial expression recognition study.")
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("synth", help="generate the SynthFACS dataset (RAF-DB layout + metadata.csv)")
    s.add_argument("--out", default="data/default/synthfacs", help="output folder")
    s.add_argument("--n-train", type=int, default=12271, help="training images (RAF-DB basic: 12,271)")
    s.add_argument("--n-test", type=int, default=3068, help="test images (RAF-DB basic: 3,068)")
    s.add_argument("--size", type=int, default=64, help="image side in pixels")
    s.add_argument("--classes", type=int, default=7, choices=(7, 8), help="7 basic classes, or 8 with contempt")
    s.add_argument("--seed", type=int, default=0, help="master seed (images are deterministic per seed, split, index)")
    s.add_argument("--workers", type=int, default=0, help="processes; 0 = all cores")
    s.add_argument("--contact-sheet", default="", help="also write a contact sheet (PNG or JPEG) here")

    rl = sub.add_parser("realism", help="judge SynthFACS with a real-face FER2013 classifier")
    rl.add_argument("--data", default="data/default/synthfacs", help="a SynthFACS folder (metadata.csv + RAF-DB layout)")
    rl.add_argument("--split", default="test", choices=("train", "test"), help="which split to judge")
    rl.add_argument("--out", default="reports/default/data_tour/realism.json", help="report JSON")
    rl.add_argument("--figure", default="reports/default/data_tour/realism.png", help="confusion-matrix figure")
    rl.add_argument("--weights", default=None, help="converted judge weights (.pt); default: the user cache")
    rl.add_argument("--fetch", default=None, metavar="DIR",
                    help="only fetch the judge's weights into DIR (mini_xception.pt + judge.json; the `judge` stage)")

    dc = sub.add_parser("data", help="inspect a dataset").add_subparsers(dest="data_cmd", required=True).add_parser(
        "check", help="read a dataset with the training reader and say whether training can start (exit 0) "
                      "or why not (exit 2)")
    dc.add_argument("--profile", default=None, help="profile file: check its data and every split its runs use")
    dc.add_argument("--dataset", default=None, help="; ".join(f"{n}: {d.layout}" for n, d in DATASETS.items())
                    + " (overrides the profile's)")
    dc.add_argument("--root", default=None, help="dataset folder; overrides the profile's")
    dc.add_argument("--num-classes", type=int, default=None, choices=(7, 8), help="7 basic classes or 8 with contempt")
    dc.add_argument("-S", "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    dc.add_argument("--no-decode", action="store_true", help="only check that image files exist (fast)")

    sp = sub.add_parser("split", help="make (or verify) every labeled/unlabeled/validation split a profile's runs use, "
                                      "and cache the images")
    sp.add_argument("--profile", default="params.yaml", help="profile file (params.yaml or studies/<name>/params.yaml)")
    sp.add_argument("-S", "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")

    pt = sub.add_parser("pretrain", help="face-geometry pretraining of the backbone (expression-agnostic)")
    pt.add_argument("--data", default="data/default/synthfacs_pretrain", help="a SynthFACS folder (other seed)")
    pt.add_argument("--out", default="data/default/pretrained/backbone.pth", help="where to save the weights")
    pt.add_argument("--backbone", default="synth_cnn", help="backbone registry name")
    pt.add_argument("--size", type=int, default=48, help="input side in pixels")
    pt.add_argument("--steps", type=int, default=1000, help="Adam steps")
    pt.add_argument("--report", default="", help="also write a JSON report here")

    t = sub.add_parser("train", help="train one run of a profile (or an ad-hoc variant with --out)")
    t.add_argument("--profile", default="params.yaml", help="profile file (params.yaml or studies/<name>/params.yaml)")
    t.add_argument("--run", default=None, help="run name from the profile's runs: (its overlay is applied)")
    t.add_argument("-S", "--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any TrainConfig key, e.g. -S method=leaf -S sitfer.fusion=paper_mean")
    t.add_argument("--out", default=None, help="output folder (default: runs/<profile>/<run>)")
    t.add_argument("--device", default=None,
                   help="auto | cpu | cuda | cuda:N: the run's train.device (default: the profile's; DDP: torchrun)")
    t.add_argument("--no-resume", action="store_true", help="start over even if a checkpoint exists")

    tr = sub.add_parser("train-runs", help="train every run whose inputs changed, in papermill notebooks, "
                                           "WORKERS at a time (the `train` stage)")
    tr.add_argument("--shard", type=_shard, default=None, metavar="K/N",
                    help="train every N-th run from the K-th (0-based): N machines sharing the runs folder")
    tr.add_argument("--profile", default="params.yaml", help="profile file the runs belong to (the notebook reads it)")
    tr.add_argument("--configs", required=True, help="the run configs folder (the `configs` stage writes it)")
    tr.add_argument("--out", required=True, help="runs/<profile>: one folder a run")
    tr.add_argument("--workers", type=_workers, default=1, help="runs trained side by side (each uses its config's threads); auto: one per GPU")
    e = sub.add_parser("eval", help="print the metrics of a finished run")
    e.add_argument("--run", required=True, help="a run folder, e.g. runs/default/fixmatch_s0")

    c = sub.add_parser("compare", help="your metrics.json against the committed one: each mean judged by the "
                                       "two-sample interval over seeds, and the runs that moved")
    c.add_argument("--profile", default="params.yaml", help="profile file: compares reports/<profile>/metrics.json")
    c.add_argument("--reference", default="git:HEAD", help="git:<rev> (that revision's file) or a path")
    c.add_argument("--tolerance", type=float, default=None,
                   help="judge each mean by a fixed tolerance in accuracy points instead of the spread over seeds")

    pr = sub.add_parser("profile", help="merge profiles, write the run configs the training stages read, check devices")
    pr.add_argument("action", choices=("resolve", "configs", "show", "devices"),
                    help="resolve: write studies/<name>/params.yaml from its profile.yaml; configs: write each "
                         "run's resolved config; show: print the runs; devices: check that every run's "
                         "train.device is here (exit 2 naming the first that is not)")
    pr.add_argument("name", nargs="?", default=None, help="profile name (resolve)")
    pr.add_argument("--profile", default="params.yaml", help="profile file (configs, show, devices)")

    nb = sub.add_parser("notebook", help="execute a stage notebook (notebooks/NAME.ipynb) with papermill into "
                                         "reports/<profile>/notebooks/ (the data_tour, results and analysis stages)")
    nb.add_argument("name", choices=tuple(NOTEBOOK_FOLDERS), help="the stage notebook")
    nb.add_argument("--profile", default="params.yaml", help="profile file (the notebook's profile_file parameter)")

    rp = sub.add_parser("report", help="render the profile's executed notebooks to HTML, write its report index "
                                       "and the results block (the `report` stage)")
    rp.add_argument("--profile", default="params.yaml", help="profile file")

    ls = sub.add_parser("lessons", help="build the lesson kit, then run every lesson (notebooks/lessons/) and "
                                        "render its page; exit 1 if one fails or runs over its limit")
    ls.add_argument("--kit", action="store_true", help="only build the lesson kit (lesson 4's converged runs included)")
    ls.add_argument("--record", action="store_true",
                    help="render into the committed pages (reports/lessons, docs/teaching.md) instead of build/lessons")

    sw = sub.add_parser("sweep", help="a validation sweep: train each line of PLAN, append its row (resumable)")
    sw.add_argument("plan", nargs="?", help="one run a line: NAME key=value ...")
    sw.add_argument("--table", default="", help="print the rows of this JSON-lines file as a Markdown table")
    sw.add_argument("--plateau", nargs="*", default=[], help="print the plateau rule's table of these JSON-lines files")
    sw.add_argument("--grid", nargs="*", default=[], help="print the method x lr table of these JSON-lines files (with --steps)")
    sw.add_argument("--steps", type=int, default=None, help="the budget whose runs --grid shows")
    sw.add_argument("--choose", nargs="*", default=[],
                    help="each method's step size chosen over seeds from these JSON-lines files (the stability rule)")
    sw.add_argument("--apply", default="", metavar="PROFILE",
                    help="with --choose: write each final choice into this profile's methods: block (params.yaml)")
    sw.add_argument("--start", nargs="*", default=[],
                    help="print the probes' starts (share passed / accuracy of what passes per window) of these files")
    sw.add_argument("--refresh", default="", metavar="PAGE",
                    help="rewrite the generated blocks of a Markdown page (docs/validation.md) from the sweeps' files")
    sw.add_argument("--profile", default="params.yaml", help="profile file: the base config of every run")
    sw.add_argument("--runs-dir", default="runs/val_sweep", help="where the sweep's runs (and checkpoints) live")
    sw.add_argument("--out", default="studies/validation/sweep.jsonl", help="the rows, one JSON line a run")
    sw.add_argument("--stop-after", type=int, default=None,
                    help="train only each run's first N steps (a divergence probe); the row records the outcome")

    lw = sub.add_parser("lesson-sweep", help="the lessons' step sizes: short runs on the lesson kit's validation faces")
    lw.add_argument("kit_dir", type=Path, nargs="?", help="where to build the kit for the sweep (not data/lessons)")
    lw.add_argument("specs", nargs="*", help="method:lr:steps:labels_per_class[:key=value...]")
    lw.add_argument("--out", type=Path, default=Path("studies/validation/lessons_sweep.jsonl"))
    lw.add_argument("--table", type=Path, help="print the rows of this JSON-lines file as a Markdown table")

    dp = sub.add_parser("deps", help="print each DVC stage's code dependencies (its import closure)")
    dp.add_argument("--write", action="store_true", help="write them into dvc.yaml's deps (other lines kept)")

    pc = sub.add_parser("page-check", help="a page's glitches (raw tracebacks, NaN, ...): exit 1 if any")
    pc.add_argument("files", nargs="+", help="executed notebooks (.ipynb) or Markdown pages")
    return p


def cmd_synth(a) -> int:
    from ssfer_core.data.synthetic import SynthConfig, contact_sheet, generate

    cfg = SynthConfig(seed=a.seed, n_train=a.n_train, n_test=a.n_test, image_size=a.size,
                      num_classes=a.classes, workers=a.workers)
    meta = generate(cfg, a.out)
    if a.contact_sheet:
        Path(a.contact_sheet).parent.mkdir(parents=True, exist_ok=True)
        contact_sheet(cfg).save(a.contact_sheet, quality=92)  # JPEG keeps it small in git
    print(meta)
    return 0


def cmd_realism(a) -> int:
    from ssfer_study.judge import realism
    from ssfer_study.stages import plots

    if a.fetch:
        status = realism.fetch_weights(a.fetch)
        print(json.dumps(status))
        return 0
    try:
        rep = realism.judge_folder(a.data, a.split, weights=a.weights)
    except realism.JudgeUnavailable as e:
        # the rest of the study does not need the judge: say so, record why, go on
        print(f"realism: the FER2013 judge is unavailable, SynthFACS realism not measured: {e}", file=sys.stderr)
        rep = {"available": False, "reason": str(e)}
    realism.write_report(rep, a.out)
    if a.figure:
        Path(a.figure).parent.mkdir(parents=True, exist_ok=True)
        plots.realism_or_reason(rep).savefig(a.figure, dpi=110, bbox_inches="tight")
    if rep["available"]:
        print(json.dumps({k: rep[k] for k in ("n", "agreement", "agreement_intensity_ge_0.6")} |
                         {"recall": {k: round(v, 3) for k, v in rep["recall"].items()}}))
    return 0


def cmd_split(a) -> int:
    from ssfer_core.data.loading import load_data
    from ssfer_core.data.splits import split_path
    from ssfer_study.study import load_study

    # every split the profile's runs will use, so that no run writes into this stage's output
    for data in load_study(a.profile).split_configs(a.set):
        d = load_data(data, progress=True)
        print(f"split {split_path(data).name} {d.split_hash[:12]}: {len(d.labeled_idx)} labeled, "
              f"{len(d.unlabeled_idx)} unlabeled, {len(d.val_idx)} validation, {len(d.test_labels)} test")
    return 0


def cmd_pretrain(a) -> int:
    from ssfer_core.pretrain import pretrain_geometry

    rep = pretrain_geometry(a.data, a.out, a.backbone, a.size, a.steps)
    if a.report:
        Path(a.report).parent.mkdir(parents=True, exist_ok=True)
        Path(a.report).write_text(json.dumps(rep, indent=1))
    print(json.dumps({k: rep[k] for k in ("steps", "final_train_mse")}))
    return 0


def cmd_train(a) -> int:
    from ssfer_study.pipeline.training import run_training

    overrides = a.set + ([f"device={a.device}"] if a.device else [])
    m = run_training(a.profile, a.run, a.out, overrides, resume=not a.no_resume)
    print(json.dumps({k: m[k] for k in ("method", "seed") if k in m} |
                     {w: m[w]["last"]["acc"] for w in ("raw", "ema") if w in m}))
    return 0


def cmd_train_runs(a) -> int:
    from ssfer_study.pipeline.train_runs import train_runs

    try:
        done = train_runs(Path(a.profile), Path(a.configs), Path(a.out), a.workers, shard=a.shard)
    except RuntimeError as e:
        print(f"ssfer train-runs: error: {e}", file=sys.stderr)
        return 1
    print(json.dumps({k: len(v) for k, v in done.items()}))
    return 0


def cmd_compare(a) -> int:
    from ssfer_study.pipeline import compare
    from ssfer_study.study import load_study

    metrics = load_study(a.profile).reports_dir / "metrics.json"
    return compare.run(metrics, a.reference, a.tolerance)


def cmd_eval(a) -> int:
    path = Path(a.run) / "metrics.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: the run has not finished (train it with `ssfer train`)")
    m = json.loads(path.read_text())
    for w in ("raw", "ema"):
        if w in m:
            last, best = m[w]["last"], m[w]["best"]
            print(f"{w:4s} last acc {last['acc']:.4f} bal {last['bal_acc']:.4f} F1 {last['macro_f1']:.4f} "
                  f"ECE {last['ece']:.4f} | best acc {best['acc']:.4f} @ {best['step']}")
    return 0


NOTEBOOK_FOLDERS = {"data_tour": ("data_tour",), "results": ("results",), "analysis": ("analysis", "explorer")}
"""Each stage notebook and the folders of ``reports/<profile>/`` it writes into (besides ``notebooks/``)."""


def cmd_notebook(a) -> int:
    import papermill as pm

    from ssfer_study.study import load_study

    reports = load_study(a.profile).reports_dir
    for folder in ("notebooks", *NOTEBOOK_FOLDERS[a.name]):
        (reports / folder).mkdir(parents=True, exist_ok=True)
    try:
        pm.execute_notebook(f"notebooks/{a.name}.ipynb", str(reports / "notebooks" / f"{a.name}.ipynb"),
                            parameters={"profile_file": a.profile}, kernel_name="python3", progress_bar=False)
    except pm.PapermillExecutionError as e:
        print(f"ssfer notebook {a.name}: a cell failed ({e.ename}: {e.evalue}); the executed notebook is "
              f"{reports / 'notebooks' / (a.name + '.ipynb')}", file=sys.stderr)
        return 1
    return 0


def cmd_report(a) -> int:
    from ssfer_study.stages import report
    from ssfer_study.study import load_study

    study = load_study(a.profile)
    report.render_pages(study.reports_dir)
    print(report.index(study))
    print(report.update_readme(study))
    return 0


def cmd_lessons(a) -> int:
    from ssfer_study.lessons import kit, runner

    if a.kit:
        kit.build_converged()
        return 0
    return runner.run_all(record=a.record)


def cmd_sweep(a) -> int:
    from ssfer_study.validation import sweep

    if a.refresh:
        print(f"{a.refresh}: " + ("updated" if sweep.refresh(a.refresh) else "already current"))
    elif a.table:
        print(sweep.table(a.table))
    elif a.plateau:
        print(sweep.plateau(a.plateau))
    elif a.choose and a.apply:
        changed = sweep.apply(a.choose, a.plan, a.apply)
        print(f"{a.apply}: " + ("; ".join(changed) if changed else "every final choice already in place"))
    elif a.choose:
        print(sweep.choose(a.choose, a.plan))
    elif a.start:
        print(sweep.start(a.start, a.profile))
    elif a.grid:
        if a.steps is None:
            raise ConfigError("ssfer sweep --grid FILE...: give the budget its runs trained for with --steps")
        print(sweep.grid(a.grid, a.steps))
    elif a.plan:
        sweep.run(a.plan, a.profile, a.runs_dir, a.out, a.stop_after)
    else:
        raise ConfigError("ssfer sweep: give a PLAN file (or --table FILE, or --plateau FILE...)")
    return 0


def cmd_lesson_sweep(a) -> int:
    from ssfer_study.validation import lessons

    if a.table:
        print(lessons.table(a.table))
        return 0
    if a.kit_dir is None or not a.specs:
        raise ConfigError("ssfer lesson-sweep: give KIT_DIR and at least one spec (or --table FILE)")
    lessons.run(a.kit_dir, a.specs, a.out)
    return 0


def cmd_deps(a) -> int:
    from ssfer_study.pipeline import deps

    if a.write:
        print("dvc.yaml " + ("updated" if deps.rewrite_dvc_yaml() else "already current"))
        return 0
    for stage in deps.STAGE_ENTRIES:
        print(f"{stage}:")
        for d in deps.stage_deps(stage):
            print(f"  - {d}")
    return 0


def cmd_page_check(a) -> int:
    from ssfer_study.stages import page_check

    return page_check.main(a.files)


def cmd_profile(a) -> int:
    from ssfer_study.study import load_study, resolve_profile

    if a.action == "resolve":
        if not a.name:
            raise ConfigError("ssfer profile resolve NAME: give the profile's name (studies/NAME/profile.yaml)")
        print(resolve_profile(a.name))
        return 0
    study = load_study(a.profile)
    if a.action == "configs":
        for path in study.write_run_configs():
            print(path)
    elif a.action == "devices":
        from ssfer_core.devices import resolve_device

        found = sorted({resolve_device(study.config(r).device) for r in study.runs})
        print(f"{study.name}: every run's device is here ({', '.join(found)})")
    else:
        for r in study.runs.values():
            print(f"{r.name:28s} group={r.group:16s} variant={r.variant:24s} seed={r.seed} method={r.method}")
    return 0


def cmd_data(a) -> int:
    from ssfer_core.config import TrainConfig, apply_overrides, resolve_split_seed, validate
    from ssfer_core.data.check import check_dataset
    from ssfer_study.study import load_study

    sets = [f"data.{k}={v}" for k, v in (("dataset", a.dataset), ("root", a.root), ("num_classes", a.num_classes))
            if v is not None] + a.set
    if a.profile:
        cfgs = load_study(a.profile).split_configs(sets)
    else:
        if a.dataset is None or a.root is None:
            raise ConfigError("give --dataset and --root, or a profile with --profile")
        cfgs = [resolve_split_seed(validate(apply_overrides(TrainConfig(), sets))).data]
    rep = check_dataset(cfgs[0], cfgs, decode=not a.no_decode, progress=True)
    print(rep.table())
    return 0 if rep.ok else EXIT_CONFIG


COMMANDS = {"synth": cmd_synth, "realism": cmd_realism, "split": cmd_split, "pretrain": cmd_pretrain,
            "train": cmd_train, "train-runs": cmd_train_runs, "compare": cmd_compare, "eval": cmd_eval,
            "notebook": cmd_notebook, "report": cmd_report, "lessons": cmd_lessons, "sweep": cmd_sweep,
            "lesson-sweep": cmd_lesson_sweep, "deps": cmd_deps, "page-check": cmd_page_check,
            "profile": cmd_profile, "data": cmd_data}
"""Subcommand -> the function that runs it."""


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    a = _parser().parse_args(argv)
    try:
        code = COMMANDS[a.cmd](a)
    except (ConfigError, DatasetError, FileNotFoundError) as e:
        if a.debug:
            raise
        code = EXIT_CONFIG if isinstance(e, ConfigError) else EXIT_DATA
        print(f"ssfer {a.cmd}: error: {e}", file=sys.stderr)
        return code
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
