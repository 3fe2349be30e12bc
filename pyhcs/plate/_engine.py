"""The plate engine: read ahead, compute, write behind; resumable per-well outputs.

Three stages overlap:

- reader threads decode fields into a bounded pool of host buffers (pinned on the GPU), so
  host memory is bounded whatever the plate size;
- the calling thread uploads each field (on its own CUDA stream, while the previous field
  computes) and runs :func:`pyhcs.plate.process_field` on it;
- a writer thread turns the results into per-well Parquet files.

On the CPU, ``processes=N`` replaces the middle stage with N worker processes that read and
compute whole fields (:mod:`pyhcs.plate._processes`); the writer stays here.

Outputs in ``out/`` (see :func:`run`). A well is finished when ``objects/<well>.parquet``
exists under its final name: every file is written under a temporary name and renamed, the
objects file last, so a killed run resumes by redoing exactly the unfinished wells.
"""

from __future__ import annotations

import json
import os
import platform
import queue
import shutil
import sys
import threading
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from .._backend import Namespace, namespace_for_device, to_numpy
from ._errors import PlateError
from ._pipeline import Pipeline
from ._plate import Plate
from ._process import FieldResult, process_field
from ._processes import available_cores

__all__ = ["RunSummary", "illumination_functions", "run", "OUTPUT_FILES"]

#: What a run writes under ``out/``.
OUTPUT_FILES = ("objects", "image.parquet", "profiles.parquet", "errors.parquet", "run.json")
_PARTS = "parts"
_LABELS = "labels"
_ILLUMINATION = "illumination"
_STAGES_ENGINE = ("ExecutionTime_Read", "ExecutionTime_Upload", "ExecutionTime_Download",
                  "ExecutionTime_Total")
#: Per-object columns that identify objects rather than describe them (not profiled).
_IDENTITY_SUFFIXES = ("_Number_Object_Number", "_Location_Center_X", "_Location_Center_Y",
                      "_Location_Center_Z")
_IDENTITY_PARTS = ("_Parent_", "_Children_")


@dataclass
class RunSummary:
    """What :func:`run` did.

    Attributes
    ----------
    out : pathlib.Path
        The output folder.
    fields : int
        Fields processed by this call (resumed wells excluded).
    errors : int
        Fields of this call that failed (recorded in ``errors.parquet``).
    cells : int
        Cells measured by this call.
    wells_done, wells_skipped : tuple of str
        Wells finished by this call (in plate order), and wells found finished and skipped.
    seconds : float
        Wall time of this call.
    device : str
        ``"cpu"`` or ``"cuda"`` (``"cuda (simulated)"`` under the CUDA simulator).
    stages : dict of str to float
        Total seconds per stage (``ExecutionTime_*``) over this call's fields.
    """

    out: Path
    fields: int
    errors: int
    cells: int
    wells_done: tuple[str, ...]
    wells_skipped: tuple[str, ...]
    seconds: float
    device: str
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def fields_per_second(self) -> float:
        return self.fields / self.seconds if self.seconds > 0 else float("nan")


@dataclass
class _Field:
    well: str
    site: Any
    image_number: int
    buffer: Any = None          # the host buffer holding the decoded field
    error: BaseException | None = None
    read_seconds: float = 0.0
    device_image: Any = None
    event: Any = None
    upload_seconds: float = 0.0


@dataclass
class _Done:
    """One processed field, as the writer needs it (host data only)."""

    well: str
    site: Any
    image_number: int
    cells: Any                  # pandas.DataFrame or None
    image: dict[str, Any]
    error: str | None
    error_type: str | None
    labels: dict[str, np.ndarray] | None


# ---------------------------------------------------------------------- devices
class _HostDevice:
    """CPU (and the CUDA simulator, which computes on numpy arrays): no transfers."""

    name = "cpu"

    def __init__(self, ns: Namespace):
        self.ns = ns
        if ns.simulated:
            self.name = "cuda (simulated)"

    def allocate(self, shape, dtype) -> np.ndarray:
        return np.empty(shape, dtype)

    def upload(self, item: _Field) -> None:
        item.device_image = item.buffer

    def wait(self, item: _Field) -> None:
        pass

    def recover(self, exc: BaseException) -> bool:
        return False

    def close(self) -> None:
        pass


class _CudaDevice:
    """The GPU: pinned host buffers, uploads on their own stream, a memory budget."""

    name = "cuda"

    def __init__(self, ns: Namespace, gpu_memory: int | None, log: Callable[[str], None]):
        import cupy

        self.ns = ns
        self.cupy = cupy
        self.log = log
        self.stream = cupy.cuda.Stream(non_blocking=True)
        self.pool = cupy.get_default_memory_pool()
        if gpu_memory is not None:
            self.pool.set_limit(size=int(gpu_memory))

    def allocate(self, shape, dtype) -> np.ndarray:
        import cupyx

        return cupyx.empty_pinned(shape, dtype)

    def upload(self, item: _Field) -> None:
        cupy = self.cupy
        start = time.perf_counter()
        with self.stream:
            device = cupy.empty(item.buffer.shape, item.buffer.dtype)
            device.set(item.buffer, stream=self.stream)
            item.event = self.stream.record()
        item.device_image = device
        item.upload_seconds = time.perf_counter() - start

    def wait(self, item: _Field) -> None:
        if item.event is not None:
            self.cupy.cuda.get_current_stream().wait_event(item.event)
            item.event.synchronize()  # the host buffer is free for the readers afterwards

    def recover(self, exc: BaseException) -> bool:
        """After an out-of-memory error: free the pools and say so; True to retry."""
        if not isinstance(exc, self.cupy.cuda.memory.OutOfMemoryError):
            return False
        self.cupy.cuda.Device().synchronize()
        self.pool.free_all_blocks()
        self.cupy.get_default_pinned_memory_pool().free_all_blocks()
        self.log(f"GPU out of memory ({exc}); pools freed, retrying the field alone")
        return True

    def close(self) -> None:
        self.cupy.cuda.Device().synchronize()
        self.pool.free_all_blocks()


# ---------------------------------------------------------------------- reading ahead
class _Reader:
    """Reader threads filling a bounded pool of host buffers, yielding fields in order."""

    def __init__(self, plate: Plate, device, workers: int, depth: int):
        self.plate = plate
        self.free: queue.Queue = queue.Queue()
        # depth reads in flight plus the two fields the computing thread holds: a read never
        # waits for a buffer, and no more than this is ever allocated
        for _ in range(depth + 2):
            self.free.put(device.allocate(plate.field_shape, plate.dtype))
        self.depth = depth
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pyhcs-read")

    def _read(self, item: _Field) -> _Field:
        buffer = self.free.get()
        start = time.perf_counter()
        try:
            self.plate.read(item.well, item.site, out=buffer)
            item.buffer = buffer
        except Exception as exc:  # a bad file: recorded, the run goes on
            self.free.put(buffer)
            item.error = exc
        item.read_seconds = time.perf_counter() - start
        return item

    def release(self, item: _Field) -> None:
        if item.buffer is not None:
            self.free.put(item.buffer)
            item.buffer = None

    def fields(self, items: Iterable[_Field]) -> Iterator[_Field]:
        """The items in order, read; at most ``depth`` reads outstanding."""
        pending: list[Future] = []
        for item in items:
            pending.append(self.pool.submit(self._read, item))
            if len(pending) >= self.depth:
                yield pending.pop(0).result()
        while pending:
            yield pending.pop(0).result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------------- output layout
class _Outputs:
    """Paths of a run's outputs and the per-well commit protocol."""

    def __init__(self, out: Path):
        self.out = out
        self.objects = out / "objects"
        self.parts = out / _PARTS
        self.labels = out / _LABELS
        self.illumination = out / _ILLUMINATION
        self.manifest = out / "run.json"

    def illumination_file(self, channel: str) -> Path:
        return self.illumination / f"{channel}.npy"

    def objects_file(self, well: str) -> Path:
        return self.objects / f"{well}.parquet"

    def part(self, well: str, kind: str) -> Path:
        return self.parts / f"{well}.{kind}.parquet"

    def done(self, well: str) -> bool:
        return self.objects_file(well).is_file()

    def prepare(self) -> None:
        for folder in (self.objects, self.parts):
            folder.mkdir(parents=True, exist_ok=True)
            for stale in folder.glob(".*.tmp"):  # left by a killed run
                stale.unlink()
        for folder in (self.labels, self.illumination):
            if folder.is_dir():
                for stale in folder.glob(".*.tmp"):
                    stale.unlink()

    def clear(self) -> None:
        for name in ("objects", _PARTS, _LABELS, _ILLUMINATION):
            shutil.rmtree(self.out / name, ignore_errors=True)
        for name in ("image.parquet", "profiles.parquet", "errors.parquet", "run.json"):
            (self.out / name).unlink(missing_ok=True)


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` then rename to ``path``: a reader never sees a partial file."""
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _write_parquet(path: Path, table) -> None:
    import pyarrow.parquet as pq

    _atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


# ---------------------------------------------------------------------- tables and schemas
class _Schemas:
    """The fixed column layout of every output, decided once per run.

    Every well file has the same columns and types whatever its content (an empty well, a
    well of failed fields), so the ``objects/`` folder reads as one dataset.
    """

    def __init__(self, plate: Plate, pipeline: Pipeline, ns: Namespace):
        import pyarrow as pa

        self.plate = plate
        # an empty field on the run's device: its tables have every column and no row (small:
        # a constant image is one foreground object to declump before it leaves by the border)
        blank = ns.asarray(np.zeros((len(plate.channels), 16, 16), plate.dtype))
        unit = {name: ns.asarray(np.ones((16, 16), np.float32))
                for name in pipeline.illumination.channels}
        empty = process_field(blank, pipeline, channels=plate.channels, illumination=unit)
        cells = empty.single_cell()
        self.cell_columns = [c for c in cells.columns if c != "ObjectNumber"]
        self.int_columns = {c for c in self.cell_columns
                            if c.endswith("_Number_Object_Number") or "_Parent_" in c
                            or "_Children_" in c}
        self.features = [c for c in self.cell_columns if not _is_identity(c)]
        self.image_measurements = [k for k in empty.image if not k.startswith("ExecutionTime_")]
        self.stages = [k for k in empty.image if k.startswith("ExecutionTime_")]
        for stage in _STAGES_ENGINE:
            if stage not in self.stages:
                self.stages.append(stage)
        sites = [s for _, s in plate.fields]
        self.site_type = pa.int64() if all(isinstance(s, (int, np.integer)) for s in sites) \
            else pa.string()
        self.metadata = self._metadata_fields()
        self.metadata_names = {f.name for f in self.metadata}
        self.channels = list(plate.channels)

    def _metadata_fields(self) -> list:
        import pyarrow as pa

        fields = [pa.field("Metadata_Plate", pa.string()), pa.field("Metadata_Well", pa.string()),
                  pa.field("Metadata_Site", self.site_type)]
        platemap = self.plate.platemap
        if platemap is not None:
            table = pa.Table.from_pandas(platemap.reset_index(drop=True), preserve_index=False)
            for f in table.schema:
                if f.name not in ("Metadata_Plate", "Metadata_Well", "Metadata_Site"):
                    kind = pa.string() if pa.types.is_null(f.type) else f.type
                    fields.append(pa.field(f.name, kind))
        return fields

    def metadata_values(self, well: str, site: Any) -> dict[str, Any]:
        import pyarrow as pa

        values = self.plate.metadata(well)
        values["Metadata_Site"] = str(site) if self.site_type == pa.string() else int(site)
        return {f.name: values.get(f.name) for f in self.metadata}

    def objects_schema(self):
        import pyarrow as pa

        fields = list(self.metadata) + [pa.field("ImageNumber", pa.int64()),
                                        pa.field("ObjectNumber", pa.int64())]
        fields += [pa.field(c, pa.int64() if c in self.int_columns else pa.float64())
                   for c in self.cell_columns]
        return pa.schema(fields)

    def image_schema(self):
        import pyarrow as pa

        fields = list(self.metadata) + [pa.field("ImageNumber", pa.int64())]
        for name in self.image_measurements:
            kind = pa.int64() if name.startswith("Count_") else pa.float64()
            fields.append(pa.field(name, kind))
        fields += [pa.field(s, pa.float64()) for s in self.stages]
        for channel in self.channels:
            fields += [pa.field(f"FileName_{channel}", pa.string()),
                       pa.field(f"PathName_{channel}", pa.string())]
        fields += [pa.field("Error", pa.string()), pa.field("ErrorType", pa.string())]
        return pa.schema(fields)

    def profile_schema(self):
        import pyarrow as pa

        fields = [f for f in self.metadata if f.name != "Metadata_Site"]
        fields += [pa.field("Metadata_Aggregation", pa.string()),
                   pa.field("Metadata_Object_Count", pa.int64()),
                   pa.field("Metadata_Field_Count", pa.int64())]
        fields += [pa.field(c, pa.float64()) for c in self.features]
        return pa.schema(fields)

    def errors_schema(self):
        import pyarrow as pa

        return pa.schema(list(self.metadata) + [
            pa.field("ImageNumber", pa.int64()), pa.field("ErrorType", pa.string()),
            pa.field("Error", pa.string()), pa.field("Traceback", pa.string())])


def _is_identity(column: str) -> bool:
    return column.endswith(_IDENTITY_SUFFIXES) or any(p in column for p in _IDENTITY_PARTS)


def _table(rows: dict[str, list], schema):
    import pyarrow as pa

    return pa.table({f.name: pa.array(rows.get(f.name, []), type=f.type) for f in schema},
                    schema=schema)


def _well_tables(done: Sequence[_Done], schemas: _Schemas):
    """The objects, image, errors and profile tables of one well."""
    import pandas as pd
    import pyarrow as pa

    objects_schema = schemas.objects_schema()
    frames = []
    image_rows: dict[str, list] = {f.name: [] for f in schemas.image_schema()}
    error_rows: dict[str, list] = {f.name: [] for f in schemas.errors_schema()}
    for item in done:
        meta = schemas.metadata_values(item.well, item.site)
        locations = _locations(schemas.plate, item.well, item.site)
        row = {**meta, "ImageNumber": item.image_number, **item.image, **locations,
               "Error": item.error, "ErrorType": item.error_type}
        for name in image_rows:
            image_rows[name].append(row.get(name))
        if item.error is not None:
            for name in error_rows:
                value = {**meta, "ImageNumber": item.image_number, "ErrorType": item.error_type,
                         "Error": item.error, "Traceback": item.image.get("_traceback")}
                error_rows[name].append(value.get(name))
        if item.cells is not None and len(item.cells):
            cells = item.cells
            for key, value in reversed(list(meta.items())):
                cells.insert(0, key, value)
            cells.insert(len(meta), "ImageNumber", item.image_number)
            frames.append(cells)
    if frames:
        merged = pd.concat(frames, ignore_index=True)
        arrays = []
        for f in objects_schema:
            column = merged[f.name]
            if pa.types.is_integer(f.type) and column.isna().any():
                raise AssertionError(f"{f.name} holds missing values")  # pragma: no cover
            values = column.tolist() if f.name in schemas.metadata_names else column.to_numpy()
            arrays.append(pa.array(values, type=f.type))
        objects = pa.Table.from_arrays(arrays, schema=objects_schema)
    else:
        objects = objects_schema.empty_table()
        merged = None
    image = _table(image_rows, schemas.image_schema())
    errors = _table(error_rows, schemas.errors_schema())
    profile = _profile(done[0].well, merged, len(done), schemas)
    return objects, image, errors, profile


def _locations(plate: Plate, well: str, site: Any) -> dict[str, str | None]:
    try:
        found = plate.locate(well, site)
    except Exception:  # pragma: no cover - locate never fails for a listed field
        found = {}
    out = {}
    for channel in plate.channels:
        paths = found.get(channel, ())
        first = str(paths[0]) if paths else None
        out[f"FileName_{channel}"] = os.path.basename(first) if first else None
        out[f"PathName_{channel}"] = os.path.dirname(first) if first else None
    return out


def _profile(well: str, cells, n_fields: int, schemas: _Schemas):
    """Per-well median and mean of every feature (two rows, ``Metadata_Aggregation``)."""
    schema = schemas.profile_schema()
    meta = schemas.plate.metadata(well)
    rows: dict[str, list] = {f.name: [] for f in schema}
    count = 0 if cells is None else len(cells)
    for statistic in ("median", "mean"):
        values = {**meta, "Metadata_Aggregation": statistic, "Metadata_Object_Count": count,
                  "Metadata_Field_Count": n_fields}
        if cells is not None and count:
            features = cells[schemas.features]
            aggregated = features.median() if statistic == "median" else features.mean()
            values.update(aggregated.to_dict())
        for name in rows:
            rows[name].append(values.get(name, None if name.startswith("Metadata_")
                                         else float("nan")))
    return _table(rows, schema)


# ---------------------------------------------------------------------- the writer
class _Writer(threading.Thread):
    """Collects the fields of a well and commits the well's files when its last field is in."""

    def __init__(self, outputs: _Outputs, schemas: _Schemas, expected: dict[str, int],
                 save_labels: bool, on_well: Callable[[str, list[_Done], float], None]):
        super().__init__(name="pyhcs-write", daemon=True)
        self.outputs = outputs
        self.schemas = schemas
        self.expected = expected
        self.save_labels = save_labels
        self.on_well = on_well
        self.inbox: queue.Queue = queue.Queue(maxsize=8)
        self.failure: BaseException | None = None
        self._collected: dict[str, list[_Done]] = {}

    def put(self, item: _Done | None) -> None:
        while True:
            if self.failure is not None:
                raise RuntimeError(f"the writer failed: {self.failure}") from self.failure
            try:
                self.inbox.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def run(self) -> None:
        try:
            while True:
                item = self.inbox.get()
                if item is None:
                    return
                collected = self._collected.setdefault(item.well, [])
                collected.append(item)
                if self.save_labels and item.labels is not None:
                    self._write_labels(item)
                if len(collected) == self.expected[item.well]:
                    start = time.perf_counter()
                    self.commit(item.well, self._collected.pop(item.well))
                    self.on_well(item.well, collected, time.perf_counter() - start)
        except BaseException as exc:  # surfaced to the computing thread by put()
            self.failure = exc
            while True:  # drain, so the producer never blocks
                try:
                    if self.inbox.get(timeout=0.5) is None:
                        return
                except queue.Empty:
                    return

    def _write_labels(self, item: _Done) -> None:
        self.outputs.labels.mkdir(exist_ok=True)
        path = self.outputs.labels / f"{item.well}_{item.site}.npz"

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                np.savez_compressed(handle, **item.labels)

        _atomic_write(path, write)

    def commit(self, well: str, done: list[_Done]) -> None:
        # in plate order whatever order the fields were computed in (worker processes)
        done = sorted(done, key=lambda item: item.image_number)
        objects, image, errors, profile = _well_tables(done, self.schemas)
        _write_parquet(self.outputs.part(well, "image"), image)
        _write_parquet(self.outputs.part(well, "errors"), errors)
        _write_parquet(self.outputs.part(well, "profile"), profile)
        _write_parquet(self.outputs.objects_file(well), objects)  # the well's commit mark


# ---------------------------------------------------------------------- the run
def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in ("pyhcs", "numpy", "scipy", "scikit-image", "numba", "pandas", "pyarrow",
                 "zarr", "tifffile", "torch", "cupy-cuda13x", "numba-cuda"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def _device_description(ns: Namespace) -> dict[str, Any]:
    if ns.device == "cuda":
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        return {"device": "cuda", "name": name,
                "memory_bytes": int(props["totalGlobalMem"])}
    return {"device": "cuda (simulated)" if ns.simulated else "cpu",
            "cpu_count": os.cpu_count(), "machine": platform.machine()}


def _plate_description(plate: Plate) -> dict[str, Any]:
    return {"name": plate.name, "format": plate.format, "source": str(plate.source),
            "channels": list(plate.channels), "shape": list(plate.shape),
            "dtype": str(plate.dtype), "wells": len(plate.wells), "fields": len(plate)}


def _check_channels(plate: Plate, pipeline: Pipeline) -> None:
    available = list(plate.channels)
    checks = [("nuclei.channel", [pipeline.nuclei.channel]),
              ("cells.channel", [pipeline.cells.channel])]
    for module in ("Intensity", "Texture", "HOG"):
        checks.append((f"measure.{module}.images",
                       list(getattr(pipeline.measure, module).images)))
    checks.append(("illumination.channels", list(pipeline.illumination.channels)))
    for key, names in checks:
        for name in names:
            if name not in available:
                raise PlateError(
                    f"pipeline {key} names channel {name!r} but plate {plate.name!r} has "
                    f"channels {available}; name the plate's channels by role with "
                    f"channels={{'{name}': '<its channel>'}} (--channels {name}=<its channel>)")


def _select_wells(plate: Plate, wells) -> list[str]:
    if wells is None:
        return list(plate.wells)
    from ._wells import normalize_well

    if isinstance(wells, str):
        wells = [w for w in wells.split(",") if w.strip()]
    chosen = []
    for well in wells:
        try:
            name = normalize_well(str(well).strip())
        except (TypeError, ValueError) as exc:
            raise ValueError(f"wells: {exc}") from None
        if name not in plate.wells:
            raise ValueError(f"wells: {well!r} has no fields on plate {plate.name!r}")
        if name not in chosen:
            chosen.append(name)
    if not chosen:
        raise ValueError("wells: no well given")
    order = {w: i for i, w in enumerate(plate.wells)}
    return sorted(chosen, key=order.__getitem__)


def _read_manifest(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    def write(tmp: Path) -> None:
        tmp.write_text(json.dumps(manifest, indent=2, default=str) + "\n")

    _atomic_write(path, write)


_ASSEMBLY_GROUP_BYTES = 32 << 20
_ASSEMBLY_COMPACT_PARTS = 64


def _assemble(outputs: _Outputs, plate: Plate, schemas: _Schemas) -> None:
    """image.parquet, errors.parquet and profiles.parquet from the finished wells' parts."""
    import pyarrow.parquet as pq

    finished = [w for w in plate.wells if outputs.done(w)]
    for kind, name, schema in (("image", "image.parquet", schemas.image_schema()),
                               ("errors", "errors.parquet", schemas.errors_schema()),
                               ("profile", "profiles.parquet", schemas.profile_schema())):
        def write(tmp: Path, kind=kind, schema=schema) -> None:
            # Parts are read one at a time and written in row groups of about
            # _ASSEMBLY_GROUP_BYTES: memory stays bounded whatever the plate, and the writer's
            # metadata (one entry per row group and column, kept until the file closes) does
            # not grow with the number of wells, as one row group per well would make it.
            import pyarrow as pa

            # A part is a few rows of hundreds of columns, so its arrays' fixed overhead
            # outweighs its data: every _ASSEMBLY_COMPACT_PARTS parts are combined into one
            # chunk per column.
            buffered: list = []
            with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
                for well in finished:
                    part = outputs.part(well, kind)
                    if not part.is_file():
                        continue
                    buffered.append(pq.read_table(part).cast(schema))
                    if len(buffered) >= _ASSEMBLY_COMPACT_PARTS:
                        buffered = [pa.concat_tables(buffered).combine_chunks()]
                        if buffered[0].nbytes >= _ASSEMBLY_GROUP_BYTES:
                            writer.write_table(buffered.pop())
                if buffered:
                    writer.write_table(pa.concat_tables(buffered))

        _atomic_write(outputs.out / name, write)


# ---------------------------------------------------------------------- illumination
@dataclass
class _IlluminationPass:
    """What the first pass made: the functions (host float32) and which fields it used."""

    functions: dict[str, np.ndarray]
    fields: int
    failed: list[dict[str, Any]]


def _sample_fields(plate: Plate, sample: int) -> list[tuple[str, Any]]:
    """Every field of the plate, or ``sample`` of them evenly spaced in plate order."""
    every = list(plate.fields)
    if sample == 0 or sample >= len(every):
        return every
    positions = np.unique(np.round(np.linspace(0, len(every) - 1, sample)).astype(np.int64))
    return [every[i] for i in positions]


def _sample_pass(plate: Plate, items: list[_Field], device_impl, workers: int,
                 visit: Callable[[_Field], None], what: str, log: Callable[[str], None],
                 bar=None) -> list[dict[str, Any]]:
    """A first pass over some fields, in plate order: each readable field is put on the
    device and given to ``visit``. A field that cannot be read, or that ``visit`` fails on,
    is left out and logged; returns those fields (well, site, error)."""
    failed: list[dict[str, Any]] = []
    reader = _Reader(plate, device_impl, workers, depth=workers + 2)
    try:
        for item in reader.fields(items):
            if item.error is None:
                device_impl.upload(item)
                device_impl.wait(item)
                try:
                    visit(item)
                except Exception as exc:
                    item.error = exc
                item.device_image = None
            reader.release(item)
            if item.error is not None:
                failed.append({"well": item.well, "site": _json_site(item.site),
                               "error": f"{type(item.error).__name__}: {item.error}"})
                log(f"{what}: {item.well} site {item.site} left out: {item.error}")
            if bar is not None:
                bar.update(1)
    finally:
        reader.close()
    return failed


def _illumination_pass(plate: Plate, pipeline: Pipeline, device_impl, workers: int,
                       progress: bool, log: Callable[[str], None]) -> _IlluminationPass:
    """CorrectIlluminationCalculate over the plate: read, accumulate in plate order, smooth."""
    from ..illumination import IlluminationAccumulator
    from ._process import to_intensity

    settings = pipeline.illumination
    position = {name: i for i, name in enumerate(plate.channels)}
    accumulators = {name: IlluminationAccumulator() for name in settings.channels}
    chosen = _sample_fields(plate, settings.sample)
    items = [_Field(w, s, 0) for w, s in chosen]
    bar = None
    if progress and items:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(items), unit="field", desc="pyhcs illumination", file=sys.stderr,
                   dynamic_ncols=True, smoothing=0.1)
    def accumulate(item: _Field) -> None:
        for name, accumulator in accumulators.items():
            accumulator.add(to_intensity(item.device_image[position[name]],
                                         pipeline.images.rescale))

    try:  # in plate order: the float32 sums' order is fixed
        failed = _sample_pass(plate, items, device_impl, workers, accumulate, "illumination",
                              log, bar)
    finally:
        if bar is not None:
            bar.close()
    used = len(items) - len(failed)
    if used == 0:
        raise PlateError(f"illumination: none of the {len(items)} fields chosen for the "
                         f"illumination functions of plate {plate.name!r} could be read")
    functions = {name: to_numpy(acc.result(**settings.arguments())).astype(np.float32,
                                                                          copy=False)
                 for name, acc in accumulators.items()}
    return _IlluminationPass(functions, used, failed)


def _plate_nucleus_size(plate: Plate, pipeline: Pipeline, illumination: dict[str, Any],
                        device_impl, workers: int, log: Callable[[str], None],
                        previous: dict | None) -> tuple[Pipeline, dict[str, Any]]:
    """``nuclei.size = "plate"``: the typical nucleus diameter of the plate, the median of
    :func:`pyhcs.segmentation.estimate_diameter` over ``nuclei.size_sample`` fields evenly
    spaced in plate order (loaded and illumination-corrected as the pipeline does), and the
    pipeline every field then runs (``size = "diameter"`` with that diameter). A resumed run
    reuses the diameter of its run.json. A plate where no sampled field gives an estimate
    runs with ``nuclei.size_range`` (logged)."""
    nuclei = pipeline.nuclei
    if nuclei.size != "plate":
        return pipeline, {}
    from ..segmentation import estimate_diameter, size_range_for_diameter
    from ._process import _Clock, _intensities

    if previous and isinstance(previous.get("diameter"), (int, float)):
        entry = previous
    else:
        items = [_Field(w, s, 0) for w, s in _sample_fields(plate, nuclei.size_sample)]
        position = plate.channels.index(nuclei.channel)
        functions = {k: v for k, v in illumination.items() if k == nuclei.channel}
        estimates: list[dict[str, Any]] = []

        def estimate(item: _Field) -> None:
            raw = {nuclei.channel: item.device_image[position]}
            image = _intensities(raw, pipeline, functions,
                                 _Clock(device_impl.ns))[nuclei.channel]
            estimates.append({"well": item.well, "site": _json_site(item.site),
                              "diameter": estimate_diameter(image)})

        failed = _sample_pass(plate, items, device_impl, workers, estimate, "nuclei size", log)
        found = [e["diameter"] for e in estimates if np.isfinite(e["diameter"])]
        entry = {"fields": len(found), "failed": failed, "estimates": [
            {**e, "diameter": e["diameter"] if np.isfinite(e["diameter"]) else None}
            for e in estimates]}
        if found:
            entry["diameter"] = float(np.median(found))
            entry["size_range"] = list(size_range_for_diameter(entry["diameter"]))
            log(f"nuclei size: diameter {entry['diameter']:.1f} px over {len(found)} fields, "
                f"size range {entry['size_range']}")
        else:
            log(f"nuclei size: no estimate from the {len(items)} fields sampled; every field "
                f"runs with nuclei.size_range {list(nuclei.size_range)}")
    if "diameter" not in entry:
        return pipeline.replace(nuclei={"size": "size_range"}), entry
    return pipeline.replace(nuclei={"size": "diameter", "diameter": entry["diameter"]}), entry


def _json_site(site: Any) -> Any:
    return int(site) if isinstance(site, (int, np.integer)) else str(site)


def illumination_functions(
    plate: Plate | str | os.PathLike,
    pipeline: Pipeline | str | os.PathLike | None = None,
    *,
    device: str = "auto",
    workers: int | None = None,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    r"""The illumination function of every channel a pipeline corrects, over a whole plate.

    CellProfiler's CorrectIlluminationCalculate with "Regular" intensity and "All" images, one
    per channel of ``pipeline.illumination.channels``: the fields (every field of the plate,
    or ``illumination.sample`` of them evenly spaced) are loaded as the pipeline loads them
    (:func:`to_intensity`), summed in plate order in float32 and averaged, the average is
    smoothed and rescaled (:meth:`pyhcs.illumination.IlluminationAccumulator.result` with the
    section's settings). :func:`run` calls this in a first pass and saves the functions as
    ``illumination/<channel>.npy``; :func:`process_field` takes them as ``illumination=``.
    Only the running sums are held, never the fields. An unreadable field is left out (and
    logged).

    Parameters
    ----------
    plate : Plate or path
    pipeline : Pipeline or path to a TOML file, optional
    device : {"auto", "cpu", "cuda"}
        Where the sums and the smoothing run.
    workers : int, optional
        Reader threads (default ``min(4, CPU count)``).
    progress : bool
        A progress bar on standard error.

    Returns
    -------
    dict of str to (H, W) float32 numpy array
        Empty when the pipeline corrects no channel.

    Raises
    ------
    PlateError
        A corrected channel is not among the plate's, or no chosen field could be read.
    """
    from ._open import open_plate

    if not isinstance(plate, Plate):
        plate = open_plate(plate)
    pipeline = _as_pipeline(pipeline)
    workers = _check_workers(workers)
    _check_channels(plate, pipeline)
    if not pipeline.illumination.channels:
        return {}
    ns = namespace_for_device(device)
    log = _logger(True)
    device_impl = _CudaDevice(ns, None, log) if ns.device == "cuda" else _HostDevice(ns)
    try:
        return _illumination_pass(plate, pipeline, device_impl, workers, progress, log).functions
    finally:
        device_impl.close()


def _as_pipeline(pipeline: Pipeline | str | os.PathLike | None) -> Pipeline:
    if pipeline is None:
        return Pipeline()
    if isinstance(pipeline, Pipeline):
        return pipeline
    return Pipeline.load(pipeline)


#: Host memory a field worker needs: the interpreter with pyhcs loaded, plus bytes per pixel
#: and channel of a field (measured: ~0.33 GB loaded, ~0.3 GB more for a 2048x2048 x 3 field).
_WORKER_BASE_BYTES = 400 << 20
_WORKER_BYTES_PER_PIXEL = 40


def _read_number(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max" (cgroup v2): no limit


def _available_memory(meminfo: str = "/proc/meminfo",
                      cgroup: str = "/sys/fs/cgroup") -> int | None:
    """Bytes of host memory this process may still use, or None where unknown.

    The smaller of Linux's ``MemAvailable`` and the headroom under the process's cgroup
    memory limit (v2 ``memory.max`` - ``memory.current``, or v1 ``memory.limit_in_bytes`` -
    ``memory.usage_in_bytes``): a container sees the host's meminfo, not its own limit.
    """
    found = []
    try:
        with open(meminfo) as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    root = Path(cgroup)
    for limit_name, usage_name in (("memory.max", "memory.current"),
                                   ("memory/memory.limit_in_bytes",
                                    "memory/memory.usage_in_bytes")):
        limit = _read_number(root / limit_name)
        usage = _read_number(root / usage_name)
        if limit is not None and usage is not None and limit < (1 << 60):  # v1: "unlimited"
            found.append(max(0, limit - usage))
    return min(found) if found else None


def _auto_processes(plate: Plate, n_fields: int, ns: Namespace) -> int:
    """``processes="auto"``: on the CPU, one single-threaded worker per core, no more than
    there are fields to compute or than the available memory holds; 1 on the GPU."""
    if ns.target != "cpu" or os.name != "posix":
        return 1
    wanted = min(available_cores(), n_fields)
    memory = _available_memory()
    if memory is not None:
        pixels = int(np.prod(plate.field_shape))
        per_worker = _WORKER_BASE_BYTES + _WORKER_BYTES_PER_PIXEL * pixels
        wanted = min(wanted, max(1, int(0.8 * memory) // per_worker))
    return max(1, wanted)


def _check_processes(processes: int | str | None, ns: Namespace) -> int | str:
    if processes is None or processes == "auto":
        return "auto"
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise ValueError(f"processes must be a positive integer or 'auto', got {processes!r}")
    if processes > 1 and os.name != "posix":  # pragma: no cover - the workers pass an fd
        raise ValueError("processes > 1 needs a POSIX system (Linux, macOS)")
    if processes > 1 and ns.target != "cpu":
        raise ValueError(f"processes={processes} needs device='cpu': the GPU engine runs in "
                         "one process, which overlaps reading, copying and computing itself")
    return processes


def _check_sendable(plate: Plate, pipeline: Pipeline, processes: int, automatic: bool,
                    log: Callable[[str], None]) -> int:
    """``processes``, or 1 when the plate cannot be pickled to workers and ``"auto"`` chose."""
    import pickle

    try:
        pickle.dumps((plate, pipeline))
    except Exception as exc:
        if not automatic:
            raise ValueError(f"processes={processes}: the plate cannot be sent to worker "
                             f"processes ({type(exc).__name__}: {exc}); use processes=1") \
                from exc
        log(f"the plate cannot be sent to worker processes ({type(exc).__name__}: {exc}); "
            "computing in this process")
        return 1
    return processes


def _check_workers(workers: int | None) -> int:
    if workers is None:
        workers = min(4, os.cpu_count() or 1)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    return workers


def _load_or_compute_illumination(outputs: "_Outputs", plate: Plate, pipeline: Pipeline,
                                  device_impl, workers: int, progress: bool,
                                  log: Callable[[str], None], previous: dict | None
                                  ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The run's illumination functions: those saved by an earlier run of the same pipeline
    on the same plate (a resumed run corrects with the very same functions), else computed
    and saved. Returns the functions and their run.json entry."""
    channels = list(pipeline.illumination.channels)
    if not channels:
        return {}, {}
    files = {name: outputs.illumination_file(name) for name in channels}
    if previous and all(path.is_file() for path in files.values()):
        functions = {name: np.load(path) for name, path in files.items()}
        shapes = {tuple(f.shape) for f in functions.values()}
        if shapes == {tuple(plate.field_shape[1:])} and \
                all(f.dtype == np.float32 for f in functions.values()):
            return functions, previous
        log("illumination: the saved functions do not fit the plate; computing them again")
    computed = _illumination_pass(plate, pipeline, device_impl, workers, progress, log)
    outputs.illumination.mkdir(parents=True, exist_ok=True)
    for name, function in computed.functions.items():
        def write(tmp: Path, function=function) -> None:
            with open(tmp, "wb") as handle:
                np.save(handle, function)

        _atomic_write(files[name], write)
    entry = {"channels": channels, "fields": computed.fields, "failed": computed.failed,
             "files": {name: str(path.relative_to(outputs.out)) for name, path in files.items()}}
    return computed.functions, entry


def run(
    plate: Plate | str | os.PathLike,
    pipeline: Pipeline | str | os.PathLike | None = None,
    out: str | os.PathLike = "pyhcs-out",
    *,
    device: str = "auto",
    workers: int | None = None,
    wells: Sequence[str] | str | None = None,
    progress: bool = True,
    quiet: bool = False,
    overwrite: bool = False,
    gpu_memory: int | None = None,
    processes: int | str | None = "auto",
) -> RunSummary:
    """Run a pipeline over a plate into CellProfiler-compatible, resumable outputs.

    Parameters
    ----------
    plate : Plate or path
        An opened plate, or anything :func:`pyhcs.plate.open_plate` opens.
    pipeline : Pipeline or path to a TOML file, optional
        Default :class:`Pipeline()`.
    out : path
        The output folder (created). Rerunning into it resumes: finished wells are skipped.
    device : {"auto", "cpu", "cuda"}
        Where fields are computed; "auto" takes the GPU when one is usable.
    workers : int, optional
        Reader threads (default: ``min(4, CPU count)``); the kernels use every core.
    wells : sequence of str or comma-separated str, optional
        Only these wells (any well spelling, ``"A01,B02"``).
    progress : bool
        A progress bar on standard error (fields, fields/s, ETA, errors).
    quiet : bool
        Instead of the bar, one line per finished well (batch logs).
    overwrite : bool
        Discard the outputs of another pipeline in ``out`` instead of refusing to resume.
    gpu_memory : int, optional
        GPU memory budget in bytes (cupy's pool limit).
    processes : int or "auto"
        CPU only: compute fields in this many worker processes at once (at most one per
        field to compute), each with ``cores // processes`` kernel threads and reading its
        own fields (``workers`` then
        sizes only the illumination pass's readers). 1: one field at a time, in this process,
        on every core. ``"auto"`` (the default): on the CPU one single-threaded worker per
        core, at most one per field to compute and as many as the available memory holds
        (about 0.4 GB plus 40 bytes per field pixel each); on the GPU 1. Parts of a field's
        pipeline are serial, so workers keep the cores busier: on 2 cores, 2 workers compute
        1024x1024 fields about 1.6x as fast as one process. The outputs are the same. A worker
        that dies (a crash, the out-of-memory killer) fails only the field it was computing
        (``WorkerDied``).

    Returns
    -------
    RunSummary

    Notes
    -----
    ``out/`` holds:

    - ``objects/<well>.parquet``: one row per cell: ``Metadata_Plate``, ``Metadata_Well``,
      ``Metadata_Site``, the platemap's ``Metadata_*``, ``ImageNumber`` (the field's position
      in the plate, from 1), ``ObjectNumber``, then ``<Compartment>_<measurement>`` for Nuclei,
      Cells and Cytoplasm (:func:`process_field`): CytoTable's single-cell layout, read as one
      dataset with ``pandas.read_parquet(out / "objects")``;
    - ``image.parquet``: one row per field: metadata, counts, thresholds, whole-image
      texture, ``ExecutionTime_<stage>`` seconds, ``FileName_<ch>`` / ``PathName_<ch>``,
      ``Error``;
    - ``profiles.parquet``: per well, a ``median`` and a ``mean`` row
      (``Metadata_Aggregation``) of every feature, with ``Metadata_Object_Count``;
    - ``errors.parquet``: the failed fields and why; ``run.json``: the pipeline, versions,
      device, plate, timings;
    - with ``pipeline.illumination.channels``: ``illumination/<channel>.npy``, the float32
      illumination functions of a first pass over the whole plate (whatever ``wells`` says:
      :func:`illumination_functions`), by which every field is divided; a resumed run reuses
      them.
    - with ``pipeline.nuclei.size = "plate"``: ``run.json["nuclei_size"]``, the typical
      nucleus diameter estimated on ``nuclei.size_sample`` fields evenly spaced over the whole
      plate (each field's estimate, their median and the size range it gives), with which
      every field is segmented; a resumed run reuses it.

    A field that fails (unreadable file, an error inside a kernel) is recorded and the run
    goes on. Every file is written under a temporary name and renamed; a well's objects file
    comes last, so a killed run resumes into the same rows, nothing lost or duplicated.
    """
    from ._open import open_plate

    start = time.perf_counter()
    if not isinstance(plate, Plate):
        plate = open_plate(plate)
    pipeline = _as_pipeline(pipeline)
    workers = _check_workers(workers)
    if gpu_memory is not None and (isinstance(gpu_memory, bool) or not isinstance(gpu_memory, int)
                                   or gpu_memory <= 0):
        raise ValueError(f"gpu_memory must be a positive number of bytes, got {gpu_memory!r}")
    _check_channels(plate, pipeline)
    selected = _select_wells(plate, wells)
    ns = namespace_for_device(device)
    processes = _check_processes(processes, ns)

    outputs = _Outputs(Path(out))
    outputs.out.mkdir(parents=True, exist_ok=True)
    manifest = _read_manifest(outputs.manifest)
    if manifest is not None and manifest.get("pipeline_fingerprint") != pipeline.fingerprint():
        if not overwrite:
            raise PlateError(
                f"out: {outputs.out} holds the outputs of another pipeline (fingerprint "
                f"{manifest.get('pipeline_fingerprint')}, this one {pipeline.fingerprint()}); "
                "choose another folder or pass overwrite=True (--overwrite) to replace them")
        outputs.clear()
        manifest = None
    previous = None if manifest is None else manifest.get("plate", {})
    if previous is not None and (previous.get("name"), previous.get("channels")) != (
            plate.name, list(plate.channels)):
        if not overwrite:
            raise PlateError(f"out: {outputs.out} holds the outputs of plate "
                             f"{previous.get('name')!r} with channels {previous.get('channels')},"
                             f" not {plate.name!r} with {list(plate.channels)}; choose another "
                             "folder or pass overwrite=True (--overwrite)")
        outputs.clear()
        manifest = None
    outputs.prepare()

    log = _logger(quiet or progress)
    device_impl = _CudaDevice(ns, gpu_memory, log) if ns.device == "cuda" else _HostDevice(ns)
    try:
        functions, illumination_entry = _load_or_compute_illumination(
            outputs, plate, pipeline, device_impl, workers, progress and not quiet, log,
            None if manifest is None else manifest.get("illumination"))
    except BaseException:
        device_impl.close()
        raise
    # uploaded once; every field is corrected on the device
    illumination = {name: ns.asarray(function) for name, function in functions.items()}
    try:
        # the pipeline the fields run: `pipeline` with a plate's estimates resolved
        field_pipeline, nuclei_size_entry = _plate_nucleus_size(
            plate, pipeline, illumination, device_impl, workers, log,
            None if manifest is None else manifest.get("nuclei_size"))
    except BaseException:
        device_impl.close()
        raise
    schemas = _Schemas(plate, field_pipeline, ns)

    skipped = [w for w in selected if outputs.done(w)]
    todo = [w for w in selected if not outputs.done(w)]
    numbers = {key: i + 1 for i, key in enumerate(plate.fields)}
    items = [_Field(w, s, numbers[(w, s)]) for w in todo for s in plate.sites(w)]
    expected = {w: len(plate.sites(w)) for w in todo}
    automatic = processes == "auto"
    if automatic:
        processes = _auto_processes(plate, len(items), ns)
    processes = max(1, min(processes, len(items)))  # no idle workers, no threads left unused
    if processes > 1:
        processes = _check_sendable(plate, field_pipeline, processes, automatic, log)

    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    manifest = {
        "pyhcs_run": 1,
        "status": "running",
        "started": now if manifest is None else manifest.get("started", now),
        "pipeline_fingerprint": pipeline.fingerprint(),
        "pipeline": pipeline.to_dict(),
        "plate": _plate_description(plate),
        "versions": _versions(),
        "device": _device_description(ns),
        "command": sys.argv,
        "illumination": illumination_entry,
        "nuclei_size": nuclei_size_entry,
        "runs": [] if manifest is None else manifest.get("runs", []),
    }
    _write_manifest(outputs.manifest, manifest)

    totals: dict[str, float] = {}
    counters = {"fields": 0, "errors": 0, "cells": 0}
    finished_wells: list[str] = []
    bar = _progress_bar(len(items), progress and not quiet)

    def on_well(well: str, done: list[_Done], seconds: float) -> None:
        finished_wells.append(well)
        if quiet:
            n_cells = sum(0 if d.cells is None else len(d.cells) for d in done)
            n_errors = sum(d.error is not None for d in done)
            log(f"{well}: {len(done)} fields, {n_cells} cells, {n_errors} errors")

    writer = _Writer(outputs, schemas, expected, pipeline.output.save_labels, on_well)
    writer.start()
    threads = max(1, available_cores() // processes)
    try:
        if processes > 1:
            _run_processes(items, plate, field_pipeline, functions, processes, threads,
                           writer, totals, counters, bar, log)
        else:
            _run_here(items, plate, field_pipeline, device_impl, workers, illumination,
                      writer, totals, counters, bar, log)
        writer.put(None)
        writer.join()
        if writer.failure is not None:
            raise RuntimeError(f"writing the outputs failed: {writer.failure}") \
                from writer.failure
    finally:
        device_impl.close()
        if bar is not None:
            bar.close()
        if writer.is_alive():  # interrupted: let the writer thread end
            try:
                writer.inbox.put_nowait(None)
            except queue.Full:
                pass
    _assemble(outputs, plate, schemas)

    seconds = time.perf_counter() - start
    summary = RunSummary(
        out=outputs.out, fields=counters["fields"], errors=counters["errors"],
        cells=counters["cells"], wells_done=tuple(w for w in todo if w in finished_wells),
        wells_skipped=tuple(skipped), seconds=seconds, device=device_impl.name, stages=totals)
    manifest["status"] = "complete" if all(outputs.done(w) for w in plate.wells) else "partial"
    manifest["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    manifest["runs"].append({
        "started": now, "seconds": seconds, "fields": summary.fields, "errors": summary.errors,
        "cells": summary.cells, "fields_per_second": summary.fields_per_second,
        "wells_done": list(summary.wells_done), "wells_skipped": list(summary.wells_skipped),
        "workers": workers, "processes": processes, "threads_per_process": threads,
        "device": device_impl.name, "stages": totals,
    })
    platemap_wells = [] if plate.platemap is None else [
        w for w in plate.platemap.index if w not in plate.wells]
    manifest["platemap_wells_without_fields"] = platemap_wells
    _write_manifest(outputs.manifest, manifest)
    return summary


def _run_here(items: list[_Field], plate: Plate, pipeline: Pipeline, device_impl,
              workers: int, illumination: dict[str, Any], writer: _Writer,
              totals: dict[str, float], counters: dict[str, int], bar,
              log: Callable[[str], None]) -> None:
    """One field at a time in this process: readers ahead, each upload overlapping compute."""
    reader = _Reader(plate, device_impl, workers, depth=workers + 2)
    try:
        pending: _Field | None = None
        for item in reader.fields(items):
            if item.error is None:
                device_impl.upload(item)
            if pending is not None:
                _finish(pending, pipeline, plate, device_impl, reader, writer, totals,
                        counters, bar, log, illumination)
            pending = item
        if pending is not None:
            _finish(pending, pipeline, plate, device_impl, reader, writer, totals, counters,
                    bar, log, illumination)
    finally:
        reader.close()


def _run_processes(items: list[_Field], plate: Plate, pipeline: Pipeline,
                   functions: dict[str, np.ndarray], processes: int, threads: int,
                   writer: _Writer, totals: dict[str, float], counters: dict[str, int], bar,
                   log: Callable[[str], None]) -> None:
    """Fields computed by worker processes; their results written here as they come."""
    if not items:
        return
    from ._processes import WorkerPool

    pool = WorkerPool(plate, pipeline, functions, processes, threads,
                      pipeline.output.save_labels)
    try:
        for done in pool.map(items):
            _account(done, writer, totals, counters, bar, log)
    finally:
        pool.close()


def _compute(image, pipeline: Pipeline, plate: Plate, illumination: dict[str, Any],
             recover: Callable[[BaseException], bool]):
    """``process_field`` on one field: ``(result, None, None)`` or ``(None, error, traceback)``.

    ``recover(exc)`` says whether the error was dealt with (GPU memory freed) and the field
    should be tried once more.
    """
    for attempt in (0, 1):
        try:
            return (process_field(image, pipeline, channels=plate.channels,
                                  illumination=illumination), None, None)
        except Exception as exc:  # one field's failure never stops the run
            if attempt == 0 and recover(exc):
                continue
            return None, exc, traceback.format_exc(limit=8)
    raise AssertionError("unreachable")  # pragma: no cover


def _field_done(item: _Field, result: FieldResult | None, error: BaseException | None,
                trace: str | None, started: float, save_labels: bool) -> _Done:
    """The host results of one computed (or failed) field, as the writer takes them."""
    labels = None
    cells = None
    image: dict[str, Any] = {"ExecutionTime_Read": item.read_seconds,
                             "ExecutionTime_Upload": item.upload_seconds}
    if result is not None:
        download = time.perf_counter()
        cells = result.single_cell()
        if save_labels:
            labels = {k: to_numpy(v) for k, v in result.labels.items()}
        image.update(result.image)
        image["ExecutionTime_Download"] = time.perf_counter() - download
    else:
        image["_traceback"] = trace
    image["ExecutionTime_Total"] = time.perf_counter() - started + item.read_seconds
    return _Done(
        well=item.well, site=item.site, image_number=item.image_number, cells=cells,
        image=image, error=None if error is None else str(error),
        error_type=None if error is None else type(error).__name__, labels=labels)


def _account(done: _Done, writer: _Writer, totals: dict[str, float],
             counters: dict[str, int], bar, log: Callable[[str], None]) -> None:
    """Count one field's outcome, log its error, hand it to the writer, advance the bar."""
    if done.error is None:
        counters["cells"] += 0 if done.cells is None else len(done.cells)
    else:
        counters["errors"] += 1
        log(f"{done.well} site {done.site}: {done.error_type}: {done.error}")
    for key, value in done.image.items():
        if key.startswith("ExecutionTime_") and isinstance(value, float):
            totals[key] = totals.get(key, 0.0) + value
    counters["fields"] += 1
    writer.put(done)
    if bar is not None:
        bar.update(1)
        bar.set_postfix(errors=counters["errors"], refresh=False)


def _finish(item: _Field, pipeline: Pipeline, plate: Plate, device_impl, reader: _Reader,
            writer: _Writer, totals: dict[str, float], counters: dict[str, int], bar,
            log: Callable[[str], None], illumination: dict[str, Any]) -> None:
    """Compute one uploaded field and hand its host results to the writer."""
    started = time.perf_counter()
    result, error, trace = None, item.error, None
    if error is None:
        device_impl.wait(item)
        result, error, trace = _compute(item.device_image, pipeline, plate, illumination,
                                        device_impl.recover)
    item.device_image = None
    reader.release(item)
    done = _field_done(item, result, error, trace, started, pipeline.output.save_labels)
    _account(done, writer, totals, counters, bar, log)


def _logger(enabled: bool) -> Callable[[str], None]:
    def log(message: str) -> None:
        if enabled:
            print(message, file=sys.stderr, flush=True)

    return log


def _progress_bar(total: int, enabled: bool):
    if not enabled or total == 0:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="field", desc="pyhcs run", file=sys.stderr,
                dynamic_ncols=True, smoothing=0.1)
