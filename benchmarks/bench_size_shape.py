"""size_shape (MeasureObjectSizeShape) against cp_measure get_sizeshape + get_feret."""

from __future__ import annotations

import warnings

from harness import Case, on_device


def cases(field, device: str) -> list[Case]:
    """``field`` is a pyhcs.datasets.SyntheticField (2048x2048, ~2,000 nuclei by default)."""
    from pyhcs.features import ObjectIndex, size_shape_array

    result = []
    for compartment, labels in (("nuclei", field.nuclei), ("cells", field.cells)):
        n = int(labels.max())
        (labels_on,) = on_device(device, labels)

        def reference(labels=labels, advanced=False):
            from cp_measure.core.measureobjectsizeshape import get_feret, get_sizeshape

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                get_sizeshape(labels, None, calculate_advanced=advanced, new_features=False)
                return get_feret(labels, None)

        def ours(labels_on=labels_on, advanced=False):
            # a fresh index each call: the object grouping is part of the measured time
            return size_shape_array(ObjectIndex(labels_on), advanced=advanced)

        for advanced in (False, True):
            what = "all AreaShape features + moments" if advanced else "AreaShape + Feret"
            result.append(Case(
                family="size_shape",
                name=f"{labels.shape[0]}x{labels.shape[1]}, {n} {compartment}, {what}",
                pyhcs=lambda ours=ours, advanced=advanced: ours(advanced=advanced),
                reference=lambda reference=reference, advanced=advanced: reference(
                    advanced=advanced),
                reference_name="cp_measure get_sizeshape + get_feret",
                device=device,
                repeat=3,
                warmup=1,
            ))
    return result
