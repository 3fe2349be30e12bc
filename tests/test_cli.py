"""The ``pyhcs`` command line."""

import json
import shutil
import subprocess
import sys

import pytest

from pyhcs.cli import main


def test_help_lists_the_subcommands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("info", "synth"):
        assert command in out


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: pyhcs" in capsys.readouterr().out


def test_info_reports_the_core_and_devices(capsys):
    assert main(["info"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["pyhcs"]
    assert "openmp" in info["core"]
    assert isinstance(info["cuda"], bool)


def test_console_script_and_module_entry_points():
    script = shutil.which("pyhcs")
    commands = [[sys.executable, "-m", "pyhcs", "--help"]]
    if script:
        commands.append([script, "--help"])
    for command in commands:
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        assert "synth" in result.stdout and "info" in result.stdout
