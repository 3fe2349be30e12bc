"""Command-line interface: ``pyhcs <command> ...``.

Each subcommand lives beside the code it drives and registers itself through a
``register(subparsers)`` function that adds its parser and sets ``func`` to a callable taking
the parsed arguments and returning an exit status.
"""

from __future__ import annotations

import argparse
import json
import sys


def _register_info(subparsers) -> None:
    parser = subparsers.add_parser(
        "info",
        help="print the version, the compiled core's build and the devices pyhcs can use; "
             "with PLATE, a summary of that plate",
        description="Without PLATE: the version, the compiled core's build and the usable "
                    "devices (JSON). With PLATE (an OME-Zarr plate, an Opera/Operetta or "
                    "ImageXpress export, a TIFF folder with --pattern, or a LoadData CSV): its "
                    "wells, sites, channels, field shape and dtype, format and total size.",
    )
    parser.add_argument("plate", nargs="?", metavar="PLATE", help="a plate to describe")
    parser.add_argument("--format", default="auto", help="plate format (default: auto)")
    parser.add_argument("--pattern", default=None,
                        help="regular expression for a TIFF folder (groups well or row and "
                             "column, site, channel; optional plane)")
    parser.add_argument("--projection", choices=("max",), default=None,
                        help="maximum-intensity projection of z/t planes")
    parser.set_defaults(func=_run_info)


def _run_info(args: argparse.Namespace) -> int:
    from . import __version__

    if args.plate is not None:
        from .plate import PlateError, open_plate

        try:
            plate = open_plate(args.plate, format=args.format, pattern=args.pattern,
                               projection=args.projection)
        except (PlateError, OSError, ValueError, TypeError) as exc:
            print(f"pyhcs info: error: {exc}", file=sys.stderr)
            return 2
        print(plate.describe())
        return 0
    from ._backend import device_info

    print(json.dumps({"pyhcs": __version__, **device_info()}, indent=2, default=str))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .datasets import cli as datasets_cli
    from .plate import cli as plate_cli

    parser = argparse.ArgumentParser(
        prog="pyhcs",
        description="GPU-accelerated, reference-exact image analysis for high-content screening.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _register_info(subparsers)
    datasets_cli.register(subparsers)
    plate_cli.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # output piped into head or less that closed early
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
