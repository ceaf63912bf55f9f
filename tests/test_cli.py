"""The one command line: every subcommand the parser offers is one function, and the entry points
of the Makefile and the pipeline are `ssfer` subcommands."""
from pathlib import Path

import yaml

from ssfer_study import cli

ROOT = Path(__file__).resolve().parents[1]


def test_every_subcommand_is_one_function():
    sub = next(a for a in cli._parser()._actions if a.dest == "cmd")
    assert set(sub.choices) == set(cli.COMMANDS)
    assert all(f.__name__ == f"cmd_{name.replace('-', '_')}" for name, f in cli.COMMANDS.items())


def test_the_pipeline_and_the_makefile_call_the_project_through_ssfer_only():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        assert stage["cmd"].startswith("ssfer "), (name, stage["cmd"])
    make = (ROOT / "Makefile").read_text()
    assert "python -m ssfer" not in make and "python -c" not in make


def test_a_usage_error_names_the_subcommand_and_exits_2(capsys):
    assert cli.main(["sweep"]) == 2
    assert "ssfer sweep: error: " in capsys.readouterr().err
