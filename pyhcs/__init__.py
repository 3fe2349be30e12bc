"""pyhcs: GPU-accelerated, reference-exact image analysis for high-content screening.

Subpackages
-----------
features
    Per-object and per-image measurements (``regionprops_table``, ...).
datasets
    Synthetic HCS fields with ground truth (``synthetic_field``).

The array type decides the device: numpy in, numpy out (CPU); cupy in, cupy out (GPU).
"""

__version__ = "0.1.0"

from . import datasets, features  # noqa: E402
from ._backend import cuda_available, device_info  # noqa: E402

__all__ = ["__version__", "features", "datasets", "cuda_available", "device_info"]
