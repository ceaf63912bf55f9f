"""How the lessons' step sizes were chosen: short runs on the lesson kit's validation split.

    ssfer lesson-sweep KIT_DIR METHOD:LR:STEPS:LABELS_PER_CLASS[:KEY=VALUE...] ... [--out rows.jsonl]
    ssfer lesson-sweep --table studies/validation/lessons_sweep.jsonl   # the rows as a Markdown table

(The table shows each method's best lr in bold, ties to the smaller lr.)

Builds the lesson kit (``ssfer_study.lessons.kit``, its defaults) in ``KIT_DIR`` (not ``data/lessons``:
the lessons' own runs stay apart), carves 500 validation faces from the kit's training draw
(``data.val_size=500``), trains each spec with ``eval_on=val`` and appends one JSON row per run
(validation accuracy of the evaluated model, %, and wall seconds) to ``--out``. The test faces are
never read. Results and the choice: docs/teaching.md, "How the lessons' settings were chosen".
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from ssfer_study.lessons import kit


DIVERGED = -1.0


def table(path: Path) -> str:
    """The rows of ``path`` as a Markdown table: method, labels per class, steps, then one column per lr."""
    import pandas as pd

    rows = pd.DataFrame([json.loads(line) for line in path.read_text().splitlines() if line.strip()])
    parts = rows["spec"].str.split(":")
    rows[["method", "lr", "steps", "labels/class"]] = pd.DataFrame(parts.str[:4].tolist(), index=rows.index)
    rows["method"] += parts.str[4:].map(lambda extra: "".join(f" ({e})" for e in extra))
    rows["lr"] = rows["lr"].astype(float)
    rows["val_acc"] = rows["val_acc"].fillna(DIVERGED)  # kept as a cell: a diverged lr is a result of the grid
    grid = rows.pivot_table(index=["method", "labels/class", "steps"], columns="lr", values="val_acc", aggfunc="first")
    lines = ["| method | labels/class | steps | " + " | ".join(f"lr {lr:g}" for lr in grid.columns) + " |",
             "|---|---|---|" + "---|" * len(grid.columns)]
    for (method, per_class, steps), accs in grid.iterrows():
        tried = accs.dropna()
        best = tried.index[tried.to_numpy().argmax()] if len(tried) > 1 else None
        cells = ["" if pd.isna(a) else "diverged" if a == DIVERGED else f"**{a:.1f}**" if lr == best else f"{a:.1f}"
                 for lr, a in accs.items()]
        lines.append(f"| {method} | {per_class} | {steps} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(kit_dir: Path, specs: list[str], out: Path) -> None:
    """Train each spec on the kit in ``kit_dir`` and append its row to ``out`` (the module docstring)."""
    kit.KIT = kit_dir
    kit.files()
    for spec in specs:
        method, lr, steps, per_class, *extra = spec.split(":")
        cfg = kit.config(method, int(steps), int(per_class), 0,
                             [f"lr={lr}", "data.val_size=500", "eval_on=val", *extra])
        t = time.perf_counter()
        try:
            acc = round(kit.accuracy(kit.train_run(cfg, spec.replace(":", "_").replace("=", "-"))), 1)
        except (FloatingPointError, ValueError) as e:  # a diverged run (NaN loss or NaN gate logits) is a result
            acc = None
            print(f"{spec}: diverged ({type(e).__name__}: {str(e)[:120]})", flush=True)
        row = {"spec": spec, "val_acc": acc, "seconds": round(time.perf_counter() - t, 1)}
        print(json.dumps(row), flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a") as f:
            f.write(json.dumps(row) + "\n")
