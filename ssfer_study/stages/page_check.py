"""What a reader must never meet on a rendered page: the checks every executed report and lesson
notebook passes (``problems``), run by the smoke study's test and by ``make lessons``.

A page fails on a ``NaN`` in a table or printed value, a Python repr where text belongs
(``PosixPath(``, a table row that is a tuple, a bare ``<Figure size ...>`` line with no image), an
empty code cell, a figure whose title the stage found outside the figure (``CLIPPED``) and one
where two texts overlap (``OVERLAP``: colliding tick labels, a label printed over a title)."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

CLIPPED = "title outside the figure:"
"""What a stage prints for a figure whose title leaves it (``plots.titles_outside``)."""

OVERLAP = "text over text in the figure:"
"""What a stage prints for two texts of a figure that overlap (``plots.overlapping_texts``)."""

CHECKS = (
    (re.compile(r"(?<![A-Za-z])(NaN|nan)(?![A-Za-z])"), "NaN in a table or value"),
    (re.compile(r"PosixPath\(|WindowsPath\("), "a Python path repr"),
    (re.compile(r"^\|\s*\('", re.M), "a table row printed as a Python tuple"),
    (re.compile(re.escape(CLIPPED)), "a figure title outside its figure"),
    (re.compile(re.escape(OVERLAP)), "text printed over text in a figure"),
)


def _texts(output: dict) -> list[str]:
    if output.get("output_type") == "stream":
        return ["".join(output.get("text", ""))]
    data = output.get("data", {})
    # what the page shows: markdown or HTML when present, the plain repr only when nothing richer exists
    for kind in ("text/markdown", "text/html", "text/plain"):
        if kind in data:
            if kind == "text/plain" and "image/png" in data:
                return []  # a figure's '<Figure size ...>' repr sits beside its image and is not shown
            return ["".join(data[kind])]
    return []


def text_problems(text: str) -> list[str]:
    """The problems of one rendered text (a Markdown table file, a cell's output)."""
    return [f"{what}: {m.group(0)!r}" for pattern, what in CHECKS if (m := pattern.search(text))]


def problems(notebook: str | Path) -> list[str]:
    """Each problem of an executed notebook as ``cell N: what`` (empty when the page is clean)."""
    nb = json.loads(Path(notebook).read_text())
    out = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        if not "".join(cell["source"]).strip() and "injected-parameters" not in tags:
            out.append(f"cell {i}: an empty code cell")
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                out.append(f"cell {i}: an error ({o.get('ename')})")
            out += [f"cell {i}: {p}" for text in _texts(o) for p in text_problems(text)]
    return out


def main(argv: list[str] | None = None) -> int:
    """``ssfer page-check FILE...`` (executed notebooks, Markdown tables): print each
    page's problems; exit 1 if any."""
    bad = 0
    for path in argv if argv is not None else sys.argv[1:]:
        found = problems(path) if str(path).endswith(".ipynb") else text_problems(Path(path).read_text())
        for p in found:
            print(f"{path}: {p}")
            bad += 1
    return 1 if bad else 0

