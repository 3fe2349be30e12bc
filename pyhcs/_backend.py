"""Device detection, dispatch and the array-namespace helper.

Every launcher in pyhcs is written once against a :class:`Namespace`: the array module ``xp``
(numpy or cupy), its ``ndimage`` (scipy.ndimage or cupyx.scipy.ndimage), its scikit-image
(scikit-image or cuCIM's ``cucim.skimage``) and ``target``, the kernel set to launch (``"cpu"``
for numba ``@njit`` kernels, ``"cuda"`` for numba ``@cuda.jit`` kernels).

Dispatch rules
--------------
- The array type decides the device: numpy in -> CPU, numpy out; cupy in -> GPU, cupy out.
- Functions that create arrays take ``device="auto" | "cpu" | "cuda"``. ``"cuda"`` without a
  usable GPU raises :class:`CudaUnavailableError`; ``"auto"`` never fails and never picks the
  numba CUDA simulator.
- Tests reach the GPU launchers with numpy arrays through one private switch,
  :func:`_simulate_gpu`, which requires ``NUMBA_ENABLE_CUDASIM=1`` (set before numba is first
  imported, as ``tests/conftest.py`` does). Inside it, numpy inputs run the ``"cuda"`` kernel
  set with ``xp=numpy`` and simulated kernels.

Nothing here imports cupy or numba.cuda at import time; detection is lazy and never raises.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable, Iterator

import numpy as np

__all__ = [
    "CudaUnavailableError",
    "Namespace",
    "cuda_available",
    "simulator_enabled",
    "device_info",
    "namespace_for",
    "namespace_for_device",
    "to_numpy",
    "launch_config",
    "gpu_kernel",
    "GPU_KERNELS",
]


class CudaUnavailableError(RuntimeError):
    """Raised when the CUDA device is requested explicitly and none can be used."""


def simulator_enabled() -> bool:
    """True when the numba CUDA simulator is switched on (``NUMBA_ENABLE_CUDASIM=1``).

    numba reads the variable once, when it is first imported; once numba is imported its own
    configuration is authoritative.
    """
    import sys

    if "numba" in sys.modules:
        from numba.core import config

        return bool(getattr(config, "ENABLE_CUDASIM", False))
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


@functools.lru_cache(maxsize=1)
def _real_cuda_status() -> tuple[bool, str]:
    """Whether a real CUDA GPU is usable through both cupy and numba, and why not if not."""
    if simulator_enabled():
        return False, "the numba CUDA simulator is enabled (NUMBA_ENABLE_CUDASIM=1)"
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken CUDA installation
        return False, f"cupy is not importable ({type(exc).__name__}: {exc})"
    try:
        if not cupy.cuda.is_available():
            return False, "cupy finds no CUDA device"
    except Exception as exc:
        return False, f"cupy cannot query CUDA ({type(exc).__name__}: {exc})"
    try:
        from numba import cuda
    except Exception as exc:
        return False, f"numba.cuda is not importable ({type(exc).__name__}: {exc})"
    try:
        if not cuda.is_available():
            return False, "numba finds no CUDA device"
    except Exception as exc:
        return False, f"numba cannot query CUDA ({type(exc).__name__}: {exc})"
    return True, "ok"


def cuda_available() -> bool:
    """True when a real CUDA GPU can run pyhcs kernels (cupy and numba.cuda both work).

    Never raises. Always False under the numba CUDA simulator, even though numba then reports
    CUDA as available: the simulator is for tests, never for ``device="auto"``.
    """
    return _real_cuda_status()[0]


def _is_cupy_array(array: Any) -> bool:
    return type(array).__module__.split(".")[0] == "cupy"


@dataclass(frozen=True)
class Namespace:
    """What a launcher needs to run on one device.

    Attributes
    ----------
    xp : module
        numpy or cupy.
    target : {"cpu", "cuda"}
        Which kernel set to launch: numba ``@njit`` kernels or numba ``@cuda.jit`` kernels.
    simulated : bool
        True when ``target == "cuda"`` runs on numpy arrays through the numba CUDA simulator.
    """

    xp: ModuleType
    target: str
    simulated: bool = False

    @property
    def device(self) -> str:
        """``"cpu"`` or ``"cuda"``: where the arrays live."""
        return "cuda" if self.xp.__name__ == "cupy" else "cpu"

    @functools.cached_property
    def ndimage(self) -> ModuleType:
        """scipy.ndimage on the CPU, cupyx.scipy.ndimage on the GPU."""
        if self.device == "cuda":
            return importlib.import_module("cupyx.scipy.ndimage")
        return importlib.import_module("scipy.ndimage")

    @functools.cached_property
    def skimage(self) -> ModuleType:
        """scikit-image on the CPU; cuCIM's ``cucim.skimage`` on the GPU when installed.

        Raises
        ------
        ImportError
            On the GPU without cuCIM; callers that can do without it should catch this.
        """
        if self.device == "cuda":
            try:
                return importlib.import_module("cucim.skimage")
            except ImportError as exc:
                raise ImportError(
                    "this operation needs cuCIM on the GPU; install pyhcs[gpu] (cucim-cu13)"
                ) from exc
        return importlib.import_module("skimage")

    def asarray(self, array: Any) -> Any:
        """Move ``array`` to this namespace's device (no copy when already there)."""
        return self.xp.asarray(array)


_CPU = Namespace(np, "cpu")
_simulation_depth = 0


@contextlib.contextmanager
def _simulate_gpu() -> Iterator[None]:
    """Private test switch: run the GPU launchers on numpy arrays with simulated kernels.

    Requires the numba CUDA simulator (``NUMBA_ENABLE_CUDASIM=1`` before numba is imported).
    """
    global _simulation_depth
    if not simulator_enabled():
        raise RuntimeError(
            "_simulate_gpu needs NUMBA_ENABLE_CUDASIM=1 set before numba is first imported"
        )
    _simulation_depth += 1
    try:
        yield
    finally:
        _simulation_depth -= 1


def _cuda_namespace() -> Namespace:
    import cupy

    return Namespace(cupy, "cuda")


def namespace_for(*arrays: Any, names: tuple[str, ...] | None = None) -> Namespace:
    """The namespace of the given arrays: numpy -> CPU, cupy -> GPU.

    ``None`` entries (optional arguments) are ignored. Mixing numpy and cupy arrays raises
    ``TypeError`` naming the arguments, since silently moving data hides costly transfers.

    Parameters
    ----------
    *arrays : array-like or None
    names : tuple of str, optional
        The argument names of ``arrays``, for error messages.
    """
    names = names or tuple(f"argument {i}" for i in range(len(arrays)))
    on_gpu = [name for name, a in zip(names, arrays) if a is not None and _is_cupy_array(a)]
    on_cpu = [name for name, a in zip(names, arrays) if a is not None and not _is_cupy_array(a)]
    if on_gpu and on_cpu:
        raise TypeError(
            f"{', '.join(on_gpu)} {'is' if len(on_gpu) == 1 else 'are'} a cupy array but "
            f"{', '.join(on_cpu)} {'is' if len(on_cpu) == 1 else 'are'} not; pass all arrays "
            "on the same device (cupy.asarray / cupy.asnumpy)"
        )
    if on_gpu:
        return _cuda_namespace()
    if _simulation_depth > 0:
        return Namespace(np, "cuda", simulated=True)
    return _CPU


def namespace_for_device(device: str = "auto") -> Namespace:
    """The namespace for a function that creates arrays.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}
        ``"auto"`` picks the GPU when :func:`cuda_available`, else the CPU, and never fails.
        ``"cuda"`` raises :class:`CudaUnavailableError` when no GPU can be used.
    """
    if not isinstance(device, str) or device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if _simulation_depth > 0 and device != "cpu":
        return Namespace(np, "cuda", simulated=True)
    if device == "cpu":
        return _CPU
    if device == "cuda":
        ok, why = _real_cuda_status()
        if not ok:
            raise CudaUnavailableError(f"device='cuda' was requested but {why}")
        return _cuda_namespace()
    return _cuda_namespace() if cuda_available() else _CPU


def to_numpy(array: Any) -> np.ndarray:
    """A numpy copy (cupy) or view (numpy) of ``array``."""
    if _is_cupy_array(array):
        return array.get()
    return np.asarray(array)


def kernel_array(ns: Namespace, array: Any) -> Any:
    """What numba CUDA kernels take: the numpy array itself under the simulator, a numba view
    of a cupy array on a GPU (made once, so that many launches do not each parse the array
    interface)."""
    if ns.xp is np:
        return array
    from numba import cuda

    return cuda.as_cuda_array(array)


def launch_config(n_items: int, threads_per_block: int = 256) -> tuple[int, int]:
    """``(blocks, threads_per_block)`` for a grid-stride kernel over ``n_items`` work items.

    Under the simulator (about 1 ms per simulated thread) the grid is tiny: the grid-stride
    loops cover the work with a few threads. On a GPU the grid is capped at 32 blocks per SM.
    """
    n_items = max(int(n_items), 1)
    if simulator_enabled():
        return min(2, n_items), min(4, n_items)
    blocks = -(-n_items // threads_per_block)
    return max(1, min(blocks, _sm_count() * 32)), threads_per_block


@functools.lru_cache(maxsize=1)
def _sm_count() -> int:
    from numba import cuda

    return int(cuda.get_current_device().MULTIPROCESSOR_COUNT)


# -- GPU kernel registry ------------------------------------------------------------------------
# Every @cuda.jit kernel is declared through gpu_kernel() with the signatures its launcher uses,
# so that CI can compile each one for sm_90 with compile_ptx (pyhcs._ptx_check) without a GPU.
GPU_KERNELS: list[tuple[str, Callable, tuple[str, ...]]] = []


_shared_allocation_lock = threading.Lock()


def _serialise_simulated_shared_arrays() -> None:
    """Make the numba CUDA simulator's ``cuda.shared.array`` allocation atomic (idempotent).

    The simulator runs every thread of a block as a Python thread; ``cuda.shared.array``
    looks the array up by call site and, when absent, creates and stores it: a check-then-act
    without a lock (numba-cuda 0.30). A thread preempted between the two steps keeps an array
    of its own, so its writes never reach the rest of the block and it reads uninitialised
    memory (the tiled propagation test failed so in one of four full CI runs).
    One process-wide lock around the allocation gives every thread of a block the same array,
    as on a GPU. Simulator only: compiled kernels never reach this code.
    """
    import sys

    from numba.cuda import types
    from numba.cuda.np import numpy_support
    from numba.cuda.simulator import kernelapi

    shared = kernelapi.FakeCUDAShared
    if getattr(shared.array, "_pyhcs_serialised", False):
        return
    allocate = shared.array

    def array(self, shape, dtype, alignment=None):
        if shape == 0 or alignment is not None:  # dynamic shared memory, or the simulator's error
            return allocate(self, shape, dtype, alignment)
        caller = sys._getframe(1)  # one array per call site, as the simulator keys them
        site = (caller.f_code.co_filename, caller.f_lineno)
        if isinstance(dtype, types.Type):
            dtype = numpy_support.as_dtype(dtype)
        with _shared_allocation_lock:
            found = self._allocations.get(site)
            if found is None:
                found = self._allocations[site] = np.empty(shape, dtype)
        return found

    array._pyhcs_serialised = True
    shared.array = array


def gpu_kernel(*signatures: str) -> Callable[[Callable], Any]:
    """Declare a numba CUDA kernel and the signatures its launcher launches it with.

    The decorated function is compiled lazily by ``numba.cuda.jit`` (so every launcher dtype
    normalisation must produce one of ``signatures``) and recorded in :data:`GPU_KERNELS`.
    """

    def decorate(func: Callable) -> Any:
        from numba import cuda

        if simulator_enabled():
            _serialise_simulated_shared_arrays()
        GPU_KERNELS.append((f"{func.__module__}.{func.__qualname__}", func, signatures))
        return cuda.jit(func)

    return decorate


def device_info() -> dict[str, Any]:
    """A JSON-serialisable description of the compiled core and the devices pyhcs can use."""
    info: dict[str, Any] = {"simulator": simulator_enabled()}
    try:
        from . import _core

        info["core"] = dict(_core.build_info)
    except ImportError as exc:  # pragma: no cover - a broken install
        info["core"] = f"not importable: {exc}"
    ok, why = _real_cuda_status()
    info["cuda"] = ok
    if ok:
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(0)
        info["gpu"] = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    else:
        info["cuda_reason"] = why
    return info
