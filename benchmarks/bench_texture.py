"""Haralick texture against cp_measure get_texture, and glcm against skimage graycomatrix."""

from __future__ import annotations

import warnings

import numpy as np
from harness import Case, on_device


def cases(field, device: str) -> list[Case]:
    """``field`` is a pyhcs.datasets.SyntheticField (2048x2048, ~2,000 nuclei by default)."""
    from pyhcs.features import glcm, haralick_array

    labels, image = field.nuclei, field.image[0]
    n = int(labels.max())
    labels_on, image_on = on_device(device, labels, image)

    # CellProfiler pipelines often stretch the image to [0, 1] first (RescaleIntensity): the
    # objects then span many gray levels, which costs the dense reference far more.
    stretched = image / float(image.max())
    (stretched_on,) = on_device(device, stretched)

    def reference_texture(pixels):
        from cp_measure.core.measuretexture import get_texture

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return get_texture(labels, pixels, scale=3, gray_levels=256)

    crop = np.ascontiguousarray((image[:1024, :1024] >> 8).astype(np.uint8))
    (crop_on,) = on_device(device, crop)
    angles = [0, np.pi / 4, np.pi / 2, 3 * np.pi / 4]

    def reference_glcm():
        from skimage.feature import graycomatrix

        return graycomatrix(crop, [1, 3], angles, levels=256, symmetric=True)

    def reference_whole_image():
        import mahotas
        from skimage.util import img_as_ubyte

        return mahotas.features.haralick(img_as_ubyte(image), distance=1)

    return [
        Case(
            family="texture",
            name=f"haralick whole image {image.shape[0]}x{image.shape[1]} uint16, distance 1",
            pyhcs=lambda: haralick_array(image_on, scale=1, gray_levels=256),
            reference=reference_whole_image,
            reference_name="mahotas haralick(img_as_ubyte)",
            device=device,
            repeat=5,
        ),
        Case(
            family="texture",
            name=f"haralick {labels.shape[0]}x{labels.shape[1]} uint16, {n} nuclei, scale 3",
            pyhcs=lambda: haralick_array(image_on, labels_on, scale=3, gray_levels=256),
            reference=lambda: reference_texture(image),
            reference_name="cp_measure get_texture",
            device=device,
            repeat=5,
        ),
        Case(
            family="texture",
            name=f"haralick same field stretched to [0, 1], {n} nuclei",
            pyhcs=lambda: haralick_array(stretched_on, labels_on, scale=3, gray_levels=256),
            reference=lambda: reference_texture(stretched),
            reference_name="cp_measure get_texture",
            device=device,
            repeat=5,
        ),
        Case(
            family="texture",
            name="glcm 1024x1024 uint8, 2 distances x 4 angles",
            pyhcs=lambda: glcm(crop_on, [1, 3], angles, levels=256, symmetric=True),
            reference=reference_glcm,
            reference_name="skimage graycomatrix",
            device=device,
        ),
    ]
