"""Round-to-nearest float64 arithmetic for CUDA device code: ``mul``, ``add`` and ``fma``.

The GPU compiler contracts ``a * b + c`` into a fused multiply-add, which rounds once instead of
twice and so differs from the CPU references in the last bit. Products and sums that must match
them bit for bit go through libdevice's ``dmul_rn`` / ``dadd_rn``, which are never contracted;
``fma`` is the explicitly fused operation, for code that wants it. Under the numba CUDA simulator
(which has no libdevice) plain Python arithmetic does the same thing: Python never fuses, and
the simulated ``fma`` rounds the exact result once.
"""

from __future__ import annotations

from numba import cuda

from ._backend import simulator_enabled

__all__ = ["mul", "add", "fma"]

if simulator_enabled():  # pragma: no cover - exercised by the simulator tests

    @cuda.jit(device=True)
    def mul(a, b):
        return a * b

    @cuda.jit(device=True)
    def add(a, b):
        return a + b

    @cuda.jit(device=True)
    def fma(a, b, c):
        from fractions import Fraction  # exact, then rounded once

        return float(Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c)))

else:
    from numba.cuda import libdevice

    @cuda.jit(device=True)
    def mul(a, b):
        return libdevice.dmul_rn(a, b)

    @cuda.jit(device=True)
    def add(a, b):
        return libdevice.dadd_rn(a, b)

    @cuda.jit(device=True)
    def fma(a, b, c):
        return libdevice.fma_rn(a, b, c)
