"""What every bench script ends with: its table printed, and written to ``--out`` when given."""
from __future__ import annotations

from pathlib import Path


def emit(lines: list[str], out: str | None) -> str:
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        Path(out).write_text(text)
    return text
