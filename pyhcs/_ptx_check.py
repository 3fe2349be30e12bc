"""Compile every registered GPU kernel to PTX for a compute capability, without a GPU.

The numba CUDA simulator accepts code that the GPU compiler rejects, so CI also compiles each
kernel declared with :func:`pyhcs._backend.gpu_kernel`, for each of its declared signatures,
with numba-cuda's ``compile_ptx`` (sm_90 by default). Run as ``python -m pyhcs._ptx_check``;
exits non-zero when a kernel fails to compile. Needs the simulator off and numba-cuda's CUDA
toolchain wheels (``numba-cuda[cu13]``), not a GPU or a driver.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import types

#: Every module that declares GPU kernels; tests/test_ptx.py checks the list is complete.
GPU_KERNEL_MODULES = (
    "pyhcs.features._regionprops_gpu",
    "pyhcs.features._glcm_gpu",
    "pyhcs.features._hog_gpu",
    "pyhcs.features._zernike_gpu",
    "pyhcs.segmentation._propagate_gpu",
    "pyhcs.segmentation._watershed_gpu",
    "pyhcs.features._geometry_gpu",
    "pyhcs.segmentation._maxima",
    "pyhcs.illumination._median_gpu",
    "pyhcs.features._shape_gpu",
    "pyhcs.features._intensity_gpu",
    "pyhcs.features._neighbors_gpu",
    "pyhcs.features._granularity_gpu",
)


def _pretend_current_device(cc: tuple[int, int]) -> None:
    # A kernel that calls device functions compiles them for "the current device" during
    # typing, which asks the driver for one. With no driver, report the target instead.
    import numba.cuda.dispatcher as dispatcher

    device = types.SimpleNamespace(compute_capability=cc)
    dispatcher.get_current_device = lambda: device


def compile_all(cc: tuple[int, int] = (9, 0)) -> list[tuple[str, str, str]]:
    """Compile every registered kernel; returns ``(kernel, signature, "ok" | error)`` rows."""
    from numba.core import config

    if config.ENABLE_CUDASIM:
        raise RuntimeError("compile_all needs the CUDA simulator off (NUMBA_ENABLE_CUDASIM=0)")
    from numba.cuda import compile_ptx

    from ._backend import GPU_KERNELS

    _pretend_current_device(cc)
    for module in GPU_KERNEL_MODULES:
        importlib.import_module(module)
    rows = []
    for name, func, signatures in GPU_KERNELS:
        for signature in signatures:
            try:
                ptx, _ = compile_ptx(func, signature, cc=cc)
                status = "ok" if f".target sm_{cc[0]}{cc[1]}" in ptx else "no target line"
            except Exception as exc:  # report every failure, not only the first
                status = f"{type(exc).__name__}: {exc}".splitlines()[0]
            rows.append((name, signature, status))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cc", default="9.0", help="compute capability, e.g. 9.0")
    args = parser.parse_args(argv)
    cc = tuple(int(part) for part in args.cc.split("."))
    rows = compile_all(cc)
    for name, signature, status in rows:
        print(f"{status:>4}  {name}  {signature}")
    failed = [row for row in rows if row[2] != "ok"]
    print(f"{len(rows) - len(failed)} kernels compiled for sm_{cc[0]}{cc[1]}, {len(failed)} failed")
    return 1 if failed or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
