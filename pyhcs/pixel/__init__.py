"""Dense fully-convolutional pixel classification (patch net -> dilated dense net).

A :class:`PatchNet` classifies the centre pixel of an ``rf x rf`` patch; :func:`to_dense`
rearranges the same weights into a network that classifies every pixel of a whole image in one
pass, with d-regularly sparse (dilated) kernels, exactly equal to the patch net applied at every
pixel of the reflect-padded image (``specs/reference.md`` section 5). :func:`predict` runs it on
whole fields (tiled, CPU or GPU), :func:`train` trains it from full masks or scribbles, and
:func:`load_default` returns the shipped nuclei model (background / interior / boundary), whose
probabilities :func:`probabilities_to_labels` turns into nucleus labels.

Examples
--------
>>> import numpy as np
>>> from pyhcs.datasets import synthetic_field
>>> from pyhcs.pixel import load_default, predict, probabilities_to_labels
>>> field = synthetic_field((96, 96), n_nuclei=6, seed=3)
>>> prob = predict(load_default(), field.channel("DNA"), device="cpu")
>>> prob.shape
(3, 96, 96)
>>> labels = probabilities_to_labels(prob)
>>> labels.shape, labels.dtype.name
((96, 96), 'int32')
"""

from ._io import DEFAULT_MODEL_PATH, load, load_default, save
from ._nets import DenseNet, PatchNet, reflect_indices, reflect_pad, to_dense
from ._postprocess import probabilities_to_labels
from ._predict import predict
from ._train import IGNORE, NUCLEI_CLASSES, nuclei_targets, train

__all__ = [
    "PatchNet",
    "DenseNet",
    "to_dense",
    "reflect_pad",
    "reflect_indices",
    "predict",
    "train",
    "nuclei_targets",
    "NUCLEI_CLASSES",
    "IGNORE",
    "save",
    "load",
    "load_default",
    "DEFAULT_MODEL_PATH",
    "probabilities_to_labels",
]
