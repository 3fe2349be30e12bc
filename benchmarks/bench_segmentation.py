"""identify_primary / identify_secondary against CellProfiler's recipe built from the references
(scikit-image thresholds and watershed, centrosome's maxima, hole filling and propagation), on a
synthetic field; the notes give the object F1 at IoU 0.5 against the field's ground truth."""

from __future__ import annotations

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


def _li_threshold(image, correction=1.0):
    from skimage.filters import threshold_li

    data = image.ravel()
    tolerance = max(np.min(np.diff(np.unique(data))) / 2, 0.5 / 65536)
    return min(max(threshold_li(data, tolerance=tolerance) * correction, 0.0), 1.0)


def reference_primary(image_u16, min_size=10, max_size=40):
    """IdentifyPrimaryObjects with NUCLEI_SETTINGS, from centrosome / scipy / scikit-image."""
    from centrosome import cpmorphology
    from scipy import ndimage as ndi
    from skimage.segmentation import watershed

    image = image_u16.astype(np.float64) / 65535
    binary = image >= _li_threshold(image, 1.2)
    binary = cpmorphology.fill_labeled_holes(binary, size_fn=lambda s, fg: s < max_size**2)
    labeled, _ = ndi.label(binary, np.ones((3, 3), bool))
    footprint = cpmorphology.strel_disk(max(1, min_size / 1.5 - 0.5))
    distance = ndi.distance_transform_edt(labeled > 0)
    np.random.seed(0)
    distance += np.random.uniform(0, 0.001, distance.shape)
    maxima = cpmorphology.is_local_maximum(distance, labeled, footprint)
    maxima[distance <= 0] = 0
    markers, _ = ndi.label(cpmorphology.binary_shrink(maxima), np.ones((3, 3), bool))
    surface = -distance
    labeled = watershed(surface - surface.min(), markers, connectivity=np.ones((3, 3), bool),
                        mask=labeled != 0)
    areas = np.bincount(labeled.ravel())[labeled]
    labeled[(areas < np.pi * min_size**2 / 4) | (areas > np.pi * max_size**2 / 4)] = 0
    labeled = cpmorphology.fill_labeled_holes(labeled)
    return cpmorphology.relabel(labeled)[0]


def reference_secondary(image_u16, primary):
    """IdentifySecondaryObjects (propagation, CellProfiler's defaults) from the references."""
    from centrosome import cpmorphology
    from centrosome.propagate import propagate
    from scipy import ndimage as ndi

    image = image_u16.astype(np.float64) / 65535
    binary = image >= _li_threshold(image)
    cells, _ = propagate(image, primary.astype(np.int32), binary, 0.05)
    cells = cpmorphology.fill_labeled_holes(cells, mask=cells == 0)
    lookup = np.array(ndi.maximum(primary, cells, list(range(cells.max() + 1))), int)
    lookup[0] = 0
    cells = lookup[cells]
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
