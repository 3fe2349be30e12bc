"""hog / hog_objects against skimage.feature.hog on a synthetic field."""

from __future__ import annotations

import numpy as np
from harness import Case


class _Throughput:
    """A note filled in after timing: images per second for pyhcs and for the reference."""

    def __init__(self, n_images: int):
        self.n_images = n_images
        self.case: Case | None = None

    def __str__(self) -> str:
        case = self.case
        if case is None or case.pyhcs_s != case.pyhcs_s:
            return ""
        text = f"throughput: pyhcs {self.n_images / case.pyhcs_s:,.0f} images/s"
        if case.reference_s == case.reference_s:
            text += f", skimage {self.n_images / case.reference_s:,.1f} images/s"
        return text

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def _with_throughput(case: Case, n_images: int) -> Case:
    note = _Throughput(n_images)
    note.case = case
    case.note = note  # type: ignore[assignment]
    return case


def cases(field, device: str) -> list[Case]:
    """``field`` is a pyhcs.datasets.SyntheticField (2048x2048 uint16 DNA channel first)."""
    from skimage.feature import hog as skimage_hog

    from pyhcs.features import hog, hog_objects, hog_objects_array, regionprops_table

    image = field.image[0]
    labels = field.nuclei
    n_nuclei = int(labels.max())
    height, width = image.shape
    if device == "cuda":
        # eight full fields per launch on the GPU
        stack = np.stack([image, field.image[1], image[::-1], field.image[1][:, ::-1]] * 2)
    else:
        tile = min(256, height, width)
        stack = np.stack(
            [
                image[r : r + tile, c : c + tile]
                for r in range(0, height - tile + 1, tile)
                for c in range(0, width - tile + 1, tile)
            ][:64]
        )

    if device == "cuda":
        import cupy

        image_on, stack_on = cupy.asarray(image), cupy.asarray(stack)
        labels_on = cupy.asarray(labels)
    else:
        image_on, stack_on, labels_on = image, stack, labels

    # the reference loop times one crop and one skimage hog per object (centroids given)
    table = regionprops_table(labels, properties=("centroid",))
    starts = np.stack(
        [np.floor(table["centroid-0"] + 0.5), np.floor(table["centroid-1"] + 0.5)], axis=1
    ).astype(np.int64) + 32
    padded = np.pad(image, 64)

    def skimage_objects():
        return [skimage_hog(padded[r : r + 64, c : c + 64]) for r, c in starts]

    def pyhcs_objects():
        if device == "cuda":  # the array form keeps the result on the GPU
            return hog_objects_array(image_on, labels_on, 64)
        return hog_objects(image_on, labels_on, 64)

    n_batch = stack.shape[0]
    batch_shape = "x".join(str(s) for s in stack.shape[1:])
    return [
        Case(
            family="hog",
            name=f"{height}x{width} uint16, 9 orient, 8x8 cells, 3x3 blocks",
            pyhcs=lambda: hog(image_on),
            reference=lambda: skimage_hog(image),
            reference_name="skimage hog",
            device=device,
            repeat=5,
        ),
        _with_throughput(
            Case(
                family="hog",
                name=f"batch of {n_batch} x {batch_shape} uint16 (one launch)",
                pyhcs=lambda: hog(stack_on, batch=True),
                # on the GPU the batch holds full fields: the first case times skimage on one
                reference=(lambda: [skimage_hog(im) for im in stack]) if device == "cpu" else None,
                reference_name="skimage hog, loop" if device == "cpu" else "",
                device=device,
                repeat=3,
            ),
            n_batch,
        ),
        Case(
            family="hog",
            name=f"hog_objects, {n_nuclei} nuclei, 64x64 crops",
            pyhcs=pyhcs_objects,
            reference=skimage_objects,
            reference_name="skimage hog, loop",
            device=device,
            repeat=3,
        ),
    ]
