"""Plate read throughput against the raw speed of reading the same bytes, in the same run.

A plate of 8 fields (4 wells x 2 sites) of the benchmark field's size, 3 uint16 channels (DNA,
Actin and their mean), is written in each format to a temporary folder. Each case reads every
field through ``Plate.read`` into one reused buffer (as the engine's reader threads do):

- uncompressed TIFF (Operetta and ImageXpress naming, and a LoadData CSV over the Operetta
  files; the same reads from as many threads as cores): against ``cat``
  of the same files to ``/dev/null`` (the raw speed of reading those bytes); target: within
  1.5x of it (speedup >= 0.67);
- compressed OME-Zarr (NGFF 0.5, Zarr v3, Zstd; NGFF 0.4, Zarr v2): against the codec itself
  decoding the same chunks, already in memory, on all cores (numcodecs Zstd in a thread pool).

Both sides read from the page cache after the warm-up. The note gives fields/s and MB/s of the
decoded pixels. ``device`` is ignored: plate I/O is host work on either device.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from harness import Case

N_WELLS, N_SITES = 4, 2


def _fields(field) -> np.ndarray:
    dna, actin = field.image[0], field.image[1]
    mean = ((dna.astype(np.uint32) + actin) // 2).astype(np.uint16)
    base = np.stack([dna, actin, mean])
    # every field differs (rolled), so no two files compress or cache alike
    return [np.roll(base, 17 * k, axis=2) for k in range(N_WELLS * N_SITES)]


def _write(root: Path, images, fmt: str, **kwargs) -> Path:
    from pyhcs.datasets import PlateWriter

    writer = PlateWriter(root, ("DNA", "Actin", "Mito"), format=fmt, name="BENCH", **kwargs)
    for k, image in enumerate(images):
        writer.write_field(f"A{k // N_SITES + 1:02d}", k % N_SITES, image)
    return writer.close()


def _loaddata(tiff_root: Path, csv: Path) -> Path:
    import pandas as pd

    rows = []
    for k in range(N_WELLS * N_SITES):
        row = {"Metadata_Plate": "BENCH", "Metadata_Well": f"A{k // N_SITES + 1:02d}",
               "Metadata_Site": k % N_SITES + 1}
        for c, ch in enumerate(("DNA", "Actin", "Mito")):
            name = (f"r01c{k // N_SITES + 1:02d}f{k % N_SITES + 1:02d}p01-ch{c + 1}"
                    "sk1fk1fl1.tiff")
            row[f"FileName_{ch}"], row[f"PathName_{ch}"] = name, str(tiff_root)
        rows.append(row)
    pd.DataFrame(rows).to_csv(csv, index=False)
    return csv


def _read_all(plate):
    buffer = np.empty(plate.field_shape, plate.dtype)

    def run():
        for well, site in plate:
            plate.read(well, site, out=buffer)
    return run


def _read_all_threads(plate, workers: int):
    buffers = [np.empty(plate.field_shape, plate.dtype) for _ in range(workers)]
    keys = list(plate)

    def one(i):
        for key in keys[i::workers]:
            plate.read(*key, out=buffers[i])

    def run():
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, range(workers)))
    return run


def _cat(files: list[str]):
    def run():
        subprocess.run(["cat", *files], stdout=subprocess.DEVNULL, check=True)
    return run


def _zstd_decode_all(chunks: list[bytes], workers: int):
    from numcodecs import Zstd

    codec = Zstd()

    def run():
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(codec.decode, chunks))
    return run


def _rate(plate) -> str:
    n = len(plate)
    return f"{n} fields of {' x '.join(map(str, plate.field_shape))} {plate.dtype}"


def cases(field, device: str) -> list[Case]:
    from pyhcs.plate import open_plate

    tmp = Path(tempfile.mkdtemp(prefix="pyhcs-bench-io-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    images = _fields(field)
    mb = sum(image.nbytes for image in images) / 1e6
    workers = os.cpu_count() or 1
    out = []

    tiff_root = _write(tmp / "operetta", images, "tiff", layout="operetta")
    tiff_files = sorted(str(p) for p in tiff_root.glob("*.tiff"))
    sources = [("TIFF (Operetta)", tiff_root)]
    try:
        sources.append(("LoadData CSV -> TIFF", _loaddata(tiff_root, tmp / "ld.csv")))
    except ImportError:  # no pandas on the GPU check machine
        pass
    for label, source in sources:
        plate = open_plate(source)
        out.append(Case(family="plate_io", name=f"{label}, {_rate(plate)}",
                        pyhcs=_read_all(plate), reference=_cat(tiff_files),
                        reference_name="cat > /dev/null", items=len(plate), megabytes=mb))
    ixm_root = _write(tmp / "imagexpress", images, "tiff", layout="imagexpress")
    plate = open_plate(ixm_root)
    ixm_files = sorted(str(p) for p in ixm_root.rglob("*.tif"))
    out.append(Case(family="plate_io", name=f"TIFF (ImageXpress), {_rate(plate)}",
                    pyhcs=_read_all(plate), reference=_cat(ixm_files),
                    reference_name="cat > /dev/null", items=len(plate), megabytes=mb))
    plate = open_plate(tiff_root)
    out.append(Case(family="plate_io", name=f"TIFF (Operetta), {workers} threads",
                    pyhcs=_read_all_threads(plate, workers), reference=_cat(tiff_files),
                    reference_name="cat > /dev/null", items=len(plate), megabytes=mb))

    try:
        import numcodecs  # noqa: F401
        import zarr  # noqa: F401
    except ImportError:  # the GPU check machine has no zarr: TIFF cases only
        os.sync()
        return out
    for version in ("0.5", "0.4"):
        root = _write(tmp / f"plate-{version}.zarr", images, "zarr", ngff_version=version)
        chunk_files = [p for p in root.rglob("*") if p.is_file()
                       and p.name not in ("zarr.json", ".zarray", ".zattrs", ".zgroup")]
        chunks = [p.read_bytes() for p in chunk_files]
        stored = sum(len(c) for c in chunks) / 1e6
        plate = open_plate(root)
        out.append(Case(family="plate_io",
                        name=f"OME-Zarr {version} (Zstd), {_rate(plate)}",
                        pyhcs=_read_all(plate), reference=_zstd_decode_all(chunks, workers),
                        reference_name=f"Zstd decode, {workers} threads",
                        note=f"{mb:.0f} MB decoded from {stored:.0f} MB stored",
                        items=len(plate), megabytes=mb))
    os.sync()  # no write-back of the fresh files while the reads are timed
    return out
