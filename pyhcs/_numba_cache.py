"""numba's on-disk cache, made aware of pyhcs's shared kernel helpers.

numba decides whether a cached ``@njit(cache=True)`` kernel is stale from the kernel's own
source file only. pyhcs kernels call helpers from other modules (math shared by the CPU and
GPU kernels), so an edited helper would silently keep running its old compiled code. For
functions defined in the pyhcs package, this locator adds a stamp of every pyhcs source file
(names, sizes and modification times) to numba's: any change to the package recompiles its
kernels once.

Every CPU kernel module calls :func:`register` before defining cached kernels. Uses numba's
cache-locator hook (``numba.core.caching.CacheImpl._locator_classes``); if a numba version
lacks it, numba's default behaviour stays (per-file stamps).
"""

from __future__ import annotations

import functools
import os

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_registered = False


@functools.lru_cache(maxsize=1)
def package_stamp() -> tuple:
    """(relative path, size, mtime_ns) of every .py file in the pyhcs package."""
    entries = []
    for root, _dirs, files in os.walk(_PACKAGE_DIR):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                st = os.stat(path)
                entries.append((os.path.relpath(path, _PACKAGE_DIR), st.st_size, st.st_mtime_ns))
    return tuple(sorted(entries))


def _with_package_stamp(base):
    class PackageStampLocator(base):
        def get_source_stamp(self):
            return (super().get_source_stamp(), package_stamp())

        @classmethod
        def from_function(cls, py_func, py_file):
            if not os.path.abspath(py_file).startswith(_PACKAGE_DIR + os.sep):
                return None
            return super().from_function(py_func, py_file)

    PackageStampLocator.__name__ = f"Pyhcs{base.__name__}"
    return PackageStampLocator


def register() -> None:
    """Install the package-wide stamp for pyhcs functions (idempotent)."""
    global _registered
    if _registered:
        return
    try:
        from numba.core import caching

        impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl")
        locators = impl._locator_classes
        # numba's own order: a NUMBA_CACHE_DIR first, then beside the source, then per user
        ours = [
            _with_package_stamp(caching.UserProvidedCacheLocator),
            _with_package_stamp(caching.InTreeCacheLocator),
            _with_package_stamp(caching.UserWideCacheLocator),
        ]
    except (ImportError, AttributeError):  # pragma: no cover - another numba layout
        _registered = True
        return
    locators[0:0] = ours
    _registered = True
