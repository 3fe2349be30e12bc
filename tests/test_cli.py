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
    for command in ("info", "synth", "run", "demo", "bench", "config"):
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


def test_config_prints_the_default_pipeline_and_checks_a_file(tmp_path, capsys):
    from pyhcs.plate import Pipeline

    assert main(["config"]) == 0
    text = capsys.readouterr().out
    assert Pipeline.from_toml(text) == Pipeline()
    assert "# typical nucleus diameter in pixels" in text
    path = tmp_path / "p.toml"
    path.write_text("[nuclei]\nsize_range = [30, 10]\n")
    assert main(["config", str(path)]) == 2
    assert "nuclei.size_range" in capsys.readouterr().err


def test_run_command_with_channel_roles_wells_and_a_config(tmp_path, capsys):
    import pandas as pd

    from pyhcs.datasets import synthetic_plate

    synth = synthetic_plate(tmp_path / "plate", n_wells=2, n_fields=1, shape=(128, 128),
                            n_nuclei=8, seed=4, format="tiff")
    config = tmp_path / "pipeline.toml"
    config.write_text("[nuclei]\nchannel = 'Hoechst'\n[measure.Texture]\nobjects = []\n")
    out = tmp_path / "out"
    # the TIFF plate's channels are DNA and Actin: name the first by the pipeline's role
    args = ["run", str(synth.source), "--out", str(out), "--config", str(config),
            "--channels", "Hoechst=DNA,Actin=Actin", "--wells", "A02", "--quiet",
            "--platemap", str(synth.platemap), "--device", "cpu", "--workers", "1"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "A02: 1 fields" in captured.err
    assert "1 fields" in captured.out and "cpu" in captured.out
    objects = pd.read_parquet(out / "objects")
    assert set(objects["Metadata_Well"]) == {"A02"}
    assert "Nuclei_Intensity_MeanIntensity_Hoechst" in objects.columns
    assert not any("Texture" in c for c in objects.columns)
    assert main(args) == 0
    assert "1 wells already done" in capsys.readouterr().out
    # worker processes: the same rows
    assert main(args[:3] + [str(tmp_path / "p2")] + args[4:] + ["--processes", "2"]) == 0
    capsys.readouterr()
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "p2" / "objects"), objects)
    assert main(args[:2] + ["--out", str(out)]) == 2        # another pipeline, same folder
    assert "another pipeline" in capsys.readouterr().err
    assert main(args[:2] + ["--out", str(tmp_path / "o2"), "--channels", "Hoechst=DNA"]) == 2
    assert "nuclei.channel names channel 'DNA'" in capsys.readouterr().err
    assert main(args[:4] + ["--channels", "DNA"]) == 2
    assert "ROLE=CHANNEL" in capsys.readouterr().err


def test_demo_runs_and_prints_a_summary(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--wells", "2", "--fields", "1",
                 "--size", "128", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "per-well medians" in out and "A01" in out and "A02" in out
    assert (tmp_path / "demo" / "results" / "profiles.parquet").is_file()
    assert (tmp_path / "demo" / "results" / "objects" / "A02.parquet").is_file()


def test_bench_prints_the_time_per_stage(capsys):
    assert main(["bench", "--wells", "1", "--fields", "1", "--size", "128", "--device",
                 "cpu"]) == 0
    out = capsys.readouterr().out
    for stage in ("IdentifyPrimaryObjects", "MeasureTexture", "Read", "wall (overlapped)"):
        assert stage in out
    assert "fields/s" in out
