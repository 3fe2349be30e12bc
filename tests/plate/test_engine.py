"""The plate engine end to end: outputs, formats, resume after kill -9, bad fields, pycytominer."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import require_reference
from pyhcs.datasets import synthetic_plate
from pyhcs.plate import Pipeline, Plate, PlateError, open_plate, process_field, run

SHAPE = (160, 160)
MEASURES = ["Nuclei_AreaShape_Area", "Cells_Intensity_MeanIntensity_Actin",
            "Cytoplasm_Texture_Contrast_DNA_3_00_256", "Nuclei_AreaShape_Zernike_4_2"]


def _pd():
    return require_reference("pandas")


def _plate(root, *, format="zarr", layout="operetta", n_wells=3, n_fields=2, seed=5):
    return synthetic_plate(root, n_wells=n_wells, n_fields=n_fields, shape=SHAPE, n_nuclei=10,
                           seed=seed, format=format, layout=layout)


def _objects(out):
    pd = _pd()
    frame = pd.read_parquet(out / "objects")
    return frame.sort_values(["ImageNumber", "ObjectNumber"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def zarr_plate(tmp_path_factory):
    return _plate(tmp_path_factory.mktemp("zarr"))


@pytest.fixture(scope="module")
def zarr_run(zarr_plate, tmp_path_factory):
    plate = open_plate(zarr_plate.source, platemap=zarr_plate.platemap)
    out = tmp_path_factory.mktemp("out") / "run"
    summary = run(plate, out=out, progress=False, workers=2, processes=1)  # in this process
    return plate, out, summary


def test_outputs_hold_every_field_and_cell(zarr_run):
    pd = _pd()
    plate, out, summary = zarr_run
    assert summary.fields == len(plate) == 6 and summary.errors == 0
    assert summary.wells_done == plate.wells
    objects = _objects(out)
    assert len(objects) == summary.cells > 0
    assert list(objects.columns[:3]) == ["Metadata_Plate", "Metadata_Well", "Metadata_Site"]
    assert "Metadata_treatment" in objects.columns
    position = list(objects.columns).index("ImageNumber")
    assert objects.columns[position + 1] == "ObjectNumber"
    assert not objects.duplicated(["ImageNumber", "ObjectNumber"]).any()
    for well in plate.wells:
        assert (out / "objects" / f"{well}.parquet").is_file()
    image = pd.read_parquet(out / "image.parquet")
    assert len(image) == 6 and image["Error"].isna().all()
    assert list(image["ImageNumber"]) == list(range(1, 7))
    assert (image.groupby("ImageNumber")["Count_Cells"].sum()
            == objects.groupby("ImageNumber").size()).all()
    for stage in ("ExecutionTime_Read", "ExecutionTime_IdentifyPrimaryObjects",
                  "ExecutionTime_MeasureTexture", "ExecutionTime_Total"):
        assert (image[stage] >= 0).all()
    assert image["FileName_DNA"].notna().all()
    assert len(pd.read_parquet(out / "errors.parquet")) == 0
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["pipeline"] == Pipeline().to_dict()
    assert manifest["plate"]["channels"] == ["DNA", "Actin"]
    assert manifest["runs"][-1]["fields"] == 6
    assert "numpy" in manifest["versions"]


def test_rows_equal_process_field_on_each_field(zarr_run):
    plate, out, _ = zarr_run
    objects = _objects(out)
    for number, (well, site) in enumerate(plate.fields, start=1):
        expected = process_field(plate.read(well, site), channels=plate.channels).single_cell()
        got = objects[objects["ImageNumber"] == number]
        assert (got["Metadata_Well"] == well).all() and (got["Metadata_Site"] == site).all()
        got = got[expected.columns].reset_index(drop=True)
        np.testing.assert_array_equal(got.to_numpy(float), expected.to_numpy(float))


def test_profiles_are_well_medians_and_means(zarr_run):
    pd = _pd()
    plate, out, _ = zarr_run
    objects = _objects(out)
    profiles = pd.read_parquet(out / "profiles.parquet")
    assert len(profiles) == 2 * len(plate.wells)
    medians = profiles[profiles["Metadata_Aggregation"] == "median"].set_index("Metadata_Well")
    means = profiles[profiles["Metadata_Aggregation"] == "mean"].set_index("Metadata_Well")
    grouped = objects.groupby("Metadata_Well")
    for column in MEASURES:
        np.testing.assert_allclose(medians[column], grouped[column].median(), rtol=1e-12)
        np.testing.assert_allclose(means[column], grouped[column].mean(), rtol=1e-12)
    assert (medians["Metadata_Object_Count"] == grouped.size()).all()
    assert "Nuclei_Number_Object_Number" not in profiles.columns
    assert "Cells_Parent_Nuclei" not in profiles.columns
    assert "Metadata_treatment" in profiles.columns


def test_pycytominer_reads_the_outputs(zarr_run):
    pycytominer = require_reference("pycytominer")
    _, out, _ = zarr_run
    objects = _objects(out)
    features = [c for c in objects.columns
                if c.startswith(("Nuclei_", "Cells_", "Cytoplasm_")) and "_Parent_" not in c
                and "_Number_Object_Number" not in c and "_Children_" not in c]
    profiles = pycytominer.aggregate(objects, strata=["Metadata_Plate", "Metadata_Well"],
                                     features=features, operation="median")
    assert len(profiles) == 3
    ours = _pd().read_parquet(out / "profiles.parquet")
    ours = ours[ours["Metadata_Aggregation"] == "median"].set_index("Metadata_Well")
    theirs = profiles.set_index("Metadata_Well")
    for column in MEASURES:
        np.testing.assert_allclose(theirs[column], ours.loc[theirs.index, column], rtol=1e-12)
    normalized = pycytominer.normalize(profiles, features=MEASURES, method="standardize",
                                       meta_features=["Metadata_Plate", "Metadata_Well"])
    assert np.isfinite(normalized[MEASURES].to_numpy()).any()
    selected = pycytominer.feature_select(normalized, features=MEASURES,
                                          operation=["variance_threshold"])
    assert "Metadata_Well" in selected.columns


def test_resume_skips_finished_wells_and_refuses_another_pipeline(zarr_run):
    pd = _pd()
    plate, out, _ = zarr_run
    before = _objects(out)
    again = run(plate, out=out, progress=False)
    assert again.fields == 0 and again.wells_skipped == plate.wells
    pd.testing.assert_frame_equal(_objects(out), before)
    other = Pipeline().replace(nuclei={"threshold_correction_factor": 1.0})
    with pytest.raises(PlateError, match="another pipeline.*overwrite"):
        run(plate, other, out=out, progress=False)


def test_wells_subset_then_the_rest(zarr_plate, zarr_run, tmp_path):
    pd = _pd()
    plate, full_out, _ = zarr_run
    out = tmp_path / "subset"
    first = run(plate, out=out, wells="a2", progress=False)
    assert first.wells_done == ("A02",)
    assert set(_objects(out)["Metadata_Well"]) == {"A02"}
    rest = run(plate, out=out, progress=False, quiet=True)
    assert rest.wells_skipped == ("A02",) and rest.wells_done == ("A01", "A03")
    pd.testing.assert_frame_equal(_objects(out), _objects(full_out))
    with pytest.raises(ValueError, match="wells: 'H12' has no fields"):
        run(plate, out=out, wells=["H12"], progress=False)
    with pytest.raises(ValueError, match="wells"):
        run(plate, out=out, wells="nonsense!", progress=False)


def test_every_format_gives_the_same_cells(zarr_run, tmp_path):
    pd = _pd()
    _, zarr_out, _ = zarr_run
    reference = _objects(zarr_out)
    for layout in ("operetta", "imagexpress"):
        synth = _plate(tmp_path / layout, format="tiff", layout=layout)
        plate = open_plate(synth.source, platemap=synth.platemap)
        out = tmp_path / f"out-{layout}"
        run(plate, out=out, progress=False)
        got = _objects(out)
        assert plate.format == layout
        pd.testing.assert_frame_equal(got[MEASURES + ["ObjectNumber", "Metadata_Well"]],
                                      reference[MEASURES + ["ObjectNumber", "Metadata_Well"]])
        assert sorted(set(got["Metadata_Site"])) == [1, 2]   # vendor sites are 1-based


def test_bad_fields_are_recorded_and_the_run_goes_on(tmp_path):
    pd = _pd()
    synth = _plate(tmp_path / "plate", format="tiff", n_wells=3, n_fields=2)
    plate = open_plate(synth.source)
    # A01 site 1: truncated file; A03: every field unreadable (a well with no usable fields)
    corrupt = [plate.locate("A01", 1)["DNA"][0], plate.locate("A03", 1)["Actin"][0],
               plate.locate("A03", 2)["DNA"][0]]
    for path in corrupt:
        with open(path, "r+b") as handle:
            handle.truncate(200)
    plate = open_plate(synth.source)
    out = tmp_path / "out"
    summary = run(plate, out=out, progress=False)
    assert summary.errors == 3 and summary.fields == 6
    errors = pd.read_parquet(out / "errors.parquet")
    assert sorted(zip(errors["Metadata_Well"], errors["Metadata_Site"])) == [
        ("A01", 1), ("A03", 1), ("A03", 2)]
    assert set(errors["ErrorType"]) == {"FieldReadError"}
    assert errors["Error"].str.contains("truncated|not a readable|cannot", regex=True).all()
    image = pd.read_parquet(out / "image.parquet")
    assert image["Error"].notna().sum() == 3
    objects = _objects(out)
    assert set(objects["Metadata_Well"]) == {"A01", "A02"}
    assert set(objects.loc[objects["Metadata_Well"] == "A01", "Metadata_Site"]) == {2}
    empty = pd.read_parquet(out / "objects" / "A03.parquet")
    assert len(empty) == 0 and list(empty.columns) == list(objects.columns)
    profiles = pd.read_parquet(out / "profiles.parquet").set_index("Metadata_Well")
    assert (profiles.loc["A03", "Metadata_Object_Count"] == 0).all()
    assert profiles.loc["A03", "Nuclei_AreaShape_Area"].isna().all()


def test_missing_channel_file_and_blank_field(tmp_path):
    pd = _pd()
    from pyhcs.datasets import PlateWriter

    writer = PlateWriter(tmp_path / "plate", ("DNA", "Actin"), format="tiff")
    rng = np.random.default_rng(0)
    field = synthetic_plate(tmp_path / "src", n_wells=1, n_fields=1, shape=SHAPE,
                            n_nuclei=10, seed=1, format="tiff").field("A01", 1)
    writer.write_field("A01", 0, field.image)                                 # site 1
    writer.write_field("A01", 1, np.zeros((2, *SHAPE), np.uint16))           # no objects
    writer.write_field("B01", 0, rng.integers(0, 50, (2, *SHAPE)).astype(np.uint16))
    source = writer.close()
    plate_dir = tmp_path / "plate"
    missing = open_plate(source).locate("B01", 1)["Actin"][0]
    os.remove(missing)
    plate = open_plate(source)
    assert plate.incomplete
    out = tmp_path / "out"
    summary = run(plate, out=out, progress=False)
    assert summary.errors == 1
    image = pd.read_parquet(out / "image.parquet").set_index(["Metadata_Well", "Metadata_Site"])
    assert image.loc[("A01", 2), "Count_Nuclei"] == 0
    assert image.loc[("A01", 1), "Count_Nuclei"] > 0
    assert "Actin" in image.loc[("B01", 1), "Error"]
    assert plate_dir.is_dir()


def test_plate_without_the_pipeline_channels_is_refused_before_any_work(zarr_plate, tmp_path):
    plate = open_plate(zarr_plate.source, channels={"Hoechst": "DNA", "Actin": "Actin"})
    with pytest.raises(PlateError, match=r"nuclei.channel names channel 'DNA'.*--channels"):
        run(plate, out=tmp_path / "o", progress=False)
    assert not (tmp_path / "o" / "objects").exists()
    renamed = Pipeline().replace(nuclei={"channel": "Hoechst"})
    summary = run(plate, renamed, out=tmp_path / "o", progress=False, wells="A01")
    assert summary.errors == 0 and summary.cells > 0


def test_labels_are_saved_when_asked(zarr_plate, tmp_path):
    plate = open_plate(zarr_plate.source)
    pipeline = Pipeline().replace(output={"save_labels": True})
    run(plate, pipeline, out=tmp_path / "o", wells="A01", progress=False)
    saved = np.load(tmp_path / "o" / "labels" / "A01_0.npz")
    expected = process_field(plate.read("A01", 0), channels=plate.channels)
    for name in ("Nuclei", "Cells", "Cytoplasm"):
        np.testing.assert_array_equal(saved[name], expected.labels[name])


def test_bad_arguments(zarr_plate, tmp_path):
    plate = open_plate(zarr_plate.source)
    with pytest.raises(ValueError, match="workers"):
        run(plate, out=tmp_path, workers=0)
    with pytest.raises(ValueError, match="gpu_memory"):
        run(plate, out=tmp_path, gpu_memory=-5)
    with pytest.raises(ValueError, match="device"):
        run(plate, out=tmp_path, device="tpu")
    for processes in (0, True, 2.0, "many"):
        with pytest.raises(ValueError, match="processes"):
            run(plate, out=tmp_path, processes=processes)


def test_processes_need_the_cpu():
    from pyhcs._backend import Namespace
    from pyhcs.plate._engine import _check_processes

    simulated_gpu = Namespace(np, "cuda", simulated=True)
    with pytest.raises(ValueError, match="processes=2 needs device='cpu'"):
        _check_processes(2, simulated_gpu)
    assert _check_processes(1, simulated_gpu) == 1
    assert _check_processes(None, Namespace(np, "cpu")) == "auto"
    assert _check_processes(3, Namespace(np, "cpu")) == 3


def test_auto_processes_one_worker_per_core_within_fields_and_memory(zarr_plate, monkeypatch):
    from pyhcs._backend import Namespace
    from pyhcs.plate import _engine

    plate = open_plate(zarr_plate.source)
    cpu = Namespace(np, "cpu")
    available = _engine._available_memory()  # this machine's (Linux: MemAvailable)
    assert available is None or available > 0
    monkeypatch.setattr(_engine, "available_cores", lambda: 8)
    monkeypatch.setattr(_engine, "_available_memory", lambda: 64 << 30)
    assert _engine._auto_processes(plate, 100, cpu) == 8
    assert _engine._auto_processes(plate, 3, cpu) == 3          # no more workers than fields
    assert _engine._auto_processes(plate, 1, cpu) == 1          # one field: computed here
    assert _engine._auto_processes(plate, 100, Namespace(np, "cuda", simulated=True)) == 1
    per_worker = _engine._WORKER_BASE_BYTES + _engine._WORKER_BYTES_PER_PIXEL * int(
        np.prod(plate.field_shape))
    monkeypatch.setattr(_engine, "_available_memory", lambda: int(2.6 * per_worker))
    assert _engine._auto_processes(plate, 100, cpu) == 2          # 80% of the memory: 2 workers
    monkeypatch.setattr(_engine, "_available_memory", lambda: 1 << 20)
    assert _engine._auto_processes(plate, 100, cpu) == 1
    monkeypatch.setattr(_engine, "_available_memory", lambda: None)  # unknown: the cores
    assert _engine._auto_processes(plate, 100, cpu) == 8


def test_a_plate_that_cannot_be_pickled_runs_here(zarr_plate, zarr_run, tmp_path, capsys):
    import threading

    _, reference_out, _ = zarr_run
    plate = open_plate(zarr_plate.source, platemap=zarr_plate.platemap)
    plate.handle = threading.Lock()  # a user's plate holding something unpicklable
    with pytest.raises(ValueError, match="processes=2: the plate cannot be sent"):
        run(plate, out=tmp_path / "two", progress=False, processes=2)
    summary = run(plate, out=tmp_path / "auto", progress=False, quiet=True)
    assert summary.errors == 0
    assert "computing in this process" in capsys.readouterr().err
    assert json.loads((tmp_path / "auto" / "run.json").read_text())["runs"][-1]["processes"] == 1
    _same_outputs(tmp_path / "auto", reference_out)


def test_available_memory_heeds_the_cgroup_limit(tmp_path):
    from pyhcs.plate._engine import _available_memory

    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       32000000 kB\nMemAvailable:   16000000 kB\n")
    cgroup = tmp_path / "cgroup"
    assert _available_memory(str(meminfo), str(cgroup)) == 16000000 * 1024
    cgroup.mkdir()
    (cgroup / "memory.max").write_text("max\n")          # v2, no limit
    (cgroup / "memory.current").write_text("1000\n")
    assert _available_memory(str(meminfo), str(cgroup)) == 16000000 * 1024
    (cgroup / "memory.max").write_text(f"{4 << 30}\n")   # v2, a 4 GiB container
    assert _available_memory(str(meminfo), str(cgroup)) == (4 << 30) - 1000
    (cgroup / "memory.max").unlink()
    (cgroup / "memory").mkdir()
    (cgroup / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    (cgroup / "memory" / "memory.usage_in_bytes").write_text("5\n")  # v1 unlimited
    assert _available_memory(str(meminfo), str(cgroup)) == 16000000 * 1024
    (cgroup / "memory" / "memory.limit_in_bytes").write_text(f"{2 << 30}\n")
    assert _available_memory(str(meminfo), str(cgroup)) == (2 << 30) - 5
    assert _available_memory(str(tmp_path / "none"), str(tmp_path / "none")) is None


def _same_outputs(out, reference_out):
    """Objects, image (timings aside), profiles and errors of two runs are equal."""
    pd = _pd()
    pd.testing.assert_frame_equal(pd.read_parquet(out / "objects"),
                                  pd.read_parquet(reference_out / "objects"))
    for name in ("image.parquet", "profiles.parquet", "errors.parquet"):
        got, expected = pd.read_parquet(out / name), pd.read_parquet(reference_out / name)
        kept = [c for c in expected.columns if not c.startswith("ExecutionTime_")]
        assert list(got.columns) == list(expected.columns)
        pd.testing.assert_frame_equal(got[kept], expected[kept])


def test_worker_processes_give_the_one_process_outputs(zarr_run, tmp_path):
    plate, reference_out, reference = zarr_run
    pipeline = Pipeline().replace(output={"save_labels": True})
    out = tmp_path / "processes"
    summary = run(plate, pipeline, out=out, progress=False, processes=2)
    assert (summary.fields, summary.errors, summary.cells) == (
        reference.fields, reference.errors, reference.cells)
    _same_outputs(out, reference_out)
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["runs"][-1]["processes"] == 2
    assert manifest["runs"][-1]["threads_per_process"] >= 1
    assert json.loads((reference_out / "run.json").read_text())["runs"][-1]["processes"] == 1
    # the workers' label images are those of process_field on the same field
    for well in plate.wells:
        for site in plate.sites(well):
            saved = np.load(out / "labels" / f"{well}_{site}.npz")
            expected = process_field(plate.read(well, site), channels=plate.channels)
            for name in ("Nuclei", "Cells", "Cytoplasm"):
                np.testing.assert_array_equal(saved[name], expected.labels[name])
    # resuming with another number of processes changes nothing
    again = run(plate, pipeline, out=out, progress=False, processes=3)
    assert again.fields == 0 and set(again.wells_skipped) == set(plate.wells)


def _truncated_tiff_plate(root, well, site):
    """A 2-well x 2-field TIFF plate whose DNA file of ``(well, site)`` is cut short."""
    synth = _plate(root, format="tiff", n_wells=2, n_fields=2)
    with open(open_plate(synth.source).locate(well, site)["DNA"][0], "r+b") as handle:
        handle.truncate(200)
    return open_plate(synth.source)


def test_worker_processes_record_bad_fields(tmp_path):
    plate = _truncated_tiff_plate(tmp_path / "plate", "A02", 1)
    one, two = tmp_path / "one", tmp_path / "two"
    assert run(plate, out=one, progress=False).errors == 1
    assert run(plate, out=two, progress=False, processes=2).errors == 1
    _same_outputs(two, one)


class _DyingPlate(Plate):
    """Pickled into the workers: reading ``fatal`` there kills the reading process (a crash)."""

    fatal = None
    parent = None

    def read(self, well, site, out=None):
        if (well, site) == self.fatal and os.getpid() != self.parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().read(well, site, out=out)


def test_a_worker_that_dies_costs_only_its_field(zarr_plate, zarr_run, tmp_path):
    pd = _pd()
    _, reference_out, reference = zarr_run
    plate = open_plate(zarr_plate.source, platemap=zarr_plate.platemap)
    plate.__class__ = _DyingPlate
    plate.fatal, plate.parent = ("A02", 1), os.getpid()
    out = tmp_path / "out"
    summary = run(plate, out=out, progress=False, processes=2)
    assert summary.fields == reference.fields and summary.errors == 1
    errors = pd.read_parquet(out / "errors.parquet")
    assert list(zip(errors["Metadata_Well"], errors["Metadata_Site"])) == [("A02", 1)]
    assert list(errors["ErrorType"]) == ["WorkerDied"]
    assert "SIGKILL" in errors["Error"][0]
    # every other field is there, as in the uninterrupted run
    got = _objects(out)
    expected = _objects(reference_out)
    number = int(errors["ImageNumber"][0])
    expected = expected[expected["ImageNumber"] != number].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected)


_KILL_SCRIPT = """
import sys
from pyhcs.plate import open_plate, run
plate = open_plate(sys.argv[1])
run(plate, out=sys.argv[2], progress=False, workers=2, processes=int(sys.argv[3]))
"""


def _children(pid):
    """The PIDs of the live processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return found


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_kill_9_then_resume_gives_the_uninterrupted_rows(tmp_path):
    """A run killed at random moments resumes into exactly the rows of an uninterrupted run."""
    pd = _pd()
    synth = _plate(tmp_path / "plate", n_wells=6, n_fields=1, seed=9)
    plate = open_plate(synth.source)
    reference_out = tmp_path / "reference"
    run(plate, out=reference_out, progress=False)
    reference = _objects(reference_out)

    out = tmp_path / "killed"
    rng = np.random.default_rng(2026)
    kills = 0
    orphans = []
    for processes in (2, 1, 2):  # the one-process engine and worker processes alike
        command = [sys.executable, "-c", _KILL_SCRIPT, str(synth.source), str(out),
                   str(processes)]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        done_before = len(list((out / "objects").glob("*.parquet"))) if out.exists() else 0
        deadline = time.monotonic() + 300
        # wait for the run to make progress (or finish), then kill it a random moment later
        while process.poll() is None and time.monotonic() < deadline:
            done = len(list((out / "objects").glob("*.parquet"))) if out.exists() else 0
            if done > done_before:
                break
            time.sleep(0.02)
        time.sleep(float(rng.uniform(0.0, 0.6)))
        if process.poll() is None:
            workers = _children(process.pid) if os.path.isdir("/proc") else []
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
            orphans += workers
        else:
            assert process.returncode == 0, process.stderr.read().decode()
    assert kills >= 1
    # worker processes of a killed run end with it (their connection closes)
    deadline = time.monotonic() + 60
    while any(_alive(pid) for pid in orphans) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in orphans if _alive(pid)]
    resumed = run(plate, out=out, progress=False)
    assert resumed.wells_skipped  # the killed runs finished some wells
    got = _objects(out)
    pd.testing.assert_frame_equal(got, reference)
    assert not list(out.rglob(".*.tmp"))
    image = pd.read_parquet(out / "image.parquet")
    assert sorted(image["ImageNumber"]) == list(range(1, 7))


@pytest.mark.cudasim
def test_gpu_engine_equals_cpu_engine(tmp_path):
    """The GPU engine path (device='cuda': uploads, device-resident fields, downloads) gives
    the CPU tables: under the CUDA simulator in CI, on the real GPU in the GPU check."""
    import contextlib

    from conftest import REAL_GPU
    from pyhcs._backend import _simulate_gpu

    pd = _pd()
    synth = synthetic_plate(tmp_path / "plate", n_wells=1, n_fields=1, shape=(44, 44),
                            n_nuclei=3, seed=3, format="tiff")
    plate = open_plate(synth.source)
    # small settings: the simulator runs every GPU thread in Python (the GPU propagation has
    # its own simulator tests; here distance_n keeps the run to seconds)
    pipeline = Pipeline().replace(cells={"method": "distance_n"}, measure={
        "AreaShape": {"zernike_degree": 2},
        "Texture": {"gray_levels": 8, "image_texture": False},
        # granularity's GPU path has its own simulator tests; here it would add 30 s
        "Granularity": {"objects": (), "image_granularity": False}})
    cpu = run(plate, pipeline, out=tmp_path / "cpu", device="cpu", progress=False)
    with contextlib.nullcontext() if REAL_GPU else _simulate_gpu():
        gpu = run(plate, pipeline, out=tmp_path / "gpu", device="cuda", progress=False)
    assert gpu.device == ("cuda" if REAL_GPU else "cuda (simulated)") and cpu.device == "cpu"
    assert gpu.errors == 0 and gpu.cells == cpu.cells > 0
    a, b = _objects(tmp_path / "cpu"), _objects(tmp_path / "gpu")
    assert list(a.columns) == list(b.columns)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9, atol=1e-12)


@pytest.mark.gpu
def test_gpu_engine_default_pipeline_on_a_plate(tmp_path):
    """The default pipeline on the real GPU: the same cells and values as the CPU engine."""
    pd = _pd()
    synth = _plate(tmp_path / "plate", format="tiff", n_wells=2, n_fields=2)
    plate = open_plate(synth.source)
    cpu = run(plate, out=tmp_path / "cpu", device="cpu", progress=False)
    gpu = run(plate, out=tmp_path / "gpu", device="cuda", progress=False, gpu_memory=8 << 30)
    assert gpu.errors == 0 and gpu.device == "cuda"
    a, b = _objects(tmp_path / "cpu"), _objects(tmp_path / "gpu")
    assert len(a) == len(b) == cpu.cells
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9, atol=1e-12)


def test_illumination_first_pass_saved_applied_and_reused(zarr_plate, tmp_path):
    pd = _pd()
    from pyhcs.illumination import calculate_illumination
    from pyhcs.plate import illumination_functions, to_intensity

    plate = open_plate(zarr_plate.source)
    pipeline = Pipeline().replace(illumination={"channels": ("DNA", "Actin"),
                                                "filter_size": 8})
    out = tmp_path / "out"
    summary = run(plate, pipeline, out=out, progress=False, wells="A01")
    assert summary.errors == 0
    saved = {c: np.load(out / "illumination" / f"{c}.npy") for c in ("DNA", "Actin")}
    # the whole plate's fields, in plate order, whatever `wells` says
    for position, channel in enumerate(plate.channels):
        stack = np.stack([to_intensity(plate.read(w, s)[position]) for w, s in plate.fields])
        expected = calculate_illumination(stack, filter_size=8)
        assert saved[channel].dtype == np.float32 and saved[channel].min() >= 1.0
        np.testing.assert_array_equal(saved[channel], expected)
    functions = illumination_functions(plate, pipeline)
    for channel in saved:
        np.testing.assert_array_equal(functions[channel], saved[channel])
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["illumination"]["fields"] == len(plate) and not manifest["illumination"][
        "failed"]
    # the rows are process_field's with those functions
    objects = _objects(out)
    site = plate.sites("A01")[0]
    direct = process_field(plate.read("A01", site), pipeline, channels=plate.channels,
                           illumination=functions).single_cell()
    rows = objects[objects["Metadata_Site"] == site]
    np.testing.assert_array_equal(rows["Cells_Intensity_IntegratedIntensity_Actin"].to_numpy(),
                                  direct["Cells_Intensity_IntegratedIntensity_Actin"].to_numpy())
    image = pd.read_parquet(out / "image.parquet")
    assert "ExecutionTime_CorrectIlluminationApply" in image.columns
    # resuming (the other wells) reuses the saved functions instead of computing them again
    stamp = (out / "illumination" / "DNA.npy").stat().st_mtime_ns
    resumed = run(plate, pipeline, out=out, progress=False)
    assert resumed.wells_skipped == ("A01",) and resumed.errors == 0
    assert (out / "illumination" / "DNA.npy").stat().st_mtime_ns == stamp
    # a sample of the fields
    sampled = pipeline.replace(illumination={"sample": 2})
    run(plate, sampled, out=tmp_path / "sampled", progress=False, wells="A01")
    manifest = json.loads((tmp_path / "sampled" / "run.json").read_text())
    assert manifest["illumination"]["fields"] == 2


def test_illumination_pass_leaves_out_bad_fields(tmp_path):
    plate = _truncated_tiff_plate(tmp_path / "plate", "A02", 2)
    pipeline = Pipeline().replace(illumination={"channels": ("DNA",)})
    summary = run(plate, pipeline, out=tmp_path / "out", progress=False)
    assert summary.errors == 1
    entry = json.loads((tmp_path / "out" / "run.json").read_text())["illumination"]
    assert entry["fields"] == 3 and [f["well"] for f in entry["failed"]] == ["A02"]
    missing = Pipeline().replace(illumination={"channels": ("Mito",)})
    with pytest.raises(PlateError, match="illumination.channels names channel 'Mito'"):
        run(plate, missing, out=tmp_path / "other", progress=False)


def test_plate_nucleus_size_estimated_once_recorded_and_reused(zarr_plate, tmp_path,
                                                              monkeypatch):
    from pyhcs.plate import to_intensity
    from pyhcs.segmentation import estimate_diameter

    plate = open_plate(zarr_plate.source)
    pipeline = Pipeline().replace(nuclei={"size": "plate", "size_sample": 3})
    out = tmp_path / "out"
    summary = run(plate, pipeline, out=out, progress=False, wells="A01", processes=1)
    assert summary.errors == 0
    entry = json.loads((out / "run.json").read_text())["nuclei_size"]
    # three fields evenly spaced over the whole plate, whatever `wells` says
    every = list(plate.fields)
    chosen = [every[i] for i in np.unique(np.round(np.linspace(0, len(every) - 1, 3)).astype(int))]
    position = plate.channels.index("DNA")
    expected = [estimate_diameter(to_intensity(plate.read(w, s)[position])) for w, s in chosen]
    assert [e["diameter"] for e in entry["estimates"]] == pytest.approx(expected)
    assert entry["fields"] == 3 and entry["diameter"] == pytest.approx(np.median(expected))
    # every field ran with that diameter: its rows are process_field's with size = diameter
    fixed = pipeline.replace(nuclei={"size": "diameter", "diameter": entry["diameter"]})
    site = plate.sites("A01")[0]
    direct = process_field(plate.read("A01", site), fixed, channels=plate.channels)
    objects = _objects(out)
    rows = objects[objects["Metadata_Site"] == site]
    np.testing.assert_array_equal(rows["Nuclei_AreaShape_Area"].to_numpy(),
                                  direct.single_cell()["Nuclei_AreaShape_Area"].to_numpy())
    # the resumed run reuses the recorded diameter without estimating again
    monkeypatch.setattr("pyhcs.segmentation.estimate_diameter",
                        lambda *a, **k: pytest.fail("estimated again"))
    resumed = run(plate, pipeline, out=out, progress=False, processes=1)
    assert resumed.errors == 0 and resumed.wells_skipped == ("A01",)
    assert json.loads((out / "run.json").read_text())["nuclei_size"] == entry


def test_plate_nucleus_size_without_any_estimate_uses_the_size_range(tmp_path):
    plate = synthetic_plate(tmp_path / "plate", n_wells=1, n_fields=2, shape=(64, 64),
                            n_nuclei=0, seed=1)
    pipeline = Pipeline().replace(nuclei={"size": "plate"})
    summary = run(open_plate(plate.source), pipeline, out=tmp_path / "out", progress=False,
                  processes=1)
    assert summary.errors == 0
    entry = json.loads((tmp_path / "out" / "run.json").read_text())["nuclei_size"]
    assert "diameter" not in entry and entry["fields"] == 0
