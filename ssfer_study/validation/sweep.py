"""Choose the study's defaults on the validation split (never the test set).

    ssfer sweep PLAN [--profile params.yaml] [--out studies/validation/sweep.jsonl]
    ssfer sweep --table studies/validation/lr_13500_sweep.jsonl        # the results as a Markdown table
    ssfer sweep --plateau studies/validation/plateau_sweep.jsonl [more.jsonl]   # the plateau rule
    ssfer sweep PLAN --stop-after 1350 --out probe.jsonl   # does each run train its first steps?
    ssfer sweep --choose ROWS.jsonl        # each method's step size over seeds, by the stability rule

PLAN holds one run a line: ``name key=value key=value ...`` (``#`` starts a comment). Each run is
the profile's base ``train:`` config plus those overrides, with ``data.val_size=1000`` and
``eval_on=val``; it trains in this process (the data are loaded once per data config) and appends
one JSON line: EMA accuracy and balanced accuracy on the validation split, the final mask rate and
accuracy of the selected pseudo-labels (mean over the last 10 % of logged steps), seconds and the
EMA validation accuracy at every evaluation (``curve``, for the plateau rule). A run whose name is
already in the output file is skipped, and a killed run resumes from its checkpoint, so a stopped
sweep picks up where it was by running the same command again. ``--stop-after N`` trains each run's
first N steps on its full schedule (the steps where a large lr is most likely to diverge: the
trainer raises on a non-finite loss, and the row records it as ``diverged_at``).
"""
from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

import numpy as np
import torch

from ssfer_core.data.loading import load_data
from ssfer_study.study import load_study
from ssfer_study.stages.tables import evaluated, final_value, majority_baseline, train_series
from ssfer_core.train import train

BASE = ("data.val_size=1000", "eval_on=val")
BASE_VAL = 1000
"""The carve of a sweep row whose overrides do not name ``data.val_size``."""


def table(path: str) -> str:
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    cols = [c for c in ("name", "val_acc", "val_bal_acc", "pl_pass_rate_final", "pl_pass_acc_final", "stop_after",
                        "diverged_at", "pl_pass_rate_first_half", "pl_pass_acc_first_half", "pl_pass_rate_second_half",
                        "pl_pass_acc_second_half", "seconds", "overrides") if any(c in r for r in rows)]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join("-" if r.get(c) is None else f"`{r[c]}`" if c == "overrides" else str(r.get(c, ""))
                                      for c in cols) + " |")
    return "\n".join(lines)


def plateau(paths: list[str], n_val: int = 1000) -> str:
    """The plateau rule on runs of one setting at several step counts: for each setting (the
    overrides but ``steps``, ``eval_every`` and the seed) and each budget B whose 1.5 B was also
    trained (its own schedule) on the same seeds, the mean over those seeds of the gain from B to
    1.5 B against the 95 % noise of a difference between two means of validation accuracies over
    that many carves (``tables.evaluation_noise`` on seeds x carve faces; the carve is the row's
    ``data.val_size``, else ``n_val``). B has plateaued when the mean gain is below it. With several
    seeds the per-seed gains and their paired 95 % interval are shown beside it."""
    from ssfer_study.stages import statistics
    from ssfer_study.stages.tables import evaluation_noise

    by_setting: dict[str, dict[int, dict[int, float]]] = {}
    faces: dict[str, int] = {}
    for line in (ln for path in paths for ln in Path(path).read_text().splitlines() if ln.strip()):
        r = json.loads(line)
        if r.get("val_acc") is None:
            continue
        sets = dict(o.split("=", 1) for o in r["overrides"].split() if "=" in o)
        key = " ".join(o for o in r["overrides"].split() if not o.startswith(("steps=", "eval_every=", "seed=")))
        by_setting.setdefault(key, {}).setdefault(int(r["steps"]), {})[int(sets.get("seed", 0))] = r["val_acc"]
        faces[key] = int(sets.get("data.val_size", n_val))
    lines = ["| setting | seeds | B | acc at B | acc at 1.5 B | gain (per seed) | paired 95 % CI | noise (95 %) | plateaued at B |",
             "|---|---|---|---|---|---|---|---|---|"]
    for key, budgets in by_setting.items():
        for b in sorted(budgets):
            longer = int(round(1.5 * b))
            seeds = sorted(set(budgets[b]) & set(budgets.get(longer, {})))
            if not seeds:
                continue
            at_b = float(np.mean([budgets[b][s] for s in seeds]))
            at_l = float(np.mean([budgets[longer][s] for s in seeds]))
            gain = at_l - at_b
            noise = evaluation_noise((at_b + at_l) / 2, len(seeds) * faces[key])
            per = ", ".join(f"{budgets[longer][s] - budgets[b][s]:+.1f}" for s in seeds)
            c = statistics.paired({s: budgets[longer][s] for s in seeds}, {s: budgets[b][s] for s in seeds})
            ci = f"± {c.ci95:.1f}" if len(seeds) > 1 else "-"
            lines.append(f"| `{key}` | {len(seeds)} | {b} | {at_b:.1f} | {at_l:.1f} | {gain:+.1f}"
                         + (f" ({per})" if len(seeds) > 1 else "") + f" | {ci} | {noise:.1f} | {'yes' if gain < noise else 'no'} |")
    return "\n".join(lines)


def grid(paths: list[str], steps: int, profile: str | None = None) -> str:
    """The validation accuracy of every (method, lr) trained for ``steps`` in the sweeps ``paths``,
    one row a method, one column an lr (a later file's row wins a repeated cell; "diverged" where the
    run stopped on a non-finite loss); with ``profile``, the lr that profile trains each method at."""
    cells: dict[str, dict[float, str]] = {}
    for line in (ln for path in paths for ln in Path(path).read_text().splitlines() if ln.strip()):
        r = json.loads(line)
        sets = dict(o.split("=", 1) for o in r.get("overrides", "").split() if "=" in o)
        if int(r.get("steps") or sets.get("steps", 0)) != steps or "lr" not in sets or "method" not in sets:
            continue
        cells.setdefault(sets["method"], {})[float(sets["lr"])] = "diverged" if r.get("val_acc") is None \
            else f"{r['val_acc']:.1f}"
    lrs = sorted({lr for row in cells.values() for lr in row})
    chosen = load_study(profile).per_method if profile else {}
    head = ["method", *(f"lr {lr:g}" for lr in lrs)] + ([f"lr in {profile}"] if profile else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for method, row in cells.items():
        extra = [f"{chosen.get(method, {}).get('lr', '-')}"] if profile else []
        lines.append("| " + " | ".join([method, *(row.get(lr, "-") for lr in lrs), *extra]) + " |")
    return "\n".join(lines)


GENERATED = re.compile(r"(<!-- generated: ssfer sweep (?P<args>[^>]*?) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)
"""A block of a Markdown page that ``ssfer sweep --refresh PAGE`` writes: the output of the command
its opening line names (``--table F``, ``--plateau F...``, ``--grid F... --steps N [--profile P]``)."""


def block(args: list[str]) -> str:
    """What ``ssfer sweep ARGS`` prints for the table commands a generated block may name."""
    import argparse

    p = argparse.ArgumentParser(prog="ssfer sweep", add_help=False)
    p.add_argument("--table")
    p.add_argument("--plateau", nargs="+")
    p.add_argument("--grid", nargs="+")
    p.add_argument("--choose", nargs="+")
    p.add_argument("--start", nargs="+")
    p.add_argument("plan", nargs="?")
    p.add_argument("--steps", type=int)
    p.add_argument("--profile")
    a = p.parse_args(args)
    if a.table:
        return table(a.table)
    if a.plateau:
        return plateau(a.plateau)
    if a.grid and a.steps:
        return grid(a.grid, a.steps, a.profile)
    if a.choose:
        return choose(a.choose, a.plan)
    if a.start:
        return start(a.start, a.profile)
    raise ValueError(f"ssfer sweep {' '.join(args)}: a generated block names --table, --plateau or --grid with --steps")


def refresh(page: str | Path) -> bool:
    """Rewrite every generated block of ``page`` from the sweeps' files; True if anything changed."""
    import shlex

    path = Path(page)
    text = path.read_text()
    new = GENERATED.sub(lambda m: m.group(1) + "\n" + block(shlex.split(m.group("args"))) + "\n\n" + m.group(4), text)
    if new != text:
        path.write_text(new)
    return new != text


SEED_KEYS = ("seed", "data.split_seed")
"""Overrides that name a draw, not a candidate: rows that differ only in them are one candidate's seeds."""


def candidate(overrides: list[str]) -> tuple[str, str, int]:
    """A run's (method, candidate, seed) from its overrides: the candidate is the overrides but the
    method, the seed's and the evaluation spacing."""
    sets = dict(o.split("=", 1) for o in overrides if "=" in o)
    key = " ".join(f"{k}={v}" for k, v in sets.items() if k not in (*SEED_KEYS, "method", "eval_every"))
    return sets.get("method", "?"), key, int(sets.get("seed", 0))


def candidates(paths: list[str]) -> dict[str, dict[str, dict]]:
    """The sweeps' rows by method and candidate (:func:`candidate`), each a mapping seed -> row."""
    out: dict[str, dict[str, dict]] = {}
    for line in (ln for path in paths for ln in Path(path).read_text().splitlines() if ln.strip()):
        r = json.loads(line)
        method, key, seed = candidate(r.get("overrides", "").split())
        out.setdefault(method, {}).setdefault(key, {})[seed] = r
    return out


def stable(rows: dict[int, dict], early: float = 0.1) -> tuple[bool, str]:
    """The stability rule, one for every method: a candidate is out when any seed diverged, or any
    seed's validation curve is below the majority class at an evaluation after the first ``early``
    share of training (a model still at or under the majority class there trains in a degenerate
    regime). Returns (stable, why not)."""
    for seed, r in sorted(rows.items()):
        if r.get("diverged_at"):
            return False, f"seed {seed} diverged ({r['diverged_at']})"
        majority = r.get("majority")
        if majority is None:
            return False, f"seed {seed}'s row has no majority-class accuracy (re-run it with `ssfer sweep`)"
        low = under_majority(r.get("curve", []), majority, r["steps"], early)
        if low:
            return False, f"seed {seed} at {low[1]:.1f} % at step {low[0]}, under the majority class ({majority:.1f} %)"
        if r.get("val_acc") is None:
            return False, f"seed {seed} has no accuracy"
    return True, ""


def under_majority(curve: list, majority: float, steps: int, early: float = 0.1) -> tuple | None:
    """The first evaluation after the first ``early`` share of training that is under the majority
    class, as (step, accuracy), or None."""
    return next(((s, a) for s, a in curve if s > early * steps and a < majority), None)


MIN_SEEDS = 3
"""A choice is made once every stable candidate of the method has this many seeds."""


def _lr(key: str) -> float:
    return float(dict(o.split("=", 1) for o in key.split()).get("lr", "nan"))


def planned(plan: str | None) -> dict[str, set[str]]:
    """Each method's candidates a plan lists (keys as :func:`candidates` makes them)."""
    out: dict[str, set[str]] = {}
    if not plan:
        return out
    for line in Path(plan).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            method, key, _ = candidate(line.split()[1:])
            out.setdefault(method, set()).add(key)
    return out


def choices(paths: list[str], plan: str | None = None, early: float = 0.1) -> dict[str, dict]:
    """Each method's step size chosen over seeds: every candidate's mean validation accuracy over the
    seeds it shares with the other stable ones, the stability rule (:func:`stable`), and among the
    stable candidates the best mean, unless a smaller step size's mean is within the evaluation
    noise of the difference between the two means (``tables.evaluation_noise`` on seeds x carve
    faces, the resolution the carve was sized for): a gain inside the noise goes to the smaller
    step. The paired 95 % interval over the seeds is printed beside it (how much the seeds
    themselves disagree; with three seeds it is wide, and it decides nothing here). The choice
    is final when every stable candidate has :data:`MIN_SEEDS` seeds, every candidate of ``plan`` is
    trained, and a candidate lies beyond it on each side (a larger one may be one that is out).
    Returns method -> {"lr", "final", "why" (why not final), "rows" (the table's)}."""
    from ssfer_study.stages import statistics
    from ssfer_study.stages.tables import evaluation_noise

    plans = planned(plan)
    out = {}
    for method, cands in candidates(paths).items():
        verdicts = {key: stable(rows, early) for key, rows in cands.items()}
        kept = [set(rows) for key, rows in cands.items() if verdicts[key][0]] or [set(r) for r in cands.values()]
        seeds = sorted(set.intersection(*kept))
        scored = {}
        for key, rows in cands.items():
            ok, why = verdicts[key]
            accs = {s: rows[s]["val_acc"] for s in (seeds if ok else sorted(rows)) if s in rows
                    and rows[s].get("val_acc") is not None}
            scored[key] = (ok, why, accs, float(np.mean(list(accs.values()))) if accs else float("nan"))
        ok_keys = [k for k, v in scored.items() if v[0]]
        best = max(ok_keys, key=lambda k: scored[k][3]) if ok_keys else None
        faces = {k: int(dict(o.split("=", 1) for o in k.split()).get("data.val_size", BASE_VAL)) for k in cands}

        def noise(key: str) -> float:  # of the difference between its mean and the best's, over the seeds' carves
            return evaluation_noise((scored[key][3] + scored[best][3]) / 2, len(seeds) * faces[key])

        chosen = best
        for key in sorted(ok_keys, key=_lr):  # the smallest step size whose mean is within the noise of the best's
            if key == best or (_lr(key) < _lr(best) and scored[best][3] - scored[key][3] <= noise(key)):
                chosen = key
                break
        missing = sorted(plans.get(method, set()) - set(cands), key=_lr)
        lrs = sorted(_lr(k) for k in cands)
        why = ("no stable candidate" if chosen is None else
               f"{', '.join(f'`{k}`' for k in missing)} not trained yet" if missing else
               f"a stable candidate has fewer than {MIN_SEEDS} seeds" if any(len(scored[k][2]) < MIN_SEEDS for k in ok_keys) else
               "the choice is the smallest step size tried: try a smaller one" if _lr(chosen) == lrs[0] else
               "the choice is the largest step size tried: try a larger one" if _lr(chosen) == lrs[-1] else "")
        rows = []
        for key, (ok, why_out, accs, mean) in sorted(scored.items(), key=lambda kv: _lr(kv[0])):
            c = statistics.paired(accs, scored[best][2]) if best and key != best and ok else None
            vs = "best" if key == best else "-" if c is None or not c.pairs else \
                f"{c.mean:+.1f} (noise {noise(key):.1f}; paired 95 % CI ± {c.ci95:.1f})" if c.pairs > 1 else \
                f"{c.mean:+.1f} (one seed)"
            mark = "" if key != chosen else "**chosen**" if not why else f"leading ({why})"
            rows.append(f"| {method} | `{key}` | {len(accs)} | {', '.join(f'{a:.1f}' for a in accs.values())} | "
                        f"{'-' if np.isnan(mean) else f'{mean:.1f}'} | {'yes' if ok else 'no: ' + why_out} | {vs} | {mark} |")
        rows += [f"| {method} | `{k}` | 0 | | - | not trained yet | - | |" for k in missing]
        out[method] = {"lr": None if chosen is None else _lr(chosen), "final": not why, "why": why, "rows": rows}
    return out


def choose(paths: list[str], plan: str | None = None, early: float = 0.1) -> str:
    """:func:`choices` as a Markdown table."""
    lines = ["| method | candidate | seeds | val acc per seed | mean | stable | vs the best (difference; its noise; paired 95 % CI) | chosen |",
             "|---|---|---|---|---|---|---|---|"]
    for c in choices(paths, plan, early).values():
        lines += c["rows"]
    return "\n".join(lines)


def apply(paths: list[str], plan: str | None, profile: str | Path) -> list[str]:
    """Write each final choice into the profile's ``methods:`` block (``<method>: {lr: ...}`` lines,
    their comments kept); returns what changed, as 'method: old -> new'."""
    path = Path(profile)
    text = path.read_text()
    changed = []
    for method, c in choices(paths, plan).items():
        if not c["final"]:
            continue
        pattern = re.compile(rf"^(  {re.escape(method)}: {{lr: )([0-9.eE+-]+)(}})", re.M)
        m = pattern.search(text)
        if m is None:
            raise ValueError(f"{path}: no `  {method}: {{lr: ...}}` line in its methods: block")
        if float(m.group(2)) != c["lr"]:
            changed.append(f"{method}: {m.group(2)} -> {c['lr']:g}")
            text = text[:m.start()] + f"{m.group(1)}{c['lr']:g}{m.group(3)}" + text[m.end():]
    path.write_text(text)
    return changed


def _append(row: dict, out_file: str) -> None:
    """Print one result row and append it to the sweep's JSON-lines file (a number that is not one,
    such as the pseudo-label columns of a supervised run, is written as ``null``: valid JSON)."""
    row = {k: None if isinstance(v, float) and v != v else v for k, v in row.items()}
    print(json.dumps(row), flush=True)
    Path(out_file).parent.mkdir(parents=True, exist_ok=True)
    with open(out_file, "a") as f:
        f.write(json.dumps(row, allow_nan=False) + "\n")


def _probe(cfg, out: Path, data, stop_after: int) -> dict:
    """Train the first ``stop_after`` steps of one run: whether they stayed finite, and how its
    pseudo-labels went over those steps (the mean share passed and accuracy of what passes, each
    over the logged steps of the first and of the second half: a start that passes many pseudo-labels
    at chance accuracy shows here)."""
    try:
        train(cfg, out, resume=True, progress=False, data=data, stop_after=stop_after)
    except FloatingPointError as e:
        return {"stop_after": stop_after, "diverged_at": str(e)}
    row = {"stop_after": stop_after, "diverged_at": None}
    series = {key: train_series(out.parent, out.name, key) for key in ("pl_pass_rate", "pl_pass_acc")}
    for key, s in series.items():
        for half, part in (("first_half", s[s["step"] <= stop_after / 2] if s is not None else None),
                           ("second_half", s[s["step"] > stop_after / 2] if s is not None else None)):
            row[f"{key}_{half}"] = None if part is None or part.empty else round(float(part["value"].mean()), 3)
    row["pl_windows"] = windows(series["pl_pass_rate"], series["pl_pass_acc"], stop_after)
    return row


def windows(rate, acc, stop_after: int, width: int = 500) -> list[list]:
    """The share passed and the accuracy of what passes, each the mean over the logged steps of a
    ``width``-step window: ``[[window end, share, accuracy], ...]`` (the start's time course)."""
    if rate is None or acc is None:
        return []
    out = []
    for end in range(width, stop_after + 1, width):
        r = rate[(rate["step"] > end - width) & (rate["step"] <= end)]["value"]
        a = acc[(acc["step"] > end - width) & (acc["step"] <= end)]["value"].dropna()
        out.append([end, round(float(r.mean()), 3), None if a.empty else round(float(a.mean()), 3)])
    return out


def start(paths: list[str], profile: str | None = None) -> str:
    """The probes' starts, one row a run: the head's own step (lr x ``net.logit_scale``^2: one SGD
    step on a linear head over the unit feature moves the scaled logits by that much times the
    error, the bias as much again), then the share of pseudo-labels passed / the accuracy of what
    passes in each window of its first steps (``pl_windows``), and the overrides."""
    study = load_study(profile or "params.yaml")
    rows = [json.loads(ln) for path in paths for ln in Path(path).read_text().splitlines() if ln.strip()]
    ends = sorted({w[0] for r in rows for w in r.get("pl_windows", [])})
    head = ["run", "lr x scale²", *(f"steps {e - (ends[0] if ends else 0) + 1}-{e}" for e in ends), "overrides"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cfg = study.config(None, list(BASE) + r["overrides"].split())
        cosine = cfg.net.l2_normalize and cfg.net.instance_moe is False
        step = f"{cfg.lr * cfg.net.logit_scale ** 2:g}" if cosine else "-"
        w = {e: (rate, acc) for e, rate, acc in r.get("pl_windows", [])}
        cells = ["-" if e not in w else f"{w[e][0]:.2f} / " + ("-" if w[e][1] is None else f"{w[e][1]:.2f}")
                 for e in ends]
        lines.append("| " + " | ".join([r["name"], step, *cells, f"`{r['overrides']}`"]) + " |")
    return "\n".join(lines)


def run(plan: str, profile: str = "params.yaml", runs_dir: str = "runs/val_sweep",
        out_file: str = "studies/validation/sweep.jsonl", stop_after: int | None = None) -> None:
    """Train every run of ``plan`` not yet in ``out_file`` and append its row (the module docstring)."""
    logging.basicConfig(level=logging.WARNING)
    study = load_study(profile)
    cache: dict = {}
    done = {json.loads(r)["name"] for r in Path(out_file).read_text().splitlines()} if Path(out_file).exists() else set()
    for line in Path(plan).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, *sets = line.split()
        if name in done:
            continue
        cfg = study.config(None, list(BASE) + sets)
        key = json.dumps(vars(cfg.data), sort_keys=True, default=str)
        if key not in cache:
            cache.clear()
            cache[key] = load_data(cfg.data)
        out = Path(runs_dir) / name
        t = time.time()
        if stop_after is not None:
            row = {"name": name, "overrides": " ".join(sets), "steps": cfg.steps,
                   **_probe(cfg, out, cache[key], stop_after), "seconds": round(time.time() - t)}
            _append(row, out_file)
            continue
        out_already = out_of_the_running(out_file, sets)
        if out_already:
            print(f"{name}: not trained, its candidate is out ({out_already})", flush=True)
            continue
        try:
            m = _train_checked(cfg, out, cache[key])
        except FloatingPointError as e:  # a diverged run is a result of the sweep (the stability rule reads it)
            _append({"name": name, "val_acc": None, "diverged_at": str(e), "overrides": " ".join(sets),
                     "steps": cfg.steps, "seconds": round(time.time() - t)}, out_file)
            continue
        ev = evaluated(m)
        finished = m["curve"][-1]["step"] >= cfg.steps
        row = {"name": name, "val_acc": round(100 * ev["last"]["acc"], 1) if finished else None,
               "majority": round(100 * majority_baseline(ev["last"]["confusion"]), 1),
               "val_bal_acc": round(100 * ev["last"]["bal_acc"], 1) if finished else None,
               "pl_pass_rate_final": round(final_value(out.parent, name, "pl_pass_rate"), 3),
               "pl_pass_acc_final": round(final_value(out.parent, name, "pl_pass_acc"), 3),
               "seconds": round(time.time() - t), "overrides": " ".join(sets), "steps": cfg.steps,
               "curve": curve(m, digits=1)}
        if not finished:
            row["stopped_at"] = m["curve"][-1]["step"]
        _append(row, out_file)


def curve(m: dict, digits: int | None = None) -> list[list]:
    """A run's evaluations as [step, accuracy %] (the EMA model's, the live one's without EMA)."""
    return [[c["step"], 100 * c.get("ema_acc", c.get("raw_acc")) if digits is None else
             round(100 * c.get("ema_acc", c.get("raw_acc")), digits)] for c in m["curve"]]


CHECK_UNTIL = 0.3
"""The sweep checks the stability rule's majority-class bar at every evaluation up to this share of
training and stops a run that fails it (its candidate is out whatever the rest of the run does); a
later dip is read from the finished curve."""


def _train_checked(cfg, out: Path, data) -> dict:
    """Train one sweep run, stopping it at the first evaluation in the checked stretch (after the
    first 10 %, up to :data:`CHECK_UNTIL`) where it is under the majority class; the segments
    resume from the checkpoint, so a run that passes is the same run as one trained in one go."""
    every = cfg.eval_every
    first = (int(0.1 * cfg.steps) // every + 1) * every
    ckpt = out / "checkpoint.pt"
    done = torch.load(ckpt, map_location="cpu", weights_only=False)["step"] if ckpt.exists() else 0
    for stop in range(first, int(CHECK_UNTIL * cfg.steps) + 1, every):
        if stop <= done:  # a resumed run past this check: its finished curve is read by the rule instead
            continue
        m = train(cfg, out, resume=True, progress=False, data=data, stop_after=stop)
        majority = 100 * majority_baseline(evaluated(m)["last"]["confusion"])
        if under_majority(curve(m), majority, cfg.steps):
            return m
    return train(cfg, out, resume=True, progress=False, data=data)


def out_of_the_running(out_file: str, sets: list[str]) -> str:
    """Why the candidate of a plan line (its overrides but the seed's) is already out by the rows in
    ``out_file`` (another seed failed the stability rule), or ''."""
    if not Path(out_file).exists():
        return ""
    method, key, _ = candidate(sets)
    rows = candidates([out_file]).get(method, {}).get(key, {})
    ok, why = stable(rows) if rows else (True, "")
    return "" if ok else why
