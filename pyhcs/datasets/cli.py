"""``pyhcs synth``: write synthetic fields, or whole plates, with ground truth.

Plate mode (``--wells``)::

    pyhcs synth PLATE --wells 96 --fields 4 --format zarr --shape 512 512 --seed 0
    pyhcs synth PLATE --wells 384 --fields 1 --format tiff --layout imagexpress --shape 256 256

writes a plate whose wells carry treatments with known effects, controls, ``platemap.csv`` and
ground-truth labels (see :func:`pyhcs.datasets.synthetic_plate`).

Field mode::

    pyhcs synth out/ --n-fields 4 --shape 2048 2048 --n-nuclei 1500 --seed 0 \\
        --nucleus-radius 11 --texture-contrast 0.5

writes ``out/field_0000_DNA.tif``, ``out/field_0000_Actin.tif``,
``out/field_0000_nuclei_labels.tif``, ``out/field_0000_cells_labels.tif``, ... and
``out/manifest.json`` (see :func:`pyhcs.datasets.write_synthetic_fields`). Every field of
:class:`~pyhcs.datasets.PhenotypeParams` and :class:`~pyhcs.datasets.ImagingParams` is an
option (``nucleus_radius`` -> ``--nucleus-radius``); omitted ones keep their defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys

from .synthetic import ImagingParams, PhenotypeParams, write_synthetic_fields


def _field_help(cls) -> dict[str, str]:
    """First sentence of each parameter's description in a numpydoc class docstring."""
    doc = cls.__doc__ or ""
    out: dict[str, str] = {}
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^\s{4}(\w+) : .*$", line)
        if not m:
            continue
        desc = []
        for nxt in lines[i + 1:]:
            if not nxt.startswith(" " * 8):
                break
            desc.append(nxt.strip())
        text = " ".join(desc)
        out[m.group(1)] = text.split("; ")[0].split(". ")[0].rstrip(".")
    return out


def _help_text(text: str) -> str:
    """Plain text for argparse: no reST literals, ``%`` escaped."""
    return text.replace("``", "").replace("%", "%%")


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_param_group(parser: argparse.ArgumentParser, cls, title: str, dest_prefix: str) -> None:
    group = parser.add_argument_group(title)
    helps = _field_help(cls)
    for f in dataclasses.fields(cls):
        group.add_argument(
            _option(f.name),
            dest=dest_prefix + f.name,
            type=float,
            default=None,
            metavar="X",
            help=_help_text(f"{helps.get(f.name, f.name)} (default {f.default:g})"),
        )


def _params_from_args(args: argparse.Namespace, cls, dest_prefix: str):
    kwargs = {}
    for f in dataclasses.fields(cls):
        value = getattr(args, dest_prefix + f.name)
        if value is not None:
            kwargs[f.name] = value
    return cls(**kwargs)


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``synth`` subcommand to the ``pyhcs`` command-line parser.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The object returned by ``ArgumentParser.add_subparsers``.

    Returns
    -------
    argparse.ArgumentParser
        The ``synth`` parser (its ``func`` default runs the command and returns an exit status).
    """
    parser = subparsers.add_parser(
        "synth",
        help="write synthetic HCS fields (DNA and Actin TIFFs) with ground-truth labels",
        description=(
            "Generate synthetic two-channel high-content-screening fields with their "
            "ground-truth nucleus and cell labels, and write them as TIFF files (one uint16 "
            "file per channel, label images uint16 or uint32) plus manifest.json in OUT."
        ),
    )
    parser.add_argument("out", metavar="OUT", help="output directory (created if missing)")
    parser.add_argument("--n-fields", type=int, default=1, metavar="N",
                        help="number of fields (default 1)")
    parser.add_argument("--shape", type=int, nargs=2, default=None, metavar=("H", "W"),
                        help="field size in pixels (default 2048 2048; 512 512 in plate mode)")
    parser.add_argument("--n-nuclei", type=int, default=None, metavar="K",
                        help="nuclei per (untreated) field (default 1500; in plate mode the "
                             "density of 1500 per 2048 x 2048)")
    plate = parser.add_argument_group("plate mode (with --wells)")
    plate.add_argument("--wells", type=int, default=None, metavar="N",
                       help="write a whole plate of N wells (filled row-major from A01)")
    plate.add_argument("--fields", type=int, default=2, metavar="F",
                       help="fields per well (default 2)")
    plate.add_argument("--format", choices=("zarr", "tiff"), default="zarr",
                       help="OME-Zarr HCS plate or vendor TIFF export (default zarr)")
    plate.add_argument("--layout", choices=("operetta", "imagexpress"), default="operetta",
                       help="TIFF naming (default operetta)")
    plate.add_argument("--ngff", choices=("0.5", "0.4"), default="0.5",
                       help="OME-NGFF version of a Zarr plate: 0.5 (Zarr v3) or 0.4 (Zarr v2)")
    plate.add_argument("--plate-format", type=int, choices=(96, 384, 1536), default=None,
                       help="plate size (default: the smallest that holds --wells)")
    plate.add_argument("--name", default="SYNTH", help="plate name (default SYNTH)")
    parser.add_argument("--seed", type=int, default=0, metavar="S",
                        help="base seed; field i uses derive_seed(S, i) (default 0)")
    parser.add_argument("--prefix", default="field",
                        help="file-name prefix (default 'field')")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing output files instead of failing")
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")
    _add_param_group(parser, PhenotypeParams, "phenotype (PhenotypeParams)", "pheno_")
    _add_param_group(parser, ImagingParams, "imaging (ImagingParams)", "imaging_")
    parser.set_defaults(func=run_synth)
    return parser


def _reporting_errors(write):
    """``(write(), 0)``, or ``(None, status)`` after printing the error: 2 for bad arguments,
    1 for files that exist or cannot be written."""
    try:
        return write(), 0
    except (ValueError, TypeError) as exc:
        print(f"pyhcs synth: error: {exc}", file=sys.stderr)
        return None, 2
    except OSError as exc:
        print(f"pyhcs synth: error: {exc}", file=sys.stderr)
        return None, 1


def run_synth(args: argparse.Namespace) -> int:
    """Run ``pyhcs synth`` with parsed arguments; return the exit status.

    Invalid arguments or existing output files print ``pyhcs synth: error: ...`` to stderr and
    return 2 (bad arguments) or 1 (files exist / cannot be written).
    """
    if args.wells is not None:
        return _run_synth_plate(args)
    manifest, status = _reporting_errors(lambda: write_synthetic_fields(
        args.out,
        args.n_fields,
        shape=tuple(args.shape or (2048, 2048)),
        n_nuclei=1500 if args.n_nuclei is None else args.n_nuclei,
        seed=args.seed,
        phenotype=_params_from_args(args, PhenotypeParams, "pheno_"),
        imaging=_params_from_args(args, ImagingParams, "imaging_"),
        prefix=args.prefix,
        overwrite=args.overwrite,
    ))
    if status:
        return status
    if not args.quiet:
        counts = [f["n_nuclei"] for f in manifest["fields"]]
        print(
            f"wrote {len(counts)} field(s) of shape {tuple(manifest['shape'])} to {args.out} "
            f"(nuclei per field: {min(counts)}-{max(counts)}; manifest: manifest.json)"
        )
    return 0


def _run_synth_plate(args: argparse.Namespace) -> int:
    import time

    from .synthetic_plate import synthetic_plate

    start = time.perf_counter()
    synth, status = _reporting_errors(lambda: synthetic_plate(
        args.out, args.wells, args.fields, format=args.format, layout=args.layout,
        shape=tuple(args.shape or (512, 512)), n_nuclei=args.n_nuclei, seed=args.seed,
        phenotype=_params_from_args(args, PhenotypeParams, "pheno_"),
        imaging=_params_from_args(args, ImagingParams, "imaging_"),
        plate_format=args.plate_format, name=args.name, ngff_version=args.ngff,
        overwrite=args.overwrite))
    if status:
        return status
    if not args.quiet:
        counts = synth.truth["control_type"].value_counts().to_dict()
        kind = synth.format if synth.layout is None else f"{synth.format}/{synth.layout}"
        print(f"wrote plate {synth.name} ({kind}): {len(synth.wells)} wells x "
              f"{len(synth.sites)} fields of {synth.shape[0]}x{synth.shape[1]} in "
              f"{time.perf_counter() - start:.1f} s; controls: "
              f"{counts.get('negative', 0)} negative, {counts.get('positive', 0)} positive")
        print(f"  plate:    {synth.source}")
        print(f"  platemap: {synth.platemap}")
        print(f"  describe: pyhcs info {synth.source}")
    return 0
