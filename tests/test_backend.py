"""Device detection and dispatch."""

import subprocess
import sys

import numpy as np
import pytest
from numba import cuda, int32  # the simulator swaps module globals named cuda

from pyhcs import _backend
from pyhcs._backend import (
    CudaUnavailableError,
    Namespace,
    cuda_available,
    launch_config,
    namespace_for,
    namespace_for_device,
)
from conftest import REAL_GPU


def test_numpy_in_gives_cpu_namespace():
    ns = namespace_for(np.zeros(3), None, np.ones(2))
    assert ns.xp is np and ns.target == "cpu" and not ns.simulated
    import scipy.ndimage
    import skimage

    assert ns.ndimage is scipy.ndimage
    assert ns.skimage is skimage


def test_cpu_device_always_works():
    assert namespace_for_device("cpu").target == "cpu"


def test_auto_never_fails_and_never_picks_the_simulator():
    ns = namespace_for_device("auto")
    assert not ns.simulated
    assert ns.target == ("cuda" if cuda_available() else "cpu")


@pytest.mark.skipif(REAL_GPU, reason="the simulator is off in the GPU check")
def test_simulator_is_not_a_gpu():
    # numba itself reports CUDA as available under the simulator
    from numba import cuda

    assert _backend.simulator_enabled()
    assert cuda.is_available()
    assert not cuda_available()
    with pytest.raises(CudaUnavailableError, match="simulator"):
        namespace_for_device("cuda")


def test_bad_device_argument():
    with pytest.raises(ValueError, match="device must be"):
        namespace_for_device("gpu")


@pytest.mark.skipif(REAL_GPU, reason="the simulator is off in the GPU check")
def test_private_simulation_switch():
    with _backend._simulate_gpu():
        ns = namespace_for(np.zeros(2))
        assert ns.xp is np and ns.target == "cuda" and ns.simulated
        assert namespace_for_device("auto").simulated
        assert namespace_for_device("cpu").target == "cpu"
    assert namespace_for(np.zeros(2)).target == "cpu"
    assert launch_config(10_000) == (2, 4)


def test_detection_without_cupy_or_gpu_in_a_fresh_process():
    # with the simulator off and no GPU (CI), detection must say why and never raise
    code = (
        "import pyhcs, json; from pyhcs._backend import cuda_available, namespace_for_device;"
        "print(cuda_available(), namespace_for_device('auto').target)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={**__import__("os").environ, "NUMBA_ENABLE_CUDASIM": "0"},
    ).stdout.split()
    assert out[0] in ("True", "False")
    assert out[1] == ("cuda" if out[0] == "True" else "cpu")


def test_simulation_switch_needs_the_simulator_in_a_fresh_process():
    code = (
        "from pyhcs._backend import _simulate_gpu\n"
        "try:\n    _simulate_gpu().__enter__()\nexcept RuntimeError as e:\n    print('refused', e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={**__import__("os").environ, "NUMBA_ENABLE_CUDASIM": "0"},
    ).stdout
    assert out.startswith("refused") and "NUMBA_ENABLE_CUDASIM" in out


def test_mixed_devices_are_refused():
    class FakeCupyArray:
        pass

    FakeCupyArray.__module__ = "cupy._core.core"
    with pytest.raises(TypeError, match="image is a cupy array but labels is not"):
        namespace_for(np.zeros(2), FakeCupyArray(), names=("labels", "image"))


def test_device_info_is_json_serialisable():
    import json

    info = json.loads(json.dumps(_backend.device_info()))
    assert info["core"]["cxx_standard"] >= 201703
    assert "cuda" in info


@pytest.mark.gpu
def test_cupy_in_cupy_out_on_a_real_gpu():
    import cupy

    from pyhcs.features import regionprops_table

    labels = cupy.asarray(np.array([[0, 1, 1], [2, 2, 0]], dtype=np.int32))
    image = cupy.arange(6, dtype=cupy.uint16).reshape(2, 3)
    table = regionprops_table(labels, image, ("label", "area", "intensity_mean"))
    assert all(isinstance(v, cupy.ndarray) for v in table.values())
    assert table["intensity_mean"].get().tolist() == [1.5, 3.5]
    assert namespace_for_device("cuda").xp is cupy
    assert isinstance(namespace_for(labels), Namespace)


@pytest.mark.skipif(REAL_GPU, reason="a property of the numba CUDA simulator")
def test_simulated_shared_arrays_are_one_array_per_block(monkeypatch):
    """Every thread of a simulated block sees the same ``cuda.shared.array``.

    The simulator's own allocation is a lookup then a store without a lock; a slow allocation
    between the two (forced here) made each thread keep a private array, so sums over the block
    came out wrong. pyhcs serialises the allocation whenever it declares a kernel.
    """
    _backend._serialise_simulated_shared_arrays()

    @cuda.jit
    def block_sum(out):
        values = cuda.shared.array(16, int32)
        flags = cuda.shared.array(16, int32)  # a second call site gets its own array
        t = cuda.threadIdx.x
        values[t] = t + 1
        flags[t] = 100
        cuda.syncthreads()
        total = 0
        for i in range(cuda.blockDim.x):
            total += values[i]
        out[cuda.blockIdx.x, t] = total

    real_empty = np.empty

    def slow_empty(*args, **kwargs):
        import time

        time.sleep(0.002)  # a thread switch between the lookup and the store
        return real_empty(*args, **kwargs)

    out = np.zeros((3, 16), np.int64)
    monkeypatch.setattr(np, "empty", slow_empty)
    block_sum[3, 16](out)
    monkeypatch.undo()
    np.testing.assert_array_equal(out, 16 * 17 // 2)
