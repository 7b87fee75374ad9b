"""The docs say what the code does: docs/cli.md is written from the parsers (and matches --help),
the README is a front door that links to the rest, and no figure cites an internal issue."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def test_the_cli_reference_is_written_from_the_parsers():
    from bonito_hub.commands.reference import cli_reference

    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == cli_reference(), \
        "docs/cli.md is stale: run python -m bonito_hub.commands.reference > docs/cli.md"


@pytest.mark.parametrize("argv", [["generate"], ["evaluate"], ["adapt"], ["demo"], ["ctga", "build"],
                                  ["push", "adapter"], ["push", "dataset"], ["tasks"], ["check-overlap"]])
def test_every_flag_of_help_is_in_the_reference(argv, capsys, monkeypatch):
    from bonito_hub.cli import main

    monkeypatch.setenv("COLUMNS", "400")  # one option a line
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    shown = set(re.findall(r"^\s+(?:-\w, )?(--[a-z][a-z0-9-]+)", capsys.readouterr().out, re.M))
    shown -= {"--help", "--verbose", "--quiet", "--no-progress"}
    section = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8").split(f"## `bonito {' '.join(argv)}`")[1]
    section = section.split("\n## ")[0]
    assert {flag for flag in shown if f"`{flag}`" not in section} == set()
    assert shown or argv == ["tasks"]


def test_the_readme_is_a_front_door():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = readme.splitlines()
    assert len(lines) < 250
    setup = readme.split("```bash", 1)[1].split("```", 1)[0].strip().splitlines()
    assert setup[0].startswith("pip install torch==2.13.0 -e \".[dev]\"") and "bonito demo" in setup[0]
    assert setup[1] == "pytest -q"
    assert "pytest -q\n" in (ROOT / ".ci" / "run").read_text()  # CI runs the README's test command
    for link in re.findall(r"\]\(([^)#]+)[^)]*\)", readme):
        if not link.startswith("http"):
            assert (ROOT / link).exists(), link
    for name in ("docs/cli.md", "docs/design.md", "recipes/README.md", "benchmarks/README.md"):
        assert f"({name})" in readme, name


def test_no_figure_cites_an_internal_issue():
    for path in [ROOT / "README.md", *ROOT.glob("docs/*.md"), ROOT / "benchmarks" / "README.md",
                 ROOT / "recipes" / "README.md"]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\bissues? \d+", text, re.I), path
