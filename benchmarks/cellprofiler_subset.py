"""Build the CellProfiler side of the end-to-end speed benchmark as a ``.cppipe``.

This is the reference pipeline of ``/work/shared/tools/cellprofiler/build_pipeline.py`` cut
down to the measurements pyhcs's plate engine computes: segmentation (Nuclei -> Cells ->
Cytoplasm), MeasureObjectSizeShape (Zernike moments, no advanced features),
MeasureObjectIntensity, MeasureTexture (scale 3, 256 grey levels, image and object
texture) and MeasureGranularity (subsampling 0.25 and 0.25, radius 10, 16 steps, images and
objects). MeasureObjectIntensityDistribution, MeasureColocalization, MeasureObjectNeighbors
and MeasureImageQuality are left out. The input modules, the
segmentation settings, the label-image export (``labels/<field>_DNA_<Objects>_labels.tiff``)
and ExportToSpreadsheet (``Image.csv``, ``Nuclei.csv``, ``Cells.csv``, ``Cytoplasm.csv``,
``Experiment.csv``) are those of the full reference pipeline, setting for setting.

It needs ``cellprofiler_core``, so run it with the CellProfiler venv's python (see the
tool's README.md), not the project's venv::

    CP=$HOME/.cache/cellprofiler-headless
    HOME=$CP/home $CP/cp-venv/bin/python benchmarks/cellprofiler_subset.py OUT.cppipe

:func:`benchmarks.cellprofiler_ref.subset_pipeline` does this (and caches the result).
Inputs are ``<field>_DNA.tif`` / ``<field>_Actin.tif`` 16-bit grayscale TIFFs.
"""

import sys

import cellprofiler_core.preferences as prefs

prefs.set_headless()

from cellprofiler_core.pipeline import Pipeline  # noqa: E402
from cellprofiler_core.utilities.core.modules import (  # noqa: E402
    fill_modules,
    instantiate_module,
)

OBJECTS = ("Nuclei", "Cells", "Cytoplasm")
CHANNELS = ("DNA", "Actin")


class _Builder:
    """Appends modules in order and numbers them."""

    def __init__(self):
        self.modules = []

    def add(self, module_name):
        module = instantiate_module(module_name)
        module.set_module_num(len(self.modules) + 1)
        self.modules.append(module)
        return module

    def pipeline(self):
        pipeline = Pipeline()
        for module in self.modules:
            pipeline.add_module(module)
        return pipeline


def _inputs(b):
    """Images / Metadata / NamesAndTypes / Groups: one image set per ``<field>``."""
    b.add("Images").filter_choice.value = "Images only"

    meta = b.add("Metadata")
    meta.wants_metadata.value = True
    rule = meta.extraction_methods[0]
    rule.extraction_method.value = "Extract from file/folder names"
    rule.source.value = "File name"
    rule.file_regexp.value = r"^(?P<Field>.+)_(?P<Stain>DNA|Actin)\.tiff?$"
    rule.filter_choice.value = "All images"

    nat = b.add("NamesAndTypes")
    nat.assignment_method.value = "Images matching rules"
    nat.matching_choice.value = "Metadata"
    for k, channel in enumerate(CHANNELS):
        if k >= len(nat.assignments):
            nat.add_assignment()
        assignment = nat.assignments[k]
        assignment.rule_filter.value = f'and (file does contain "_{channel}.")'
        assignment.image_name.value = channel
        assignment.load_as_choice.value = "Grayscale image"
        # scale by the dtype range (uint16 / 65535), not by the TIFF's MaxSampleValue tag
        assignment.rescale_method.value = "Image bit-depth"
    nat.join.build([{channel: "Field" for channel in CHANNELS}])

    b.add("Groups")


def _global_mce(threshold, correction):
    """Global minimum cross-entropy threshold, no smoothing, full range."""
    threshold.threshold_scope.value = "Global"
    threshold.global_operation.value = "Minimum Cross-Entropy"
    threshold.threshold_smoothing_scale.value = 0.0
    threshold.threshold_correction_factor.value = correction
    threshold.threshold_range.value = (0.0, 1.0)


def _segmentation(b):
    """Nuclei on DNA, Cells propagated on Actin, Cytoplasm = Cells minus Nuclei."""
    nuclei = b.add("IdentifyPrimaryObjects")
    nuclei.x_name.value = "DNA"
    nuclei.y_name.value = "Nuclei"
    nuclei.size_range.value = (10, 40)
    nuclei.exclude_size.value = True
    nuclei.exclude_border_objects.value = False
    nuclei.unclump_method.value = "Shape"
    nuclei.watershed_method.value = "Shape"
    nuclei.automatic_smoothing.value = True
    nuclei.automatic_suppression.value = True
    nuclei.low_res_maxima.value = True
    nuclei.fill_holes.value = "After both thresholding and declumping"
    nuclei.limit_choice.value = "Continue"
    nuclei.use_advanced.value = True  # the threshold settings below apply only with this on
    _global_mce(nuclei.threshold, 1.2)
    nuclei.threshold.log_transform.value = False

    cells = b.add("IdentifySecondaryObjects")
    cells.x_name.value = "Nuclei"
    cells.y_name.value = "Cells"
    cells.method.value = "Propagation"
    cells.image_name.value = "Actin"
    cells.regularization_factor.value = 0.05
    cells.wants_discard_edge.value = False
    cells.fill_holes.value = True
    _global_mce(cells.threshold, 1.0)

    cytoplasm = b.add("IdentifyTertiaryObjects")
    cytoplasm.secondary_objects_name.value = "Cells"
    cytoplasm.primary_objects_name.value = "Nuclei"
    cytoplasm.subregion_objects_name.value = "Cytoplasm"
    cytoplasm.shrink_primary.value = True


def _measurements(b):
    """Size/shape (with Zernike), intensity, texture (scale 3, 256 levels, images and objects),
    granularity (CellProfiler's defaults, images and objects)."""
    shape = b.add("MeasureObjectSizeShape")
    shape.objects_list.value = ", ".join(OBJECTS)
    shape.calculate_zernikes.value = True
    shape.calculate_advanced.value = False

    intensity = b.add("MeasureObjectIntensity")
    intensity.images_list.value = ", ".join(CHANNELS)
    intensity.objects_list.value = ", ".join(OBJECTS)

    texture = b.add("MeasureTexture")
    texture.images_list.value = ", ".join(CHANNELS)
    texture.objects_list.value = ", ".join(OBJECTS)
    texture.gray_levels.value = 256
    texture.images_or_objects.value = "Both"
    if not texture.scale_groups:
        texture.add_scale()
    texture.scale_groups[0].scale.value = 3
    del texture.scale_groups[1:]

    granularity = b.add("MeasureGranularity")
    granularity.images_list.value = ", ".join(CHANNELS)
    granularity.wants_objects.value = True
    granularity.objects_list.value = ", ".join(OBJECTS)
    granularity.subsample_size.value = 0.25
    granularity.image_sample_size.value = 0.25
    granularity.element_size.value = 10
    granularity.granular_spectrum_length.value = 16


def _label_images(b):
    """Save each object set as OUTPUT/labels/<field>_DNA_<Objects>_labels.tiff (object numbers)."""
    for objects in OBJECTS:
        convert = b.add("ConvertObjectsToImage")
        convert.object_name.value = objects
        convert.image_name.value = objects + "Labels"
        convert.image_mode.value = "uint16"  # the object numbers themselves

        save = b.add("SaveImages")
        save.save_image_or_figure.value = "Image"
        save.image_name.value = objects + "Labels"
        save.file_name_method.value = "From image filename"
        save.file_image_name.value = "DNA"
        save.wants_file_name_suffix.value = True
        save.file_name_suffix.value = f"_{objects}_labels"
        save.file_format.value = "tiff"
        save.bit_depth.value = "No conversion"  # a 16-bit conversion would rescale the labels
        save.tiff_compress.value = False
        save.pathname.value = "Default Output Folder sub-folder|labels"
        save.overwrite.value = True
        save.when_to_save.value = "Every cycle"
        save.update_file_names.value = False
        save.create_subdirectories.value = False


def _export(b):
    """ExportToSpreadsheet: every measurement, one CSV per object set, no aggregates."""
    export = b.add("ExportToSpreadsheet")
    export.delimiter.value = 'Comma (",")'
    export.directory.value = "Default Output Folder|"
    export.wants_prefix.value = False
    export.wants_overwrite_without_warning.value = True
    export.add_metadata.value = True
    export.add_filepath.value = False
    export.nan_representation.value = "NaN"
    export.pick_columns.value = False
    export.wants_aggregate_means.value = False
    export.wants_aggregate_medians.value = False
    export.wants_aggregate_std.value = False
    export.wants_genepattern_file.value = False
    export.wants_everything.value = True


def build():
    """The subset pipeline as a :class:`cellprofiler_core.pipeline.Pipeline`."""
    fill_modules()
    b = _Builder()
    _inputs(b)
    _segmentation(b)
    _measurements(b)
    _label_images(b)
    _export(b)
    return b.pipeline()


def main(argv):
    out = argv[1] if len(argv) > 1 else "cellprofiler_subset.cppipe"
    pipeline = build()
    with open(out, "w") as fd:
        pipeline.dump(fd)
    print("wrote", out, "with", len(pipeline.modules()), "modules")


if __name__ == "__main__":
    main(sys.argv)
