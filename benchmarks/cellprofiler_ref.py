"""Drive the real CellProfiler 5 (headless, in its own venv) as the reference of a speed benchmark.

This module runs in the project's venv; CellProfiler itself runs in the separate venv that
``/work/shared/tools/cellprofiler/README.md`` installs (it needs numpy < 2 and scipy < 1.11),
always through subprocesses, with the command line of that tool's ``run_cp.sh``. Nothing here
imports CellProfiler, so the module imports (and :func:`available` answers ``False``) where
CellProfiler is not installed; the project's tests must not need it.

The pipeline is :mod:`cellprofiler_subset` (next to this file): the tool's reference
Cell Painting pipeline restricted to segmentation, size/shape (Zernike), intensity and texture
-- the measurements pyhcs computes -- plus the saved label images and ExportToSpreadsheet.

Typical use::

    import cellprofiler_ref as cp
    if cp.available():
        cp.write_fields("in", {"f0": img0, "f1": img1})      # (2, H, W) uint16: DNA, Actin
        run = cp.run_cellprofiler("in", "out", processes=2)
        run.fields_per_second_excluding_startup
        nuclei = cp.load_objects("out", "Nuclei")
        labels = cp.label_image("out", "f0", "Nuclei")

Layout of ``output_dir`` after :func:`run_cellprofiler` with ``processes=P``::

    output_dir/cellprofiler_run.json        what ran: fields per process, timings, pipeline
    output_dir/inputs/proc<k>/              the fields of process k (symlinks, or copies)
    output_dir/proc<k>/Image.csv, Nuclei.csv, Cells.csv, Cytoplasm.csv, Experiment.csv
    output_dir/proc<k>/labels/<field>_DNA_<Objects>_labels.tiff
    output_dir/proc<k>/cellprofiler.log

The ``load_*`` functions and :func:`label_image` accept either ``output_dir`` (all processes
together) or one ``output_dir/proc<k>`` directory (any directory holding the CSVs, such as
the output of ``run_cp.sh``).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "CP_HOME",
    "CP_VENV",
    "CellProfilerRun",
    "available",
    "label_image",
    "load_image_table",
    "load_objects",
    "load_run",
    "run_cellprofiler",
    "subset_pipeline",
    "write_fields",
]

_CACHE = Path.home() / ".cache" / "cellprofiler-headless"
#: The CellProfiler venv (``$CP_VENV``, else ``~/.cache/cellprofiler-headless/cp-venv``).
CP_VENV = Path(os.environ.get("CP_VENV", str(_CACHE / "cp-venv")))
#: The HOME CellProfiler runs with, where it keeps its configuration (``$CP_HOME``, else
#: ``~/.cache/cellprofiler-headless/home``).
CP_HOME = Path(os.environ.get("CP_HOME", str(_CACHE / "home")))

_HERE = Path(__file__).resolve().parent
_SUBSET_SCRIPT = _HERE / "cellprofiler_subset.py"
_DEFAULT_PIPELINE_CACHE = Path.home() / ".cache" / "pyhcs" / "cellprofiler"
_MANIFEST = "cellprofiler_run.json"
_FIELD_FILE = re.compile(r"^(?P<field>.+)_(?P<channel>DNA|Actin)\.tiff?$")
_CHANNELS = ("DNA", "Actin")
#: a module line of CellProfiler's INFO log (``-L INFO``), one per image set and module
_LOG_MODULE = re.compile(
    r"Image # (?P<image>\d+), module (?P<module>\S+) # (?P<num>\d+): "
    r"CPU_time = (?P<cpu>[0-9.]+) secs, Wall_time = (?P<wall>[0-9.]+) secs"
)
_LOG_TAIL_LINES = 40


def _cp_python() -> Path:
    return CP_VENV / "bin" / "python"


def _cp_env() -> dict[str, str]:
    """The environment of a CellProfiler process, as ``run_cp.sh`` sets it up."""
    env = dict(os.environ)
    # the project's venv must not leak into the CellProfiler venv
    for key in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"):
        env.pop(key, None)
    (CP_HOME / "mpl").mkdir(parents=True, exist_ok=True)
    env["HOME"] = str(CP_HOME)
    env["MPLCONFIGDIR"] = str(CP_HOME / "mpl")
    # one core per process: ExecutionTime_* are then per-core CPU seconds
    for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[key] = "1"
    return env


def _tail(text: str, lines: int = _LOG_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


@functools.cache
def available() -> bool:
    """Whether the headless CellProfiler can be run from here.

    True when the python of :data:`CP_VENV` exists and imports ``cellprofiler`` and
    ``cellprofiler_core``. The answer is cached for the life of the process (the check
    starts a Python interpreter, about a second).

    Returns
    -------
    bool
    """
    python = _cp_python()
    if not python.is_file():
        return False
    try:
        proc = subprocess.run(
            [str(python), "-c", "import cellprofiler, cellprofiler_core"],
            env=_cp_env(),
            capture_output=True,
            timeout=300,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0


def _require_cellprofiler() -> None:
    if not available():
        raise RuntimeError(
            f"CellProfiler is not installed in {CP_VENV} (set CP_VENV, or install it as "
            "/work/shared/tools/cellprofiler/README.md says)"
        )


def skipped() -> bool:
    """For the ``check_*`` scripts: True (after printing why, on one line) when CellProfiler is
    not installed, so that the script can exit 0 at once."""
    if available():
        return False
    print("CellProfiler is not installed (see /work/shared/tools/cellprofiler/README.md); "
          "skipped")
    return True


def run_driver(driver: str, arrays: Mapping[str, np.ndarray], *arguments: str,
               workdir: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """Run a Python script in the CellProfiler venv on arrays, and return the arrays it saves.

    The script (its source, ``driver``) is called as ``python driver.py IN.npz OUT.npz
    *arguments``: it loads ``IN.npz`` (``arrays``) and ``np.savez``-es its results to
    ``OUT.npz``, which come back as a dict. It runs in a temporary folder (under ``workdir``)
    with :func:`_cp_env`'s environment. Raises ``RuntimeError`` when CellProfiler is not
    installed and ``subprocess.CalledProcessError`` when the script fails.
    """
    import tempfile

    _require_cellprofiler()
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        tmp = Path(tmp)
        np.savez(tmp / "in.npz", **arrays)
        (tmp / "driver.py").write_text(driver)
        command = [str(_cp_python()), str(tmp / "driver.py"), str(tmp / "in.npz"),
                   str(tmp / "out.npz"), *arguments]
        subprocess.run(command, check=True, env=_cp_env(), cwd=str(tmp))
        with np.load(tmp / "out.npz") as out:
            return {name: out[name] for name in out.files}


def subset_pipeline(cache_dir: str | os.PathLike | None = None) -> Path:
    """The benchmark's ``.cppipe``, built once from ``cellprofiler_subset.py``.

    The file is named after a hash of the builder script, so editing the script builds a new
    pipeline, and an existing file is reused as is.

    Parameters
    ----------
    cache_dir : path-like, optional
        Where the pipeline is kept; ``~/.cache/pyhcs/cellprofiler`` when omitted.

    Returns
    -------
    pathlib.Path
        The ``.cppipe`` file.

    Raises
    ------
    RuntimeError
        When CellProfiler is not installed or the builder script fails (with its output's tail).
    """
    cache = Path(cache_dir) if cache_dir is not None else _DEFAULT_PIPELINE_CACHE
    digest = hashlib.sha256(_SUBSET_SCRIPT.read_bytes()).hexdigest()[:12]
    target = cache / f"cellprofiler_subset_{digest}.cppipe"
    if target.is_file():
        return target
    _require_cellprofiler()
    cache.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    proc = subprocess.run(
        [str(_cp_python()), str(_SUBSET_SCRIPT), str(partial)],
        env=_cp_env(),
        cwd=str(cache),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        raise RuntimeError(
            f"building the CellProfiler pipeline failed (exit {proc.returncode}):\n"
            + _tail(proc.stdout + proc.stderr)
        )
    os.replace(partial, target)
    return target


def write_fields(directory: str | os.PathLike, images: Mapping[str, np.ndarray]) -> None:
    """Write fields as the pipeline's input: ``<field>_DNA.tif`` and ``<field>_Actin.tif``.

    Parameters
    ----------
    directory : path-like
        Created if missing; existing files of the same names are overwritten.
    images : mapping of str to numpy.ndarray
        Field name to a ``(2, H, W)`` uint16 array, channel 0 DNA, channel 1 Actin. Each
        channel is written as an uncompressed 16-bit grayscale TIFF.

    Raises
    ------
    ValueError
        For an array that is not ``(2, H, W)`` uint16, or a field name the pipeline's
        ``^(?P<Field>.+)_(?P<Stain>DNA|Actin)\\.tiff?$`` file-name rule would not give back.
    """
    import tifffile

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    for name, image in images.items():
        image = np.asarray(image)
        if image.dtype != np.uint16 or image.ndim != 3 or image.shape[0] != 2:
            raise ValueError(
                f"field {name!r}: expected a (2, H, W) uint16 array, "
                f"got {image.dtype} {image.shape}"
            )
        if (
            not name
            or "/" in name
            or os.sep in name
            or _FIELD_FILE.match(f"{name}_DNA.tif")["field"] != name
        ):
            raise ValueError(f"field name {name!r} cannot be used in a file name")
        for channel, plane in zip(_CHANNELS, image, strict=True):
            tifffile.imwrite(
                out / f"{name}_{channel}.tif",
                np.ascontiguousarray(plane),
                photometric="minisblack",
                compression=None,
            )


def _find_fields(input_dir: Path) -> list[str]:
    """Sorted field names with both channels in ``input_dir``."""
    channels: dict[str, set[str]] = {}
    for entry in input_dir.iterdir():
        m = _FIELD_FILE.match(entry.name)
        if m and entry.is_file():
            channels.setdefault(m["field"], set()).add(m["channel"])
    incomplete = sorted(f for f, c in channels.items() if c != set(_CHANNELS))
    if incomplete:
        raise ValueError(f"fields without both DNA and Actin files in {input_dir}: {incomplete}")
    return sorted(channels)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        dst.symlink_to(src)
    except OSError:
        shutil.copy2(src, dst)


@dataclass
class CellProfilerRun:
    """What one :func:`run_cellprofiler` call ran and how long it took.

    Attributes
    ----------
    wall_s : float
        Wall seconds of the whole parallel run: from starting the first CellProfiler process
        to the end of the last one (start-up, every field, export).
    process_wall_s : tuple of float
        Wall seconds of each process, start to exit.
    n_fields : int
        Number of fields (image sets) processed.
    execution_times : pandas.DataFrame
        One row per field (index ``field``, sorted), one column per module:
        the ``ExecutionTime_<NN><Module>`` columns of ``Image.csv``. CellProfiler measures them
        as the process's user + system CPU seconds across the module's ``run`` (``os.times``);
        with one thread per process this is the module's time on one core, and it does not
        depend on how busy the machine is -- the stable speed figure.
    module_wall_s : pandas.DataFrame
        Same shape as ``execution_times``: the wall seconds of each module and field, read from
        CellProfiler's INFO log. Empty when the log does not have them.
    fields : tuple of tuple of str
        The fields of each process, in the order they ran.
    output_dirs : tuple of pathlib.Path
        Output directory of each process (``output_dir/proc<k>``).
    output_dir : pathlib.Path
        The directory given to :func:`run_cellprofiler`.
    pipeline : pathlib.Path
        The ``.cppipe`` that ran.
    """

    wall_s: float
    process_wall_s: tuple[float, ...]
    n_fields: int
    execution_times: pd.DataFrame
    module_wall_s: pd.DataFrame
    fields: tuple[tuple[str, ...], ...]
    output_dirs: tuple[Path, ...]
    output_dir: Path
    pipeline: Path

    @property
    def processes(self) -> int:
        """Number of CellProfiler processes that ran in parallel."""
        return len(self.output_dirs)

    @property
    def cpu_s_per_field(self) -> pd.Series:
        """Sum of all modules' ``ExecutionTime_*`` of each field: CPU seconds per field."""
        return self.execution_times.sum(axis=1)

    @property
    def process_busy_s(self) -> tuple[float, ...]:
        """For each process, the sum of ``ExecutionTime_*`` over its fields and modules."""
        per_field = self.cpu_s_per_field
        return tuple(float(per_field.loc[list(fs)].sum()) for fs in self.fields)

    @property
    def startup_s(self) -> tuple[float, ...]:
        """For each process, wall seconds spent outside the modules' ``run``.

        ``process_wall_s[k]`` minus the wall seconds of all modules of its fields, as
        CellProfiler's log reports them (:attr:`module_wall_s`; where the log lacks them, their
        CPU seconds, :attr:`process_busy_s`): interpreter and CellProfiler start-up, loading the
        pipeline, listing the input files, the bookkeeping between modules, and
        ExportToSpreadsheet writing the CSVs after the last field (its per-field call is a
        no-op, and CellProfiler records no ``ExecutionTime`` for it). Measured on 1024x1024
        fields of ~300 nuclei: about 8-9 s for a process of one field, 11-12 s for two, i.e. a
        fixed ~6 s plus ~2-3 s per field (storing and exporting that field's measurements).
        """
        if self.module_wall_s.empty:
            busy = self.process_busy_s
        else:
            per_field = self.module_wall_s.sum(axis=1)
            busy = tuple(float(per_field.loc[list(fs)].sum()) for fs in self.fields)
        return tuple(w - b for w, b in zip(self.process_wall_s, busy, strict=True))

    @property
    def fields_per_second(self) -> float:
        """``n_fields / wall_s``: throughput including start-up and export."""
        return self.n_fields / self.wall_s

    @property
    def fields_per_second_excluding_startup(self) -> float:
        """Throughput of the parallel run with start-up and export left out.

        ``n_fields / max_k(process_busy_s[k])``: the processes run side by side, so the run
        takes as long as its busiest process, and that process's time is counted as the sum of
        ``ExecutionTime_*`` of its fields (all modules, loading the images included, since
        CellProfiler reads an image in the first module that asks for it).

        Why this and not ``wall(N fields) - wall(1 field)``: it needs one run, not two, and its
        terms are per-core CPU seconds that CellProfiler records per field and module, which
        repeat to a few percent and do not depend on other load on the machine, whereas the
        difference of two wall times carries the noise of both runs' start-ups and of whatever
        else the machine runs. The price: besides the fixed start-up (~6 s a process) it also
        leaves out the ~2-3 s per field that CellProfiler spends outside the modules storing
        and exporting the field's measurements (see :attr:`startup_s`), which the
        wall-difference would count. It is therefore the throughput of CellProfiler's
        measurement code, an upper bound on what a long CellProfiler run achieves; use
        :attr:`fields_per_second` for the all-inclusive figure of this run. With one thread per
        process (as here) on an otherwise idle machine with no fewer cores than processes, a
        module's CPU seconds equal its wall seconds.
        """
        busiest = max(self.process_busy_s)
        return self.n_fields / busiest if busiest > 0 else float("nan")

    def summary(self) -> pd.DataFrame:
        """Mean, min and max ``ExecutionTime`` seconds per field of each module, and their total."""
        table = self.execution_times.agg(["mean", "min", "max"]).T
        table.loc["total"] = self.cpu_s_per_field.agg(["mean", "min", "max"])
        return table


def _wait_timed(proc: subprocess.Popen, t0: float, out: list, k: int) -> None:
    proc.wait()
    out[k] = time.perf_counter() - t0


def _module_wall_from_log(log: Path, image_fields: Mapping[int, str]) -> pd.DataFrame:
    rows: dict[str, dict[str, float]] = {}
    if log.is_file():
        for line in log.read_text(errors="replace").splitlines():
            m = _LOG_MODULE.search(line)
            if m and int(m["image"]) in image_fields:
                column = f"ExecutionTime_{int(m['num']):02d}{m['module']}"
                rows.setdefault(image_fields[int(m["image"])], {})[column] = float(m["wall"])
    return pd.DataFrame.from_dict(rows, orient="index")


def _module_times(out_dirs: Sequence[Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``ExecutionTime_*`` of Image.csv and module wall times of the logs, one row per field."""
    exec_frames, wall_frames = [], []
    for out_k in out_dirs:
        image = _read_csv(out_k / "Image.csv")
        times = image.set_index(image["Metadata_Field"].astype(str))[
            [c for c in image.columns if c.startswith("ExecutionTime_")]
        ]
        exec_frames.append(times)
        image_fields = dict(zip(image["ImageNumber"].astype(int), times.index, strict=True))
        wall_frames.append(_module_wall_from_log(out_k / "cellprofiler.log", image_fields))
    execution_times = pd.concat(exec_frames).sort_index().rename_axis("field")
    module_wall = pd.concat(wall_frames)
    if not module_wall.empty:
        module_wall = module_wall.reindex(
            index=execution_times.index, columns=execution_times.columns
        ).rename_axis("field")
    return execution_times, module_wall


def run_cellprofiler(
    input_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    pipeline: str | os.PathLike | None = None,
    processes: int = 2,
    timeout: float | None = None,
) -> CellProfilerRun:
    """Run headless CellProfiler on the fields of ``input_dir`` in parallel processes.

    The fields (``<field>_DNA.tif`` + ``<field>_Actin.tif``, sorted by name) are split into
    ``processes`` contiguous groups of near-equal size, each given its own input folder of
    symlinks (copies where links cannot be made), and one CellProfiler process per group runs
    with ``run_cp.sh``'s command line::

        python -m cellprofiler -c -r -p PIPELINE -i IN -o OUT -e imageio_reader -t OUT/tmp -L INFO

    with ``HOME=CP_HOME``, ``MPLCONFIGDIR=CP_HOME/mpl`` and ``OMP_NUM_THREADS``,
    ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` set to 1. All processes start together; the
    call returns when all have ended.

    Parameters
    ----------
    input_dir : path-like
        Folder of input TIFFs (see :func:`write_fields`).
    output_dir : path-like
        Created if missing. ``inputs/proc<k>`` and ``proc<k>`` below it are replaced (any
        earlier content removed), and ``cellprofiler_run.json`` is written (see :func:`load_run`).
    pipeline : path-like, optional
        The ``.cppipe`` to run; :func:`subset_pipeline` when omitted. It must export Image.csv
        with ``Metadata_Field`` (as the pipelines of this tool do).
    processes : int, default 2
        Number of parallel CellProfiler processes; fewer when there are fewer fields.
    timeout : float, optional
        Seconds after which all processes are killed and :class:`RuntimeError` raised.

    Returns
    -------
    CellProfilerRun

    Raises
    ------
    RuntimeError
        When CellProfiler is not installed, a process exits non-zero, times out, leaves no
        Image.csv with one row per field, or records a ``ModuleError_*`` in it; the message has
        the tail of that process's log.
    ValueError
        When ``input_dir`` holds no complete field or ``processes < 1``.
    """
    if processes < 1:
        raise ValueError("processes must be >= 1")
    _require_cellprofiler()
    pipe = Path(pipeline).resolve() if pipeline is not None else subset_pipeline()
    src = Path(input_dir).resolve()
    all_fields = _find_fields(src)
    if not all_fields:
        raise ValueError(f"no <field>_DNA.tif / <field>_Actin.tif pairs in {src}")
    n_proc = min(processes, len(all_fields))
    groups = [tuple(g.tolist()) for g in np.array_split(np.array(all_fields, dtype=object), n_proc)]

    root = Path(output_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    (root / _MANIFEST).unlink(missing_ok=True)
    in_dirs, out_dirs = [], []
    for k, group in enumerate(groups):
        in_k, out_k = root / "inputs" / f"proc{k}", root / f"proc{k}"
        for d in (in_k, out_k):
            if d.is_symlink() or d.is_file():
                d.unlink()
            elif d.exists():
                shutil.rmtree(d)
            d.mkdir(parents=True)
        for name in group:
            for entry in src.iterdir():
                m = _FIELD_FILE.match(entry.name)
                if m and m["field"] == name:
                    _link_or_copy(entry, in_k / entry.name)
        in_dirs.append(in_k)
        out_dirs.append(out_k)

    env = _cp_env()
    procs: list[subprocess.Popen] = []
    logs = []
    ends: list[float | None] = [None] * n_proc
    waiters = []
    t0 = time.perf_counter()
    try:
        for k in range(n_proc):
            log = open(out_dirs[k] / "cellprofiler.log", "w")
            logs.append(log)
            cmd = [
                str(_cp_python()), "-m", "cellprofiler", "-c", "-r",
                "-p", str(pipe), "-i", str(in_dirs[k]), "-o", str(out_dirs[k]),
                "-e", "imageio_reader", "-t", str(out_dirs[k] / "tmp"), "-L", "INFO",
            ]  # fmt: skip
            procs.append(
                subprocess.Popen(
                    cmd, env=env, cwd=str(out_dirs[k]), stdout=log, stderr=subprocess.STDOUT
                )
            )
            w = threading.Thread(target=_wait_timed, args=(procs[k], t0, ends, k), daemon=True)
            w.start()
            waiters.append(w)
        deadline = None if timeout is None else t0 + timeout
        for w in waiters:
            w.join(None if deadline is None else max(0.0, deadline - time.perf_counter()))
            if w.is_alive():
                raise TimeoutError
    except TimeoutError:
        for p in procs:
            if p.poll() is None:
                p.kill()
        for p in procs:
            p.wait()
        for log in logs:
            log.close()
        raise RuntimeError(
            f"CellProfiler did not finish within {timeout} s; log tails:\n"
            + "\n".join(
                f"--- {d / 'cellprofiler.log'}\n" + _tail((d / "cellprofiler.log").read_text())
                for d in out_dirs
            )
        ) from None
    except BaseException:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        raise
    finally:
        for log in logs:
            log.close()
    wall = time.perf_counter() - t0
    proc_wall = tuple(float(e) for e in ends)

    for k, (p, out_k, group) in enumerate(zip(procs, out_dirs, groups, strict=True)):
        try:
            (out_k / "tmp").rmdir()
        except OSError:
            pass
        log_path = out_k / "cellprofiler.log"
        image_csv = out_k / "Image.csv"
        problem = None
        if p.returncode != 0:
            problem = f"exited with status {p.returncode}"
        elif not image_csv.is_file():
            problem = "wrote no Image.csv"
        else:
            image = _read_csv(image_csv)
            got = sorted(image["Metadata_Field"].astype(str))
            errors = image.filter(like="ModuleError_")
            failed = sorted(errors.columns[(errors.fillna(0) != 0).any(axis=0)])
            if got != sorted(group):
                problem = f"processed fields {got}, expected {sorted(group)}"
            elif failed:
                problem = f"reported module errors ({', '.join(failed)})"
        if problem:
            raise RuntimeError(
                f"CellProfiler process {k} ({log_path}) {problem}; log tail:\n"
                + _tail(log_path.read_text(errors="replace"))
            )

    execution_times, module_wall = _module_times(out_dirs)
    run = CellProfilerRun(
        wall_s=wall,
        process_wall_s=proc_wall,
        n_fields=len(all_fields),
        execution_times=execution_times,
        module_wall_s=module_wall,
        fields=tuple(groups),
        output_dirs=tuple(out_dirs),
        output_dir=root,
        pipeline=pipe,
    )
    manifest = {
        "pipeline": str(pipe),
        "input_dir": str(src),
        "wall_s": run.wall_s,
        "process_wall_s": list(run.process_wall_s),
        "fields": [list(g) for g in groups],
        "output_dirs": [d.name for d in out_dirs],
    }
    (root / _MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return run


def _part_dirs(output_dir: str | os.PathLike, csv_name: str) -> list[Path]:
    """The per-process directories behind ``output_dir`` that hold ``csv_name``."""
    root = Path(output_dir)
    if (root / csv_name).is_file():
        return [root]
    manifest = root / _MANIFEST
    if manifest.is_file():
        parts = [root / d for d in json.loads(manifest.read_text())["output_dirs"]]
    else:
        parts = sorted(
            (d for d in root.glob("proc*") if d.is_dir()), key=lambda d: int(d.name[4:] or 0)
        )
    parts = [d for d in parts if (d / csv_name).is_file()]
    if not parts:
        raise FileNotFoundError(f"no {csv_name} in {root} or its proc<k> directories")
    return parts


def _read_csv(path: Path) -> pd.DataFrame:
    """One ExportToSpreadsheet CSV; a column name repeated keeps its first occurrence only.

    ExportToSpreadsheet writes ``Metadata_*`` columns of object tables twice (same values).
    ``Metadata_*`` and ``FileName_*`` / ``PathName_*`` / ``URL_*`` columns are read as text.
    """
    with open(path, newline="") as fd:
        header = next(csv.reader(fd))
    keep, seen = [], set()
    for i, name in enumerate(header):
        if name not in seen:
            seen.add(name)
            keep.append(i)
    text = ("Metadata_", "FileName_", "PathName_", "URL_", "ObjectsFileName_", "ObjectsPathName_",
            "ObjectsURL_")  # fmt: skip
    dtypes = {header[i]: str for i in keep if header[i].startswith(text)}
    return pd.read_csv(
        path, usecols=keep, dtype=dtypes, keep_default_na=False, na_values=["NaN", ""]
    )


def _load_table(output_dir: str | os.PathLike, csv_name: str) -> pd.DataFrame:
    parts = _part_dirs(output_dir, csv_name)
    if len(parts) == 1:
        return _read_csv(parts[0] / csv_name)
    frames, offset = [], 0
    for part in parts:
        frame = _read_csv(part / csv_name)
        n_images = len(_read_csv(part / "Image.csv"))
        frame["ImageNumber"] = frame["ImageNumber"] + offset
        offset += n_images
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def load_image_table(output_dir: str | os.PathLike) -> pd.DataFrame:
    """``Image.csv``: one row per field, all image-level measurements.

    Parameters
    ----------
    output_dir : path-like
        A :func:`run_cellprofiler` output directory (all its processes, concatenated in
        process order) or one directory holding ``Image.csv``.

    Returns
    -------
    pandas.DataFrame
        Over several processes ``ImageNumber`` is renumbered 1..n in that order (each process
        numbers its own image sets from 1), consistently with :func:`load_objects`;
        ``Metadata_Field`` names the field either way.
    """
    return _load_table(output_dir, "Image.csv")


def load_objects(output_dir: str | os.PathLike, name: str) -> pd.DataFrame:
    """An object table, ``<name>.csv`` (``Nuclei``, ``Cells`` or ``Cytoplasm``).

    Parameters
    ----------
    output_dir : path-like
        As for :func:`load_image_table`.
    name : str
        The object set's name.

    Returns
    -------
    pandas.DataFrame
        One row per object: ``ImageNumber``, ``ObjectNumber``, the ``Metadata_*`` columns (once
        each; the CSV repeats ``Metadata_Field``) and the measurements, named as CellProfiler
        names them. ``ImageNumber`` matches :func:`load_image_table` of the same directory.
    """
    return _load_table(output_dir, f"{name}.csv")


def label_image(output_dir: str | os.PathLike, field: str, objects: str) -> np.ndarray:
    """The label image CellProfiler saved for one field and object set.

    Parameters
    ----------
    output_dir : path-like
        As for :func:`load_image_table`.
    field : str
        Field name (``Metadata_Field``).
    objects : str
        ``Nuclei``, ``Cells`` or ``Cytoplasm``.

    Returns
    -------
    numpy.ndarray
        int32, shape (H, W): 0 background, else the ``ObjectNumber`` of the object tables.

    Raises
    ------
    FileNotFoundError
        When no such label image was saved.
    """
    import tifffile

    filename = f"{field}_DNA_{objects}_labels.tiff"
    for part in _part_dirs(output_dir, "Image.csv"):
        path = part / "labels" / filename
        if path.is_file():
            labels = tifffile.imread(path)
            if labels.ndim != 2:
                labels = np.squeeze(labels)
            return labels.astype(np.int32, copy=False)
    raise FileNotFoundError(f"no labels/{filename} under {output_dir}")


def load_run(output_dir: str | os.PathLike) -> CellProfilerRun:
    """The :class:`CellProfilerRun` of an earlier :func:`run_cellprofiler` into ``output_dir``.

    Timings come from its ``cellprofiler_run.json``, module times from its CSVs and logs.

    Parameters
    ----------
    output_dir : path-like

    Returns
    -------
    CellProfilerRun
    """
    root = Path(output_dir).resolve()
    manifest = json.loads((root / _MANIFEST).read_text())
    out_dirs = tuple(root / d for d in manifest["output_dirs"])
    execution_times, module_wall = _module_times(out_dirs)
    return CellProfilerRun(
        wall_s=float(manifest["wall_s"]),
        process_wall_s=tuple(float(w) for w in manifest["process_wall_s"]),
        n_fields=len(execution_times),
        execution_times=execution_times,
        module_wall_s=module_wall,
        fields=tuple(tuple(g) for g in manifest["fields"]),
        output_dirs=out_dirs,
        output_dir=root,
        pipeline=Path(manifest["pipeline"]),
    )


if __name__ == "__main__":  # pragma: no cover - a quick check from the command line
    print("CellProfiler available:", available(), f"({CP_VENV})", file=sys.stderr)
