"""Test configuration: the GPU path runs everywhere.

By default the numba CUDA simulator is switched on (by the root conftest.py, before numba is
first imported), and tests marked ``cudasim`` run the GPU launchers on numpy arrays through
``pyhcs._backend._simulate_gpu``. With ``PYHCS_TEST_REAL_GPU=1`` (set by
``benchmarks/gpu_check.sh``) the simulator stays off and the same tests run the GPU launchers
on cupy arrays on the real GPU. Tests marked ``gpu`` need a real GPU and are skipped otherwise.
"""

import os

# The root conftest.py switches the simulator on or off before numba can be imported.
REAL_GPU = os.environ.get("PYHCS_TEST_REAL_GPU", "0") == "1"

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def require_reference(module_name: str):
    """Import a reference package (mahotas, centrosome, cp_measure, ...) for parity tests.

    In CI the references are installed and a missing one is an error, never a skip. The GPU
    check machine has none of them (only scikit-image): there, and only there, a test module
    that needs one is skipped, since its GPU tests compare with pyhcs's own CPU path.
    """
    import importlib

    if REAL_GPU:
        return pytest.importorskip(module_name)
    return importlib.import_module(module_name)


def _to_device(value, cupy):
    if isinstance(value, np.ndarray):
        return cupy.asarray(value)
    return value


def _to_host(value):
    from pyhcs._backend import to_numpy

    if isinstance(value, dict):
        return {key: _to_host(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_to_host(item) for item in value)
    if type(value).__module__.split(".")[0] == "cupy":
        return to_numpy(value)
    if hasattr(value, "to_numpy") and hasattr(value, "index"):  # pandas objects stay as they are
        return value
    return value


@pytest.fixture
def installed_numpy_ties(monkeypatch):
    """Break the circles' exact ties in the installed numpy's sort order.

    pyhcs follows CellProfiler 5, whose numpy 1.26 orders equal values differently from numpy
    2; centrosome, cp_measure and mahotas run here on the installed numpy, so parity tests
    against them use its order (``tests/features/test_legacy_argsort.py`` checks the default
    against numpy 1.26 and CellProfiler 5's circles).
    """
    from pyhcs.features import geometry

    monkeypatch.setattr(geometry, "_reference_argsort", lambda values: values.argsort())


@pytest.fixture(autouse=True)
def _short_switch_interval(request):
    """Under the simulator, a short thread switch interval for ``cudasim`` tests.

    The simulator runs each block's threads as Python threads, and its scheduler busy-polls
    them under the GIL; a short switch interval makes every ``syncthreads`` about 4x cheaper.
    """
    if REAL_GPU or request.node.get_closest_marker("cudasim") is None:
        yield
        return
    import sys

    old = sys.getswitchinterval()
    sys.setswitchinterval(2e-4)
    yield
    sys.setswitchinterval(old)


@pytest.fixture
def gpu_path():
    """Call a public function through its GPU launcher; numpy in, numpy out.

    ``gpu_path(fn, *args, **kwargs)`` runs ``fn`` on the simulated GPU (numpy arrays) or, in
    the GPU check, on the real GPU (numpy arguments moved to cupy, results moved back).
    """
    if REAL_GPU:
        import cupy

        def call(fn, *args, **kwargs):
            args = [_to_device(a, cupy) for a in args]
            kwargs = {k: _to_device(v, cupy) for k, v in kwargs.items()}
            return _to_host(fn(*args, **kwargs))

    else:
        from pyhcs._backend import _simulate_gpu

        def call(fn, *args, **kwargs):
            with _simulate_gpu():
                return fn(*args, **kwargs)

    return call


def pytest_collection_modifyitems(config, items):
    from pyhcs._backend import cuda_available

    if cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a real CUDA GPU (run benchmarks/gpu_check.sh there)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


# Shared case generators (tests/cases.py) are importable from every test folder.
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
