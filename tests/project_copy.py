"""A git + DVC copy of the project in a temporary folder, for the end-to-end pipeline tests: the
working tree (and its committed default outputs) is never touched."""
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(cmd, cwd, timeout=1200) -> str:
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg", "HOME": str(Path.home())}
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{cmd} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout + r.stderr


def git_copy(tmp_path: Path, drop_reports: str) -> Path:
    """Copy what `dvc repro` needs into ``tmp_path/proj``, without any profile's lock or the
    ``reports/<drop_reports>`` folder, and commit it in a fresh git + DVC repository."""
    proj = tmp_path / "proj"
    proj.mkdir()
    for item in ("dvc.yaml", "params.yaml", "README.md", "notebooks", "ssfer_core", "ssfer_study", "studies", ".gitignore",
                 "reports"):
        src = ROOT / item
        if src.exists():
            (shutil.copytree(src, proj / item, symlinks=True) if src.is_dir() else shutil.copy(src, proj / item))
    for lock in proj.glob("studies/*/dvc.lock"):
        lock.unlink()
    shutil.rmtree(proj / "reports" / drop_reports, ignore_errors=True)
    run(["git", "init", "-q"], proj)
    run([str(BIN / "dvc"), "init", "-q"], proj)
    shutil.copy(ROOT / ".dvcignore", proj / ".dvcignore")  # __pycache__ is not part of a code dependency
    commit(proj, "copy")
    return proj


def commit(proj: Path, message: str) -> None:
    run(["git", "add", "-A"], proj)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message], proj)
