"""Geodesic propagation of the nuclei into cells against centrosome.propagate.

The inputs are those of CellProfiler IdentifySecondaryObjects on the synthetic field: the Actin
channel scaled to [0, 1], the nuclei as seeds, the mask thresholded by minimum cross-entropy
(skimage's threshold_li, outside the timing) and the default regularization 0.05.
"""

from __future__ import annotations

from harness import Case, on_device


def cases(field, device: str) -> list[Case]:
    """``field`` is a pyhcs.datasets.SyntheticField (2048x2048, ~2,000 nuclei by default)."""
    from skimage.filters import threshold_li

    from pyhcs.segmentation import propagate
    from pyhcs.segmentation.propagate import _propagate

    image = field.image[1] / 65535.0
    mask = image > threshold_li(image)
    seeds = field.nuclei
    n_seeds = int(seeds.max())
    size = "x".join(map(str, image.shape))

    def reference():
        from centrosome.propagate import propagate as centrosome_propagate

        return centrosome_propagate(image, seeds, mask, 0.05)

    if device == "cpu":
        return [
            Case(
                family="propagate",
                name=f"propagate {size}, {n_seeds} seeds, weight 0.05 (C++ queue)",
                pyhcs=lambda: propagate(image, seeds, mask, 0.05),
                reference=reference,
                reference_name="centrosome",
                device="cpu",
                repeat=3,
                warmup=1,
            )
        ]

    image_d, seeds_d, mask_d = on_device(device, image, seeds, mask)
    result = []
    for exact in (False, True):
        _, _, info = _propagate(image_d, seeds_d, mask_d, 0.05, exact=exact)
        note = ", ".join(f"{k}={info[k]}" for k in ("flagged", "fell_back") if k in info)
        result.append(
            Case(
                family="propagate",
                name=f"propagate {size}, {n_seeds} seeds, exact={exact}",
                pyhcs=lambda exact=exact: propagate(image_d, seeds_d, mask_d, 0.05, exact=exact),
                reference=reference,
                reference_name="centrosome (CPU)",
                device=device,
                repeat=5,
                warmup=1,
                note=note,
            )
        )
    return result
