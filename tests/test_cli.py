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


def test_synth_plate_mode_and_info_plate(tmp_path, capsys):
    out = tmp_path / "plate"
    assert main(["synth", str(out), "--wells", "6", "--fields", "2", "--shape", "48", "64",
                 "--format", "tiff", "--layout", "operetta", "--seed", "4", "--quiet"]) == 0
    assert (out / "platemap.csv").is_file() and (out / "Images" / "Index.idx.xml").is_file()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "operetta" in text and "6  (A01, A02, ..., A06)" in text
    assert "2 x 48 x 64 (C x H x W) uint16" in text
    assert main(["synth", str(out), "--wells", "6", "--quiet"]) == 1
    assert "already holds a plate" in capsys.readouterr().err
    assert main(["synth", str(tmp_path / "z"), "--wells", "2", "--fields", "1", "--shape",
                 "32", "32", "--ngff", "0.4"]) == 0
    printed = capsys.readouterr().out
    assert "wrote plate SYNTH (zarr): 2 wells x 1 fields" in printed
    assert (tmp_path / "z" / "plate.ome.zarr" / ".zattrs").is_file()


def test_info_on_a_bad_plate_is_a_clear_error(tmp_path, capsys):
    assert main(["info", str(tmp_path)]) == 2
    assert "an empty folder" in capsys.readouterr().err
    assert main(["info", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
