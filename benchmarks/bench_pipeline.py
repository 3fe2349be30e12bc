"""End-to-end per-field throughput: ``pyhcs.plate.process_field`` against CellProfiler's pipeline.

The fields are synthetic Cell Painting fields of the benchmark's size (``--size``) at a fixed
density of 300 nuclei per 1024x1024 (``--nuclei`` is not used: the other families' default
2,000 nuclei on 2048x2048 is denser than a typical field), ``PYHCS_BENCH_PIPELINE_FIELDS``
of them (default 4), seeds 0, 1, ... Every field runs the pipeline of
``benchmarks/cellprofiler_subset.py`` (``Pipeline()``'s defaults): IdentifyPrimaryObjects,
IdentifySecondaryObjects (propagation), IdentifyTertiaryObjects, MeasureObjectSizeShape with
Zernike, MeasureObjectIntensity, MeasureTexture (scale 3, 256 levels, objects and image).

Cases (one call = one field, the fields in turn; the median over calls is the time of a field):

1. ``process_field`` against the same pipeline built from the reference libraries
   (:func:`reference_pipeline`: scikit-image ``threshold_li`` on the float32 image as
   CellProfiler, scipy / centrosome declumping and propagation, cp_measure's size/shape,
   Zernike, intensity and texture with its fastest backend, numba);
2. with CellProfiler 5 installed (``cellprofiler_ref.available()``) and
   ``PYHCS_BENCH_CELLPROFILER=1``: ``process_field`` against CellProfiler on the same fields in
   2 parallel processes (one thread each); CellProfiler's time of a field is
   ``1 / fields_per_second_excluding_startup`` of that run (the busiest process's
   ``ExecutionTime_*`` CPU seconds, start-up and export left out), so the speed-up is the
   ratio of fields/s, pyhcs (one process, all cores) over CellProfiler (2 processes). The run
   is cached in ``~/.cache/pyhcs/bench`` per field size, density, seeds and pipeline, and a
   cached run is used whenever it exists unless ``PYHCS_BENCH_CELLPROFILER=0``.

The notes give the per-stage times of pyhcs (``ExecutionTime_*``, wall, median over calls) and
of CellProfiler (per-module CPU seconds, mean over fields).
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import warnings
from pathlib import Path

import numpy as np
from harness import Case, on_device

#: nuclei per pixel of the benchmark fields: 300 per 1024x1024
DENSITY = 300 / 1024**2
CHANNELS = ("DNA", "Actin")
STAGES = ("Load", "IdentifyPrimaryObjects", "IdentifySecondaryObjects",
          "IdentifyTertiaryObjects", "MeasureObjectSizeShape", "MeasureObjectIntensity",
          "MeasureTexture")
CACHE = Path(os.environ.get("PYHCS_BENCH_CACHE", str(Path.home() / ".cache" / "pyhcs" / "bench")))


def _n_fields() -> int:
    return max(1, int(os.environ.get("PYHCS_BENCH_PIPELINE_FIELDS", "4")))


def bench_fields(shape: tuple[int, int], n_fields: int | None = None) -> dict[str, np.ndarray]:
    """``{"s<seed>": (2, H, W) uint16}``: the synthetic fields, seeds 0..n-1, at DENSITY."""
    from pyhcs.datasets import synthetic_field

    n_fields = _n_fields() if n_fields is None else n_fields
    n_nuclei = max(1, round(DENSITY * shape[0] * shape[1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a crowded small field places fewer
        return {f"s{seed}": np.ascontiguousarray(
                    synthetic_field(shape, n_nuclei=n_nuclei, seed=seed).image)
                for seed in range(n_fields)}


# --------------------------------------------------------------------------------------------
# The reference libraries' pipeline
# --------------------------------------------------------------------------------------------

def _li_threshold(image, correction: float) -> float:
    """CellProfiler's global minimum cross-entropy threshold of a float32 image."""
    from skimage.filters import threshold_li

    data = image.ravel()
    tolerance = max(np.min(np.diff(np.unique(data))) / 2, 0.5 / 65536)
    threshold = float(threshold_li(data, tolerance=tolerance)) * correction
    return min(max(threshold, 0.0), 1.0)


def reference_primary(image, min_size: int = 10, max_size: int = 40):
    """IdentifyPrimaryObjects (MCE x 1.2, shape declumping) on a float32 image."""
    from centrosome import cpmorphology
    from scipy import ndimage as ndi
    from skimage.segmentation import watershed

    binary = image >= _li_threshold(image, 1.2)
    binary = cpmorphology.fill_labeled_holes(binary, size_fn=lambda s, fg: s < max_size**2)
    labeled, _ = ndi.label(binary, np.ones((3, 3), bool))
    footprint = cpmorphology.strel_disk(max(1, min_size / 1.5 - 0.5))
    distance = ndi.distance_transform_edt(labeled > 0)
    rng = np.random.RandomState(0)
    distance += rng.uniform(0, 0.001, distance.shape)
    maxima = cpmorphology.is_local_maximum(distance, labeled, footprint)
    maxima[distance <= 0] = 0
    markers, _ = ndi.label(cpmorphology.binary_shrink(maxima), np.ones((3, 3), bool))
    surface = -distance
    labeled = watershed(surface - surface.min(), markers, connectivity=np.ones((3, 3), bool),
                        mask=labeled != 0)
    areas = np.bincount(labeled.ravel())[labeled]
    labeled[(areas < np.pi * min_size**2 / 4) | (areas > np.pi * max_size**2 / 4)] = 0
    labeled = cpmorphology.fill_labeled_holes(labeled)
    return cpmorphology.relabel(labeled)[0].astype(np.int32)


def reference_secondary(image, nuclei):
    """IdentifySecondaryObjects (propagation, 0.05) and IdentifyTertiaryObjects (shrink)."""
    from centrosome import cpmorphology
    from centrosome.outline import outline
    from centrosome.propagate import propagate
    from scipy import ndimage as ndi

    binary = image >= _li_threshold(image, 1.0)
    cells, _ = propagate(image, nuclei, binary, 0.05)
    cells = cpmorphology.fill_labeled_holes(cells, mask=cells == 0)
    lookup = np.array(ndi.maximum(nuclei, cells, list(range(cells.max() + 1))), int)
    lookup[0] = 0
    cells = lookup[cells].astype(np.int32)
    cytoplasm = cells.copy()
    cytoplasm[(nuclei > 0) & (outline(nuclei) == 0)] = 0  # "shrink primary", CP's default
    return cells, cytoplasm


def reference_pipeline(images_u16) -> dict:
    """The whole field from scikit-image, scipy, centrosome and cp_measure (numba backend)."""
    import cp_measure
    from cp_measure.bulk import get_core_measurements

    dna, actin = (plane.astype(np.float32) / np.float32(65535) for plane in images_u16)
    nuclei = reference_primary(dna)
    cells, cytoplasm = reference_secondary(actin, nuclei)
    previous = cp_measure._ACCELERATOR
    cp_measure.set_accelerator("numba")
    try:
        core = get_core_measurements()
    finally:
        cp_measure.set_accelerator(previous)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = np.ones(dna.shape, np.int32)
        for name, labels in (("Nuclei", nuclei), ("Cells", cells), ("Cytoplasm", cytoplasm)):
            if not labels.any():
                continue
            out[name, "sizeshape"] = core["sizeshape"](labels, None, calculate_advanced=False)
            out[name, "zernike"] = core["zernike"](labels, None)
            for channel, pixels in zip(CHANNELS, (dna, actin)):
                out[name, "intensity", channel] = core["intensity"](labels, pixels)
                out[name, "texture", channel] = core["texture"](labels, pixels, scale=3,
                                                                gray_levels=256)
        for channel, pixels in zip(CHANNELS, (dna, actin)):
            out["Image", "texture", channel] = core["texture"](whole, pixels, scale=3,
                                                               gray_levels=256)
    return out


# --------------------------------------------------------------------------------------------
# CellProfiler, cached
# --------------------------------------------------------------------------------------------

def _cellprofiler_mode() -> str:
    """'run' (run if not cached), 'cache' (use a cached run only) or 'off'."""
    value = os.environ.get("PYHCS_BENCH_CELLPROFILER", "").strip().lower()
    if value in ("1", "yes", "true", "run"):
        return "run"
    if value in ("0", "no", "false", "off"):
        return "off"
    return "cache"


def cache_dir(fields: dict[str, np.ndarray]) -> Path:
    """Where the CellProfiler run of ``fields`` is cached: named after the fields' pixels and
    the pipeline builder script (``cellprofiler_subset.py``), so either changing runs anew."""
    digest = hashlib.sha256((Path(__file__).parent / "cellprofiler_subset.py").read_bytes())
    key = hashlib.sha256()
    for name in sorted(fields):
        key.update(name.encode())
        key.update(hashlib.sha256(np.ascontiguousarray(fields[name]).tobytes()).digest())
    shape = next(iter(fields.values())).shape[1:]
    return CACHE / (f"cp_{shape[0]}x{shape[1]}_{len(fields)}f_"
                    f"{key.hexdigest()[:10]}_{digest.hexdigest()[:12]}")


def cellprofiler_run(fields: dict[str, np.ndarray], mode: str | None = None):
    """The CellProfilerRun of ``fields`` in 2 processes, from the cache or run now; or None."""
    mode = _cellprofiler_mode() if mode is None else mode
    if mode == "off":
        return None
    try:
        import cellprofiler_ref as cp  # needs pandas, which the GPU machine may lack
    except ImportError:
        return None
    root = cache_dir(fields)
    shape = next(iter(fields.values())).shape[1:]
    if (root / "out" / "cellprofiler_run.json").is_file():
        try:
            return cp.load_run(root / "out")
        except (OSError, ValueError, KeyError):  # a broken cache entry: run again below
            if mode != "run":
                return None
    if mode != "run" or not cp.available():
        return None
    cp.write_fields(root / "input", fields)
    run = cp.run_cellprofiler(root / "input", root / "out", processes=2)
    (root / "key.json").write_text(json.dumps({
        "shape": list(shape), "fields": sorted(fields), "density": DENSITY,
        "pipeline": str(run.pipeline)}, indent=2) + "\n")
    return run


def _cp_stage_seconds(run) -> dict[str, float]:
    """Mean CPU seconds per field of each CellProfiler module, by pyhcs stage name."""
    means = run.execution_times.mean(axis=0)
    stages: dict[str, float] = {}
    for column, value in means.items():
        module = column.removeprefix("ExecutionTime_").lstrip("0123456789")
        stage = {"Images": "Load", "Metadata": "Load", "NamesAndTypes": "Load",
                 "Groups": "Load", "ConvertObjectsToImage": "SaveLabels",
                 "SaveImages": "SaveLabels"}.get(module, module)
        stages[stage] = stages.get(stage, 0.0) + float(value)
    return stages


# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------

class _RoundRobin:
    """Each call runs ``fn`` on the next field, in turn.

    For pyhcs it keeps each call's ``ExecutionTime_*`` and, once bound to its Case
    (:meth:`bind`), rewrites the case's note with the median stage times after every call.
    """

    def __init__(self, fn, fields, skip: int = 0):
        self.fn, self.fields, self.k, self.skip = fn, list(fields), 0, skip
        self.stages: list[dict[str, float]] = []
        self.case: Case | None = None
        self.head = ""
        self.cp_stages: dict[str, float] | None = None

    def __deepcopy__(self, memo):  # harness.to_json's asdict() must not copy the fields
        return self

    def bind(self, case: Case, head: str, cp_stages=None) -> Case:
        self.case, self.head, self.cp_stages = case, head, cp_stages
        case.note = head
        return case

    def __call__(self):
        field = self.fields[self.k % len(self.fields)]
        self.k += 1
        result = self.fn(field)
        image = getattr(result, "image", None)
        if image is not None:
            self.stages.append({k.removeprefix("ExecutionTime_"): v for k, v in image.items()
                                if k.startswith("ExecutionTime_")})
            if self.case is not None:
                label = ("stages ms, pyhcs wall / CellProfiler CPU" if self.cp_stages
                         else "pyhcs stages ms (wall, median)")
                stages = _stage_note(self.stage_medians(), self.cp_stages)
                self.case.note = f"{self.head}; {label}: {stages}" if self.head else \
                    f"{label}: {stages}"
        return result

    def stage_medians(self) -> dict[str, float]:
        rows = self.stages[self.skip:] or self.stages
        keys = [s for s in STAGES if any(s in r for r in rows)]
        keys += sorted({k for r in rows for k in r} - set(keys))
        return {k: statistics.median(r.get(k, 0.0) for r in rows) for k in keys}


class _Processes:
    """``n`` worker processes of one thread each (``pipeline_worker.py``), each holding every
    field: a call runs one pass over the fields in all of them at once and returns when the
    last has finished. CellProfiler's batch mode, with pyhcs in place of CellProfiler."""

    def __init__(self, fields: dict[str, np.ndarray], n: int):
        import atexit
        import subprocess
        import sys
        import tempfile

        self.n_fields = len(fields) * n
        self._dir = tempfile.TemporaryDirectory(prefix="pyhcs-bench-")
        path = Path(self._dir.name) / "fields.npz"
        np.savez(path, **fields)
        env = dict(os.environ, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1")
        worker = Path(__file__).with_name("pipeline_worker.py")
        self._procs = [subprocess.Popen([sys.executable, str(worker), str(path), *CHANNELS],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, env=env) for _ in range(n)]
        atexit.register(self.close)
        for proc in self._procs:
            if proc.stdout.readline().strip() != "ready":
                self.close()
                raise RuntimeError(f"a benchmark worker failed to start (exit {proc.poll()})")

    def __deepcopy__(self, memo):  # harness.to_json's asdict() must not copy the processes
        return self

    def __call__(self) -> float:
        for proc in self._procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        return max(float(proc.stdout.readline()) for proc in self._procs)

    def close(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                try:
                    proc.stdin.write("quit\n")
                    proc.stdin.close()
                except (BrokenPipeError, OSError):
                    pass
                proc.wait(timeout=30)
        self._procs = []
        self._dir.cleanup()


def _stage_note(pyhcs: dict[str, float], cellprofiler: dict[str, float] | None = None) -> str:
    parts = []
    for stage in list(pyhcs) + [s for s in (cellprofiler or {}) if s not in pyhcs]:
        ours = pyhcs.get(stage)
        text = f"{stage} {ours * 1e3:.0f}" if ours is not None else f"{stage} -"
        if cellprofiler is not None:
            theirs = cellprofiler.get(stage)
            if theirs is not None:
                text += f"/{theirs * 1e3:.0f}"
                if ours:
                    text += f" ({theirs / ours:.0f}x)"
        parts.append(text)
    return ", ".join(parts)


def cases(field, device: str) -> list[Case]:
    """``field`` is a pyhcs.datasets.SyntheticField: only its shape is used (see the module)."""
    from pyhcs.plate import process_field

    shape = tuple(int(s) for s in field.image.shape[-2:])
    fields = bench_fields(shape)
    n_nuclei = max(1, round(DENSITY * shape[0] * shape[1]))
    size = "x".join(map(str, shape))
    host = list(fields.values())
    on = [on_device(device, image)[0] for image in host]
    megabytes = host[0].nbytes / 1e6
    n = len(host)

    def pyhcs_one(image):
        return process_field(image, channels=list(CHANNELS))

    warmup = 1
    runner = _RoundRobin(pyhcs_one, on, skip=warmup)
    reference = _RoundRobin(reference_pipeline, host)
    count = int(pyhcs_one(on[0]).image["Count_Nuclei"])  # also compiles the kernels
    out = [runner.bind(
        Case(
            family="pipeline",
            name=f"process_field {size}, {n} fields, ~{n_nuclei} nuclei",
            pyhcs=runner,
            reference=reference,
            reference_name="skimage+centrosome+cp_measure",
            device=device,
            repeat=max(3, 2 * n - 1),
            warmup=warmup,
            items=1,
            megabytes=megabytes,
        ),
        f"one field per call, fields in turn ({count} nuclei found in s0)")]

    run = None
    try:
        run = cellprofiler_run(fields)
    except (RuntimeError, OSError, ValueError) as exc:  # CellProfiler failed: say so
        out[0].note += f"; CellProfiler not run: {type(exc).__name__}: {exc}"[:300]
        runner.head = out[0].note
    if run is not None:
        cp_fps = run.fields_per_second_excluding_startup
        cp_runner = _RoundRobin(pyhcs_one, on)
        case = cp_runner.bind(
            Case(
                family="pipeline",
                name=f"process_field vs CellProfiler 5, {size}",
                pyhcs=cp_runner,
                reference=None,
                reference_name=f"CellProfiler 5 ({run.processes} procs)",
                device=device,
                repeat=max(3, 2 * n - 1),
                warmup=0,  # the case above has compiled and warmed everything
                items=1,
                megabytes=megabytes,
            ),
            f"CellProfiler {cp_fps:.3f} fields/s excluding start-up "
            f"({run.fields_per_second:.3f} with start-up and export; "
            f"{run.cpu_s_per_field.mean():.1f} CPU-s/field; {run.n_fields} fields "
            f"in {run.processes} processes of 1 thread)",
            cp_stages=_cp_stage_seconds(run))
        case.reference_s = 1.0 / cp_fps  # seconds per field at CellProfiler's throughput
        out.append(case)
        if device == "cpu":
            out.append(_batch_case(fields, run, size, megabytes))
    return out


def _batch_case(fields, run, size: str, megabytes: float) -> Case:
    """pyhcs as CellProfiler is run: as many processes of one thread as CellProfiler had."""
    pair = _Processes(fields, run.processes)
    case = Case(
        family="pipeline",
        name=f"{run.processes} procs x 1 thread vs CellProfiler, {size}",
        pyhcs=pair,
        reference=None,
        reference_name=f"CellProfiler 5 ({run.processes} procs)",
        device="cpu",
        repeat=5,
        warmup=1,
        items=pair.n_fields,
        megabytes=megabytes * pair.n_fields,
        note=(f"{run.processes} processes of process_field, one thread each, every one "
              f"over all {len(fields)} fields per call (after a warm-up pass): fields/s on "
              f"{run.processes} cores as CellProfiler's; the plate engine runs fields this "
              f"way with processes={run.processes} (pyhcs run --processes "
              f"{run.processes}), and one at a time on all cores by default (the case above)"),
    )
    case.reference_s = pair.n_fields / run.fields_per_second_excluding_startup
    return case
