"""Object-level agreement of two label images: matches at an IoU threshold, precision, recall, F1.

Used by the tests and the benchmarks to score segmentations against ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._backend import to_numpy

__all__ = ["MatchScore", "match_objects"]


@dataclass(frozen=True)
class MatchScore:
    """Counts and scores of :func:`match_objects`."""

    n_true: int
    n_pred: int
    true_positives: int
    mean_iou: float  # over the matched pairs (nan when none)

    @property
    def precision(self) -> float:
        return self.true_positives / self.n_pred if self.n_pred else float("nan")

    @property
    def recall(self) -> float:
        return self.true_positives / self.n_true if self.n_true else float("nan")

    @property
    def f1(self) -> float:
        denominator = self.n_true + self.n_pred
        return 2.0 * self.true_positives / denominator if denominator else float("nan")


def match_objects(truth, pred, threshold: float = 0.5) -> MatchScore:
    """Match objects of two label images by intersection over union.

    A true object and a predicted one match when their IoU exceeds ``threshold``; for
    ``threshold >= 0.5`` every object has at most one match, so no assignment is needed.
    Overlaps come from :func:`skimage.metrics.contingency_table`.

    Parameters
    ----------
    truth, pred : ndarray of int, same shape
        Label images, 0 = background.
    threshold : float, default 0.5
        IoU threshold, at least 0.5.

    Returns
    -------
    MatchScore
        ``f1 = 2 TP / (n_true + n_pred)``, precision, recall, mean IoU of the matches.

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.array([[1, 1, 0, 2, 2]])
    >>> pred = np.array([[3, 3, 0, 0, 4]])
    >>> score = match_objects(truth, pred)
    >>> score.true_positives, score.f1
    (1, 0.5)
    """
    from skimage.metrics import contingency_table

    if threshold < 0.5:
        raise ValueError(f"threshold must be >= 0.5 for one-to-one matches, got {threshold}")
    truth = to_numpy(truth).astype(np.int64, copy=False)
    pred = to_numpy(pred).astype(np.int64, copy=False)
    if truth.shape != pred.shape:
        raise ValueError(f"truth has shape {truth.shape} but pred has shape {pred.shape}")
    true_ids = np.unique(truth[truth > 0])
    pred_ids = np.unique(pred[pred > 0])
    table = contingency_table(truth, pred).tocoo()
    rows, cols, inter = table.row, table.col, table.data.astype(np.float64)
    keep = (rows > 0) & (cols > 0)
    rows, cols, inter = rows[keep], cols[keep], inter[keep]
    true_area = np.bincount(truth.ravel())
    pred_area = np.bincount(pred.ravel())
    iou = inter / (true_area[rows] + pred_area[cols] - inter)
    matched = iou > threshold
    n_matched = int(matched.sum())
    return MatchScore(
        n_true=int(true_ids.size),
        n_pred=int(pred_ids.size),
        true_positives=n_matched,
        mean_iou=float(iou[matched].mean()) if n_matched else float("nan"),
    )
