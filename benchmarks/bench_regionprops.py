"""regionprops_table against skimage.measure.regionprops_table on a synthetic field."""

from __future__ import annotations

from harness import Case, on_device

PROPERTIES = (
    "label", "area", "centroid", "bbox", "intensity_mean", "intensity_min", "intensity_max",
)


def cases(field, device: str) -> list[Case]:
    """``field`` is a pyhcs.datasets.SyntheticField (2048x2048, ~2,000 nuclei by default)."""
    from skimage.measure import regionprops_table as skimage_regionprops_table

    from pyhcs.features import regionprops_table

    labels, image = field.nuclei, field.image[0]
    n = int(labels.max())
    labels_on, image_on = on_device(device, labels, image)
    return [
        Case(
            family="regionprops",
            name=f"{labels.shape[0]}x{labels.shape[1]}, {n} nuclei, 7 properties",
            pyhcs=lambda: regionprops_table(labels_on, image_on, PROPERTIES),
            reference=lambda: skimage_regionprops_table(labels, image, properties=PROPERTIES),
            reference_name="skimage regionprops_table",
            device=device,
        )
    ]
