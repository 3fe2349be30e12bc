"""pyhcs: GPU-accelerated, reference-exact image analysis for high-content screening.

Subpackages
-----------
features
    Per-object and per-image measurements (``regionprops_table``, ...).
datasets
    Synthetic HCS fields and plates with ground truth (``synthetic_field``,
    ``synthetic_plate``).
plate
    Open plates of any common format and read them field by field (``open_plate``).

The array type decides the device: numpy in, numpy out (CPU); cupy in, cupy out (GPU).
"""

import os as _os

# OpenMP threads (numba's parallel kernels, the C++ core) spin while idle by default; on a
# machine whose cores are shared (batch servers, CI, several workers) the spinning threads steal
# the cores the busy ones need and kernels slow down up to tenfold. Sleeping idle threads cost
# a few microseconds per parallel region instead. The user's own setting wins. It takes effect
# only if the OpenMP runtime is not loaded yet (import pyhcs before running numba kernels).
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

from . import datasets, features, plate  # noqa: E402
from ._backend import cuda_available, device_info  # noqa: E402

__all__ = ["__version__", "features", "datasets", "plate", "cuda_available", "device_info"]
