"""A run's per-step log: means over ``log_every`` steps to the progress bar and to dvclive's files,
which a resumed run first cuts back to its checkpoint's step."""
from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


class StepLogger:
    """Means of the per-step logs over ``log_every`` steps, to the progress bar and dvclive. Each
    key is averaged over the steps that emitted it: ``pl_pass_acc`` exists only on steps where a
    pseudo-label passed, and dividing by every step of the window would deflate it."""

    def __init__(self, live, bar):
        self.live, self.bar, self.sums, self.counts = live, bar, {}, {}

    def add(self, logs: dict) -> None:
        for k, v in logs.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
            self.counts[k] = self.counts.get(k, 0) + 1

    def means(self) -> dict:
        return {k: v / self.counts[k] for k, v in self.sums.items()}

    def flush(self, step: int) -> None:
        means = self.means()
        self.sums, self.counts = {}, {}
        self.bar.set_postfix(loss=f"{means['loss']:.3f}", passed=f"{means.get('pl_pass_rate', 0):.2f}")
        if self.live is not None:
            self.live.step = step  # label the row with the step it summarises
            for k, v in means.items():
                self.live.log_metric(f"train/{k}", v)
            self.live.next_step()


def truncate_logs(live_dir: Path, step: int) -> None:
    """Drop dvclive TSV rows logged after ``step`` (the checkpoint a run resumes from), so the
    resumed run writes every later step exactly once."""
    for tsv in Path(live_dir).glob("plots/metrics/**/*.tsv"):
        lines = tsv.read_text().splitlines(keepends=True)
        if not lines:
            continue
        col = lines[0].rstrip("\n").split("\t").index("step")
        kept = [lines[0]] + [l for l in lines[1:] if int(l.split("\t")[col]) <= step]
        if len(kept) != len(lines):
            tsv.write_text("".join(kept))


def open_live(out: Path, resume: bool):
    try:
        from dvclive import Live
    except ImportError:
        return None
    try:
        return Live(str(out / "dvclive"), resume=resume, save_dvc_exp=False, dvcyaml=None)
    except Exception as e:  # e.g. a git repo with no commit yet: train anyway, say what is lost
        log.warning("dvclive disabled (%s); per-step metrics will not be logged", e)
        return None
