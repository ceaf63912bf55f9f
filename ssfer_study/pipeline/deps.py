"""Which project code a DVC stage runs: the import closure of its entry modules, read from the
source (AST), and the shortest list of files and folders that covers it. ``tests/test_layers.py``
checks ``dvc.yaml`` against :data:`STAGE_ENTRIES` with it, and the layering rules:
``ssfer_core`` never imports ``ssfer_study`` and no module imports itself through others.

    ssfer deps [--write]        # print each stage's code dependencies (--write: into dvc.yaml)
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGES = ("ssfer_core", "ssfer_study")
SHALLOW = {"ssfer_study.cli"}
"""Entry points whose imports are followed at module level only: each subcommand imports its own
modules when it runs, and a stage names the subcommand's module explicitly."""
STAGE_ENTRIES = {
    "synth": ["ssfer_study.cli", "ssfer_core.data.synthetic"],
    "synth_pretrain": ["ssfer_study.cli", "ssfer_core.data.synthetic"],
    "judge": ["ssfer_study.cli", "ssfer_study.judge.realism"],
    "pretrain": ["ssfer_study.cli", "ssfer_core.pretrain"],
    "configs": ["ssfer_study.cli", "ssfer_study.study"],
    "splits": ["ssfer_study.cli", "ssfer_study.study", "ssfer_core.data.loading"],
    "data_tour": ["ssfer_study.cli", "ssfer_study.stages.data_tour"],
    "train": ["ssfer_study.cli", "ssfer_study.pipeline.train_runs", "ssfer_study.pipeline.training"],
    "results": ["ssfer_study.cli", "ssfer_study.stages.results", "ssfer_study.stages.captions"],   # the notebook shows the captions
    "analysis": ["ssfer_study.cli", "ssfer_study.stages.analysis", "ssfer_study.stages.captions"],
    "report": ["ssfer_study.cli", "ssfer_study.stages.report"],
}


def module_file(name: str, root: Path = Path(".")) -> Path | None:
    base = root / Path(*name.split("."))
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.exists():
            return p
    return None


def all_modules(root: Path = Path(".")) -> list[str]:
    out = []
    for pkg in PACKAGES:
        for f in sorted((root / pkg).rglob("*.py")):
            parts = f.relative_to(root).with_suffix("").parts
            out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


def imports(name: str, root: Path = Path("."), top_level_only: bool = False) -> set[str]:
    """Project modules ``name`` imports (module level and, unless ``top_level_only``, inside
    functions). A package whose ``__init__`` imports its modules with pkgutil imports them all."""
    path = module_file(name, root)
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    out: set[str] = set()
    is_pkg = path.name == "__init__.py"
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                pkg = name.split(".") if is_pkg else name.split(".")[:-1]
                base = ".".join(pkg[: len(pkg) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}  # `from pkg import module`
    if is_pkg and "pkgutil.iter_modules" in path.read_text():
        out |= {f"{name}.{f.stem}" for f in path.parent.glob("*.py") if f.stem != "__init__"}
    return {m for m in out if m.split(".")[0] in PACKAGES and module_file(m, root) is not None} - {name}


def closure(entries: list[str], root: Path = Path(".")) -> set[str]:
    seen, todo = set(), list(entries)
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo += sorted(imports(m, root, top_level_only=m in SHALLOW))
        # importing a.b.c runs a/__init__ and a/b/__init__ first
        parts = m.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts)) if module_file(".".join(parts[:i]), root)]
    return seen


def files(modules: set[str], root: Path = Path(".")) -> set[str]:
    return {module_file(m, root).relative_to(root).as_posix() for m in modules}


def covering(paths: set[str], root: Path = Path(".")) -> list[str]:
    """The shortest list of files and folders whose .py files are exactly ``paths``: a folder
    stands for its files when all of them (at any depth) are in ``paths``."""
    out = []
    dirs = sorted({str(Path(p).parent) for p in paths}, key=lambda d: (d.count("/"), d))
    covered: set[str] = set()
    for d in dirs:
        if any(d == c or d.startswith(c + "/") for c in covered):
            continue
        inside = {f.relative_to(root).as_posix() for f in (root / d).rglob("*.py")}
        if d not in PACKAGES and inside <= paths:
            covered.add(d)
    out += sorted(covered)
    out += sorted(p for p in paths if not any(p.startswith(c + "/") for c in covered))
    return out


def stage_deps(stage: str, root: Path = Path(".")) -> list[str]:
    return covering(files(closure(STAGE_ENTRIES[stage], root), root), root)


def rewrite_dvc_yaml(path: Path = Path("dvc.yaml"), root: Path = Path(".")) -> bool:
    """Rewrite each stage's code dependencies in ``path`` (the ``ssfer_core``/``ssfer_study`` lines
    of its ``deps:``) to :func:`stage_deps`, keeping every other line and comment; True if it changed."""
    lines, out, stage = path.read_text().splitlines(keepends=True), [], None
    for line in lines:
        stripped = line.strip()
        if line.startswith("  ") and not line.startswith("   ") and stripped.endswith(":"):
            stage = stripped[:-1]
        if stage in STAGE_ENTRIES and stripped.startswith("- ssfer_"):
            if not out[-1].strip().startswith("- ssfer_"):  # the first code line: write the whole list
                indent = line[: len(line) - len(line.lstrip())]
                out += [f"{indent}- {d}\n" for d in stage_deps(stage, root)]
            continue
        out.append(line)
    text = "".join(out)
    changed = text != path.read_text()
    path.write_text(text)
    return changed


def import_graph(root: Path = Path(".")) -> dict[str, set[str]]:
    return {m: imports(m, root) for m in all_modules(root)}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (a list of modules, first = last), or None. A package's own ``__init__``
    importing its modules is not a cycle of theirs (Python runs the package first)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if m.startswith(n + "."):  # a module naming its own package
                continue
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None
