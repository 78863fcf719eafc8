"""The installed commands end with their status once the exit handlers have run, without
the interpreter's teardown (orchestration.commands)."""

import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent

# A click command in a process of its own, as a console script runs one. `__del__` of a
# module's object runs in the interpreter's teardown, the atexit handler before it.
SCRIPT = """
import atexit, sys
from pathlib import Path

import click

from orchestration import commands

folder = Path(sys.argv[1])

class Canary:
    def __del__(self):
        (folder / "torn-down").write_text("")

canary = Canary()

@click.command()
@click.argument("how")
def command(how):
    atexit.register(lambda: (folder / "handler-ran").write_text(""))
    print("output", end="")  # left in stdout's buffer: the end flushes it
    if how == "status":
        sys.exit(3)
    if how == "message":
        sys.exit("a message")
    if how == "raise":
        raise ValueError("a failure")

if sys.argv[3] == "through-run":
    commands.run(lambda: command(sys.argv[2:3]))
else:
    command(sys.argv[2:3])
"""


def _script(tmp_path: Path, how: str, through: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "command.py"
    script.write_text(SCRIPT)
    argv = [sys.executable, str(script), str(tmp_path), how, through]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("how", "status", "stderr"),
    [
        ("ok", 0, ""),
        ("status", 3, ""),
        ("message", 1, "a message"),
        ("raise", 1, "ValueError: a failure"),
    ],
)
def test_a_command_ends_with_its_status_after_its_exit_handlers_without_the_teardown(
    tmp_path: Path, how: str, status: int, stderr: str
) -> None:
    proc = _script(tmp_path, how, "through-run")
    assert proc.returncode == status, proc.stderr
    assert proc.stdout == "output"
    assert stderr in proc.stderr
    assert (tmp_path / "handler-ran").exists()
    assert not (tmp_path / "torn-down").exists()


def test_the_same_command_run_directly_is_torn_down(tmp_path: Path) -> None:
    # What the test above tells apart: without `commands.run`, the canary's __del__ runs.
    proc = _script(tmp_path, "status", "directly")
    assert proc.returncode == 3, proc.stderr
    assert (tmp_path / "handler-ran").exists()
    assert (tmp_path / "torn-down").exists()


def _installed(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BIN / argv[0], *argv[1:]], capture_output=True, text=True, timeout=120)


def test_the_installed_commands_exit_with_the_status_of_their_clis() -> None:
    usage = _installed("partnerpulse", "run", "--month", "2025-13")
    assert usage.returncode == 2
    assert "--month" in usage.stderr
    dbt = _installed("partnerpulse-dbt", "--help")
    assert dbt.returncode == 0, dbt.stderr
    assert "An ELT tool for managing your SQL transformations" in dbt.stdout
    unknown = _installed("partnerpulse-dbt", "no-such-command")
    assert unknown.returncode == 2
    assert "No such command" in unknown.stderr
