"""CPU backend of :func:`pyhcs.segmentation.propagate`: the C++ kernel (centrosome's array heap
while seeds remain, then one band queue per connected region of what is left, in parallel)."""

from __future__ import annotations

import numpy as np

from .. import _core


def propagate_cpu(
    image: np.ndarray, labels: np.ndarray, mask: np.ndarray, weight: float, n_threads: int = 0
) -> tuple[np.ndarray, np.ndarray, dict]:
    """centrosome's propagation on normalised numpy inputs.

    Parameters
    ----------
    image : ndarray of float64, shape (H, W)
    labels : ndarray of int32, shape (H, W)
        Seeds (> 0); only those inside ``mask`` propagate.
    mask : ndarray of bool, shape (H, W)
    weight : float
    n_threads : int, default 0
        Threads of the second phase, which runs the connected components of the region left
        after the seeds in parallel (0: OpenMP's default). The result does not depend on it.

    Returns
    -------
    labels_out : ndarray of int32, shape (H, W)
        Propagated labels; labelled pixels outside the mask are still 0 here.
    distances : ndarray of float64, shape (H, W)
        0 at every labelled pixel, -1 where no seed reached, else the geodesic distance.
    info : dict
        ``pushes`` and ``pops`` of the priority queue; ``phase2``, the queue after the seeds
        (``"none"``, ``"band_components"`` or ``"array"``) and ``components``, how many
        regions it ran (in parallel on several threads); ``image_reads``, ``"float32"`` where
        the kernel read the image from a float32 copy (float32 holds every value, so the
        arithmetic is the same) else ``"float64"``.
    """
    labels_out, distances, info = _core.propagate(
        np.ascontiguousarray(image, dtype=np.float64),
        np.ascontiguousarray(labels, dtype=np.int32),
        np.ascontiguousarray(mask).view(np.uint8),
        float(weight),
        int(n_threads),
    )
    return labels_out, distances, dict(info, backend="cpu")
