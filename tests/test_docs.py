"""Documentation that must keep up with the code (fails when a command is undocumented)."""

from __future__ import annotations

from pathlib import Path

import typer.main

from app.cli import cli
from app.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def _commands(group: typer.Typer, prefix: str = "elicit") -> list[str]:
    command = typer.main.get_command(group)
    names = []
    for name, sub in command.commands.items():  # type: ignore[attr-defined]
        full = f"{prefix} {name}"
        if hasattr(sub, "commands"):
            names += [f"{full} {child}" for child in sub.commands]
        else:
            names.append(full)
    return names


def test_every_cli_command_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in _commands(cli) if name not in readme]
    assert missing == [], f"undocumented commands: {missing}"


def test_every_setting_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = [
        name.upper()
        for name in Settings.model_fields
        if name != "surveys_dir" and name.upper() not in readme
    ]
    assert missing == []


def test_readme_gives_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "    bash .ci/demo\n" in readme and "    bash .ci/run\n" in readme
    assert (ROOT / ".ci" / "run").read_text().count("pytest") >= 1
