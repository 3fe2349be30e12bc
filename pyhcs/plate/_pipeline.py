"""The per-field pipeline configuration: a frozen dataclass with TOML load and save.

A :class:`Pipeline` names everything :func:`pyhcs.plate.process_field` does to a field:

- ``images``: how integer pixels become intensities (CellProfiler 5: ``x / max of dtype`` in
  float32);
- ``illumination``: which channels are corrected for uneven illumination (CellProfiler's
  CorrectIlluminationCalculate over the plate, then CorrectIlluminationApply);
- ``nuclei``: :func:`pyhcs.segmentation.identify_primary` on one channel;
- ``cells``: :func:`pyhcs.segmentation.identify_secondary` on another (cells and cytoplasm);
- ``measure``: per CellProfiler module (AreaShape, Intensity, Texture, plus HOG), the
  compartments and channels it measures and its settings;
- ``output``: whether label images are saved.

The defaults are the project's Cell Painting pipeline, the settings of
``cellpainting.cppipe`` for the modules pyhcs has (IdentifyPrimaryObjects with shape
declumping, threshold correction 1.2 and border objects kept; IdentifySecondaryObjects by
propagation; MeasureObjectSizeShape with Zernike; MeasureObjectIntensity; MeasureTexture at
scale 3 with 256 gray levels).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import textwrap
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

__all__ = [
    "AreaShapeSettings",
    "CellsSettings",
    "HOGSettings",
    "IlluminationSettings",
    "ImageSettings",
    "IntensitySettings",
    "MeasureSettings",
    "NucleiSettings",
    "OutputSettings",
    "Pipeline",
    "TextureSettings",
    "COMPARTMENTS",
]

#: The object sets a pipeline makes, in CellProfiler's names.
COMPARTMENTS = ("Nuclei", "Cells", "Cytoplasm")


def _setting(default: Any, help: str, choices: tuple | None = None) -> Any:
    """A dataclass field with its ``pyhcs config`` comment (and allowed values)."""
    metadata = {"help": help, "choices": choices}
    if isinstance(default, (list, dict)):
        raise TypeError("settings are immutable: use a tuple")  # pragma: no cover
    return field(default=default, metadata=metadata)


def _section(cls: type, help: str) -> Any:
    return field(default_factory=cls, metadata={"help": help, "choices": None})


@dataclass(frozen=True)
class ImageSettings:
    rescale: str | float = _setting(
        "dtype",
        "integer pixels -> intensities: 'dtype' divides by the dtype's maximum in float32 "
        "(65535 for uint16), as CellProfiler 5's 'Image bit-depth'; a number divides by it "
        "(CellProfiler's manual intensity range)")


@dataclass(frozen=True)
class IlluminationSettings:
    channels: tuple[str, ...] = _setting(
        (), "channels corrected for uneven illumination: CellProfiler's "
        "CorrectIlluminationCalculate ('Regular' intensity, 'All' images: the mean of the "
        "plate's fields, computed in a first pass and saved as illumination/<channel>.npy), "
        "then CorrectIlluminationApply ('Divide', results clipped to [0, 1]); [] = none")
    smoothing: str = _setting("median", "smoothing of the mean image: CellProfiler's 'Median "
                              "Filter', 'Gaussian Filter', 'Smooth to Average' or none",
                              ("median", "gaussian", "average", "none"))
    filter_size: str | float = _setting(
        "automatic", "smoothing filter size: 'automatic' (min(30, longest side / 40)), "
        "'object size' (object_width * 2.35 / 3.5) or a size in pixels")
    object_width: float = _setting(10.0, "typical object diameter in pixels, for "
                                   "filter_size = 'object size'")
    rescale: str = _setting("yes", "rescale the function: 'yes' divides by its robust minimum "
                            "(the 2% point) so it is >= 1, 'median' by its median, 'no' keeps "
                            "it", ("yes", "median", "no"))
    sample: int = _setting(0, "fields averaged: 0 = every field of the plate (CellProfiler's "
                           "'All'), n = n fields evenly spaced over the plate")

    def arguments(self) -> dict[str, Any]:
        """Keyword arguments of :meth:`pyhcs.illumination.IlluminationAccumulator.result`."""
        return {"smoothing": self.smoothing, "filter_size": self.filter_size,
                "object_width": self.object_width, "rescale": self.rescale}


def _segmentation_arguments(section: Any) -> dict[str, Any]:
    """A segmentation section as keyword arguments: every setting but the channel (and the
    tertiary objects' shrink_primary), the manual threshold only where the method is manual."""
    out = {f.name: getattr(section, f.name) for f in fields(section)
           if f.name not in ("channel", "shrink_primary")}
    if section.threshold_method != "manual":
        out["manual_threshold"] = None
    return out


@dataclass(frozen=True)
class NucleiSettings:
    channel: str = _setting("DNA", "channel the nuclei are identified in")
    method: str = _setting("threshold", "'threshold' (CellProfiler) or 'fcn' (the default "
                           "pixel-classifier model)", ("threshold", "fcn"))
    size_range: tuple[int, int] = _setting((10, 40), "typical nucleus diameter in pixels, "
                                           "[min, max]")
    size: str = _setting(
        "size_range", "how objects are sized: 'size_range' by size_range; 'diameter' by "
        "[0.65 d, 2.5 d] for d = diameter; 'plate' likewise for d estimated once per plate "
        "(the median of pyhcs.segmentation.estimate_diameter over size_sample fields evenly "
        "spaced over the plate; a single field is its own sample); 'auto' for d estimated on "
        "every field. The fcn method also zooms images whose d lies outside its model's "
        "training range", ("size_range", "diameter", "plate", "auto"))
    diameter: float = _setting(20.0, "typical nucleus diameter in pixels, for size = "
                               "'diameter'")
    size_sample: int = _setting(8, "fields whose estimated diameters give the plate's, for "
                                "size = 'plate'")
    exclude_size: bool = _setting(True, "discard objects outside the diameter range")
    exclude_border: bool = _setting(False, "discard objects touching the image border")
    threshold_method: str = _setting("minimum_cross_entropy", "global threshold method",
                                     ("minimum_cross_entropy", "otsu", "manual"))
    threshold_smoothing_scale: float = _setting(0.0, "Gaussian smoothing before thresholding "
                                                "(CellProfiler's scale; 0 = none)")
    threshold_correction_factor: float = _setting(1.2, "the threshold is multiplied by this")
    threshold_bounds: tuple[float, float] = _setting((0.0, 1.0), "[lower, upper] bounds on "
                                                     "the threshold")
    manual_threshold: float = _setting(0.0, "the threshold when threshold_method = 'manual'")
    declump: str = _setting("shape", "how clumped nuclei are told apart",
                            ("intensity", "shape", "none"))
    watershed_method: str = _setting("shape", "how dividing lines are drawn",
                                     ("intensity", "shape", "propagate", "none"))
    fill_holes: str = _setting("thresholding", "fill holes after thresholding and "
                               "declumping, after declumping only, or never",
                               ("thresholding", "declumping", "never"))

    def arguments(self) -> dict[str, Any]:
        """Keyword arguments of :func:`pyhcs.segmentation.identify_primary`."""
        out = _segmentation_arguments(self)
        size = out.pop("size")
        out.pop("size_sample")
        if size == "size_range":
            del out["diameter"]
        else:
            out["size_range"] = None
            if size != "diameter":  # 'plate' outside the plate engine: the field is the sample
                out["diameter"] = "auto"
        return out


@dataclass(frozen=True)
class CellsSettings:
    channel: str = _setting("Actin", "channel the cells are grown in")
    method: str = _setting("propagation", "IdentifySecondaryObjects method",
                           ("propagation", "watershed_gradient", "watershed_image",
                            "distance_n", "distance_b"))
    threshold_method: str = _setting("minimum_cross_entropy", "global threshold method",
                                     ("minimum_cross_entropy", "otsu", "manual"))
    threshold_smoothing_scale: float = _setting(0.0, "Gaussian smoothing before thresholding")
    threshold_correction_factor: float = _setting(1.0, "the threshold is multiplied by this")
    threshold_bounds: tuple[float, float] = _setting((0.0, 1.0), "[lower, upper] bounds on "
                                                     "the threshold")
    manual_threshold: float = _setting(0.0, "the threshold when threshold_method = 'manual'")
    regularization_factor: float = _setting(0.05, "propagation: weight of the distance term")
    distance_to_dilate: int = _setting(10, "distance_n / distance_b: pixels to expand by")
    fill_holes: bool = _setting(True, "fill holes in the cells")
    discard_edge: bool = _setting(False, "discard cells touching the border, with their "
                                  "nuclei")
    shrink_primary: bool = _setting(True, "cytoplasm (IdentifyTertiaryObjects): shrink the "
                                    "nuclei by their one-pixel outline before removing them "
                                    "from the cells, CellProfiler's default")

    def arguments(self) -> dict[str, Any]:
        """Keyword arguments of :func:`pyhcs.segmentation.identify_secondary`."""
        return _segmentation_arguments(self)


@dataclass(frozen=True)
class AreaShapeSettings:
    objects: tuple[str, ...] = _setting(COMPARTMENTS, "compartments measured (MeasureObject"
                                        "SizeShape); [] switches the module off")
    zernike_degree: int = _setting(9, "highest Zernike order n (AreaShape_Zernike_n_m); -1 "
                                   "for none")
    advanced: bool = _setting(False, "also the spatial, central, normalized and Hu moments "
                              "and the inertia tensor (CellProfiler's advanced features)")


@dataclass(frozen=True)
class IntensitySettings:
    objects: tuple[str, ...] = _setting(COMPARTMENTS, "compartments measured "
                                        "(MeasureObjectIntensity); [] switches it off")
    images: tuple[str, ...] = _setting((), "channels measured; [] = every channel")


@dataclass(frozen=True)
class NeighborsSettings:
    objects: tuple[str, ...] = _setting(("Nuclei", "Cells"), "compartments measured "
                                        "(MeasureObjectNeighbors, each against itself); [] "
                                        "switches it off")
    methods: tuple[str, ...] = _setting(("within", "adjacent"), "per compartment of objects: "
                                        "adjacent, expand (until adjacent) or within "
                                        "(distance); the Cell Painting default")
    distance: int = _setting(5, "neighbour distance in pixels for 'within'")


@dataclass(frozen=True)
class TextureSettings:
    objects: tuple[str, ...] = _setting(COMPARTMENTS, "compartments measured "
                                        "(MeasureTexture); [] switches it off")
    images: tuple[str, ...] = _setting((), "channels measured; [] = every channel")
    scales: tuple[int, ...] = _setting((3,), "co-occurrence distances in pixels")
    gray_levels: int = _setting(256, "gray levels, 2..256")
    image_texture: bool = _setting(True, "also the whole-image texture (Image table)")


@dataclass(frozen=True)
class GranularitySettings:
    objects: tuple[str, ...] = _setting(COMPARTMENTS, "compartments measured "
                                        "(MeasureGranularity); [] measures only the image")
    images: tuple[str, ...] = _setting((), "channels measured; [] = every channel")
    subsample: float = _setting(0.25, "subsampling factor of the measurement")
    background_subsample: float = _setting(0.25, "further subsampling for the background")
    radius: int = _setting(10, "radius of the disk whose opening is the background, in "
                           "subsampled pixels")
    spectrum: int = _setting(16, "steps of the granular spectrum (Granularity_1..n)")
    image_granularity: bool = _setting(True, "also the whole-image spectrum (Image table); "
                                       "false with objects [] switches the module off")


@dataclass(frozen=True)
class HOGSettings:
    objects: tuple[str, ...] = _setting((), "compartments measured (a crop centred on every "
                                        "object); [] switches HOG off")
    images: tuple[str, ...] = _setting((), "channels measured; [] = every channel")
    crop: int = _setting(32, "crop size in pixels (square)")
    orientations: int = _setting(9, "orientation bins")
    pixels_per_cell: int = _setting(8, "HOG cell size in pixels (square)")
    cells_per_block: int = _setting(2, "block size in cells (square)")
    mask_others: bool = _setting(True, "zero the pixels of other objects inside a crop")


@dataclass(frozen=True)
class MeasureSettings:
    AreaShape: AreaShapeSettings = _section(AreaShapeSettings, "MeasureObjectSizeShape")
    Intensity: IntensitySettings = _section(IntensitySettings, "MeasureObjectIntensity")
    Neighbors: NeighborsSettings = _section(NeighborsSettings, "MeasureObjectNeighbors")
    Texture: TextureSettings = _section(TextureSettings, "MeasureTexture")
    Granularity: GranularitySettings = _section(GranularitySettings, "MeasureGranularity")
    HOG: HOGSettings = _section(HOGSettings, "histograms of oriented gradients (not a "
                                "CellProfiler module)")


@dataclass(frozen=True)
class OutputSettings:
    save_labels: bool = _setting(False, "save the nuclei, cells and cytoplasm label images "
                                 "(labels/<well>_<site>.npz)")


@dataclass(frozen=True)
class Pipeline:
    """What :func:`pyhcs.plate.process_field` does to every field: a frozen configuration.

    Load and save it as TOML (:meth:`from_toml`, :meth:`to_toml`); ``pyhcs config`` prints the
    default with a comment on every key. Settings are validated when the pipeline is made, with
    errors naming the key (``nuclei.size_range``).

    Examples
    --------
    >>> from pyhcs.plate import Pipeline
    >>> pipeline = Pipeline()
    >>> pipeline.nuclei.channel, pipeline.cells.channel
    ('DNA', 'Actin')
    >>> Pipeline.from_toml(pipeline.to_toml()) == pipeline
    True
    >>> pipeline.replace(nuclei={"threshold_correction_factor": 1.0}).nuclei.size_range
    (10, 40)
    """

    images: ImageSettings = _section(ImageSettings, "how images enter the pipeline")
    illumination: IlluminationSettings = _section(
        IlluminationSettings, "illumination correction (CorrectIlluminationCalculate / Apply)")
    nuclei: NucleiSettings = _section(NucleiSettings, "nuclei: IdentifyPrimaryObjects")
    cells: CellsSettings = _section(CellsSettings, "cells and cytoplasm: "
                                    "IdentifySecondaryObjects, IdentifyTertiaryObjects")
    measure: MeasureSettings = _section(MeasureSettings, "measurements per compartment and "
                                        "channel")
    output: OutputSettings = _section(OutputSettings, "what is written besides the tables")

    def __post_init__(self) -> None:
        _validate(self)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Pipeline":
        """A pipeline from nested mappings (missing keys take their defaults).

        Raises
        ------
        ValueError
            An unknown section or key (named as ``section.key``), a value of the wrong type or
            out of range.
        """
        return _build(cls, data, "")

    @classmethod
    def from_toml(cls, text: str) -> "Pipeline":
        """A pipeline from TOML text (see :meth:`to_toml` for the layout)."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"pipeline TOML: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | Path) -> "Pipeline":
        """A pipeline from a TOML file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"config: cannot read {path}: {exc.strerror or exc}") from None
        try:
            return cls.from_toml(text)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None

    def replace(self, **sections: Mapping[str, Any]) -> "Pipeline":
        """A copy with some settings changed: ``replace(nuclei={"size_range": (8, 30)})``."""
        data = self.to_dict()
        for name, changes in sections.items():
            if name not in data:
                raise ValueError(f"unknown pipeline section {name!r}")
            _merge(data[name], changes)
        return Pipeline.from_dict(data)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """Nested plain dicts and lists (JSON- and TOML-serialisable)."""
        return _plain(dataclasses.asdict(self))

    def to_toml(self, comments: bool = False) -> str:
        """TOML text that :meth:`from_toml` reads back to an equal pipeline.

        With ``comments``, every key carries its explanation (what ``pyhcs config`` prints).
        """
        lines: list[str] = []
        if comments:
            lines += ["# pyhcs pipeline (pyhcs run --config FILE). Every key is optional; a "
                      "missing key takes", "# the default shown here.", ""]
        _emit(self, [], lines, comments)
        return "\n".join(lines).rstrip() + "\n"

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_toml(comments=True), encoding="utf-8")

    def fingerprint(self) -> str:
        """A short hash of the settings: a run resumes only into outputs of the same one."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------- helpers
def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _merge(target: dict, changes: Mapping[str, Any]) -> None:
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where or 'pipeline'} must be a table, got {data!r}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        name = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ValueError(f"unknown pipeline setting {name!r} (known: {', '.join(known)})")
    values = {}
    for name, value in data.items():
        spec = known[name]
        key = f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(spec.default_factory if spec.default_factory
                                    is not dataclasses.MISSING else None):
            values[name] = _build(spec.default_factory, value, key)
        else:
            values[name] = _coerce(value, spec, key)
    try:
        return cls(**values)
    except ValueError as exc:
        if where and not str(exc).startswith(where):
            raise ValueError(f"{where}.{exc}") from None
        raise


def _coerce(value: Any, spec: dataclasses.Field, key: str) -> Any:
    default = spec.default
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{key} must be a list, got {value!r}")
        return tuple(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false, got {value!r}")
    elif isinstance(default, (int, float)) and not isinstance(default, bool):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{key} must be a number, got {value!r}")
        if isinstance(default, float):
            value = float(value)
        elif isinstance(value, float):
            if not value.is_integer():
                raise ValueError(f"{key} must be an integer, got {value!r}")
            value = int(value)
    return value


def _check(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise ValueError(f"{key} {message}")


def _validate(pipeline: Pipeline) -> None:
    for section_name in ("images", "illumination", "nuclei", "cells", "output"):
        _validate_section(getattr(pipeline, section_name), section_name)
    for module in fields(pipeline.measure):
        _validate_section(getattr(pipeline.measure, module.name), f"measure.{module.name}")
    rescale = pipeline.images.rescale
    _check(rescale == "dtype" or (isinstance(rescale, (int, float))
                                  and not isinstance(rescale, bool) and rescale > 0),
           "images.rescale", f"must be 'dtype' or a positive number, got {rescale!r}")
    illumination = pipeline.illumination
    size = illumination.filter_size
    _check(size in ("automatic", "object size") or (
        isinstance(size, (int, float)) and not isinstance(size, bool) and 0 < size < 1e6),
        "illumination.filter_size", f"must be 'automatic', 'object size' or a positive number, "
        f"got {size!r}")
    _check(illumination.object_width > 0, "illumination.object_width", "must be > 0")
    _check(illumination.sample >= 0, "illumination.sample", "must be >= 0 (0 = every field)")
    _check(len(set(illumination.channels)) == len(illumination.channels)
           and all(isinstance(c, str) and c for c in illumination.channels),
           "illumination.channels", f"must be distinct channel names, got "
           f"{list(illumination.channels)}")
    size_range = pipeline.nuclei.size_range
    low, high = size_range if len(size_range) == 2 else (0, 0)
    _check(isinstance(low, int) and isinstance(high, int) and 1 <= low <= high,
           "nuclei.size_range", f"must be [min, max] integers with 1 <= min <= max, got "
           f"{list(pipeline.nuclei.size_range)}")
    diameter = pipeline.nuclei.diameter
    _check(isinstance(diameter, (int, float)) and not isinstance(diameter, bool)
           and 0 < diameter < 1e5, "nuclei.diameter",
           f"must be a positive number of pixels, got {diameter!r}")
    _check(pipeline.nuclei.size_sample >= 1, "nuclei.size_sample", "must be >= 1")
    for section in ("nuclei", "cells"):
        bounds = getattr(pipeline, section).threshold_bounds
        _check(len(bounds) == 2 and all(isinstance(b, (int, float)) for b in bounds)
               and 0 <= bounds[0] <= bounds[1] <= 1,
               f"{section}.threshold_bounds", f"must be [lower, upper] in [0, 1], got "
               f"{list(bounds)}")
    _check(pipeline.nuclei.channel != "", "nuclei.channel", "must name a channel")
    _check(pipeline.cells.channel != "", "cells.channel", "must name a channel")
    _check(pipeline.cells.regularization_factor >= 0, "cells.regularization_factor",
           "must be >= 0")
    _check(pipeline.cells.distance_to_dilate >= 0, "cells.distance_to_dilate", "must be >= 0")
    neighbours = pipeline.measure.Neighbors
    _check(len(neighbours.methods) == len(neighbours.objects)
           and all(m in ("adjacent", "expand", "within") for m in neighbours.methods),
           "measure.Neighbors.methods", f"must give one of adjacent, expand, within for each "
           f"of measure.Neighbors.objects {list(neighbours.objects)}, got "
           f"{list(neighbours.methods)}")
    _check(neighbours.distance >= 1, "measure.Neighbors.distance", "must be >= 1")
    shape = pipeline.measure.AreaShape
    _check(-1 <= shape.zernike_degree <= 30, "measure.AreaShape.zernike_degree",
           f"must be -1 (none) to 30, got {shape.zernike_degree}")
    texture = pipeline.measure.Texture
    _check(2 <= texture.gray_levels <= 256, "measure.Texture.gray_levels",
           f"must be 2..256, got {texture.gray_levels}")
    _check(all(isinstance(s, int) and not isinstance(s, bool) and s >= 1
               for s in texture.scales), "measure.Texture.scales",
           f"must be integers >= 1, got {list(texture.scales)}")
    granularity = pipeline.measure.Granularity
    for key in ("subsample", "background_subsample"):
        value = getattr(granularity, key)
        _check(isinstance(value, (int, float)) and not isinstance(value, bool)
               and math.isfinite(value) and value > 0, f"measure.Granularity.{key}",
               f"must be a number > 0, got {value!r}")
    _check(isinstance(granularity.radius, int) and not isinstance(granularity.radius, bool)
           and 0 <= granularity.radius <= 1000, "measure.Granularity.radius",
           f"must be an integer 0..1000, got {granularity.radius!r}")
    _check(isinstance(granularity.spectrum, int) and not isinstance(granularity.spectrum, bool)
           and 1 <= granularity.spectrum <= 1000, "measure.Granularity.spectrum",
           f"must be an integer 1..1000, got {granularity.spectrum!r}")
    hog = pipeline.measure.HOG
    for key in ("crop", "orientations", "pixels_per_cell", "cells_per_block"):
        _check(getattr(hog, key) >= 1, f"measure.HOG.{key}", "must be >= 1")
    _check(hog.crop >= hog.pixels_per_cell * hog.cells_per_block, "measure.HOG.crop",
           f"must hold one block ({hog.pixels_per_cell * hog.cells_per_block} pixels), got "
           f"{hog.crop}")
    for module in fields(pipeline.measure):
        settings = getattr(pipeline.measure, module.name)
        for name in settings.objects:
            _check(name in COMPARTMENTS, f"measure.{module.name}.objects",
                   f"must name compartments among {list(COMPARTMENTS)}, got {name!r}")
        for name in getattr(settings, "images", ()):
            _check(isinstance(name, str) and name != "", f"measure.{module.name}.images",
                   f"must be channel names, got {name!r}")


#: settings that are a word or a number
_STR_OR_NUMBER = {("images", "rescale"), ("illumination", "filter_size")}


def _validate_section(section: Any, where: str) -> None:
    for spec in fields(section):
        value = getattr(section, spec.name)
        key = f"{where}.{spec.name}"
        default = spec.default
        choices = spec.metadata.get("choices")
        if choices is not None:
            _check(value in choices, key, f"must be one of {list(choices)}, got {value!r}")
        if isinstance(default, bool):
            _check(isinstance(value, bool), key, f"must be true or false, got {value!r}")
        elif isinstance(default, str) and (where, spec.name) not in _STR_OR_NUMBER:
            _check(isinstance(value, str), key, f"must be a string, got {value!r}")
        elif isinstance(default, (int, float)):
            _check(isinstance(value, (int, float)) and not isinstance(value, bool), key,
                   f"must be a number, got {value!r}")
            if isinstance(default, int):
                _check(isinstance(value, int), key, f"must be an integer, got {value!r}")
        elif isinstance(default, tuple):
            _check(isinstance(value, tuple), key, f"must be a list, got {value!r}")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")  # pragma: no cover


def _emit(section: Any, path: list[str], lines: list[str], comments: bool) -> None:
    scalars = [f for f in fields(section) if not dataclasses.is_dataclass(getattr(section, f.name))]
    tables = [f for f in fields(section) if dataclasses.is_dataclass(getattr(section, f.name))]
    for spec in scalars:
        if comments:
            help_text = spec.metadata["help"]
            choices = spec.metadata.get("choices")
            if choices:
                help_text += f" ({' | '.join(map(str, choices))})"
            lines.extend(textwrap.wrap(help_text, 94, initial_indent="# ",
                                       subsequent_indent="# "))
        lines.append(f"{spec.name} = {_toml_value(getattr(section, spec.name))}")
    for spec in tables:
        if lines and lines[-1] != "":
            lines.append("")
        if comments:
            lines.append(f"# {spec.metadata['help']}")
        lines.append(f"[{'.'.join(path + [spec.name])}]")
        _emit(getattr(section, spec.name), path + [spec.name], lines, comments)
