"""The GPU device check is ready to run: its dry run on CPU goes through every part."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_device_check_dry_run_on_cpu():
    env = dict(os.environ, PY=sys.executable)
    r = subprocess.run(["bash", "bench/device_check.sh", "--dry-run"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    table = r.stdout.split("== device check: one table", 1)[1]
    assert "tests -m cuda" in table and "ok" in table.splitlines()[2]
    # every method and precision printed a row with its steps/s and a finite loss
    for method in ("supervised", "fixmatch", "sitfer", "leaf"):
        for variant in ("fp32", "bf16"):
            row = next(l for l in table.splitlines() if l.split()[:2] == [method, variant])
            assert float(row.split()[-1]) > 0 and float(row.split()[4]) > 0
    assert "default study on the GPU" in table and "DDP 2 GPUs" in table and "skipped" in table
