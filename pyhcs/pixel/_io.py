"""Saving and loading pixel classifiers, and the shipped default nuclei model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ._nets import DenseNet, PatchNet

__all__ = ["save", "load", "load_default", "DEFAULT_MODEL_PATH"]

_FORMAT = "pyhcs.pixel.PatchNet"
_VERSION = 1

#: The shipped nuclei model (package data; see ``benchmarks/train_default_nuclei.py``).
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "models" / "nuclei_default.pt"


def save(model: PatchNet | DenseNet, path: str | os.PathLike, **metadata: Any) -> None:
    """Save a model's configuration, weights and batch-norm statistics to ``path``.

    Parameters
    ----------
    model : PatchNet or DenseNet
        A DenseNet is saved as its patch net (the weights are the same).
    path : str or path-like
        Destination file (a ``torch.save`` archive holding only tensors and plain Python
        values, loadable with ``weights_only=True``).
    **metadata
        Extra plain values stored with the model (e.g. ``classes=("background", ...)``), read
        back into ``model.metadata``.

    Examples
    --------
    >>> import tempfile, os, torch
    >>> net = PatchNet(width=4).eval()
    >>> path = os.path.join(tempfile.mkdtemp(), "net.pt")
    >>> save(net, path, classes=["bg", "interior", "boundary"])
    >>> again = load(path)
    >>> x = torch.rand(2, 1, net.receptive_field, net.receptive_field)
    >>> bool(torch.equal(net(x), again(x))), again.metadata["classes"][0]
    (True, 'bg')
    """
    net = model.patch_net if isinstance(model, DenseNet) else model
    if not isinstance(net, PatchNet):
        raise TypeError(f"model must be a PatchNet or DenseNet, got {type(model).__name__}")
    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    merged = dict(getattr(net, "metadata", {}) or {})
    merged.update(metadata)
    payload = {"format": _FORMAT, "version": _VERSION, "config": dict(net.config),
               "state_dict": state, "metadata": merged}
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load(path: str | os.PathLike, device: str = "cpu") -> PatchNet:
    """Load a model written by :func:`save`, in eval mode.

    Parameters
    ----------
    path : str or path-like
    device : str, default "cpu"
        torch device to put the weights on.

    Returns
    -------
    PatchNet
        Identical weights and statistics; ``metadata`` holds the saved extra values.
    """
    payload = torch.load(Path(path), map_location=device, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise ValueError(f"path {str(path)!r} is not a pyhcs pixel model file")
    if payload.get("version", 0) > _VERSION:
        raise ValueError(
            f"path {str(path)!r} has model format version {payload['version']}; this pyhcs "
            f"reads up to {_VERSION}"
        )
    config = dict(payload["config"])
    if config.get("normalization") is not None:
        config["normalization"] = tuple(config["normalization"])
    net = PatchNet(**config)
    net.load_state_dict(payload["state_dict"])
    net.metadata = dict(payload.get("metadata", {}))
    return net.to(device).eval()


def load_default(device: str = "cpu") -> PatchNet:
    """The default nuclei model shipped with pyhcs (classes background, interior, boundary).

    A single-channel (DNA / nuclear stain) :class:`PatchNet` trained by
    ``benchmarks/train_default_nuclei.py`` on domain-randomised synthetic fields (the
    training ranges of :data:`pyhcs.datasets.randomized.FACTORS`: nucleus radius 5-14 pixels,
    texture, clumps, noise, blur and defocus, mitotic and apoptotic nuclei, debris,
    bleed-through, 8-bit content). Its metadata records the seed threshold chosen for it
    (``interior_threshold``), its training diameters (``nucleus_diameter_range``, into which
    ``identify_primary(method="fcn", diameter=...)`` zooms images) and its F1 on each
    held-out range (``held_out_factor_f1``). Use it with :func:`pyhcs.pixel.predict` and
    :func:`pyhcs.pixel.probabilities_to_labels`, or through ``identify_primary``.

    Examples
    --------
    >>> net = load_default()
    >>> net.in_channels, net.n_classes, net.metadata["classes"]
    (1, 3, ['background', 'interior', 'boundary'])
    """
    if not DEFAULT_MODEL_PATH.exists():
        raise FileNotFoundError(
            f"the default model {DEFAULT_MODEL_PATH} is missing from this installation; "
            "run benchmarks/train_default_nuclei.py to create it"
        )
    return load(DEFAULT_MODEL_PATH, device=device)
