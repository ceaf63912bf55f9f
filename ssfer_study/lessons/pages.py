"""The pages written from the lessons' runs: each executed lesson as HTML (with its code, for a
browser; not in git) and as Markdown with its figures as PNG files (in git, readable on a forge),
the index ``reports/lessons/README.md`` with every lesson's answers and numbers, and the answers
block of the instructor's page ``docs/teaching.md``."""
from __future__ import annotations

import json
from pathlib import Path

from ssfer_study.lessons import kit

LESSONS = ("01_labels", "02_pseudo_labels", "03_sitfer_levels", "04_leaf", "05_your_method")
"""Every lesson, in teaching order (CI runs this list; a test checks it is every lesson file)."""


def render_lesson(executed: Path, out: Path) -> tuple[Path, Path]:
    """``out/<name>.html`` and ``out/<name>.md`` (figures in ``out/<name>_files/``) of an executed
    lesson notebook, stderr left out of both."""
    import nbformat
    from nbconvert import MarkdownExporter

    from ssfer_study.stages.report import to_html, without_stderr

    name = executed.stem
    html = out / f"{name}.html"
    html.write_text(to_html(executed, code=True, title=f"ssfer lesson {name.replace('_', ' ')}"))
    nb = without_stderr(nbformat.read(executed, as_version=4))
    body, resources = MarkdownExporter().from_notebook_node(nb, resources={"output_files_dir": f"{name}_files"})
    figures = out / f"{name}_files"
    if figures.exists():
        for old in figures.glob("*"):
            old.unlink()
    for rel, data in resources.get("outputs", {}).items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
    md = out / f"{name}.md"
    md.write_text(body)
    return html, md


TITLES = {"01_labels": "Why labels are scarce, and what they buy", "02_pseudo_labels": "Pseudo-labels and thresholds",
          "03_sitfer_levels": "SIT-FER's three opinions", "04_leaf": "LEAF's gates and ambiguous labels",
          "05_your_method": "Add your own method"}


def saved(name: str) -> dict:
    """What lesson ``name`` (e.g. ``02_pseudo_labels``) saved on its last run: its numbers and answers."""
    path = kit.KIT / f"lesson{int(name[:2])}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def answers_markdown(names, link: str = "{name}.md") -> list[str]:
    """Each lesson's title (linked) and the answers its last run printed, as Markdown lines."""
    lines = []
    for name in names:
        lines += [f"### [{TITLES.get(name, name)}]({link.format(name=name)})", ""]
        lines += [f"- {a}" for a in saved(name).get("answers", ["(not run yet)"])] + [""]
    return lines


def write_index(out: Path, names, made_on: str | None = None) -> Path:
    """``out/README.md``: each rendered lesson, the answers it printed and the numbers it saved
    (``data/lessons/lesson<N>.json``, SynthFACS, default parameters), and the CPU that made them
    (``made_on``). No timings: they belong to the machine, not to the lesson."""
    lines = ["# Lessons, as `make lessons-record` ran them" if made_on else "# Lessons, as `make lessons` ran them", "",
             "SynthFACS (the lessons' own small draw under `data/lessons/`), each lesson's default parameters, seed 0. "
             "Instructor's notes: [docs/teaching.md](../../docs/teaching.md).", ""]
    if made_on:
        lines += [f"Made on {made_on}: another CPU moves the numbers a little (docs/teaching.md).", ""]
    for name in names:
        lines += answers_markdown([name])
        numbers = {k: v for k, v in saved(name).items() if k != "answers"}
        lines += ["Numbers:", "", "```json", json.dumps(numbers, indent=1), "```", ""]
    path = out / "README.md"
    path.write_text("\n".join(lines))
    return path


TEACHING = Path("docs/teaching.md")
BEGIN, END = "<!-- lesson answers: written by `make lessons-record` -->", "<!-- end of lesson answers -->"


TIMES_BEGIN, TIMES_END = "<!-- lesson times: written by `make lessons-record` -->", "<!-- end of lesson times -->"


def times_markdown(times: dict[str, float], made_on: str) -> list[str]:
    """The kit's and each lesson's wall time of one ``make lessons-record`` run, and the machine."""
    rows = ["| job | wall time |", "|---|---|"] + [f"| {job} | {s:.0f} s |" for job, s in times.items()]
    return [f"One run of `make lessons-record` from no kit, on {made_on}, nothing else running:", "", *rows, ""]


def _replace_block(text: str, begin: str, end: str, lines: list[str], path: Path) -> str:
    if begin not in text or end not in text:
        raise ValueError(f"{path} has no markers {begin!r} ... {end!r}")
    head, rest = text.split(begin, 1)
    return head + begin + "\n" + "\n".join(lines) + end + rest.split(end, 1)[1]


def write_teaching(names, path: Path | None = None, times: dict[str, float] | None = None,
                   made_on: str | None = None) -> None:
    """Put the answers of the lessons' last runs into the instructor's page (``TEACHING`` unless
    ``path``), between its markers, and with ``times`` the run's wall times (``made_on``: the CPU)."""
    path = path or TEACHING  # read at call time, so that the page can be redirected
    text = _replace_block(path.read_text(), BEGIN, END, answers_markdown(names, link="../reports/lessons/{name}.md"),
                          path)
    if times:
        text = _replace_block(text, TIMES_BEGIN, TIMES_END, times_markdown(times, made_on or "this machine"), path)
    path.write_text(text)
