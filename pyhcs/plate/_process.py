"""One field through the pipeline: intensities -> nuclei -> cells -> measurements -> tables.

:func:`process_field` is the seam every caller shares: the plate engine, the Dask workers and
users' own pipelines. numpy in runs on the CPU; cupy in runs on the GPU, and the field stays
there until its tables exist.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from .._backend import Namespace, namespace_for, to_numpy
from ._pipeline import COMPARTMENTS, Pipeline

__all__ = ["FieldResult", "measure_objects", "process_field", "to_intensity"]


@dataclass
class FieldResult:
    """What :func:`process_field` measured in one field.

    Attributes
    ----------
    tables : dict of str to pandas.DataFrame
        ``"Nuclei"``, ``"Cells"``, ``"Cytoplasm"``: one row per object, indexed by
        ``ObjectNumber`` (1..n; nucleus k lies in cell k, cytoplasm k is cell k minus the
        interior of nucleus k), columns in CellProfiler's names without the compartment prefix
        (``Location_Center_X``, ``AreaShape_Area``, ``Texture_Contrast_DNA_3_00_256``, ...).
        Always on the host.
    image : dict of str to float
        Image-level measurements, CellProfiler's Image-table names: ``Count_Nuclei``,
        ``Count_Cells``, ``Count_Cytoplasm``, ``Threshold_FinalThreshold_Nuclei``,
        ``Threshold_FinalThreshold_Cells``, whole-image ``Texture_*`` and
        ``ExecutionTime_<stage>`` (seconds of wall time per stage).
    labels : dict of str to array
        The label images (int32, (H, W)) of the three compartments, on the input's device.
    """

    tables: dict[str, Any]
    image: dict[str, Any]
    labels: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def n_objects(self) -> int:
        return int(self.image["Count_Cells"])

    def single_cell(self) -> Any:
        """One row per cell, every compartment's columns side by side.

        Columns: ``ObjectNumber``, then ``<Compartment>_<name>`` for every compartment, in
        the order Nuclei, Cells, Cytoplasm (CytoTable's merged single-cell layout).
        """
        import pandas as pd

        parts = [self.tables[c].add_prefix(f"{c}_") for c in COMPARTMENTS]
        merged = pd.concat(parts, axis=1)
        merged.insert(0, "ObjectNumber", merged.index.to_numpy(np.int64))
        return merged.reset_index(drop=True)


def to_intensity(image: Any, rescale: str | float = "dtype") -> Any:
    r"""An image as CellProfiler 5 loads it: float32 intensities.

    ``rescale="dtype"``: an integer image becomes :math:`x / \max(\mathrm{dtype})` computed in
    float32 (uint16: ``float32(x) / float32(65535)``), CellProfiler's "Image bit-depth"; a
    float image is used as it is. A number :math:`s`: :math:`\min(x / s, 1)` in float32
    (CellProfiler's manual intensity range, values above it saturate). numpy or cupy.
    """
    xp = namespace_for(image, names=("image",)).xp
    dtype = np.dtype(image.dtype)
    if rescale == "dtype":
        if dtype.kind in "ui":
            if dtype.kind == "i" and bool((image < 0).any()):
                raise ValueError("image: a signed integer image must not hold negative values")
            scale = np.float32(np.iinfo(dtype).max)
            return image.astype(xp.float32) / scale
        if dtype.kind == "f":
            return image.astype(xp.float32, copy=False)
        raise TypeError(f"image: expected an integer or float image, got dtype {dtype}")
    if dtype.kind not in "uif":
        raise TypeError(f"image: expected an integer or float image, got dtype {dtype}")
    scaled = image.astype(xp.float32) / np.float32(rescale)
    return xp.minimum(scaled, np.float32(1.0))


@functools.lru_cache(maxsize=1)
def _default_model():
    from ..pixel import load_default

    return load_default()


def _as_channels(images: Any, channels: Sequence[str] | None) -> tuple[dict[str, Any], Namespace]:
    if isinstance(images, Mapping):
        if channels is not None:
            raise ValueError("channels: give channel names only with a (C, H, W) array; a "
                             "mapping names its channels already")
        named = {str(k): v for k, v in images.items()}
        if not named:
            raise ValueError("images: no channels given")
        ns = namespace_for(*named.values(), names=tuple(named))
        shapes = {k: tuple(v.shape) for k, v in named.items()}
        for name, shape in shapes.items():
            if len(shape) != 2:
                raise ValueError(f"images[{name!r}]: expected an (H, W) image, got shape {shape}")
        if len(set(shapes.values())) > 1:
            raise ValueError(f"images: the channels differ in shape: {shapes}")
        return named, ns
    ns = namespace_for(images, names=("images",))
    if getattr(images, "ndim", None) != 3:
        raise ValueError(f"images: expected a (C, H, W) array or a mapping of channel name to "
                         f"(H, W) image, got shape {getattr(images, 'shape', None)}")
    if channels is None:
        raise ValueError("channels: name the channels of the (C, H, W) array "
                         "(channels=plate.channels)")
    channels = [str(c) for c in channels]
    if len(channels) != images.shape[0]:
        raise ValueError(f"channels: {len(channels)} names for {images.shape[0]} channels")
    if len(set(channels)) != len(channels):
        raise ValueError(f"channels: names must be distinct, got {channels}")
    return {name: images[i] for i, name in enumerate(channels)}, ns


def _synchronize(ns: Namespace) -> None:
    if ns.device == "cuda":
        ns.xp.cuda.get_current_stream().synchronize()


class _Clock:
    """Wall time per stage, the device synchronised at each boundary."""

    def __init__(self, ns: Namespace):
        self.ns = ns
        self.times: dict[str, float] = {}
        self._start = time.perf_counter()

    def lap(self, stage: str) -> None:
        _synchronize(self.ns)
        now = time.perf_counter()
        key = f"ExecutionTime_{stage}"
        self.times[key] = self.times.get(key, 0.0) + (now - self._start)
        self._start = now


def _check_illumination(illumination: Mapping[str, Any] | None, pipeline: Pipeline,
                        raw: Mapping[str, Any]) -> dict[str, Any]:
    """The illumination functions of the pipeline's corrected channels, checked."""
    corrected = list(pipeline.illumination.channels)
    names = list(raw)
    for name in corrected:
        if name not in raw:
            raise ValueError(f"pipeline illumination.channels: channel {name!r} is not among "
                             f"the field's channels {names}")
    if illumination is None:
        illumination = {}
    if not isinstance(illumination, Mapping):
        raise TypeError("illumination: expected a mapping of channel name to (H, W) "
                        "illumination function")
    extra = [k for k in illumination if k not in corrected]
    if extra:
        raise ValueError(f"illumination: a function for {extra[0]!r}, which the pipeline does "
                         f"not correct (illumination.channels = {corrected})")
    missing = [c for c in corrected if c not in illumination]
    if missing:
        raise ValueError(f"illumination: the pipeline corrects {corrected} but no function was "
                         f"given for {missing[0]!r}; compute them over the plate with "
                         "pyhcs.plate.illumination_functions(plate, pipeline)")
    first = next(iter(raw.values()))
    functions = {}
    for name in corrected:
        function = illumination[name]
        namespace_for(function, first, names=(f"illumination[{name!r}]", "images"))
        if tuple(function.shape) != tuple(first.shape):
            raise ValueError(f"illumination[{name!r}]: shape {tuple(function.shape)} differs "
                             f"from the images' {tuple(first.shape)}")
        if np.dtype(function.dtype).kind != "f":
            raise TypeError(f"illumination[{name!r}]: expected a float illumination function, "
                            f"got {function.dtype}")
        functions[name] = function
    return functions


def _intensities(raw: Mapping[str, Any], pipeline: Pipeline, functions: Mapping[str, Any],
                 clock: "_Clock") -> dict[str, Any]:
    """Load (CellProfiler's float32 intensities), then CorrectIlluminationApply."""
    from ..illumination import correct_illumination

    intensity = {name: to_intensity(image, pipeline.images.rescale) for name, image in raw.items()}
    clock.lap("Load")
    if functions:
        for name, function in functions.items():
            intensity[name] = correct_illumination(intensity[name], function)
        clock.lap("CorrectIlluminationApply")
    return intensity


def _measured_channels(requested: Sequence[str], available: Sequence[str], key: str) -> list[str]:
    if not requested:
        return list(available)
    missing = [c for c in requested if c not in available]
    if missing:
        raise ValueError(f"{key}: channel {missing[0]!r} is not among the field's channels "
                         f"{list(available)}")
    return list(requested)


def process_field(images: Any, pipeline: Pipeline | None = None, *,
                  channels: Sequence[str] | None = None,
                  illumination: Mapping[str, Any] | None = None) -> FieldResult:
    r"""Segment and measure one field, as the plate engine does.

    Steps (each timed as ``ExecutionTime_<stage>``):

    1. ``Load``: every channel becomes float32 intensities (:func:`to_intensity`, CellProfiler
       5's ``x / 65535`` for uint16), which every later step sees; then
       ``CorrectIlluminationApply`` for the channels of ``pipeline.illumination.channels``:
       :func:`pyhcs.illumination.correct_illumination`, the intensity divided by the
       channel's illumination function and clipped to [0, 1];
    2. ``IdentifyPrimaryObjects``: :func:`pyhcs.segmentation.identify_primary` on
       ``pipeline.nuclei.channel``;
    3. ``IdentifySecondaryObjects``: :func:`pyhcs.segmentation.identify_secondary` on
       ``pipeline.cells.channel``: nuclei and cells numbered 1..n alike; then
       ``IdentifyTertiaryObjects``: the cytoplasm, :func:`pyhcs.segmentation.identify_tertiary`
       (cells minus the nuclei shrunk by their outline, CellProfiler's default);
    4. the measurements of ``pipeline.measure``, per compartment and channel:

       - ``MeasureObjectSizeShape``: :func:`pyhcs.features.size_shape_array`, every
         ``AreaShape_*`` column of CellProfiler 5 (with ``advanced``: the moments and the
         inertia tensor), then ``AreaShape_Zernike_n_m``;
       - ``MeasureObjectIntensity``: :func:`pyhcs.features.intensity_array`, the 15
         ``Intensity_*_<ch>`` and 6 ``Location_*Intensity_*_<ch>`` columns of CellProfiler 5;
       - ``MeasureObjectNeighbors``: :func:`pyhcs.features.neighbors_array` of each
         compartment of ``measure.Neighbors.objects`` against itself,
         ``Neighbors_*_<Adjacent|Expanded|distance>``;
       - ``MeasureTexture``: :func:`pyhcs.features.haralick` per scale, objects without any
         co-occurring pair get 0 as in CellProfiler 5 (``on_empty="zero"``), and with
         ``image_texture`` the whole-image texture in the image table;
       - ``MeasureHOG``: :func:`pyhcs.features.hog_objects`, ``HOG_<ch>_<i>``;

    plus per compartment ``Location_Center_X/_Y``, ``Number_Object_Number`` and the parent /
    child links (``Parent_Nuclei``, ``Parent_Cells``, ``Children_Cells_Count``,
    ``Children_Cytoplasm_Count``). An empty cytoplasm keeps its row, with NaN measurements.

    Parameters
    ----------
    images : (C, H, W) array or mapping of str to (H, W) array
        The field: integer (uint8, uint16, ...) or float intensities in [0, 1]. numpy runs on
        the CPU, cupy on the GPU.
    pipeline : Pipeline, optional
        The settings; default :class:`Pipeline()`.
    channels : sequence of str, optional
        The channel names of a (C, H, W) array, in order (``plate.channels``).
    illumination : mapping of str to (H, W) float array, optional
        The illumination function of every channel the pipeline corrects, on the images'
        device (:func:`pyhcs.plate.illumination_functions` computes them over a plate, as
        CellProfiler's CorrectIlluminationCalculate does). Required exactly when
        ``pipeline.illumination.channels`` is not empty.

    Returns
    -------
    FieldResult
        Per-compartment tables (host), image-level measurements, label images (device).

    Raises
    ------
    ValueError
        A channel the pipeline names is missing, channel names do not match the array, the
        images differ in shape or are not 2-D, an image holds NaN or lies outside [0, 1].
    TypeError
        Channels on different devices, a non-numeric image.

    Examples
    --------
    >>> from pyhcs.datasets import synthetic_field
    >>> from pyhcs.plate import process_field
    >>> field = synthetic_field((256, 256), n_nuclei=20, seed=0)
    >>> result = process_field(field.image, channels=["DNA", "Actin"])
    >>> result.image["Count_Nuclei"] == len(result.tables["Nuclei"]) > 0
    True
    >>> "Texture_Contrast_DNA_3_00_256" in result.tables["Cells"].columns
    True
    """
    from ..segmentation import identify_primary, identify_secondary, identify_tertiary

    pipeline = Pipeline() if pipeline is None else pipeline
    if not isinstance(pipeline, Pipeline):
        raise TypeError(f"pipeline: expected a pyhcs.plate.Pipeline, got {type(pipeline).__name__}")
    raw, ns = _as_channels(images, channels)
    names = list(raw)
    for key, name in (("nuclei.channel", pipeline.nuclei.channel),
                      ("cells.channel", pipeline.cells.channel)):
        if name not in raw:
            raise ValueError(f"pipeline {key}: channel {name!r} is not among the field's "
                             f"channels {names}")
    for module in ("Intensity", "Texture", "HOG"):
        _measured_channels(getattr(pipeline.measure, module).images, names,
                           f"measure.{module}.images")
    functions = _check_illumination(illumination, pipeline, raw)
    clock = _Clock(ns)
    intensity = _intensities(raw, pipeline, functions, clock)

    nuclei_settings = pipeline.nuclei.arguments()
    if pipeline.nuclei.method == "fcn":
        nuclei_settings["model"] = _default_model()
    seeds, nuclei_threshold = identify_primary(
        intensity[pipeline.nuclei.channel], return_threshold=True, **nuclei_settings)
    clock.lap("IdentifyPrimaryObjects")
    nuclei, cells, _, cells_threshold = identify_secondary(
        intensity[pipeline.cells.channel], seeds, return_threshold=True,
        **pipeline.cells.arguments())
    clock.lap("IdentifySecondaryObjects")
    cytoplasm = identify_tertiary(cells, nuclei, shrink_primary=pipeline.cells.shrink_primary)
    labels = {"Nuclei": nuclei, "Cells": cells, "Cytoplasm": cytoplasm}
    tables, image_measurements = _measure(intensity, labels, pipeline, clock)
    image_measurements["Threshold_FinalThreshold_Nuclei"] = nuclei_threshold
    image_measurements["Threshold_FinalThreshold_Cells"] = cells_threshold
    image_measurements.update(clock.times)
    return FieldResult(tables=tables, image=image_measurements, labels=labels)


def _measure(intensity: dict[str, Any], labels: dict[str, Any], pipeline: Pipeline,
             clock: "_Clock", n: int | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The measurements of ``pipeline.measure`` on float32 intensities and aligned labels."""
    import pandas as pd

    from ..features import (ObjectIndex, granularity_spectrum, haralick, hog_objects,
                            intensity_array, neighbors_array, regionprops_table,
                            size_shape_array, zernike)

    names = list(intensity)
    measure = pipeline.measure
    intensity_channels = _measured_channels(measure.Intensity.images, names,
                                            "measure.Intensity.images")
    texture_channels = _measured_channels(measure.Texture.images, names,
                                          "measure.Texture.images")
    granularity_channels = _measured_channels(measure.Granularity.images, names,
                                              "measure.Granularity.images")
    hog_channels = _measured_channels(measure.HOG.images, names, "measure.HOG.images")
    nuclei = labels["Nuclei"]
    if n is None:
        n = int(nuclei.max()) if nuclei.size else 0
    index = np.arange(1, n + 1, dtype=np.int64)
    object_numbers = pd.Index(index, name="ObjectNumber")

    columns: dict[str, dict[str, np.ndarray]] = {c: {} for c in COMPARTMENTS}
    # one object index per label image, shared by every measurement of that compartment
    objects = {c: ObjectIndex(labels[c]) for c in COMPARTMENTS}
    # Location and the object links, for every compartment (CellProfiler's Identify modules).
    geometry = {}
    for compartment in COMPARTMENTS:
        props = regionprops_table(objects[compartment], properties=("area", "centroid", "bbox"),
                                  index=index)
        geometry[compartment] = {k: to_numpy(v) for k, v in props.items()}
        table = columns[compartment]
        table["Location_Center_X"] = geometry[compartment]["centroid-1"]
        table["Location_Center_Y"] = geometry[compartment]["centroid-0"]
        if compartment != "Cytoplasm":  # IdentifyTertiaryObjects records no Z
            table["Location_Center_Z"] = np.zeros(n)
        table["Number_Object_Number"] = index.copy()
    ones = np.ones(n, dtype=np.int64)
    columns["Nuclei"]["Children_Cells_Count"] = ones
    columns["Nuclei"]["Children_Cytoplasm_Count"] = ones.copy()
    columns["Cells"]["Parent_Nuclei"] = index.copy()
    columns["Cells"]["Children_Cytoplasm_Count"] = ones.copy()
    columns["Cytoplasm"]["Parent_Cells"] = index.copy()
    columns["Cytoplasm"]["Parent_Nuclei"] = index.copy()
    clock.lap("IdentifyTertiaryObjects")

    for compartment in measure.AreaShape.objects:
        table = columns[compartment]
        _, shape_features = size_shape_array(objects[compartment], index=index,
                                             advanced=measure.AreaShape.advanced)
        table.update({f"AreaShape_{k}": to_numpy(v) for k, v in shape_features.items()})
        if measure.AreaShape.zernike_degree >= 0:
            shape = zernike(objects[compartment], degree=measure.AreaShape.zernike_degree,
                            index=index)
            table.update({k: shape[k].to_numpy() for k in shape.columns})
    clock.lap("MeasureObjectSizeShape")

    for compartment in measure.Intensity.objects:
        table = columns[compartment]
        for channel in intensity_channels:
            _, values = intensity_array(intensity[channel], objects[compartment], index=index)
            table.update({f"{k}_{channel}": to_numpy(v) for k, v in values.items()})
    clock.lap("MeasureObjectIntensity")

    neighbours = measure.Neighbors
    for compartment, method in zip(neighbours.objects, neighbours.methods):
        found = neighbors_array(objects[compartment], method=method,
                                distance=neighbours.distance, index=index)
        columns[compartment].update({k: to_numpy(v) for k, v in found.columns().items()})
    if neighbours.objects:
        clock.lap("MeasureObjectNeighbors")

    image_measurements: dict[str, Any] = {
        "Count_Nuclei": n, "Count_Cells": n, "Count_Cytoplasm": n}
    texture = measure.Texture
    for channel in texture_channels if texture.objects or texture.image_texture else ():
        for scale in texture.scales:
            for compartment in texture.objects:
                table = haralick(intensity[channel], objects[compartment], scale=scale,
                                 gray_levels=texture.gray_levels, image_name=channel,
                                 on_empty="zero", index=index)
                columns[compartment].update({k: table[k].to_numpy() for k in table.columns})
            if texture.image_texture:
                whole = haralick(intensity[channel], scale=scale, gray_levels=texture.gray_levels,
                                 image_name=channel, on_empty="zero")
                image_measurements.update({k: float(whole[k].iloc[0]) for k in whole.columns})
    clock.lap("MeasureTexture")

    granularity = measure.Granularity
    if granularity.objects or granularity.image_granularity:
        for channel in granularity_channels:
            # one spectrum per channel, measured on every compartment (as CellProfiler does)
            spectrum = granularity_spectrum(
                intensity[channel], subsample=granularity.subsample,
                background_subsample=granularity.background_subsample,
                radius=granularity.radius, spectrum=granularity.spectrum)
            for compartment in granularity.objects:
                found = spectrum.objects(objects[compartment], index=index)
                columns[compartment].update(
                    {f"{k}_{channel}": to_numpy(v) for k, v in found.features.items()})
            if granularity.image_granularity:
                image_measurements.update(
                    {f"{k}_{channel}": v for k, v in spectrum.image_features.items()})
        clock.lap("MeasureGranularity")

    hog = measure.HOG
    for compartment in hog.objects:
        for channel in hog_channels:
            table = hog_objects(
                intensity[channel], objects[compartment], hog.crop, image_name=channel,
                mask_others=hog.mask_others, index=index, orientations=hog.orientations,
                pixels_per_cell=(hog.pixels_per_cell,) * 2,
                cells_per_block=(hog.cells_per_block,) * 2)
            columns[compartment].update({k: table[k].to_numpy() for k in table.columns})
    if hog.objects:
        clock.lap("MeasureHOG")

    tables = {c: pd.DataFrame(columns[c], index=object_numbers) for c in COMPARTMENTS}
    return tables, image_measurements


def measure_objects(images: Any, labels: Mapping[str, Any], pipeline: Pipeline | None = None, *,
                    channels: Sequence[str] | None = None,
                    illumination: Mapping[str, Any] | None = None) -> FieldResult:
    """Measure given objects as :func:`process_field` measures its own (steps 1 and 4).

    For objects segmented elsewhere (CellProfiler's saved label images, a user's own model):
    the same intensities, the same measurements, the same tables.

    Parameters
    ----------
    images : (C, H, W) array or mapping of str to (H, W) array
        As for :func:`process_field`.
    labels : mapping
        ``"Nuclei"``, ``"Cells"`` and ``"Cytoplasm"`` label images (H, W), integer, numbered
        alike: object k of every compartment belongs to cell k (a missing number gives a NaN
        row). ``"Cytoplasm"`` may be omitted: it is then
        :func:`pyhcs.segmentation.identify_tertiary` of the two.
    pipeline : Pipeline, optional
    channels : sequence of str, optional
    illumination : mapping of str to (H, W) float array, optional
        As for :func:`process_field`.

    Returns
    -------
    FieldResult
        Rows 1..n with n the largest nucleus or cell number; ``Count_*`` are n.
    """
    pipeline = Pipeline() if pipeline is None else pipeline
    if not isinstance(pipeline, Pipeline):
        raise TypeError(f"pipeline: expected a pyhcs.plate.Pipeline, got {type(pipeline).__name__}")
    raw, ns = _as_channels(images, channels)
    if not isinstance(labels, Mapping):
        raise TypeError("labels: expected a mapping of compartment name to label image")
    unknown = sorted(set(labels) - set(COMPARTMENTS))
    if unknown:
        raise ValueError(f"labels: unknown compartment {unknown[0]!r} (expected "
                         f"{list(COMPARTMENTS)})")
    for needed in ("Nuclei", "Cells"):
        if needed not in labels:
            raise ValueError(f"labels: {needed!r} is missing")
    shape = next(iter(raw.values())).shape
    xp = ns.xp
    checked = {}
    for name in COMPARTMENTS:
        if name not in labels:
            continue
        array = labels[name]
        namespace_for(array, next(iter(raw.values())), names=(f"labels[{name!r}]", "images"))
        if tuple(array.shape) != tuple(shape):
            raise ValueError(f"labels[{name!r}]: shape {tuple(array.shape)} differs from the "
                             f"images' {tuple(shape)}")
        if np.dtype(array.dtype).kind not in "iu":
            raise TypeError(f"labels[{name!r}]: expected integer labels, got {array.dtype}")
        if np.dtype(array.dtype).kind == "i" and bool((array < 0).any()):
            raise ValueError(f"labels[{name!r}]: labels must be >= 0")
        checked[name] = array.astype(xp.int32)
    if "Cytoplasm" not in checked:
        from ..segmentation import identify_tertiary

        checked["Cytoplasm"] = identify_tertiary(checked["Cells"], checked["Nuclei"],
                                                 shrink_primary=pipeline.cells.shrink_primary)
    n = max(int(checked["Nuclei"].max()), int(checked["Cells"].max())) if checked["Nuclei"].size else 0
    for module in ("Intensity", "Texture", "HOG"):
        _measured_channels(getattr(pipeline.measure, module).images, list(raw),
                           f"measure.{module}.images")
    functions = _check_illumination(illumination, pipeline, raw)
    clock = _Clock(ns)
    intensity = _intensities(raw, pipeline, functions, clock)
    tables, image_measurements = _measure(intensity, checked, pipeline, clock, n=n)
    image_measurements.update(clock.times)
    return FieldResult(tables=tables, image=image_measurements, labels=checked)
