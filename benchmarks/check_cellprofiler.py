"""Check pyhcs against the real CellProfiler: ``python benchmarks/check_cellprofiler.py``.

CellProfiler is the final judge of every column pyhcs names after it. For each field of a
:func:`cellprofiler_ref.run_cellprofiler` output directory this script

1. reads the field's DNA / Actin TIFFs (the files CellProfiler read, from ``Image.csv``) and
   CellProfiler's saved Nuclei / Cells / Cytoplasm label images, measures those labels with
   :func:`pyhcs.plate.measure_objects`, and compares every column pyhcs produces with the
   CellProfiler column of the same name, per compartment, object by object (joined on
   ``ObjectNumber``), and the image-level columns (whole-image texture and granularity)
   with ``Image.csv``;
2. runs the whole :func:`pyhcs.plate.process_field` (segmentation included) on the same images
   and compares ``Count_Nuclei`` / ``Count_Cells``, ``Threshold_FinalThreshold_Nuclei`` /
   ``_Cells`` with ``Image.csv``, and the label images pixel by pixel.

Per column it reports the number of objects, the largest absolute and relative difference
(``|a - b| / max(|a|, |b|)``), how many values are exactly equal, NaN disagreements and the
worst object; a summary per family (AreaShape basic, Zernike, Intensity, Location, Neighbors,
Texture, links). A column is *off* when some object differs by more than ``--rtol`` relative and
``--atol`` absolute, or is NaN on one side only; the exit status is 1 when a column is off
(or when an object is missing on one side). Segmentation differences are reported, and fail
the check only with ``--strict-segmentation``.

Usage::

    python benchmarks/check_cellprofiler.py [--cp-out DIR] [--fields N] [--all] [--csv PATH]

The CellProfiler output can come from ``cellprofiler_ref.run_cellprofiler`` (this does not
run CellProfiler; ``benchmarks/bench_pipeline.py`` with ``PYHCS_BENCH_CELLPROFILER=1`` does,
and caches its output under ``~/.cache/pyhcs/bench``).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

COMPARTMENTS = ("Nuclei", "Cells", "Cytoplasm")
CHANNELS = ("DNA", "Actin")
FAMILY_ORDER = ("AreaShape basic", "Zernike", "Intensity", "Location", "Neighbors", "Texture",
                "Granularity", "Links", "Image texture", "Image granularity", "Other")


def family_of(column: str, compartment: str) -> str:
    if compartment == "Image":
        if column.startswith("Granularity_"):
            return "Image granularity"
        return "Image texture" if column.startswith("Texture_") else "Other"
    if column.startswith("AreaShape_Zernike_"):
        return "Zernike"
    if column.startswith("AreaShape_"):
        return "AreaShape basic"
    if column.startswith("Intensity_"):
        return "Intensity"
    if column.startswith("Location_"):
        return "Location"
    if column.startswith("Neighbors_"):
        return "Neighbors"
    if column.startswith("Texture_"):
        return "Texture"
    if column.startswith("Granularity_"):
        return "Granularity"
    if column.startswith(("Number_", "Parent_", "Children_")):
        return "Links"
    return "Other"


@dataclass
class ColumnStats:
    """One (compartment, column) compared over all fields."""

    compartment: str
    column: str
    n: int = 0
    n_equal: int = 0
    n_nan_mismatch: int = 0
    n_off: int = 0
    max_abs: float = 0.0
    max_rel: float = 0.0
    worst: tuple = ()  # (field, object, pyhcs, cellprofiler, abs, rel)
    off_examples: list = field(default_factory=list)
    _worst_score: float = -1.0

    @property
    def family(self) -> str:
        return family_of(self.column, self.compartment)

    def update(self, field_name: str, objects: np.ndarray, ours: np.ndarray, theirs: np.ndarray,
               rtol: float, atol: float) -> None:
        ours = np.asarray(ours, dtype=np.float64)
        theirs = np.asarray(theirs, dtype=np.float64)
        nan_ours, nan_theirs = np.isnan(ours), np.isnan(theirs)
        both_nan = nan_ours & nan_theirs
        nan_mismatch = nan_ours ^ nan_theirs
        finite = ~(nan_ours | nan_theirs)
        self.n += len(ours)
        self.n_equal += int(((ours == theirs) | both_nan).sum())
        self.n_nan_mismatch += int(nan_mismatch.sum())
        diff = np.zeros_like(ours)
        rel = np.zeros_like(ours)
        diff[finite] = np.abs(ours[finite] - theirs[finite])
        scale = np.maximum(np.abs(ours), np.abs(theirs))
        nonzero = finite & (diff > 0)
        rel[nonzero] = diff[nonzero] / scale[nonzero]
        off = nan_mismatch | (finite & (diff > rtol * scale) & (diff > atol))
        self.n_off += int(off.sum())
        for i in np.flatnonzero(off)[: max(0, 3 - len(self.off_examples))]:
            self.off_examples.append((field_name, int(objects[i]), float(ours[i]),
                                      float(theirs[i]), float(diff[i]), float(rel[i])))
        if finite.any():
            # the worst object: the largest difference measured in units of the tolerance
            score = np.where(finite, diff / np.maximum(rtol * scale, max(atol, 1e-300)), -1.0)
            i = int(np.argmax(score))
            if score[i] > self._worst_score or not self.worst:
                self._worst_score = float(score[i])
                self.worst = (field_name, int(objects[i]), float(ours[i]), float(theirs[i]),
                              float(diff[i]), float(rel[i]))
            self.max_rel = max(self.max_rel, float(rel[finite].max()))
            self.max_abs = max(self.max_abs, float(diff[finite].max()))

    @property
    def is_off(self) -> bool:
        return self.n_off > 0


def _read_field(row, root: Path) -> np.ndarray:
    """The field's (2, H, W) uint16 images, the files CellProfiler read."""
    import tifffile

    planes = []
    for channel in CHANNELS:
        path = Path(str(row[f"PathName_{channel}"])) / str(row[f"FileName_{channel}"])
        if not path.is_file():  # a moved output directory: look in its inputs/proc<k>
            candidates = list((root / "inputs").glob(f"proc*/{row[f'FileName_{channel}']}"))
            if not candidates:
                raise FileNotFoundError(path)
            path = candidates[0]
        planes.append(tifffile.imread(path))
    image = np.stack(planes)
    if image.dtype != np.uint16:
        raise ValueError(f"{row['Metadata_Field']}: expected uint16 images, got {image.dtype}")
    return image


def _tied_maxima(image: np.ndarray, labels: np.ndarray, objects: np.ndarray, ours: dict,
                 theirs: dict) -> np.ndarray:
    """Objects whose MaxIntensity location differs only among tied maxima: CellProfiler's
    ``scipy.ndimage.maximum_position`` may return any pixel holding the maximum, pyhcs the
    first in raster order; a difference is a tie when CellProfiler's pixel belongs to the
    object and holds the same value as pyhcs's."""
    xo, yo = (np.asarray(ours[k], float) for k in ("x", "y"))
    xt, yt = (np.asarray(theirs[k], float) for k in ("x", "y"))
    tied = np.zeros(len(objects), bool)
    for i in np.flatnonzero((xo != xt) | (yo != yt)):
        if not np.isfinite([xo[i], yo[i], xt[i], yt[i]]).all():
            continue
        r0, c0, r1, c1 = int(yo[i]), int(xo[i]), int(yt[i]), int(xt[i])
        tied[i] = (labels[r1, c1] == objects[i]) and (image[r1, c1] == image[r0, c0])
    return tied


def _identical_objects(ours: np.ndarray, theirs: np.ndarray) -> tuple[int, int, int]:
    """(objects with the same pixel set on both sides, ours, theirs), whatever the numbering."""
    a = ours.ravel().astype(np.int64)
    b = theirs.ravel().astype(np.int64)
    fg = (a > 0) | (b > 0)
    a, b = a[fg], b[fg]
    n_a, n_b = int(a.max(initial=0)), int(b.max(initial=0))
    area_a = np.bincount(a, minlength=n_a + 1)
    area_b = np.bincount(b, minlength=n_b + 1)
    pairs, counts = np.unique(a * (n_b + 1) + b, return_counts=True)
    pa, pb = pairs // (n_b + 1), pairs % (n_b + 1)
    same = (pa > 0) & (pb > 0) & (counts == area_a[pa]) & (counts == area_b[pb])
    return int(same.sum()), int((area_a[1:] > 0).sum()), int((area_b[1:] > 0).sum())


def _default_output() -> Path:
    legacy = Path("/tmp/cpbench/out_1024")
    if (legacy / "cellprofiler_run.json").is_file():
        return legacy
    cache = Path(os.environ.get("PYHCS_BENCH_CACHE",
                                str(Path.home() / ".cache" / "pyhcs" / "bench")))
    runs = sorted(cache.glob("cp_*/out/cellprofiler_run.json"), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise SystemExit("no CellProfiler output found: give --cp-out, or run "
                         "PYHCS_BENCH_CELLPROFILER=1 python benchmarks/run.py --only pipeline")
    return runs[-1].parent


def _fmt(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if x == 0:
        return "0"
    return f"{x:.2e}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cp-out", default=None,
                        help="a cellprofiler_ref.run_cellprofiler output directory (default: "
                             "/tmp/cpbench/out_1024 if present, else the newest run that "
                             "bench_pipeline.py cached in ~/.cache/pyhcs/bench)")
    parser.add_argument("--fields", type=int, default=None, help="check the first N fields")
    parser.add_argument("--rtol", type=float, default=1e-9,
                        help="a value is off beyond this relative difference ...")
    parser.add_argument("--atol", type=float, default=1e-12,
                        help="... and this absolute difference (default 1e-12: values that are "
                             "zero up to rounding, e.g. the Zernike moments of a symmetric "
                             "object or a correlation of 1e-14, have no relative precision)")
    parser.add_argument("--all", action="store_true", help="print every column")
    parser.add_argument("--show", type=float, default=1e-12,
                        help="without --all, print the columns whose max relative difference "
                             "exceeds this (and the off ones); default 1e-12")
    parser.add_argument("--csv", default=None, help="write the per-column table to this file")
    parser.add_argument("--no-segmentation", action="store_true",
                        help="skip the process_field comparison")
    parser.add_argument("--strict-segmentation", action="store_true",
                        help="exit 1 also when the segmentation differs from CellProfiler's")
    args = parser.parse_args(argv)

    import cellprofiler_ref as cp

    from pyhcs.plate import measure_objects, process_field

    root = Path(args.cp_out) if args.cp_out else _default_output()
    image_table = cp.load_image_table(root)
    tables = {c: cp.load_objects(root, c) for c in COMPARTMENTS}
    rows = image_table.sort_values("ImageNumber")
    if args.fields is not None:
        rows = rows.iloc[: args.fields]
    print(f"CellProfiler output {root}: {len(image_table)} fields, checking {len(rows)}")

    stats: dict[tuple[str, str], ColumnStats] = {}
    pyhcs_only: dict[str, set[str]] = {}
    cp_only: dict[str, set[str]] = {}
    object_problems: list[str] = []
    segmentation: list[dict] = []
    tied_maxima: dict[tuple[str, str], int] = {}  # (compartment, channel): objects

    def compare(compartment, field_name, objects, ours_table, theirs_table, columns):
        for column in columns:
            key = (compartment, column)
            if key not in stats:
                stats[key] = ColumnStats(compartment, column)
            stats[key].update(field_name, objects, np.asarray(ours_table[column]),
                              np.asarray(theirs_table[column]), args.rtol, args.atol)

    for _, row in rows.iterrows():
        field_name = str(row["Metadata_Field"])
        image_number = int(row["ImageNumber"])
        images = _read_field(row, root)
        labels = {c: cp.label_image(root, field_name, c) for c in COMPARTMENTS}
        start = time.perf_counter()
        result = measure_objects(images, labels, channels=list(CHANNELS))
        elapsed = time.perf_counter() - start
        print(f"  {field_name}: {images.shape[1]}x{images.shape[2]}, "
              f"{int(labels['Nuclei'].max())} nuclei, measure_objects {elapsed:.2f} s")
        for compartment in COMPARTMENTS:
            ours = result.tables[compartment]
            theirs = tables[compartment]
            theirs = theirs[theirs["ImageNumber"] == image_number].set_index("ObjectNumber")
            missing = ours.index.difference(theirs.index)
            extra = theirs.index.difference(ours.index)
            if len(missing) or len(extra):
                object_problems.append(
                    f"{field_name} {compartment}: objects only in pyhcs {list(missing)[:5]}, "
                    f"only in CellProfiler {list(extra)[:5]}")
            common = ours.index.intersection(theirs.index)
            columns = [c for c in ours.columns if c in theirs.columns]
            pyhcs_only.setdefault(compartment, set()).update(
                c for c in ours.columns if c not in theirs.columns)
            cp_only.setdefault(compartment, set()).update(
                c for c in theirs.columns if c not in ours.columns)
            theirs_common = theirs.loc[common].copy()
            for channel_index, channel in enumerate(CHANNELS):
                names = {axis: f"Location_MaxIntensity_{axis.upper()}_{channel}"
                         for axis in ("x", "y")}
                if not all(name in columns for name in names.values()):
                    continue
                tied = _tied_maxima(
                    images[channel_index], labels[compartment], common.to_numpy(),
                    {axis: ours.loc[common, name] for axis, name in names.items()},
                    {axis: theirs_common[name] for axis, name in names.items()})
                tied_maxima[compartment, channel] = (
                    tied_maxima.get((compartment, channel), 0) + int(tied.sum()))
                for name in names.values():  # a tie is no difference
                    theirs_common.loc[tied, name] = ours.loc[common, name].to_numpy()[tied]
            compare(compartment, field_name, common.to_numpy(), ours.loc[common],
                    theirs_common, columns)
        # image-level columns (whole-image texture; counts are compared below)
        image_columns = [k for k in result.image if k in row.index
                         and not k.startswith(("ExecutionTime_", "Count_"))]
        compare("Image", field_name, np.array([image_number]),
                {k: np.array([result.image[k]], dtype=float) for k in image_columns},
                {k: np.array([row[k]], dtype=float) for k in image_columns}, image_columns)
        pyhcs_only.setdefault("Image", set()).update(
            k for k in result.image if k not in row.index and not k.startswith("ExecutionTime_"))

        if not args.no_segmentation:
            start = time.perf_counter()
            full = process_field(images, channels=list(CHANNELS))
            elapsed = time.perf_counter() - start
            seg = {"field": field_name, "seconds": elapsed}
            for compartment in ("Nuclei", "Cells"):
                seg[f"Count_{compartment}"] = (int(full.image[f"Count_{compartment}"]),
                                               int(row[f"Count_{compartment}"]))
                seg[f"Threshold_{compartment}"] = (
                    float(full.image[f"Threshold_FinalThreshold_{compartment}"]),
                    float(row[f"Threshold_FinalThreshold_{compartment}"]))
            for compartment in COMPARTMENTS:
                ours_l = np.asarray(full.labels[compartment])
                theirs_l = labels[compartment]
                seg[f"same_pixels_{compartment}"] = float((ours_l == theirs_l).mean())
                seg[f"same_fg_{compartment}"] = float(((ours_l > 0) == (theirs_l > 0)).mean())
                seg[f"identical_objects_{compartment}"] = _identical_objects(ours_l, theirs_l)
            # where the cytoplasm differs: inside CellProfiler's nuclei (its IdentifyTertiary-
            # Objects "shrink primary" keeps the nuclei's outline pixels in the cytoplasm)?
            differ = np.asarray(full.labels["Cytoplasm"]) != labels["Cytoplasm"]
            seg["cyto_diff"] = (int(differ.sum()), int((differ & (labels["Nuclei"] > 0)).sum()))
            segmentation.append(seg)

    # ---- per-column table
    ordered = sorted(stats.values(), key=lambda s: (FAMILY_ORDER.index(s.family),
                                                    s.compartment, s.column))
    header = (f"{'compartment':<10} {'column':<48} {'n':>6} {'equal':>6} {'max abs':>9} "
              f"{'max rel':>9} {'off':>5}  worst (field, object: pyhcs vs CellProfiler)")
    shown = [s for s in ordered if args.all or s.max_rel > args.show or s.is_off]
    print()
    print(f"per column ({len(shown)} of {len(ordered)} shown"
          f"{'' if args.all else f': max rel > {args.show:g} or off; --all for every column'}):")
    print(header)
    print("-" * len(header))
    for s in shown:
        worst = ""
        if s.worst and s.max_rel > 0:
            f, o, a, b, _, _ = s.worst
            worst = f"{f} #{o}: {a!r} vs {b!r}"
        flag = " OFF" if s.is_off else ""
        print(f"{s.compartment:<10} {s.column:<48} {s.n:>6} {s.n_equal:>6} {_fmt(s.max_abs):>9} "
              f"{_fmt(s.max_rel):>9} {s.n_off:>5}  {worst}{flag}")
    if args.csv:
        import pandas as pd

        pd.DataFrame([{
            "compartment": s.compartment, "column": s.column, "family": s.family, "n": s.n,
            "n_equal": s.n_equal, "n_nan_mismatch": s.n_nan_mismatch, "n_off": s.n_off,
            "max_abs": s.max_abs, "max_rel": s.max_rel,
            "worst": repr(s.worst),
        } for s in ordered]).to_csv(args.csv, index=False)
        print(f"(all {len(ordered)} columns written to {args.csv})")

    # ---- per-family summary
    print()
    header = (f"{'family':<16} {'columns':>7} {'values':>8} {'equal %':>8} {'max abs':>9} "
              f"{'max rel':>9} {'off cols':>8}")
    print(f"per family (off: rel > {args.rtol:g} and abs > {args.atol:g}, or NaN on one side):")
    print(header)
    print("-" * len(header))
    for family in FAMILY_ORDER:
        group = [s for s in ordered if s.family == family]
        if not group:
            continue
        n = sum(s.n for s in group)
        equal = sum(s.n_equal for s in group)
        print(f"{family:<16} {len(group):>7} {n:>8} {100 * equal / max(n, 1):>7.2f}% "
              f"{_fmt(max(s.max_abs for s in group)):>9} {_fmt(max(s.max_rel for s in group)):>9} "
              f"{sum(s.is_off for s in group):>8}")
    for compartment in ("Nuclei", "Cells", "Cytoplasm", "Image"):
        if pyhcs_only.get(compartment):
            print(f"pyhcs columns CellProfiler lacks ({compartment}): "
                  f"{', '.join(sorted(pyhcs_only[compartment]))}")
    n_cp_only = {c: len(v) for c, v in cp_only.items() if v}
    if n_cp_only:
        print(f"CellProfiler columns pyhcs does not make (not compared): {n_cp_only}")

    if tied_maxima:
        print("Location_MaxIntensity ties (CellProfiler's pixel holds the same maximum; "
              "counted as equal): " + ", ".join(
                  f"{compartment} {channel} {count}"
                  for (compartment, channel), count in sorted(tied_maxima.items())))
    off = [s for s in ordered if s.is_off]
    if off:
        print()
        print(f"OFF: {len(off)} columns")
        for s in off:
            print(f"  {s.compartment}.{s.column}: {s.n_off}/{s.n} objects off "
                  f"({s.n_nan_mismatch} NaN on one side), max rel {_fmt(s.max_rel)}")
            for f, o, a, b, d, r in s.off_examples:
                print(f"      {f} #{o}: pyhcs {a!r}  CellProfiler {b!r}  abs {_fmt(d)} "
                      f"rel {_fmt(r)}")
    for problem in object_problems:
        print(f"OBJECTS: {problem}")

    # ---- segmentation
    seg_off = False
    if segmentation:
        print()
        print("segmentation: process_field vs CellProfiler (pyhcs / CellProfiler)")
        header = (f"{'field':<8} {'nuclei':>9} {'cells':>9} {'threshold nuclei':>28} "
                  f"{'threshold cells':>28} {'same px N/C/Cy':>22} {'identical obj N/C/Cy':>24}"
                  f" {'s':>5}")
        print(header)
        print("-" * len(header))
        for seg in segmentation:
            tn, tc = seg["Threshold_Nuclei"], seg["Threshold_Cells"]
            same = "/".join(f"{seg[f'same_pixels_{c}'] * 100:.3f}" for c in COMPARTMENTS)
            ident = "/".join(str(seg[f"identical_objects_{c}"][0]) for c in COMPARTMENTS)
            print(f"{seg['field']:<8} {seg['Count_Nuclei'][0]:>4}/{seg['Count_Nuclei'][1]:<4} "
                  f"{seg['Count_Cells'][0]:>4}/{seg['Count_Cells'][1]:<4} "
                  f"{tn[0]:.10f}/{tn[1]:.10f}".rjust(29) + " "
                  + f"{tc[0]:.10f}/{tc[1]:.10f}".rjust(28)
                  + f" {same:>22} {ident:>24} {seg['seconds']:5.2f}")
            if (seg["Count_Nuclei"][0] != seg["Count_Nuclei"][1]
                    or seg["Count_Cells"][0] != seg["Count_Cells"][1]
                    or any(seg[f"same_pixels_{c}"] < 1 for c in COMPARTMENTS)
                    or abs(tn[0] - tn[1]) > args.rtol * abs(tn[1])
                    or abs(tc[0] - tc[1]) > args.rtol * abs(tc[1])):
                seg_off = True
        for seg in segmentation:
            for c in ("Nuclei", "Cells"):
                ours, theirs = seg[f"Threshold_{c}"]
                if ours != theirs:
                    print(f"  {seg['field']} threshold {c}: pyhcs {ours!r} CellProfiler {theirs!r}"
                          f" (rel {_fmt(abs(ours - theirs) / abs(theirs))})")
        for seg in segmentation:
            n_diff, in_nuclei = seg["cyto_diff"]
            if n_diff:
                print(f"  {seg['field']} Cytoplasm: {n_diff} pixels differ, {in_nuclei} of them "
                      "inside CellProfiler's nuclei")
        print("  same px: % of pixels with the same label value; identical obj: objects whose "
              "pixel set is the same on both sides (of "
              + ", ".join(f"{seg['identical_objects_Cells'][1]}/{seg['identical_objects_Cells'][2]}"
                          for seg in segmentation) + " cells)")
        print(f"segmentation {'DIFFERS from' if seg_off else 'matches'} CellProfiler")

    failed = bool(off) or bool(object_problems) or (args.strict_segmentation and seg_off)
    print()
    print("FAIL" if failed else "OK", f"({len(ordered)} columns compared, {len(off)} off)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
