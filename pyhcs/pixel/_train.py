"""Training of the pixel classifier on full masks or sparse scribbles."""

from __future__ import annotations

import math
import numbers
import sys
import time
from typing import Any, Sequence

import numpy as np
import torch
from scipy import ndimage as ndi
from torch.nn import functional as F

from .._backend import to_numpy
from .._validate import check_int
from ._io import save
from ._nets import DenseNet, PatchNet, reflect_pad
from ._predict import _as_batch, _as_patch_net, _resolve_device
from ._predict import _to_tensor, normalize_images

__all__ = ["train", "nuclei_targets", "NUCLEI_CLASSES", "IGNORE"]

#: Default classes of the nuclei model, in output-channel order.
NUCLEI_CLASSES: tuple[str, ...] = ("background", "interior", "boundary")

#: Annotation value of unlabelled pixels (any negative value is ignored).
IGNORE = -1


def nuclei_targets(labels: Any, boundary_width: int = 1) -> np.ndarray:
    """Three-class training targets from a nucleus label image.

    ``0`` background (label 0), ``2`` boundary: object pixels with a pixel of another label
    (background or another nucleus) within ``boundary_width`` pixels (chessboard distance, so
    touching nuclei are separated by boundary on both sides), ``1`` interior: the other object
    pixels.

    Parameters
    ----------
    labels : numpy.ndarray of int, shape (H, W)
        Nucleus labels, 0 is background.
    boundary_width : int, default 1
        Boundary thickness in pixels, >= 1.

    Returns
    -------
    numpy.ndarray of int8, shape (H, W)
        Class per pixel, in :data:`NUCLEI_CLASSES` order.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.zeros((7, 7), np.int32); labels[1:6, 1:6] = 3
    >>> nuclei_targets(labels)[3].tolist()
    [0, 2, 1, 1, 1, 2, 0]
    """
    labels = to_numpy(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be an integer label image, got {labels.dtype} dtype")
    if labels.ndim != 2:
        raise ValueError(f"labels must be 2-D, got shape {labels.shape}")
    if labels.size and labels.min() < 0:
        raise ValueError("labels must be non-negative (0 is background)")
    boundary_width = check_int(boundary_width, "boundary_width", 1)
    size = 2 * boundary_width + 1
    lo = ndi.minimum_filter(labels, size=size, mode="nearest")
    hi = ndi.maximum_filter(labels, size=size, mode="nearest")
    out = np.zeros(labels.shape, np.int8)
    fg = labels > 0
    out[fg] = 2
    out[fg & (lo == labels) & (hi == labels)] = 1
    return out


class _Progress:
    """tqdm when installed, else a line on stderr every ~10 % of the iterations."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled, self.done = total, enabled, 0
        self.bar = None
        self.start = time.perf_counter()
        if enabled:
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=total, desc="train", unit="it")
            except ImportError:
                self.bar = None

    def update(self, loss: float) -> None:
        self.done += 1
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.4f}")
        elif self.done == self.total or self.done % max(1, self.total // 10) == 0:
            rate = self.done / max(time.perf_counter() - self.start, 1e-9)
            print(f"train {self.done}/{self.total} loss {loss:.4f} ({rate:.1f} it/s)",
                  file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _augment(x: torch.Tensor, t: torch.Tensor, rng: np.random.Generator):
    """The same random flip / 90-degree rotation (one of 8) for the windows ``x`` and targets
    ``t`` (both square, centred on each other)."""
    k = int(rng.integers(4))
    if k:
        x, t = torch.rot90(x, k, (-2, -1)), torch.rot90(t, k, (-2, -1))
    if rng.integers(2):
        x, t = torch.flip(x, (-1,)), torch.flip(t, (-1,))
    return x, t


def train(
    images: Any,
    annotations: Any,
    *,
    model: PatchNet | None = None,
    mode: str = "patch",
    iterations: int = 1000,
    batch_size: int | None = None,
    crop: int = 48,
    lr: float = 2e-3,
    weight_decay: float = 1e-4,
    class_weights: str | Sequence[float] | None = "balanced",
    augment: bool = True,
    seed: int = 0,
    device: str = "auto",
    amp: bool = True,
    checkpoint: str | None = None,
    checkpoint_every: int = 500,
    progress: bool = True,
    **model_kwargs: Any,
) -> PatchNet:
    """Train a pixel classifier on fully or sparsely annotated images.

    Every training sample is a window of the whole-image-normalised, reflect-padded image (the
    same preprocessing as :func:`pyhcs.pixel.predict`) and its target pixels. ``mode="patch"``
    feeds ``rf x rf`` patches to the :class:`PatchNet` (one target pixel each);
    ``mode="dense"`` feeds ``(crop + rf - 1)``-sided windows to the dense network, which shares
    the patch net's weights, and scores every pixel of the ``crop x crop`` target. The loss is
    the (weighted) cross-entropy over labelled pixels; Adam with a cosine learning-rate decay.

    Parameters
    ----------
    images : array or sequence of arrays
        ``(H, W)`` or ``(C, H, W)`` images (numpy, cupy or torch), or a sequence of them (sizes
        may differ).
    annotations : int array or sequence of int arrays
        ``(H, W)`` per image: class index ``0 .. n_classes - 1`` per pixel; negative values
        (:data:`IGNORE`) are unlabelled and ignored, so sparse scribbles work as well as full
        masks (see :func:`nuclei_targets`).
    model : PatchNet, optional
        Trained in place and returned; default ``PatchNet(in_channels=C, n_classes=3,
        **model_kwargs)`` (classes :data:`NUCLEI_CLASSES`).
    mode : {"patch", "dense"}
        Train on sampled patches or on dense crops.
    iterations : int, default 1000
        Optimiser steps.
    batch_size : int, optional
        Patches (default 256) or crops (default 8) per step.
    crop : int, default 48
        Target crop side in dense mode (clipped to the smallest image).
    lr, weight_decay : float
        Adam learning rate (cosine-decayed to 5 % over ``iterations``) and weight decay.
    class_weights : "balanced", sequence of float or None
        ``"balanced"``: patch mode samples every present class equally often, dense mode weights
        the loss by inverse class frequency (mean weight 1). A sequence gives explicit loss
        weights per class; None: no balancing.
    augment : bool, default True
        Random flips and 90-degree rotations (the 8 symmetries of the square).
    seed : int, default 0
        The run (initial weights, sampling, augmentation) is deterministic for a seed on a
        given device and thread count.
    device : {"auto", "cpu", "cuda"}
        As in :func:`pyhcs.pixel.predict`.
    amp : bool, default True
        bfloat16 autocast on the GPU (ignored on the CPU).
    checkpoint : str, optional
        Path where the model is saved (:func:`pyhcs.pixel.save`) every ``checkpoint_every``
        iterations and at the end.
    progress : bool, default True
        Show a progress bar (tqdm when installed, else a line on stderr every 10 %).
    **model_kwargs
        Passed to :class:`PatchNet` when ``model`` is None.

    Returns
    -------
    PatchNet
        The trained model, in eval mode, on the CPU, with ``history`` (dict with the per-step
        ``"loss"`` list).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> image = rng.normal(size=(32, 32)).astype(np.float32)
    >>> target = (image > 0).astype(np.int8)
    >>> net = train(image, target, n_classes=2, width=4, iterations=5, progress=False)
    >>> net.n_classes, len(net.history["loss"])
    (2, 5)
    """
    if mode not in ("patch", "dense"):
        raise ValueError(f"mode must be 'patch' or 'dense', got {mode!r}")
    iterations = check_int(iterations, "iterations", 1)
    batch_size = (256 if mode == "patch" else 8) if batch_size is None else batch_size
    batch_size = check_int(batch_size, "batch_size", 1)
    crop = check_int(crop, "crop", 1)
    checkpoint_every = check_int(checkpoint_every, "checkpoint_every", 1)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    for name, value in (("lr", lr), ("weight_decay", weight_decay)):
        if not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")
    compute = _resolve_device(device, None)

    image_list = list(images) if isinstance(images, (list, tuple)) else [images]
    annot_list = list(annotations) if isinstance(annotations, (list, tuple)) else [annotations]
    if len(image_list) != len(annot_list) or not image_list:
        raise ValueError(
            f"images and annotations must be non-empty and of equal length, got "
            f"{len(image_list)} images and {len(annot_list)} annotations"
        )
    first = _to_tensor(image_list[0], "images[0]")
    in_channels = 1 if first.ndim == 2 else int(first.shape[0])
    if model is None:
        model_kwargs.setdefault("n_classes", len(NUCLEI_CLASSES))
        model_kwargs.setdefault("in_channels", in_channels)
        torch.manual_seed(seed)
        model = PatchNet(**model_kwargs)
    elif model_kwargs:
        raise TypeError(f"model_kwargs {sorted(model_kwargs)} given together with a model")
    net = _as_patch_net(model)
    n_classes, rf, a = net.n_classes, net.receptive_field, net.offset
    margin = max(a, rf - 1 - a)  # windows are centred, so augmentation keeps them aligned

    padded, targets = [], []
    for i, (img, ann) in enumerate(zip(image_list, annot_list)):
        x, ndim = _as_batch(_to_tensor(img, f"images[{i}]"), net.in_channels, f"images[{i}]")
        if ndim == 4:
            raise ValueError(f"images[{i}] must be (H, W) or (C, H, W), got shape {tuple(x.shape)}")
        t = _to_tensor(ann, f"annotations[{i}]")
        if t.is_floating_point() or t.dtype == torch.bool:
            raise TypeError(f"annotations[{i}] must be an integer array, got {t.dtype}")
        if tuple(t.shape) != tuple(x.shape[2:]):
            raise ValueError(
                f"annotations[{i}] has shape {tuple(t.shape)} but images[{i}] is "
                f"{tuple(x.shape[2:])} (H, W); they must be equal"
            )
        t = t.to(torch.int64)
        if t.numel() and int(t.max()) >= n_classes:
            raise ValueError(
                f"annotations[{i}] has class {int(t.max())} but the model has {n_classes} "
                f"classes (0 .. {n_classes - 1}; negative = unlabelled)"
            )
        x = normalize_images(x, net.normalization)
        padded.append(reflect_pad(x, margin, margin, margin, margin)[0])
        targets.append(torch.where(t < 0, torch.full_like(t, IGNORE), t))

    counts = torch.zeros(n_classes, dtype=torch.float64)
    for t in targets:
        counts += torch.bincount(t[t >= 0].flatten(), minlength=n_classes).double()
    if counts.sum() == 0:
        raise ValueError("annotations has no labelled pixel (all negative)")
    present = (counts > 0).nonzero().flatten()
    loss_weights = None
    if isinstance(class_weights, str):
        if class_weights != "balanced":
            raise ValueError(f"class_weights must be 'balanced', a sequence or None, got "
                             f"{class_weights!r}")
        if mode == "dense":
            wts = torch.zeros(n_classes, dtype=torch.float64)
            wts[present] = 1.0 / counts[present]
            loss_weights = (wts / wts[present].mean()).float()
    elif class_weights is not None:
        loss_weights = torch.as_tensor(np.asarray(class_weights, dtype=np.float32))
        if loss_weights.shape != (n_classes,) or not bool((loss_weights >= 0).all()):
            raise ValueError(f"class_weights must be {n_classes} non-negative numbers, got "
                             f"{class_weights!r}")
    if loss_weights is not None:
        loss_weights = loss_weights.to(compute)

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    if mode == "patch":
        # labelled pixels per class: (image index, flat index)
        pools = []
        for c in range(n_classes):
            idx = [(i, (t.flatten() == c).nonzero().flatten().numpy()) for i, t in enumerate(targets)]
            pools.append((np.concatenate([np.full(len(f), i) for i, f in idx]),
                          np.concatenate([f for _, f in idx])))
        balanced = class_weights == "balanced"
        all_pixels = (np.concatenate([p[0] for p in pools]), np.concatenate([p[1] for p in pools]))
    else:
        sizes = np.array([t.numel() for t in targets], dtype=np.float64)
        crop = min([crop] + [min(t.shape) for t in targets])

    net.to(compute).train()
    dense = DenseNet(net)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * s / iterations))
    )
    use_amp = amp and compute.type == "cuda"
    history: list[float] = []
    bar = _Progress(iterations, progress)
    try:
        for step in range(iterations):
            windows, window_targets = [], []
            if mode == "patch":
                side = 1
                if balanced:
                    classes = rng.choice(present.numpy(), size=batch_size)
                    picks = [(pools[c][0], pools[c][1], rng.integers(len(pools[c][1])))
                             for c in classes]
                    picks = [(im[j], flat[j]) for im, flat, j in picks]
                else:
                    js = rng.integers(len(all_pixels[0]), size=batch_size)
                    picks = [(all_pixels[0][j], all_pixels[1][j]) for j in js]
                locations = []
                for i, flat in picks:
                    w = targets[i].shape[1]
                    locations.append((int(i), int(flat) // w, int(flat) % w))
            else:
                side = crop
                locations = []
                for _ in range(batch_size):
                    i = int(rng.choice(len(targets), p=sizes / sizes.sum()))
                    h, w = targets[i].shape
                    locations.append((i, int(rng.integers(h - crop + 1)),
                                      int(rng.integers(w - crop + 1))))
            for i, y, x in locations:
                win = padded[i][:, y : y + side + 2 * margin, x : x + side + 2 * margin]
                tgt = targets[i][y : y + side, x : x + side]
                if augment:
                    win, tgt = _augment(win, tgt, rng)
                lo = margin - a
                windows.append(win[:, lo : lo + side + rf - 1, lo : lo + side + rf - 1])
                window_targets.append(tgt)
            xb = torch.stack(windows).to(compute)
            tb = torch.stack(window_targets).to(compute)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
                if mode == "patch":
                    logits = net(xb)
                    tb = tb.reshape(-1)
                else:
                    logits = dense.core(xb)
                loss = F.cross_entropy(logits.float(), tb, weight=loss_weights,
                                       ignore_index=IGNORE)
            optimizer.zero_grad(set_to_none=True)
            if bool((tb >= 0).any()):
                loss.backward()
                optimizer.step()
            schedule.step()
            history.append(float(loss.detach()))
            bar.update(history[-1])
            if checkpoint is not None and (step + 1) % checkpoint_every == 0:
                save(net, checkpoint)
    finally:
        bar.close()
    net.eval().cpu()
    if checkpoint is not None:
        save(net, checkpoint)
    net.history = {"loss": history}
    return net
