"""The layering, read from the source: the core never imports the study layer, no module imports
itself through others, each DVC stage depends on exactly the code it runs, and the generated
profiles are current."""
from pathlib import Path

import pytest
import yaml

from ssfer_study.pipeline import deps
from ssfer_study.study import STUDIES, merge_profile, GENERATED

ROOT = Path(__file__).resolve().parents[1]


def test_core_never_imports_the_study_layer():
    graph = deps.import_graph(ROOT)
    upward = [(m, n) for m, targets in graph.items() for n in targets
              if m.startswith("ssfer_core") and n.startswith("ssfer_study")]
    assert not upward, upward
    assert len(graph) > 30  # the walk saw the packages


def test_no_import_cycle():
    assert deps.find_cycle(deps.import_graph(ROOT)) is None


def test_cycle_detector_finds_one():
    assert deps.find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert deps.find_cycle({"p": {"p.m"}, "p.m": {"p"}}) is None  # a package and its own module


def _code_deps(stage: dict) -> set[str]:
    return {d for d in stage["deps"] if str(d).startswith(("ssfer_core", "ssfer_study"))}


@pytest.mark.parametrize("stage", list(deps.STAGE_ENTRIES))
def test_dvc_stage_depends_on_exactly_the_code_it_runs(stage):
    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    spec = pipeline[stage]["do"] if "foreach" in pipeline[stage] else pipeline[stage]
    assert _code_deps(spec) == set(deps.stage_deps(stage, ROOT)), "run `ssfer deps --write`"


def test_training_depends_on_the_config_route_only_no_renderer_no_judge():
    from ssfer_study.pipeline import train_runs

    # what a run's notebook imports (the closure its fingerprint hashes): the library and the one
    # route to a run's config (``run_training`` -> ``Study.config``), nothing else of the study layer
    run_code = deps.files(deps.closure(train_runs.CODE_ENTRIES, ROOT), ROOT)
    assert {d for d in run_code if d.startswith("ssfer_study")} == {
        "ssfer_study/__init__.py", "ssfer_study/study.py", "ssfer_study/pipeline/__init__.py",
        "ssfer_study/pipeline/training.py"}
    assert "ssfer_core/data/synthetic.py" not in run_code and "ssfer_core/pretrain.py" not in run_code
    # the stage adds its scheduler and nothing else of the study layer
    stage = set(deps.stage_deps("train", ROOT))
    assert {d for d in stage if d.startswith("ssfer_study")} == {
        "ssfer_study/__init__.py", "ssfer_study/cli.py", "ssfer_study/study.py", "ssfer_study/pipeline/__init__.py",
        "ssfer_study/pipeline/deps.py", "ssfer_study/pipeline/train_runs.py", "ssfer_study/pipeline/training.py"}
    assert "ssfer_core/methods" in stage and "ssfer_core/train.py" in stage


def test_generated_profiles_are_current():
    for src in sorted((ROOT / STUDIES).glob("*/profile.yaml")):
        name = src.parent.name
        committed = (src.parent / "params.yaml").read_text()
        assert committed.startswith(GENERATED.format(name=name)), name
        import os
        cwd = os.getcwd()
        try:
            os.chdir(ROOT)
            assert yaml.safe_load(committed) == merge_profile(name), f"run `ssfer profile resolve {name}`"
        finally:
            os.chdir(cwd)


def test_the_configs_stage_reruns_when_any_profile_key_a_run_config_reads_changes():
    """Study.config composes a run from the profile's `train`, `methods` and `runs`: an edit of any
    of them (say a method's lr) must re-write the run configs the training stage depends on."""
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["configs"]
    keys = {k for entry in stage["params"] for keys in entry.values() for k in keys}
    assert {"train", "methods", "runs"} <= keys, keys


def test_every_relative_link_of_the_docs_and_the_readme_resolves():
    """A link in README.md or docs/*.md names a file of the repository (or one a stage writes into
    a committed report folder); a moved or renamed file breaks this, not a reader."""
    import re

    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert broken == [], broken


def test_docs_hold_prose_not_data():
    """The sweeps' plans and rows live in studies/validation/, not in docs/."""
    assert not [p.name for p in (ROOT / "docs").iterdir() if p.suffix in (".jsonl", ".txt", ".json", ".csv")]
