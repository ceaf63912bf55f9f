"""How the lessons' budgets were chosen: short runs on the lesson kit's validation split.

Usage: ``python scripts/lesson_budget.py KIT_DIR METHOD:LR:STEPS:LABELS_PER_CLASS[:KEY=VALUE...] ... [--out rows.jsonl]``;
``python scripts/lesson_budget.py --table docs/lessons_validation.jsonl`` prints the rows as a Markdown table
(each method's best lr in bold, ties to the smaller lr).

Builds the lesson kit (``ssfer_study.lessons.kit``, its defaults) in ``KIT_DIR`` (not ``data/lessons``:
the lessons' own runs stay apart), carves 500 validation faces from the kit's training draw
(``data.val_size=500``), trains each spec with ``eval_on=val`` and appends one JSON row per run
(validation accuracy of the evaluated model, %, and wall seconds) to ``--out``. The test faces are
never read. Results and the choice: docs/teaching.md, "How the lessons' settings were chosen".
"""
import argparse
import json
import time
from pathlib import Path

from ssfer_study.lessons import kit as lessons


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kit_dir", type=Path, nargs="?")
    ap.add_argument("specs", nargs="*", help="method:lr:steps:labels_per_class[:key=value...]")
    ap.add_argument("--out", type=Path, default=Path("docs/lessons_validation.jsonl"))
    ap.add_argument("--table", type=Path, help="print the rows of this jsonl as a Markdown table and stop")
    args = ap.parse_args()
    if args.table:
        print(table(args.table))
        return
    if args.kit_dir is None or not args.specs:
        ap.error("give KIT_DIR and at least one spec (or --table FILE)")
    lessons.KIT = args.kit_dir
    lessons.kit()
    for spec in args.specs:
        method, lr, steps, per_class, *extra = spec.split(":")
        cfg = lessons.config(method, int(steps), int(per_class), 0,
                             [f"lr={lr}", "data.val_size=500", "eval_on=val", *extra])
        t = time.perf_counter()
        try:
            acc = round(lessons.accuracy(lessons.train_run(cfg, spec.replace(":", "_").replace("=", "-"))), 1)
        except (FloatingPointError, ValueError) as e:  # a diverged run (NaN loss or NaN gate logits) is a result
            acc = None
            print(f"{spec}: diverged ({type(e).__name__}: {str(e)[:120]})", flush=True)
        row = {"spec": spec, "val_acc": acc, "seconds": round(time.perf_counter() - t, 1)}
        print(json.dumps(row), flush=True)
        with args.out.open("a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
