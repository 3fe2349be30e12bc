"""Zernike moments against cp_measure (CellProfiler) on a synthetic field."""

from __future__ import annotations

from harness import Case, on_device


def cases(field, device: str) -> list[Case]:
    """``field`` is a pyhcs.datasets.SyntheticField (2048x2048, ~2,000 nuclei by default).

    Both sides compute everything from the label image, the minimum enclosing circles included.
    """
    from pyhcs.features import zernike

    try:
        from cp_measure.core.measureobjectintensitydistribution import get_radial_zernikes
        from cp_measure.core.measureobjectsizeshape import get_zernike
    except ImportError:  # the GPU check machine has no references: pyhcs timings only
        get_zernike = get_radial_zernikes = None

    labels, image = field.nuclei, field.image[0]  # nuclei are labelled 1..N, as cp_measure needs
    n = int(labels.max())
    labels_on, image_on = on_device(device, labels, image)
    size = f"{labels.shape[0]}x{labels.shape[1]}, {n} nuclei"
    return [
        Case(
            family="zernike",
            name=f"{size}, shape, degree 9",
            pyhcs=lambda: zernike(labels_on),
            reference=(lambda: get_zernike(labels, image)) if get_zernike else None,
            reference_name="cp_measure get_zernike",
            device=device,
        ),
        Case(
            family="zernike",
            name=f"{size}, shape + intensity, degree 9",
            pyhcs=lambda: zernike(labels_on, image=image_on, image_name="DNA"),
            reference=(
                (lambda: (get_zernike(labels, image), get_radial_zernikes(labels, image)))
                if get_zernike
                else None
            ),
            reference_name="cp_measure zernike+radial",
            device=device,
        ),
    ]
