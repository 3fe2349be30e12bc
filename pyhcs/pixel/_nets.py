"""Patch classifier and its dense (d-regularly sparse) fully-convolutional form.

The semantics follow ``specs/reference.md`` section 5 (Ciresan et al. 2012; Li et al. 2014 /
Van Valen et al. 2016 "d-regularly sparse kernels"):

* :class:`PatchNet` classifies one ``rf x rf`` patch: valid stride-1 convolutions with batch norm
  and ReLU, 2x2 max-pools of stride 2 (floor mode, no padding), a final valid convolution that
  reaches 1x1, then dense (fully connected) layers.
* :func:`to_dense` gives :class:`DenseNet`, the same weights applied at every pixel of a whole
  image at once: every stride-2 pool becomes a stride-1 pool with dilation ``d`` and every later
  convolution uses dilation ``d`` (``d`` doubles after each pool); dense layers become 1x1
  convolutions.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .._validate import check_int

__all__ = ["PatchNet", "DenseNet", "to_dense", "reflect_pad", "reflect_indices"]


def _trunk_receptive_field(n_pools: int, convs_per_stage: int, kernel_size: int) -> int:
    """Receptive field of everything before the final convolution (see :class:`PatchNet`)."""
    rf, d = 1, 1
    for _ in range(n_pools):
        rf += convs_per_stage * (kernel_size - 1) * d  # the stage's convolutions
        rf += (2 - 1) * d  # the 2x2 pool at the current dilation
        d *= 2
    return rf


class PatchNet(nn.Module):
    """A patch classifier: ``(B, C, rf, rf)`` patches to ``(B, n_classes)`` logits.

    Architecture (all convolutions valid, stride 1, each followed by BatchNorm2d and ReLU)::

        for stage i in 0 .. n_pools-1:
            convs_per_stage x Conv(kernel_size) with width * 2**i channels
            MaxPool(2, stride 2)
        Conv(final_kernel) with head_width channels     # reaches 1x1 (dilation 2**n_pools)
        Linear(head_width, head_width) + BatchNorm1d + ReLU
        Linear(head_width, n_classes)                   # logits

    Receptive field
    ---------------
    ``rf = 1 + sum over layers of (k - 1) * d``, where ``d`` is the layer's dilation in input
    pixels: 1 for the first stage, multiplied by 2 after every pool; a pool counts as ``k = 2`` at
    the dilation of its stage. With ``P = n_pools``, ``c = convs_per_stage`` and
    ``k = kernel_size``::

        rf = 1 + (2**P - 1) * (c * (k - 1) + 1) + (final_kernel - 1) * 2**P

    ``final_kernel`` is solved from the requested ``receptive_field``, so ``receptive_field``
    minus the trunk's receptive field must be a non-negative multiple of ``2**P``. Exactly one
    value (``rf``) of input size gives a 1x1 map at the final convolution, and ``forward``
    requires it.

    Parameters
    ----------
    in_channels : int, default 1
        Image channels ``C``.
    n_classes : int, default 3
        Output classes (default: background, nucleus interior, nucleus boundary).
    receptive_field : int, optional
        Patch side ``rf``. Default: the trunk's receptive field plus ``4 * 2**n_pools`` (a final
        5x5 convolution), 32 for the default arguments (the default nuclei model).
    width : int, default 8
        Channels of the first stage; stage ``i`` has ``width * 2**i``.
    n_pools : int, default 2
        Number of 2x2 stride-2 max-pools (stages).
    convs_per_stage : int, default 2
        Convolutions before each pool.
    kernel_size : int, default 3
        Kernel side of the stage convolutions.
    head_width : int, optional
        Channels of the final convolution and of the hidden dense layer; default
        ``2 * width``.
    normalization : tuple of 2 float or None, default (1.0, 99.8)
        Input scaling applied by :func:`pyhcs.pixel.predict` and :func:`pyhcs.pixel.train` to a
        whole image, per channel, before the network: percentiles ``(low, high)`` mapped to 0 and
        1. Never applied by ``forward`` (a per-patch normalisation would break the dense
        identity). ``None``: the image is only cast to float32.

    Attributes
    ----------
    receptive_field : int
        ``rf`` as above.
    offset : int
        ``(rf - 1) // 2``: the output pixel of a patch is at ``(offset, offset)`` in it.
    config : dict
        The constructor arguments (for :func:`pyhcs.pixel.save`).

    Examples
    --------
    >>> import torch
    >>> net = PatchNet(in_channels=2, n_classes=3, receptive_field=28, width=4).eval()
    >>> PatchNet().receptive_field
    32
    >>> net.receptive_field, net.offset
    (28, 13)
    >>> net(torch.zeros(5, 2, 28, 28)).shape
    torch.Size([5, 3])
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 3,
        receptive_field: int | None = None,
        width: int = 8,
        *,
        n_pools: int = 2,
        convs_per_stage: int = 2,
        kernel_size: int = 3,
        head_width: int | None = None,
        normalization: tuple[float, float] | None = (1.0, 99.8),
    ) -> None:
        super().__init__()
        in_channels = check_int(in_channels, "in_channels", 1)
        n_classes = check_int(n_classes, "n_classes", 2)
        width = check_int(width, "width", 1)
        n_pools = check_int(n_pools, "n_pools", 0)
        convs_per_stage = check_int(convs_per_stage, "convs_per_stage", 0)
        kernel_size = check_int(kernel_size, "kernel_size", 1)
        head_width = 2 * width if head_width is None else head_width
        head_width = check_int(head_width, "head_width", 1)
        trunk = _trunk_receptive_field(n_pools, convs_per_stage, kernel_size)
        step = 2**n_pools
        if receptive_field is None:
            receptive_field = trunk + 4 * step
        receptive_field = check_int(receptive_field, "receptive_field", 1)
        if receptive_field < trunk or (receptive_field - trunk) % step:
            valid = ", ".join(str(trunk + j * step) for j in range(6))
            raise ValueError(
                f"receptive_field={receptive_field} cannot be reached with n_pools={n_pools}, "
                f"convs_per_stage={convs_per_stage}, kernel_size={kernel_size}: it must be "
                f"{trunk} + a multiple of {step} ({valid}, ...)"
            )
        if normalization is not None:
            low, high = (float(v) for v in normalization)
            if not 0.0 <= low < high <= 100.0:
                raise ValueError(
                    f"normalization must be percentiles (low, high) with 0 <= low < high <= 100, "
                    f"got {normalization!r}"
                )
            normalization = (low, high)
        final_kernel = (receptive_field - trunk) // step + 1

        self.config = dict(
            in_channels=in_channels, n_classes=n_classes, receptive_field=receptive_field,
            width=width, n_pools=n_pools, convs_per_stage=convs_per_stage,
            kernel_size=kernel_size, head_width=head_width,
            normalization=None if normalization is None else list(normalization),
        )
        self.in_channels = in_channels
        self.n_classes = n_classes
        self.receptive_field = receptive_field
        self.offset = (receptive_field - 1) // 2
        self.normalization = normalization

        # (kind, module index or None, dilation in input pixels); convs carry their BatchNorm
        layers: list[nn.Module] = []
        plan: list[tuple[str, int, int]] = []
        channels, d = in_channels, 1
        for stage in range(n_pools):
            out = width * 2**stage
            for _ in range(convs_per_stage):
                layers += [nn.Conv2d(channels, out, kernel_size), nn.BatchNorm2d(out)]
                plan.append(("conv", len(layers) - 2, d))
                channels = out
            plan.append(("pool", -1, d))
            d *= 2
        layers += [nn.Conv2d(channels, head_width, final_kernel), nn.BatchNorm2d(head_width)]
        plan.append(("conv", len(layers) - 2, d))
        self.features = nn.ModuleList(layers)
        self.plan = plan
        self.final_dilation = d
        self.hidden = nn.Linear(head_width, head_width)
        self.hidden_bn = nn.BatchNorm1d(head_width)
        self.classifier = nn.Linear(head_width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, n_classes)`` of patches ``x`` of shape ``(B, in_channels, rf, rf)``."""
        rf = self.receptive_field
        if x.ndim != 4 or x.shape[1] != self.in_channels or tuple(x.shape[2:]) != (rf, rf):
            raise ValueError(
                f"x must have shape (B, {self.in_channels}, {rf}, {rf}), got {tuple(x.shape)}"
            )
        for kind, index, _ in self.plan:
            if kind == "pool":
                x = F.max_pool2d(x, 2, stride=2)
            else:
                x = F.relu(self.features[index + 1](self.features[index](x)))
        x = x.flatten(1)  # (B, head_width): the final convolution reached 1x1
        x = F.relu(self.hidden_bn(self.hidden(x)))
        return self.classifier(x)

    def extra_repr(self) -> str:
        return f"receptive_field={self.receptive_field}"


class DenseNet(nn.Module):
    """The dense form of a :class:`PatchNet`: ``(B, C, H, W)`` to ``(B, n_classes, H, W)`` logits.

    It uses the patch net's own parameters (no copy; :func:`to_dense` copies first), applied
    with dilations: the ``j``-th stride-2 pool becomes a stride-1 2x2 max-pool with dilation
    ``2**j``, every convolution after ``j`` pools is dilated by ``2**j``, and the dense layers
    become 1x1 convolutions. Then, for every pixel,

    ``dense(img)[b, :, y, x] == patch_net(pad(img)[b, :, y:y+rf, x:x+rf])``

    where ``pad`` is :func:`reflect_pad` by ``a = (rf - 1) // 2`` rows/columns on the top/left
    and ``rf - 1 - a`` on the bottom/right. :meth:`core` is the unpadded (valid) network: an
    ``(h + rf - 1, w + rf - 1)`` input gives an ``(h, w)`` output, which is how
    :func:`pyhcs.pixel.predict` tiles a field with a halo.

    Parameters
    ----------
    patch_net : PatchNet
        Shared, not copied: training the dense net trains the patch net.

    Examples
    --------
    >>> import torch
    >>> net = PatchNet(width=4).eval()
    >>> dense = DenseNet(net)
    >>> dense(torch.zeros(1, 1, 7, 9)).shape
    torch.Size([1, 3, 7, 9])
    """

    def __init__(self, patch_net: PatchNet) -> None:
        super().__init__()
        if not isinstance(patch_net, PatchNet):
            raise TypeError(f"patch_net must be a PatchNet, got {type(patch_net).__name__}")
        self.patch_net = patch_net

    @property
    def receptive_field(self) -> int:
        return self.patch_net.receptive_field

    @property
    def offset(self) -> int:
        return self.patch_net.offset

    @property
    def in_channels(self) -> int:
        return self.patch_net.in_channels

    @property
    def n_classes(self) -> int:
        return self.patch_net.n_classes

    def core(self, x: torch.Tensor) -> torch.Tensor:
        """Valid dense network: ``(B, C, h + rf - 1, w + rf - 1)`` to ``(B, n_classes, h, w)``."""
        net = self.patch_net
        for kind, index, d in net.plan:
            if kind == "pool":
                x = F.max_pool2d(x, 2, stride=1, dilation=d)
            else:
                conv, bn = net.features[index], net.features[index + 1]
                x = F.conv2d(x, conv.weight, conv.bias, dilation=d)
                x = F.relu(bn(x))
        # dense layers as 1x1 convolutions; BatchNorm1d statistics apply per channel
        hidden, bn = net.hidden, net.hidden_bn
        x = F.conv2d(x, hidden.weight[:, :, None, None], hidden.bias)
        x = F.batch_norm(
            x, bn.running_mean, bn.running_var, bn.weight, bn.bias,
            bn.training or not bn.track_running_stats, bn.momentum or 0.0, bn.eps,
        )
        x = F.relu(x)
        return F.conv2d(x, net.classifier.weight[:, :, None, None], net.classifier.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, n_classes, H, W)`` for images ``x`` of shape ``(B, C, H, W)``."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"x must have shape (B, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        rf, a = self.receptive_field, self.offset
        return self.core(reflect_pad(x, a, rf - 1 - a, a, rf - 1 - a))


def to_dense(patch_net: PatchNet) -> DenseNet:
    """The dense network with a copy of ``patch_net``'s weights (see :class:`DenseNet`).

    Parameters
    ----------
    patch_net : PatchNet

    Returns
    -------
    DenseNet
        Mapping ``(B, C, H, W)`` to ``(B, n_classes, H, W)`` logits, in ``patch_net``'s
        training/eval mode; later changes to ``patch_net`` do not affect it.

    Examples
    --------
    >>> import torch
    >>> net = PatchNet(width=4).eval()
    >>> dense = to_dense(net)
    >>> img = torch.rand(1, 1, 30, 30)
    >>> a, rf = net.offset, net.receptive_field
    >>> patch = reflect_pad(img, a, rf - 1 - a, a, rf - 1 - a)[:, :, 5:5 + rf, 7:7 + rf]
    >>> torch.allclose(dense(img)[:, :, 5, 7], net(patch), atol=1e-5)
    True
    """
    if isinstance(patch_net, DenseNet):
        patch_net = patch_net.patch_net
    if not isinstance(patch_net, PatchNet):
        raise TypeError(f"patch_net must be a PatchNet, got {type(patch_net).__name__}")
    return DenseNet(copy.deepcopy(patch_net))


def reflect_indices(n: int, before: int, after: int) -> np.ndarray:
    """Source indices of a reflect pad of a length-``n`` axis, for any pad width.

    The reflection does not repeat the edge sample (numpy/torch ``"reflect"``) and is periodic
    with period ``2 * (n - 1)`` when the pad is wider than the axis (repeated reflection, as
    ``numpy.pad(mode="reflect")``); a length-1 axis is repeated.

    Examples
    --------
    >>> reflect_indices(3, 4, 2).tolist()
    [0, 1, 2, 1, 0, 1, 2, 1, 0]
    """
    i = np.arange(-before, n + after)
    if n == 1:
        return np.zeros_like(i)
    period = 2 * (n - 1)
    i = np.mod(i, period)
    return np.where(i >= n, period - i, i)


def reflect_pad(x: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """Reflect-pad the last two axes of ``x``; works for pads larger than the image.

    Uses ``torch.nn.functional.pad(mode="reflect")`` when torch accepts the pad (each pad smaller
    than the axis), else index gathering with :func:`reflect_indices` (repeated reflection).

    Examples
    --------
    >>> import torch
    >>> reflect_pad(torch.arange(3.0).reshape(1, 1, 1, 3), 0, 0, 4, 2).flatten().tolist()
    [0.0, 1.0, 2.0, 1.0, 0.0, 1.0, 2.0, 1.0, 0.0]
    """
    h, w = x.shape[-2:]
    if max(top, bottom) < h and max(left, right) < w:
        if top == bottom == left == right == 0:
            return x
        return F.pad(x, (left, right, top, bottom), mode="reflect")
    rows = torch.as_tensor(reflect_indices(h, top, bottom), device=x.device)
    cols = torch.as_tensor(reflect_indices(w, left, right), device=x.device)
    return x.index_select(-2, rows).index_select(-1, cols)
