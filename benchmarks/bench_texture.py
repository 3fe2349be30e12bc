"""Haralick texture against cp_measure get_texture (default and numba backends), and glcm
against skimage graycomatrix."""

from __future__ import annotations

import warnings

import numpy as np
from harness import Case, on_device


def _cp_measure_texture(labels, image, accelerator):
    """cp_measure's texture function as its accelerator dispatches it (scale 3, 256 levels).

    The previous accelerator is restored afterwards.
    """
    import cp_measure
    from cp_measure.bulk import get_core_measurements

    previous = cp_measure._ACCELERATOR
    cp_measure.set_accelerator(accelerator)
    try:
        get_texture = get_core_measurements()["texture"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return get_texture(labels, image, scale=3, gray_levels=256)
    finally:
        cp_measure.set_accelerator(previous)


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

    # the image as CellProfiler loads it: uint16 / 65535 in float32
    as_float32 = (image.astype(np.float32) / np.float32(65535.0)).astype(np.float32)
    per_object = []
    for compartment, compartment_labels in (("nuclei", field.nuclei), ("cells", field.cells)):
        n_objects = int(compartment_labels.max())
        (compartment_on,) = on_device(device, compartment_labels)
        for pixels in (image, as_float32):
            (pixels_on,) = on_device(device, pixels)
            for accelerator in (None, "numba"):
                per_object.append(Case(
                    family="texture",
                    name=f"haralick {pixels.dtype}, {n_objects} {compartment}, scale 3",
                    pyhcs=lambda labels_on=compartment_on, pixels_on=pixels_on: haralick_array(
                        pixels_on, labels_on, scale=3, gray_levels=256),
                    reference=lambda labels=compartment_labels, pixels=pixels,
                    accelerator=accelerator: _cp_measure_texture(labels, pixels, accelerator),
                    reference_name=f"cp_measure texture ({accelerator or 'default'})",
                    device=device,
                    repeat=5,
                ))

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
            name=f"haralick same field stretched to [0, 1], {n} nuclei",
            pyhcs=lambda: haralick_array(stretched_on, labels_on, scale=3, gray_levels=256),
            reference=lambda: reference_texture(stretched),
            reference_name="cp_measure get_texture",
            device=device,
            repeat=5,
        ),
        *per_object,
        Case(
            family="texture",
            name="glcm 1024x1024 uint8, 2 distances x 4 angles",
            pyhcs=lambda: glcm(crop_on, [1, 3], angles, levels=256, symmetric=True),
            reference=reference_glcm,
            reference_name="skimage graycomatrix",
            device=device,
        ),
    ]
