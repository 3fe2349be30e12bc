"""Per-object and per-image measurements.

numpy in -> CPU kernels, numpy out; cupy in -> GPU kernels, cupy out.
"""

from .geometry import convex_hull, minimum_enclosing_circle
from .regionprops import PROPERTIES, regionprops_table
from .texture import HARALICK_FEATURES, glcm, glcm_props, haralick, haralick_array, quantize_gray_levels

__all__ = [
    "regionprops_table", "PROPERTIES", "minimum_enclosing_circle", "convex_hull",
    "glcm", "glcm_props", "haralick", "haralick_array", "quantize_gray_levels", "HARALICK_FEATURES",
]
