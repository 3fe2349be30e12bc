"""Compiling a module's plain-Python helpers once per device.

The arithmetic shared by the CPU and GPU kernels is written once as plain Python functions
(``_haralick_math``, ``_intensity_math``) and compiled twice: with ``numba.njit`` for the CPU
and as CUDA device functions for the GPU, so both devices run the same operations in the same
order.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def compile_shared(module_globals: Mapping[str, Any], names: Iterable[str],
                   decorator: Callable, overrides: Mapping[str, Any] | None = None
                   ) -> types.SimpleNamespace:
    """Compile the helpers ``names`` of a module with ``decorator``.

    Each helper is cloned into one fresh globals dict (the module's, updated with
    ``overrides``) in which the helpers it calls are the compiled clones, so a compiled helper
    never calls a plain Python function. Helpers must come after those they call.

    Returns
    -------
    SimpleNamespace
        The compiled helpers by name.
    """
    namespace = dict(module_globals)
    namespace.update(overrides or {})
    compiled = {}
    for name in names:
        func = module_globals[name]
        clone = types.FunctionType(func.__code__, namespace, name, func.__defaults__,
                                   func.__closure__)
        clone.__qualname__ = func.__qualname__
        clone.__module__ = func.__module__
        compiled[name] = namespace[name] = decorator(clone)
    return types.SimpleNamespace(**compiled)
