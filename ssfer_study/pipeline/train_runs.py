"""``ssfer train-runs``: the `train` stage. Every run of a profile, each in its own papermill
notebook, ``workers`` at a time, skipping the runs that are already trained on the same inputs.

    ssfer train-runs --profile params.yaml --configs data/default/run_configs --out runs/default --workers 2

Why one stage with a pool, not one DVC stage per run: ``dvc repro`` runs stages one after another,
and on the 2-core machines the study is sized for, two 1-thread runs side by side make more steps
than one 2-thread run on the default network (bench/results/threads_by_backbone.txt). DVC's
per-run caching is kept by a **fingerprint** per run, the hash of everything its notebook reads that
DVC tracked per run before: its resolved config file, the notebook, the split and the pretrained
backbone folders, the code the notebook imports (the import closure of ``ssfer_study.pipeline.training``:
the library and the study's one route to a run's config, as :mod:`ssfer_study.pipeline.deps` computes it)
and the kind of device the run trains on. So when DVC re-runs the stage because one run's config
changed, that run trains and the others are skipped; when that code changes, every run trains. The scheduling code (this module, the command line) is not in the fingerprint:
editing it re-trains nothing.

A profile that retrains the runs of another (``labels`` and ``extended`` hold the default's main
table, each on its own data) names it in ``reuse_runs_from:``; a run of the same name there that is
finished and trained on the same inputs, compared by content and not by path (:func:`identity`), is
copied instead of trained again. That is the same run: one machine trains the same inputs to the
same bits (the fresh-clone study reproduced every committed run's metrics exactly,
docs/benchmarks.md). The copy holds ``.reused_from`` (the run it came from).

Nothing is lost: a run writes ``.started`` (its fingerprint) before training and ``.fingerprint``
after ``metrics.json``; a killed stage resumes each unfinished run from its last checkpoint when its
inputs are unchanged, and starts it afresh (the folder emptied) when they changed. A failed run stops
new runs from starting, lets the running ones finish, and the error names its log.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

from ssfer_core.devices import cuda_count, kind, resolve_device
from ssfer_core.errors import ConfigError
from ssfer_study.pipeline import deps

NOTEBOOK = Path("notebooks/train.ipynb")
CODE_ENTRIES = ["ssfer_study.pipeline.training"]
"""What the training notebook imports: the fingerprint covers their import closure."""
STARTED, DONE, REUSED = ".started", ".fingerprint", ".reused_from"
PROFILE_PATHS = (("data", "root"), ("data", "split_dir"), ("data", "cache_dir"), ("net", "weights"))
"""The config keys that name a profile's own folders: :func:`identity` compares what they hold instead."""


@dataclass(frozen=True)
class RunJob:
    name: str
    profile_file: Path
    config_file: Path
    out_dir: Path
    fingerprint: str
    cost: float
    threads: int
    device: str = "cpu"
    """The device kind the run trains on (its ``train.device``, resolved): ``cpu`` or ``cuda``;
    :func:`train_runs` pins a ``cuda`` run to one free GPU (``cuda:K``) when it starts."""


def _path_digest(path: Path) -> bytes:
    """Each file's path and md5 under ``path``, in order: what the fingerprint hashes for it."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return b"".join(f.as_posix().encode() + hashlib.md5(f.read_bytes()).digest() for f in files)


def shared_inputs(config: dict) -> list[Path]:
    """What every run's notebook reads besides its own config: the notebook, the library code, the
    split folder and the pretrained backbone's folder (as the run's config names them)."""
    code = sorted(Path(p) for p in deps.files(deps.closure(CODE_ENTRIES)))
    data = [Path(config["data"]["split_dir"])]
    weights = config.get("net", {}).get("weights")
    if weights and Path(weights).is_file():  # not a hub name (resnet18's 'imagenet', ...)
        data.append(Path(weights).parent)
    return [NOTEBOOK, *code, *data]


def shared_digest(shared: list[Path]) -> bytes:
    """The inputs every run shares, read once per stage (not once per run)."""
    for p in shared:
        if not p.exists():
            raise FileNotFoundError(f"{p} is missing: a training run reads it (run the stages before `train`)")
    return b"".join(_path_digest(p) for p in shared)


def fingerprint(config_file: Path, shared: bytes, device: str = "cpu") -> str:
    """A run's identity: its config file, what every run shares and the device kind it trains on
    (a run trained on the CPU is trained again on a GPU, and the other way round)."""
    return hashlib.sha256(_path_digest(config_file) + shared + device.encode()).hexdigest()


def _content_digest(path: Path) -> bytes:
    """Each file's md5 under ``path`` with its name relative to ``path``: the same bytes in another
    profile's folder give the same digest."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return b"".join((f.relative_to(path).as_posix() if path.is_dir() else "").encode()
                    + hashlib.md5(f.read_bytes()).digest() for f in files)


def strip_profile_paths(cfg: dict) -> dict:
    """``cfg`` (a run's config as a dict) without the keys in :data:`PROFILE_PATHS`, in place."""
    for section, key in PROFILE_PATHS:
        cfg.get(section, {}).pop(key, None)
    return cfg


def identity(config: Path | dict, device: str = "cpu", digests: dict | None = None) -> dict[str, str]:
    """What a run's training reads, named part by part and independent of the folders it lies in:
    its config (a run config file, or the mapping) without the keys that name those folders, the
    contents of its dataset, of its own split file (not the whole split folder: another profile may
    hold more splits) and of its pretrained weights, the code, the notebook and the device kind. Two
    runs with equal identities train the same run. ``digests`` keeps each file set's digest for the
    caller's next run (one stage reads the dataset and the code once, not once a run)."""
    from ssfer_core.data.config import DataConfig
    from ssfer_core.data.splits import split_path

    digests = {} if digests is None else digests

    def digest(key: str, make) -> bytes:
        if key not in digests:
            digests[key] = make()
        return digests[key]

    cfg = config if isinstance(config, dict) else yaml.safe_load(Path(config).read_text())
    data = DataConfig(**cfg["data"])
    weights = cfg.get("net", {}).get("weights")
    parts = {"config": yaml.safe_dump(strip_profile_paths(yaml.safe_load(yaml.safe_dump(cfg))), sort_keys=True).encode(),
             "dataset": digest(f"dataset:{data.root}", lambda: _content_digest(Path(data.root))),
             "split": _content_digest(split_path(data)),
             "weights": digest(f"weights:{weights}", lambda: _content_digest(Path(weights)))
             if weights and Path(weights).is_file() else str(weights).encode(),
             "code": digest("code", lambda: b"".join(_path_digest(Path(p)) for p in
                                                     [NOTEBOOK, *sorted(deps.files(deps.closure(CODE_ENTRIES)))])),
             "device": device.encode()}
    return {k: hashlib.sha256(v).hexdigest() for k, v in parts.items()}


def run_key(config: Path | dict, device: str = "cpu", digests: dict | None = None) -> str:
    """:func:`identity` as one hash: equal keys, the same run (what the lessons' runs are reused by)."""
    parts = identity(config, device, digests)
    return hashlib.sha256("".join(f"{k}={v};" for k, v in sorted(parts.items())).encode()).hexdigest()


def relative_cost(method: str) -> float:
    """Seconds a step relative to supervised, as the method declares it (``MethodDef.cost``); a
    method that declares none is scheduled as the costliest, so it starts first."""
    from ssfer_core.methods import METHODS

    known = [d.cost for _, d in METHODS.items() if d.cost is not None]
    return METHODS[method].cost or max(known)


def finished_runs(source: str, gpus: int | None = None) -> dict[str, RunJob]:
    """The runs of profile ``source`` that are finished and current on their inputs (none when that
    profile's configs are not written yet)."""
    from ssfer_study.study import load_study

    study = load_study(source)
    if not any(study.run_configs_dir.glob("*.yaml")):
        return {}
    try:
        jobs = plan(study.file, study.run_configs_dir, study.runs_dir, gpus=gpus)
    except FileNotFoundError:  # its splits or backbone are gone: nothing of it can be checked
        return {}
    return {j.name: j for j in jobs if is_current(j)}


def reuse(job: RunJob, donor: RunJob, digests: dict | None = None) -> list[str]:
    """Copy ``donor``'s finished run into ``job.out_dir`` when both train the same run; returns the
    parts of their :func:`identity` that differ (empty: copied). The copy's config.yaml names this
    profile's folders."""
    mine = identity(job.config_file, job.device, digests)
    theirs = identity(donor.config_file, donor.device, digests)
    differ = [k for k in mine if mine[k] != theirs[k]]
    if differ:
        return differ
    if job.out_dir.exists():
        shutil.rmtree(job.out_dir)
    shutil.copytree(donor.out_dir, job.out_dir)
    cfg_file, own = job.out_dir / "config.yaml", yaml.safe_load(job.config_file.read_text())
    if cfg_file.exists():
        cfg = yaml.safe_load(cfg_file.read_text())
        for section, key in PROFILE_PATHS:
            if key in own.get(section, {}):
                cfg.setdefault(section, {})[key] = own[section][key]
        cfg_file.write_text(yaml.safe_dump(cfg, sort_keys=False))
    (job.out_dir / REUSED).write_text(f"{donor.out_dir} {donor.fingerprint}\n")
    (job.out_dir / STARTED).write_text(job.fingerprint + "\n")
    (job.out_dir / DONE).write_text(job.fingerprint + "\n")
    return []


def shard_of(files: list[Path], shard: tuple[int, int] | None) -> list[Path]:
    """The runs of shard ``(k, n)``: every n-th run in name order from the k-th (0-based), so that n
    machines sharing the runs folder (a SLURM array, docs/scaling.md) split the runs between them."""
    if shard is None:
        return files
    k, n = shard
    if not 0 <= k < n:
        raise ConfigError(f"shard {k}/{n} is not allowed: expected 0 <= K < N")
    return files[k::n]


def plan(profile_file: Path, configs_dir: Path, out_root: Path, shard: tuple[int, int] | None = None,
         gpus: int | None = None) -> list[RunJob]:
    """Every run whose config is in ``configs_dir`` (the `configs` stage writes one file a run from
    ``profile_file``, which the notebook reads), longest first; only shard ``(k, n)`` when given.
    Each run's ``train.device`` is resolved against the ``gpus`` there are (default: what torch
    sees): a run that asks for a GPU on a machine without one stops the plan, before anything trains."""
    files = shard_of(sorted(Path(configs_dir).glob("*.yaml")), shard)
    if not files:
        raise ConfigError(f"no run configs in {configs_dir}: run the `configs` stage (ssfer profile configs)")
    jobs, digests = [], {}
    for f in files:
        cfg = yaml.safe_load(f.read_text())
        shared = shared_inputs(cfg)
        key = tuple(shared)
        if key not in digests:
            digests[key] = shared_digest(shared)
        cost = cfg["steps"] * relative_cost(cfg["method"])
        device = kind(resolve_device(cfg.get("device", "cpu"), gpus))
        jobs.append(RunJob(f.stem, Path(profile_file), f, Path(out_root) / f.stem,
                           fingerprint(f, digests[key], device), cost, int(cfg.get("threads") or 0), device))
    return sorted(jobs, key=lambda j: (-j.cost, j.name))


def _read(path: Path) -> str | None:
    return path.read_text().strip() if path.exists() else None


def is_current(job: RunJob) -> bool:
    return _read(job.out_dir / DONE) == job.fingerprint and (job.out_dir / "metrics.json").exists()


def prepare(job: RunJob) -> str:
    """Make ``job.out_dir`` ready to train: keep a killed run with the same inputs (it resumes),
    empty one trained or started on other inputs. Returns 'resume' or 'fresh'."""
    if _read(job.out_dir / STARTED) == job.fingerprint and not (job.out_dir / DONE).exists():
        return "resume"
    if job.out_dir.exists():
        shutil.rmtree(job.out_dir)
    job.out_dir.mkdir(parents=True)
    (job.out_dir / STARTED).write_text(job.fingerprint + "\n")
    return "fresh"


def papermill(job: RunJob) -> None:
    """Run the training notebook for ``job`` in a kernel of its own; its output goes to
    ``<run>/papermill.log``."""
    cmd = [str(Path(sys.executable).parent / "papermill"), str(NOTEBOOK), str(job.out_dir / "train.ipynb"),
           "-k", "python3", "--log-level", "WARNING", "-p", "profile_file", str(job.profile_file),
           "-p", "run", job.name, "-p", "out_dir", str(job.out_dir)]
    if job.device != "cpu":  # the GPU this run holds (cuda:K)
        cmd += ["-p", "device", job.device]
    env = os.environ | ({"OMP_NUM_THREADS": str(job.threads)} if job.threads else {})
    with open(job.out_dir / "papermill.log", "w") as log:
        subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, check=True)


def remove_dropped(out_root: Path, names: set[str]) -> list[str]:
    """Delete run folders this command made (they hold a fingerprint) whose run left the profile;
    anything else under ``out_root`` (a notebook's ``_variant`` folder) is left alone."""
    dropped = []
    for d in sorted(Path(out_root).glob("*")):
        if d.is_dir() and d.name not in names and ((d / DONE).exists() or (d / STARTED).exists()):
            shutil.rmtree(d)
            dropped.append(d.name)
    return dropped


def resolve_workers(workers: int | str, jobs: list[RunJob], gpus: int) -> int:
    """``workers`` as a number: ``auto`` is one run per GPU when the runs train on GPUs, else 1."""
    if workers == "auto":
        return gpus if gpus and any(j.device == "cuda" for j in jobs) else 1
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be >= 1 (or auto: one run per GPU), got {workers!r}")
    return workers


def train_runs(profile_file: Path, configs_dir: Path, out_root: Path, workers: int | str = 1,
               launch: Callable[[RunJob], None] = papermill, say: Callable[[str], None] = print,
               shard: tuple[int, int] | None = None, gpus: int | None = None,
               donors: dict[str, RunJob] | None = None) -> dict:
    """Train every run that is not current, ``workers`` at a time (``auto``: one per GPU), each GPU
    run pinned to a GPU no other running run holds; returns the names trained, skipped, dropped and
    reused (copied from ``donors``, finished runs by name: default those of the profile's
    ``reuse_runs_from``, :func:`reuse`).
    ``shard=(k, n)`` trains every n-th run only (several machines, one runs folder). Raises
    RuntimeError naming each failed run and its log."""
    gpus = cuda_count() if gpus is None else gpus
    resolve_workers(workers, [], gpus)  # a bad value stops before anything is read
    jobs = plan(Path(profile_file), Path(configs_dir), Path(out_root), shard, gpus)
    # a shard does not know the other shards' runs: only a whole plan may drop run folders
    dropped = remove_dropped(Path(out_root), {j.name for j in jobs}) if shard is None else []
    todo = [j for j in jobs if not is_current(j)]
    skipped = [j.name for j in jobs if j not in todo]
    reused = []
    from ssfer_study.study import load_study

    source = load_study(profile_file).reuse_runs_from
    if donors is None:
        donors = finished_runs(source, gpus) if source and todo else {}
    digests: dict = {}
    for job in list(todo):
        if job.name in donors:
            differ = reuse(job, donors[job.name], digests)
            if differ:
                say(f"train-runs: {job.name} not reused from {donors[job.name].out_dir}: its {', '.join(differ)} differ")
            else:
                todo.remove(job)
                reused.append(job.name)
    workers = resolve_workers(workers, todo, gpus)
    free_gpus: queue.SimpleQueue[str] = queue.SimpleQueue()
    for i in range(gpus):
        free_gpus.put(f"cuda:{i}")
    threads = max((j.threads for j in todo if j.device == "cpu"), default=0)
    if todo and threads and workers * threads > (os.cpu_count() or 1):
        say(f"train-runs: warning: {workers} workers x {threads} threads > {os.cpu_count()} CPUs: "
            "the runs will slow each other down (set `workers` or `train.threads` in the profile)")
    say(f"train-runs: {len(todo)} to train, {len(skipped)} up to date" +
        (f", {len(reused)} copied from finished runs{f' of profile {source}' if source else ''}" if reused else "") +
        (f", {len(dropped)} dropped ({', '.join(dropped)})" if dropped else "") + f"; {workers} at a time")
    failed: dict[str, str] = {}
    done_count, lock, t0 = 0, threading.Lock(), time.perf_counter()

    def one(job: RunJob) -> None:
        nonlocal done_count
        how = prepare(job)
        t = time.perf_counter()
        gpu = free_gpus.get() if job.device == "cuda" else None  # waits while every GPU is taken
        try:
            launch(dataclasses.replace(job, device=gpu) if gpu else job)
        finally:
            if gpu:
                free_gpus.put(gpu)
        (job.out_dir / DONE).write_text(job.fingerprint + "\n")
        with lock:
            done_count += 1
            say(f"[{done_count}/{len(todo)}] {job.name} trained ({how}) in {time.perf_counter() - t:.0f} s; "
                f"{time.perf_counter() - t0:.0f} s since the start")

    pending = list(todo)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        running = {}
        while pending or running:
            while pending and len(running) < workers and not failed:
                job = pending.pop(0)
                running[pool.submit(one, job)] = job
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                job = running.pop(fut)
                if fut.exception() is not None:
                    failed[job.name] = f"{fut.exception()} (log: {job.out_dir / 'papermill.log'}, " \
                                       f"notebook: {job.out_dir / 'train.ipynb'})"
    if failed:
        lines = "\n".join(f"  {k}: {v}" for k, v in failed.items())
        raise RuntimeError(f"{len(failed)} run(s) failed; the finished runs are kept and `dvc repro` trains "
                           f"the rest (a killed run resumes from its checkpoint):\n{lines}")
    return {"trained": [j.name for j in todo], "skipped": skipped, "dropped": dropped, "reused": reused}
