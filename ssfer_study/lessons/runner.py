"""``make lessons``: every lesson (``notebooks/lessons/``) executed by papermill with its default
parameters, each rendered (:func:`ssfer_study.lessons.pages.render_lesson`) and timed against its limit.

    ssfer lessons
"""
from __future__ import annotations

from pathlib import Path

from ssfer_study.lessons import kit, pages
from ssfer_study.stages import page_check
from ssfer_study.lessons.pages import LESSONS
from ssfer_study.lessons.kit import config
from ssfer_study.lessons.speed import MAX_SLOWDOWN

LIMIT_S = 180
"""Each lesson must run top to bottom within 3 minutes on 2 CPU cores (the kit included), at the
machine's reference speed (``ssfer_study.lessons.speed``): a lesson fails the limit only if both its wall
time and its wall time divided by the machine's measured slowdown (at most 3x) pass it."""


KIT_LIMIT_S = 900
"""The lesson kit (its converged runs included: ``kit.build_converged``) must build within 15
minutes on 2 CPU cores, read at the machine's reference speed as a lesson's time is."""


def machine_slowdown() -> tuple[float, float, float]:
    """How much slower than the committed benchmark the machine trains now: the benchmark's
    workload (a supervised ``synth_cnn_slim`` run at 2 threads, channels-last as in the study, the
    best of three reads of 60 steps after 5 warm-up) on the kit's data; the lessons' config differs from the study's in
    nothing else that costs time (batch 16, 48 px, mu 1).
    Returns (measured steps/s, reference steps/s, slowdown)."""
    from ssfer_core.data.loading import load_data
    from ssfer_study.lessons import speed

    cfg = config("supervised", overrides=["channels_last=true"])  # as the benchmark's run (the study's)
    data = load_data(cfg.data)
    # the best of three: a stray hiccup (one read after lesson 1 came out at 26 steps/s between
    # reads of 61) must not excuse a slow lesson; the fastest read excuses the least
    measured = max(speed.steps_per_second(cfg, data, 60) for _ in range(3))
    reference = speed.reference_steps_per_second()
    return measured, reference, speed.slowdown(measured, reference)


def within_limit(seconds: float, limit_s: float) -> tuple[str, bool]:
    """("ok" or why not, over the limit?) for a job that took ``seconds``: read at the machine's
    reference speed when the wall clock passes ``limit_s`` (see ``LIMIT_S``)."""
    if seconds <= limit_s:
        return "ok", False
    # a slow spell of the machine is not the job's fault: read the time at reference speed
    measured, reference, slow = machine_slowdown()
    status = (f"at reference speed {seconds / slow:.1f} s (the machine trains at {measured:.1f} steps/s "
              f"against the benchmark's {reference:.1f}: {slow:.2f}x slower, at most {MAX_SLOWDOWN:.0f}x excused)")
    if seconds / slow > limit_s:
        return f"over the {limit_s:.0f} s limit, {status}", True
    return f"ok, {status}", False


RECORDED = Path("reports/lessons")
"""The committed lesson pages: written only by ``ssfer lessons --record`` (``make lessons-record``)."""
SCRATCH = Path("build/lessons")
"""Where ``ssfer lessons`` (``make lessons``, CI) renders the pages it checks: not in git, so a run
leaves the checkout clean (numbers move a little with the CPU: docs/teaching.md)."""


def run_all(out: Path | None = None, names=LESSONS, limit_s: float = LIMIT_S,
            kit_limit_s: float = KIT_LIMIT_S, record: bool = False) -> int:
    """Build the lesson kit (once: ``kit.build_converged``), then execute every lesson with
    papermill (default parameters), render each to ``out/<name>.html`` and ``out/<name>.md`` with its
    code and figures, print the times; 1 if the kit ran over ``kit_limit_s``, or a lesson failed, ran
    over ``limit_s`` (both at the machine's reference speed, see ``LIMIT_S``) or failed the page
    check (``ssfer_study.stages.page_check``). ``out`` defaults to :data:`SCRATCH`, or with
    ``record`` to :data:`RECORDED`, where a complete clean series also writes the instructor's page
    and the index names the CPU that made the pages."""
    out = out or (RECORDED if record else SCRATCH)
    import time

    import papermill as pm

    out.mkdir(parents=True, exist_ok=True)
    rows, failed = [], False
    t = time.perf_counter()
    kit.build_converged(progress=False)  # the kit: data, backbone, lesson 4's converged runs (once)
    seconds = time.perf_counter() - t
    status, failed = within_limit(seconds, kit_limit_s)
    print(f"{'lesson kit':<20} {seconds:6.1f} s  {status}", flush=True)
    times = {"lesson kit": round(seconds, 1)}
    for name in names:
        t = time.perf_counter()
        executed = out / f"{name}.ipynb"
        try:
            pm.execute_notebook(f"notebooks/lessons/{name}.ipynb", str(executed), kernel_name="python3",
                                progress_bar=False, cwd=".")
            status = "ok"
        except Exception as e:  # papermill raises PapermillExecutionError with the cell's traceback
            status, failed = f"FAILED: {getattr(e, 'ename', type(e).__name__)}: {getattr(e, 'evalue', e)}", True
        seconds = time.perf_counter() - t
        if status == "ok":
            status, over = within_limit(seconds, limit_s)
            failed |= over
        if executed.exists():
            glitches = page_check.problems(executed)  # what a student must not meet on the page
            if glitches and status.startswith("ok"):
                status, failed = "FAILED the page check: " + "; ".join(glitches), True
            pages.render_lesson(executed, out)
            executed.unlink()  # the pages are the report; the executed notebook would only duplicate them
        rows.append((name, seconds, status))
        times[name] = round(seconds, 1)
        print(f"{name:<20} {seconds:6.1f} s  {status}", flush=True)
    # the index lists every lesson rendered so far; the instructor's page takes a complete, clean series only
    made_on = cpu_kind() if record else None
    pages.write_index(out, [n for n in LESSONS if (out / f"{n}.md").exists()], made_on=made_on)
    if record and not failed and tuple(names) == LESSONS and pages.TEACHING.exists():
        pages.write_teaching(LESSONS, times=times, made_on=made_on)
    return 1 if failed else 0


def cpu_kind() -> str:
    """The CPU the pages were made on, as the numbers depend on it: its model name and the vector
    instructions torch's kernels use (``ATEN_CPU_CAPABILITY=avx2`` reproduces an AVX2 machine)."""
    import platform

    import torch

    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, torch CPU capability {torch.backends.cpu.get_cpu_capability()}"
