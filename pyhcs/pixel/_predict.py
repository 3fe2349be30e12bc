"""Whole-field inference: per-pixel class probabilities with a tiled dense network."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from .._backend import CudaUnavailableError, cuda_available, namespace_for_device
from .._validate import check_int
from ._nets import DenseNet, PatchNet, reflect_pad

__all__ = ["predict"]


# -- input handling -----------------------------------------------------------------------------


def _is_cupy(array: Any) -> bool:
    return type(array).__module__.split(".")[0] == "cupy"


def _as_patch_net(model: Any, name: str = "model") -> PatchNet:
    if isinstance(model, DenseNet):
        return model.patch_net
    if isinstance(model, PatchNet):
        return model
    raise TypeError(f"{name} must be a PatchNet or DenseNet, got {type(model).__name__}")


def _resolve_device(device: Any, images: Any) -> torch.device:
    """The torch device to compute on (see :func:`predict`)."""
    if not isinstance(device, str) or device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if isinstance(images, torch.Tensor) and images.device.type == "cuda" and device != "cpu":
        return images.device
    if _is_cupy(images):
        if device == "cpu":
            raise ValueError(
                "images is a cupy array but device='cpu'; pass cupy.asnumpy(images) to compute "
                "on the CPU"
            )
        return torch.device("cuda", images.device.id)
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda":
        namespace_for_device("cuda")  # raises CudaUnavailableError with the reason
        if not torch.cuda.is_available():
            raise CudaUnavailableError(
                "device='cuda' was requested but this torch build cannot use CUDA "
                f"(torch {torch.__version__})"
            )
        return torch.device("cuda")
    # "auto": never fails
    if cuda_available() and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def _to_tensor(images: Any, name: str) -> torch.Tensor:
    """``images`` as a torch tensor without copying (DLPack for cupy)."""
    if isinstance(images, torch.Tensor):
        return images
    if _is_cupy(images):
        return torch.from_dlpack(images)
    if isinstance(images, np.ndarray):
        if images.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be a real numeric array, got {images.dtype} dtype")
        if images.dtype in (np.uint16, np.uint32, np.uint64):  # limited support in torch
            return torch.from_numpy(images.astype(np.float32))
        return torch.from_numpy(np.ascontiguousarray(images))
    raise TypeError(
        f"{name} must be a numpy array, cupy array or torch tensor, got {type(images).__name__}"
    )


def _as_batch(x: torch.Tensor, in_channels: int, name: str) -> tuple[torch.Tensor, int]:
    """``x`` as ``(B, C, H, W)``; also returns the input's ndim."""
    if x.dtype == torch.bool or x.is_complex():
        raise TypeError(f"{name} must be a real numeric array, got {x.dtype}")
    ndim = x.ndim
    if ndim == 2:
        if in_channels != 1:
            raise ValueError(
                f"{name} is 2-D (H, W) but the model expects {in_channels} channels; pass "
                f"(C, H, W) or (B, C, H, W)"
            )
        x = x[None, None]
    elif ndim == 3:
        x = x[None]
    elif ndim != 4:
        raise ValueError(
            f"{name} must be 2-D (H, W), 3-D (C, H, W) or 4-D (B, C, H, W), got shape "
            f"{tuple(x.shape)}"
        )
    if x.shape[1] != in_channels:
        raise ValueError(
            f"{name} has {x.shape[1]} channels (shape {tuple(x.shape)}) but the model expects "
            f"{in_channels}"
        )
    if x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(f"{name} must not be empty, got shape {tuple(x.shape)}")
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x, ndim


def _percentiles(x: torch.Tensor, qs: tuple[float, float]) -> list[float]:
    """numpy-style (linear) percentiles of a tensor (any size): numpy on the CPU (fast
    selection), two ``kthvalue`` calls per percentile on the GPU."""
    if x.device.type == "cpu":
        return [float(v) for v in np.percentile(x.numpy(), qs)]
    flat = x.reshape(-1).to(torch.float64)
    n = flat.numel()
    out = []
    for q in qs:
        pos = (n - 1) * q / 100.0
        lo = int(np.floor(pos))
        hi = min(lo + 1, n - 1)
        v_lo = torch.kthvalue(flat, lo + 1).values
        v_hi = torch.kthvalue(flat, hi + 1).values if hi != lo else v_lo
        out.append(float(v_lo + (v_hi - v_lo) * (pos - lo)))
    return out


def normalize_images(x: torch.Tensor, normalization: tuple[float, float] | None) -> torch.Tensor:
    """Float32 images scaled per image and channel: percentile ``low`` -> 0, ``high`` -> 1.

    ``x`` is ``(B, C, H, W)``; the statistics are those of each whole image, so the result does
    not depend on any later tiling. A flat channel (``high == low``) is only shifted.
    """
    x = x.to(torch.float32)
    if normalization is None:
        return x
    out = torch.empty_like(x)
    for b in range(x.shape[0]):
        for c in range(x.shape[1]):
            low, high = _percentiles(x[b, c], normalization)
            span = high - low
            scale = 1.0 / span if span > 0 else 1.0
            out[b, c] = (x[b, c] - low) * scale
    return out


# -- the inference network ----------------------------------------------------------------------


class _InferenceNet(torch.nn.Module):
    """:meth:`DenseNet.core` with BatchNorm folded into the convolutions (inference only).

    Folding changes the rounding only (float32 relative differences ~1e-6). Pools are two
    shifted maxima, cheaper than a dilated ``max_pool2d`` on the CPU.
    """

    def __init__(self, net: PatchNet, channels_last: bool, device: torch.device) -> None:
        super().__init__()
        self.steps: list[tuple[str, int, torch.Tensor | None, torch.Tensor | None]] = []
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        with torch.no_grad():
            for kind, index, d in net.plan:
                if kind == "pool":
                    self.steps.append(("pool", d, None, None))
                    continue
                w, b = _fold(net.features[index].weight, net.features[index].bias,
                             net.features[index + 1])
                self.steps.append(("conv", d, w.contiguous(memory_format=memory_format), b))
            w, b = _fold(net.hidden.weight[:, :, None, None], net.hidden.bias, net.hidden_bn)
            self.steps.append(("conv", 1, w.contiguous(memory_format=memory_format), b))
            w = net.classifier.weight[:, :, None, None].detach().clone()
            self.steps.append(("linear", 1, w.contiguous(memory_format=memory_format),
                               net.classifier.bias.detach().clone()))
        # plain tensors (not buffers): move them explicitly, keeping the memory format
        self.steps = [
            (kind, d, None if w is None else w.to(device), None if b is None else b.to(device))
            for kind, d, w, b in self.steps
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fused = x.device.type == "cpu" and x.dtype == torch.float32 and _fused_conv_relu_ok()
        for kind, d, w, b in self.steps:
            if kind == "pool":
                x = torch.maximum(x[..., :-d, :], x[..., d:, :])
                x = torch.maximum(x[..., :-d], x[..., d:])
            elif kind == "conv" and fused:
                x = _conv_relu_cpu(x, w, b, d)
            elif kind == "conv":
                x = F.relu(F.conv2d(x, w.to(x.dtype), b.to(x.dtype), dilation=d), inplace=True)
            else:
                x = F.conv2d(x, w.to(x.dtype), b.to(x.dtype))
        return x


def _conv_relu_cpu(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, d: int) -> torch.Tensor:
    """relu(conv2d(x, w, b, dilation=d)) in one oneDNN call (the op torch.compile uses)."""
    return torch.ops.mkldnn._convolution_pointwise(
        x, w, b, [0, 0], [1, 1], [d, d], 1, "relu", [None], ""
    )


_FUSED_OK: list[bool] = []


def _fused_conv_relu_ok() -> bool:
    """Whether this torch build has the fused oneDNN convolution + ReLU and it agrees with
    the separate ops on a small input (checked once); else the separate ops are used."""
    if not _FUSED_OK:
        ok = False
        try:
            if torch.backends.mkldnn.is_available():
                gen = torch.Generator().manual_seed(0)
                x = torch.randn(1, 3, 9, 9, generator=gen).contiguous(
                    memory_format=torch.channels_last)
                w = torch.randn(4, 3, 3, 3, generator=gen).contiguous(
                    memory_format=torch.channels_last)
                b = torch.randn(4, generator=gen)
                with torch.inference_mode():
                    got = _conv_relu_cpu(x, w, b, 2)
                    ref = F.relu(F.conv2d(x, w, b, dilation=2))
                ok = bool(torch.allclose(got, ref, rtol=1e-5, atol=1e-5))
        except Exception:  # an older or newer torch without the op
            ok = False
        _FUSED_OK.append(ok)
    return _FUSED_OK[0]


def _fold(weight: torch.Tensor, bias: torch.Tensor | None, bn: torch.nn.Module):
    """Weights and bias of ``bn(conv(x))`` as one convolution (BatchNorm in inference mode)."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    w = weight * scale.reshape(-1, 1, 1, 1)
    b = bias if bias is not None else torch.zeros_like(bn.running_mean)
    return w.detach().clone(), ((b - bn.running_mean) * scale + bn.bias).detach().clone()


def _tiles(h: int, w: int, tile: int) -> list[tuple[int, int, int, int]]:
    return [
        (y, x, min(tile, h - y), min(tile, w - x))
        for y in range(0, h, tile)
        for x in range(0, w, tile)
    ]


# -- public -------------------------------------------------------------------------------------


def predict(
    model: PatchNet | DenseNet,
    images: Any,
    device: str = "auto",
    batch_size: int | None = None,
    tile: int | None = None,
    *,
    normalize: bool = True,
    precision: str = "auto",
) -> Any:
    """Per-pixel class probabilities of whole fields.

    Each image is normalised as a whole (``model.normalization`` percentiles, see
    :class:`PatchNet`), reflect-padded by ``a = (rf - 1) // 2`` on the top/left and
    ``rf - 1 - a`` on the bottom/right, and cut into ``tile x tile`` output tiles, each with an
    ``rf - 1`` pixel halo from the padded image; the dense network's valid core maps every halo'd
    tile to its probabilities. So the result equals untiled inference up to the summation order
    of the convolutions, and for every pixel

    ``P[:, y, x] = softmax(patch_net(pad(norm(image))[:, y:y+rf, x:x+rf]))``.

    Parameters
    ----------
    model : PatchNet or DenseNet
        The classifier (its weights are used read-only, in inference mode).
    images : numpy array, cupy array or torch tensor
        ``(H, W)`` (single-channel models), ``(C, H, W)`` or a batch ``(B, C, H, W)``, any real
        dtype, finite. cupy arrays are read zero-copy through DLPack.
    device : {"auto", "cpu", "cuda"}
        Where to compute for numpy input: ``"auto"`` uses the GPU when one is usable, else the
        CPU, and never fails; ``"cuda"`` raises :class:`pyhcs._backend.CudaUnavailableError`
        without a GPU. cupy input and CUDA tensors compute on their GPU.
    batch_size : int, optional
        Tiles per forward pass; default 1 on the CPU, 4 on the GPU.
    tile : int, optional
        Output tile side in pixels; default 512 on the CPU, 2048 on the GPU. Lower it when
        memory is short; results do not depend on it beyond rounding.
    normalize : bool, default True
        Apply ``model.normalization``; False feeds ``images`` as float32 unchanged.
    precision : {"auto", "float32", "bfloat16", "float16"}
        GPU autocast dtype; ``"auto"`` is bfloat16 on the GPU, float32 on the CPU. The CPU
        always computes in float32. Both use the channels_last memory format and BatchNorm
        folded into the convolutions.

    Returns
    -------
    probabilities : same array type as ``images``, float32
        ``(n_classes, H, W)`` for 2-D/3-D input, ``(B, n_classes, H, W)`` for 4-D input; sums
        to 1 over the class axis. numpy in -> numpy out; cupy in -> cupy out (same GPU); torch
        in -> torch out on the compute device.

    Raises
    ------
    TypeError, ValueError
        For a wrong model, array type, dtype, shape, channel count, NaN/inf values, ``tile``,
        ``batch_size``, ``device`` or ``precision``, naming the argument.

    Examples
    --------
    >>> import numpy as np
    >>> from pyhcs.pixel import PatchNet
    >>> net = PatchNet(width=4).eval()
    >>> image = np.random.default_rng(0).integers(0, 4000, (40, 50)).astype(np.uint16)
    >>> p = predict(net, image, device="cpu", tile=16)
    >>> p.shape, p.dtype.name, bool(np.allclose(p.sum(axis=0), 1, atol=1e-5))
    ((3, 40, 50), 'float32', True)
    """
    net = _as_patch_net(model)
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize must be True or False, got {normalize!r}")
    if precision not in ("auto", "float32", "bfloat16", "float16"):
        raise ValueError(
            f"precision must be 'auto', 'float32', 'bfloat16' or 'float16', got {precision!r}"
        )
    compute = _resolve_device(device, images)
    on_gpu = compute.type == "cuda"
    batch_size = (4 if on_gpu else 1) if batch_size is None else batch_size
    batch_size = check_int(batch_size, "batch_size", 1)
    tile = (2048 if on_gpu else 512) if tile is None else tile
    tile = check_int(tile, "tile", 1)

    x, ndim = _as_batch(_to_tensor(images, "images"), net.in_channels, "images")
    input_is_torch = isinstance(images, torch.Tensor)
    x = x.to(compute)
    x = normalize_images(x, net.normalization if normalize else None)
    n_images, _, h, w = x.shape
    rf, a = net.receptive_field, net.offset
    padded = reflect_pad(x, a, rf - 1 - a, a, rf - 1 - a)
    del x

    was_training = net.training
    net.eval()
    try:
        inference = _InferenceNet(net, channels_last=True, device=compute)
    finally:
        net.train(was_training)
    autocast_dtype = None
    if on_gpu and precision != "float32":
        autocast_dtype = torch.float16 if precision == "float16" else torch.bfloat16

    out = torch.empty((n_images, net.n_classes, h, w), dtype=torch.float32, device=compute)
    jobs = [(b, *t) for b in range(n_images) for t in _tiles(h, w, tile)]
    with torch.inference_mode():
        start = 0
        while start < len(jobs):
            # consecutive tiles of one shape go through one forward pass
            shape = jobs[start][3:]
            stop = start + 1
            while stop < len(jobs) and stop - start < batch_size and jobs[stop][3:] == shape:
                stop += 1
            th, tw = shape
            batch = torch.stack(
                [padded[b, :, y : y + th + rf - 1, xx : xx + tw + rf - 1]
                 for b, y, xx, _, _ in jobs[start:stop]]
            )
            # channels_last: ~2-3x faster convolutions with few channels, on CPU (oneDNN) too
            batch = batch.contiguous(memory_format=torch.channels_last)
            if on_gpu:
                with torch.autocast("cuda", dtype=autocast_dtype, enabled=autocast_dtype is not None):
                    logits = inference(batch)
            else:
                logits = inference(batch)
            probs = torch.softmax(logits.float(), dim=1)
            for k, (b, y, xx, _, _) in enumerate(jobs[start:stop]):
                out[b, :, y : y + th, xx : xx + tw] = probs[k]
            start = stop
    if ndim < 4:
        out = out[0]
    if input_is_torch:
        return out
    if _is_cupy(images):
        import cupy

        return cupy.from_dlpack(out)
    return out.cpu().numpy()
