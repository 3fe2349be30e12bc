"""``pyhcs run``, ``demo``, ``bench`` and ``config``: the plate engine from the command line."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

__all__ = ["register"]


def _parse_channels(text: str | None) -> dict[str, str] | None:
    """``"DNA=ch1,Actin=ch2"`` -> ``{"DNA": "ch1", "Actin": "ch2"}``."""
    if text is None:
        return None
    mapping: dict[str, str] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        role, sep, name = part.partition("=")
        if not sep or not role.strip() or not name.strip():
            raise ValueError(f"--channels: expected ROLE=CHANNEL pairs separated by commas "
                             f"(DNA=ch1,Actin=ch2), got {part!r}")
        mapping[role.strip()] = name.strip()
    if not mapping:
        raise ValueError("--channels: no ROLE=CHANNEL pair given")
    return mapping


def _processes(text: str):
    """``--processes``: a positive integer or ``auto``."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None


def _synthetic_plate_arguments(parser, *, wells: int, fields: int, size: int) -> None:
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--wells", type=int, default=wells, metavar="N",
                        help=f"wells (default {wells})")
    parser.add_argument("--fields", type=int, default=fields, metavar="F",
                        help=f"fields per well (default {fields})")
    parser.add_argument("--size", type=int, default=size, metavar="PX",
                        help=f"field size in pixels (default {size})")
    parser.add_argument("--seed", type=int, default=0)


def register(subparsers) -> None:
    """Add ``run``, ``demo``, ``bench`` and ``config`` to the ``pyhcs`` command-line parser."""
    run = subparsers.add_parser(
        "run", help="segment and measure every field of a plate into per-cell tables and "
                    "per-well profiles (resumable)",
        description="Stream a plate through the pipeline (GPU or all CPU cores) into OUT: "
                    "objects/ (one Parquet file of per-cell rows per well), image.parquet, "
                    "profiles.parquet, errors.parquet and run.json. Rerunning the same command "
                    "resumes: finished wells are skipped.")
    run.add_argument("plate", metavar="PLATE",
                     help="an OME-Zarr plate, an Opera/Operetta or ImageXpress export, a TIFF "
                          "folder (with --pattern) or a LoadData CSV")
    run.add_argument("--out", required=True, metavar="DIR", help="output folder")
    run.add_argument("--config", metavar="FILE", help="pipeline TOML (pyhcs config prints the "
                                                      "default)")
    run.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    run.add_argument("--workers", type=int, default=None, metavar="N",
                     help="reader threads (default min(4, cores))")
    run.add_argument("--processes", type=_processes, default="auto", metavar="N|auto",
                     help="CPU: compute N fields at once in N worker processes, each with "
                          "cores/N kernel threads; 1: one field at a time on every core; "
                          "auto (default): one worker per core, as memory allows")
    run.add_argument("--wells", default=None, metavar="A01,B02", help="only these wells")
    run.add_argument("--channels", default=None, metavar="DNA=ch1,Actin=ch2",
                     help="name the plate's channels by the roles the pipeline uses")
    run.add_argument("--platemap", default=None, metavar="CSV",
                     help="platemap (a well column and metadata columns)")
    run.add_argument("--format", default="auto", help="plate format (default: auto)")
    run.add_argument("--pattern", default=None, help="regular expression for a TIFF folder")
    run.add_argument("--projection", choices=("max",), default=None,
                     help="maximum-intensity projection of z/t planes")
    run.add_argument("--quiet", action="store_true", help="one line per well instead of a bar")
    run.add_argument("--overwrite", action="store_true",
                     help="replace outputs of another pipeline in DIR instead of refusing")
    run.add_argument("--gpu-memory", type=float, default=None, metavar="GiB",
                     help="GPU memory budget")
    run.set_defaults(func=_run)

    demo = subparsers.add_parser(
        "demo", help="synthesise a small plate and run the default pipeline on it",
        description="Write a synthetic 8-well x 2-field plate (DNA and Actin, treatments "
                    "with known effects, a platemap), run the default pipeline on it and print "
                    "a per-well summary and where the outputs are.")
    demo.add_argument("--out", default="pyhcs-demo", metavar="DIR",
                      help="output folder (default ./pyhcs-demo)")
    _synthetic_plate_arguments(demo, wells=8, fields=2, size=512)
    demo.set_defaults(func=_demo)

    bench = subparsers.add_parser(
        "bench", help="end-to-end throughput on a synthetic plate, time per stage",
        description="Synthesise a two-channel plate (DNA, Actin), run the default pipeline "
                    "on its first well to compile and warm up, then time the other wells and "
                    "print fields/s and the time per stage.")
    _synthetic_plate_arguments(bench, wells=4, fields=2, size=1024)
    bench.add_argument("--workers", type=int, default=None, metavar="N", help="reader threads")
    bench.add_argument("--processes", type=_processes, default="auto", metavar="N|auto",
                       help="CPU worker processes (as pyhcs run --processes; their start-up "
                            "is timed)")
    bench.set_defaults(func=_bench)

    config = subparsers.add_parser(
        "config", help="print the default pipeline as TOML, a comment on every key",
        description="Print the default pipeline (or FILE's, completed with the defaults) as "
                    "TOML with a comment on every key; edit it and pass it to "
                    "pyhcs run --config.")
    config.add_argument("file", nargs="?", metavar="FILE", help="a pipeline TOML to check")
    config.set_defaults(func=_config)


def _error(command: str, exc: BaseException) -> int:
    print(f"pyhcs {command}: error: {exc}", file=sys.stderr)
    return 2


def _run(args: argparse.Namespace) -> int:
    from . import Pipeline, PlateError, open_plate, run

    try:
        pipeline = Pipeline.load(args.config) if args.config else Pipeline()
        plate = open_plate(args.plate, format=args.format, pattern=args.pattern,
                           channels=_parse_channels(args.channels), platemap=args.platemap,
                           projection=args.projection)
        gpu_memory = None if args.gpu_memory is None else int(args.gpu_memory * 2**30)
        summary = run(plate, pipeline, args.out, device=args.device, workers=args.workers,
                      wells=args.wells, progress=not args.quiet, quiet=args.quiet,
                      overwrite=args.overwrite, gpu_memory=gpu_memory,
                      processes=args.processes)
    except (PlateError, OSError, ValueError, TypeError, RuntimeError) as exc:
        return _error("run", exc)
    print(_summary_line(summary))
    return 1 if summary.errors else 0


def _summary_line(summary) -> str:
    rate = summary.fields_per_second
    skipped = f", {len(summary.wells_skipped)} wells already done" if summary.wells_skipped \
        else ""
    return (f"{summary.fields} fields, {summary.cells} cells, {summary.errors} errors in "
            f"{summary.seconds:.1f} s ({rate:.2f} fields/s, {summary.device}){skipped} -> "
            f"{summary.out}")


def _demo(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..datasets import synthetic_plate
    from . import open_plate, run

    out = Path(args.out)
    if args.wells < 1 or args.fields < 1 or args.size < 64:
        return _error("demo", ValueError("--wells and --fields must be >= 1, --size >= 64"))
    start = time.perf_counter()
    plate_dir = out / "plate"
    shutil.rmtree(plate_dir, ignore_errors=True)
    synth = synthetic_plate(plate_dir, n_wells=args.wells, n_fields=args.fields,
                            shape=(args.size, args.size), seed=args.seed, format="zarr")
    plate = open_plate(synth.source, platemap=synth.platemap)
    print(f"synthetic plate: {plate!r}")
    shutil.rmtree(out / "results", ignore_errors=True)  # the demo always runs afresh
    try:
        summary = run(plate, out=out / "results", device=args.device, progress=True)
    except (ValueError, RuntimeError) as exc:
        return _error("demo", exc)
    results = summary.out
    profiles = pd.read_parquet(results / "profiles.parquet")
    medians = profiles[profiles["Metadata_Aggregation"] == "median"]
    columns = ["Metadata_Well", "Metadata_treatment", "Metadata_Object_Count",
               "Nuclei_AreaShape_Area", "Nuclei_Intensity_MeanIntensity_DNA",
               "Cells_AreaShape_Area"]
    columns = [c for c in columns if c in medians.columns]
    table = medians[columns].rename(columns={
        "Metadata_Well": "well", "Metadata_treatment": "treatment",
        "Metadata_Object_Count": "cells", "Nuclei_AreaShape_Area": "nucleus area",
        "Nuclei_Intensity_MeanIntensity_DNA": "nucleus DNA", "Cells_AreaShape_Area": "cell area"})
    print()
    print("per-well medians:")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print()
    print(_summary_line(summary))
    print(f"outputs: {results}/objects/ (per-cell rows), {results}/image.parquet, "
          f"{results}/profiles.parquet, {results}/run.json")
    print(f"demo finished in {time.perf_counter() - start:.1f} s")
    return 1 if summary.errors else 0


def _bench(args: argparse.Namespace) -> int:
    import tempfile

    from ..datasets import synthetic_plate
    from . import open_plate, run

    if args.wells < 1 or args.fields < 1 or args.size < 64:
        return _error("bench", ValueError("--wells and --fields must be >= 1, --size >= 64"))
    with tempfile.TemporaryDirectory(prefix="pyhcs-bench-") as tmp:
        root = Path(tmp)
        synth = synthetic_plate(root / "plate", n_wells=args.wells + 1, n_fields=args.fields,
                                shape=(args.size, args.size), seed=args.seed, format="zarr")
        plate = open_plate(synth.source)
        warm, timed = plate.wells[0], plate.wells[1:]
        try:
            run(plate, out=root / "warm", wells=[warm], device=args.device, progress=False,
                workers=args.workers, processes=1)
            summary = run(plate, out=root / "timed", wells=timed, device=args.device,
                          progress=False, workers=args.workers, processes=args.processes)
        except (ValueError, RuntimeError) as exc:
            return _error("bench", exc)
    print(f"pyhcs bench: {summary.fields} fields of {args.size}x{args.size}, 2 channels, "
          f"{summary.cells} cells, device {summary.device} (warm-up well excluded)")
    print(f"{'stage':<28}{'total s':>10}{'ms/field':>11}")
    for stage, seconds in summary.stages.items():
        name = stage.removeprefix("ExecutionTime_")
        print(f"{name:<28}{seconds:>10.3f}{1000 * seconds / max(summary.fields, 1):>11.1f}")
    print(f"{'wall (overlapped)':<28}{summary.seconds:>10.3f}"
          f"{1000 * summary.seconds / max(summary.fields, 1):>11.1f}")
    print(f"throughput: {summary.fields_per_second:.2f} fields/s")
    return 0


def _config(args: argparse.Namespace) -> int:
    from . import Pipeline

    try:
        pipeline = Pipeline.load(args.file) if args.file else Pipeline()
    except ValueError as exc:
        return _error("config", exc)
    sys.stdout.write(pipeline.to_toml(comments=True))
    return 0
