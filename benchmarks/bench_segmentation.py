"""identify_primary / identify_secondary against CellProfiler's recipe built from the references
(scikit-image thresholds and watershed, centrosome's maxima, hole filling and propagation), on a
synthetic field; the notes give the object F1 at IoU 0.5 against the field's ground truth."""

from __future__ import annotations

import bench_pipeline
import numpy as np
from harness import Case, on_device

#: identify_primary settings for the synthetic fields' clustered, textured nuclei (also used by
#: tests/segmentation/test_identify.py): shape-based declumping and dividing lines (intensity
#: declumping splits textured nuclei), no threshold smoothing and a slightly stricter threshold
#: (the blurred foreground bridges touching nuclei).
NUCLEI_SETTINGS = dict(
    declump="shape",
    watershed_method="shape",
    threshold_smoothing_scale=0.0,
    threshold_correction_factor=1.2,
    exclude_border=False,
)


def reference_primary(image_u16, min_size=10, max_size=40):
    """IdentifyPrimaryObjects with NUCLEI_SETTINGS, from centrosome / scipy / scikit-image
    (the pipeline benchmark's recipe, on the image scaled to [0, 1] in float64)."""
    return bench_pipeline.reference_primary(image_u16.astype(np.float64) / 65535, min_size,
                                            max_size)


def reference_secondary(image_u16, primary):
    """IdentifySecondaryObjects (propagation, CellProfiler's defaults) from the references;
    the cytoplasm here is the cells minus the nuclei."""
    image = image_u16.astype(np.float64) / 65535
    cells, _ = bench_pipeline.reference_secondary(image, primary.astype(np.int32))
    return primary, cells, np.where(primary > 0, 0, cells)


def cases(field, device: str) -> list[Case]:
    """``field`` is a pyhcs.datasets.SyntheticField (2048x2048, ~2,000 nuclei by default)."""
    from pyhcs._backend import to_numpy
    from pyhcs.segmentation import identify_primary, identify_secondary
    from pyhcs.segmentation._matching import match_objects

    dna, actin = field.image[0], field.image[1]
    d_dna, d_actin = on_device(device, dna, actin)
    nuclei = to_numpy(identify_primary(d_dna, **NUCLEI_SETTINGS))
    (d_nuclei,) = on_device(device, nuclei)
    _, cells, _ = identify_secondary(d_actin, d_nuclei)
    nucleus_score = match_objects(field.nuclei, nuclei)
    cell_score = match_objects(field.cells, to_numpy(cells))
    size = "x".join(map(str, dna.shape))
    note_primary = (
        f"nuclei vs ground truth ({size}, {nucleus_score.n_true} nuclei): F1@0.5 "
        f"{nucleus_score.f1:.3f}, precision {nucleus_score.precision:.3f}, recall "
        f"{nucleus_score.recall:.3f}, mean IoU {nucleus_score.mean_iou:.3f}"
    )
    try:
        reference_score = match_objects(field.nuclei, reference_primary(dna))
        note_primary += f"; CellProfiler recipe with centrosome: F1 {reference_score.f1:.3f}"
    except ImportError:
        pass
    note_secondary = (
        f"cells (propagation) vs ground truth: F1@0.5 {cell_score.f1:.3f}, precision "
        f"{cell_score.precision:.3f}, recall {cell_score.recall:.3f}, mean IoU "
        f"{cell_score.mean_iou:.3f}"
    )
    return [
        Case(
            family="segmentation",
            name=f"identify_primary (shape declump), {size}",
            pyhcs=lambda: identify_primary(d_dna, **NUCLEI_SETTINGS),
            reference=lambda: reference_primary(dna),
            reference_name="centrosome+skimage recipe",
            device=device,
            repeat=3,
            warmup=1,
            note=note_primary,
        ),
        Case(
            family="segmentation",
            name=f"identify_secondary (propagation), {size}",
            pyhcs=lambda: identify_secondary(d_actin, d_nuclei),
            reference=lambda: reference_secondary(actin, nuclei),
            reference_name="centrosome+skimage recipe",
            device=device,
            repeat=3,
            warmup=1,
            note=note_secondary,
        ),
    ]
