"""Per-pixel Zernike arithmetic, one Python source compiled for both devices.

:func:`build` turns the functions below into numba ``@njit`` functions (CPU) or
``@cuda.jit(device=True)`` functions (GPU). Every product that feeds a sum goes through the
``mul`` and ``add`` it is given: plain ``*`` and ``+`` on the CPU (LLVM does not fuse them), and
the round-to-nearest ``dmul_rn`` / ``dadd_rn`` intrinsics on the GPU, whose compiler would
otherwise fuse them into multiply-adds. The per-pixel values of the CellProfiler basis are
therefore bit-identical on both devices; only the order in which they are summed differs.

Two evaluations of the basis are provided, each following its reference's arithmetic (at
degree 20 the radial polynomial cancels terms of size ~1e6 down to ~1, so the order of the
floating-point operations shows at ~1e-10):

- CellProfiler (centrosome, cp_measure): ``P_nm(r^2)`` by Horner's rule, times ``z^m`` with
  ``z = y + i x`` (powers by repeated multiplication), times the weight first when there is one.
- mahotas: ``sum_j g_j * pow(rho, n - 2 j) * A^l`` accumulated as a complex number, with
  ``rho = max(sqrt(r^2), 1e-9)``, ``A = (x + i y) / rho`` and ``A^l`` as numpy computes
  ``A ** l``, then ``w * conj(.)``. Because each term ``g_j rho^(n-2j)`` (up to ~1e6) is
  multiplied by ``A^l`` before the terms cancel, the last bit of ``A^l`` shows at ~1e-9 at
  degree 20. numpy computes ``A ** 2`` with ``np.square``, whose SIMD loop on FMA machines
  (AVX-512 here) rounds the real part once, ``fma(ar, ar, -(ai * ai))``; the launcher detects
  this (``fused_square``) and the kernels do the same. Higher powers use numpy's scalar binary
  exponentiation (``npy_cpow``), which is not fused.

Moment tables (built on the host by :func:`pyhcs.features.zernike._tables`) are in
*group-major* order: all moments of azimuthal order ``m = 0`` (``n = 0, 2, 4, ...``), then
``m = 1`` (``n = 1, 3, ...``), and so on. Group ``m`` holds the moments
``first[m] .. first[m] + count[m] - 1``, with ``n = m + 2 j``; the coefficients of moment ``k``
are ``coeffs[cstart[k]:cstart[k + 1]]``, highest power first.
"""

from __future__ import annotations

import math

from numba import float64


def build(mul, add, fma, device):
    """Compile the per-pixel functions with the given ``mul``/``add``/``fma`` and decorator."""

    @device
    def unit_disk(r, c, ci, cj, radius):
        # the references' arithmetic: subtract, divide, then x*x + y*y unfused
        x = (float64(c) - cj) / radius
        y = (float64(r) - ci) / radius
        return x, y, add(mul(x, x), mul(y, y))

    @device
    def complex_mul(ar, ai, br, bi):
        # numpy's complex product: (ar br - ai bi) + i (ar bi + ai br)
        return add(mul(ar, br), -mul(ai, bi)), add(mul(ar, bi), mul(ai, br))

    @device
    def integer_power(ar, ai, n, fused_square):
        # numpy's A ** n for a small integer n >= 0: np.square for 2, else npy_cpow
        if n == 0:
            return float64(1.0), float64(0.0)
        if n == 1:
            return ar, ai
        if n == 2:
            if fused_square:
                return fma(ar, ar, -mul(ai, ai)), add(mul(ar, ai), mul(ai, ar))
            return complex_mul(ar, ai, ar, ai)
        if n == 3:
            sr, si = complex_mul(ar, ai, ar, ai)
            return complex_mul(ar, ai, sr, si)
        rr = float64(1.0)
        ri = float64(0.0)
        pr = ar
        pi = ai
        mask = 1
        while True:
            if n & mask:
                rr, ri = complex_mul(rr, ri, pr, pi)
            mask <<= 1
            if n < mask:
                break
            pr, pi = complex_mul(pr, pi, pr, pi)
        return rr, ri

    @device
    def cellprofiler_terms(
        m, zr, zi, r2, w, with_shape, with_weight, coeffs, cstart, first, count,
        shape_re, shape_im, weight_re, weight_im, base,
    ):
        """Add one pixel's V_nm = P_nm(r^2) z^m (all n of group m) at ``base + j``."""
        for j in range(count[m]):
            k = first[m] + j
            s = coeffs[cstart[k]]
            for t in range(cstart[k] + 1, cstart[k + 1]):
                s = add(mul(s, r2), coeffs[t])
            if with_shape:
                if m == 0:
                    shape_re[base + j] = add(shape_re[base + j], s)
                else:
                    shape_re[base + j] = add(shape_re[base + j], mul(s, zr))
                    shape_im[base + j] = add(shape_im[base + j], mul(s, zi))
            if with_weight:
                sw = mul(s, w)  # cp_measure weights the polynomial, then multiplies by z^m
                if m == 0:
                    weight_re[base + j] = add(weight_re[base + j], sw)
                else:
                    weight_re[base + j] = add(weight_re[base + j], mul(sw, zr))
                    weight_im[base + j] = add(weight_im[base + j], mul(sw, zi))

    @device
    def mahotas_terms(l, ar, ai, rho, w, coeffs, cstart, first, count, acc_re, acc_im, base):
        """Add one pixel's w conj(R_nl(rho) A^l) (all n of group l) at ``base + j``."""
        for j in range(count[l]):
            k = first[l] + j
            n = l + 2 * j
            vr = float64(0.0)
            vi = float64(0.0)
            for q in range(cstart[k], cstart[k + 1]):
                t = mul(coeffs[q], math.pow(rho, float64(n - 2 * (q - cstart[k]))))
                vr = add(vr, mul(t, ar))
                vi = add(vi, mul(t, ai))
            acc_re[base + j] = add(acc_re[base + j], mul(w, vr))
            acc_im[base + j] = add(acc_im[base + j], -mul(w, vi))

    return unit_disk, complex_mul, integer_power, cellprofiler_terms, mahotas_terms
