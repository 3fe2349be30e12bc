"""Per-object and per-image measurements.

numpy in -> CPU kernels, numpy out; cupy in -> GPU kernels, cupy out.
"""

from ._objects import ObjectIndex
from .geometry import convex_hull, minimum_enclosing_circle
from .granularity import GranularityArrays, GranularitySpectrum, granularity, granularity_spectrum
from .hog import hog, hog_feature_size, hog_objects, hog_objects_array
from .intensity import INTENSITY_FEATURES, IntensityArrays, intensity, intensity_array
from .neighbors import NeighborsArrays, neighbors, neighbors_array
from .regionprops import PROPERTIES, regionprops_table
from .size_shape import (
    ADVANCED_FEATURES,
    SIZE_SHAPE_FEATURES,
    location,
    size_shape,
    size_shape_array,
)
from .texture import (
    HARALICK_FEATURES,
    glcm,
    glcm_props,
    haralick,
    haralick_array,
    quantize_gray_levels,
)
from .zernike import zernike, zernike_array, zernike_indexes, zernike_moments

__all__ = [
    "ObjectIndex", "regionprops_table", "PROPERTIES", "minimum_enclosing_circle", "convex_hull",
    "glcm", "glcm_props", "haralick", "haralick_array", "quantize_gray_levels", "HARALICK_FEATURES",
    "zernike", "zernike_array", "zernike_indexes", "zernike_moments",
    "hog", "hog_objects", "hog_objects_array", "hog_feature_size",
    "size_shape", "size_shape_array", "location", "SIZE_SHAPE_FEATURES", "ADVANCED_FEATURES",
    "intensity", "intensity_array", "IntensityArrays", "INTENSITY_FEATURES",
    "neighbors", "neighbors_array", "NeighborsArrays",
    "granularity", "granularity_spectrum", "GranularitySpectrum", "GranularityArrays",
]
