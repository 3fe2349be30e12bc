"""process_field and measure_objects: the per-field seam equals the kernels called directly."""

import numpy as np
import pytest

from pyhcs.datasets import synthetic_field
from pyhcs.features import haralick, hog_objects, regionprops_table, size_shape, zernike
from pyhcs.plate import Pipeline, measure_objects, process_field, to_intensity
from pyhcs.segmentation import identify_primary, identify_secondary, identify_tertiary

CHANNELS = ["DNA", "Actin"]


@pytest.fixture(scope="module")
def field():
    return synthetic_field((192, 192), n_nuclei=14, seed=11)


@pytest.fixture(scope="module")
def hog_pipeline():
    return Pipeline().replace(measure={"HOG": {"objects": ("Nuclei", "Cells"), "crop": 16}})


@pytest.fixture(scope="module")
def result(field, hog_pipeline):
    return process_field(field.image, hog_pipeline, channels=CHANNELS)


def test_intensities_are_cellprofiler_float32(field):
    image = field.image[0]
    got = to_intensity(image)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, image.astype(np.float32) / np.float32(65535))
    assert to_intensity(np.array([[255]], np.uint8))[0, 0] == 1.0
    as_float = np.array([[0.25]], np.float64)
    assert to_intensity(as_float)[0, 0] == np.float32(0.25)
    manual = to_intensity(np.array([[100, 5000]], np.uint16), 4095)
    np.testing.assert_array_equal(manual, [[np.float32(100) / np.float32(4095), 1.0]])
    with pytest.raises(TypeError, match="image"):
        to_intensity(np.array([[True]]))
    with pytest.raises(ValueError, match="negative"):
        to_intensity(np.array([[-1]], np.int16))


def test_segmentation_equals_direct_calls(field, result):
    pipeline = Pipeline()
    dna, actin = (to_intensity(c) for c in field.image)
    seeds, threshold = identify_primary(dna, return_threshold=True, **pipeline.nuclei.arguments())
    nuclei, cells, _, cells_threshold = identify_secondary(
        actin, seeds, return_threshold=True, **pipeline.cells.arguments())
    cytoplasm = identify_tertiary(cells, nuclei)
    np.testing.assert_array_equal(result.labels["Nuclei"], nuclei)
    np.testing.assert_array_equal(result.labels["Cells"], cells)
    np.testing.assert_array_equal(result.labels["Cytoplasm"], cytoplasm)
    assert result.image["Threshold_FinalThreshold_Nuclei"] == threshold
    assert result.image["Threshold_FinalThreshold_Cells"] == cells_threshold
    n = int(nuclei.max())
    assert n > 5
    assert result.image["Count_Nuclei"] == result.image["Count_Cells"] == n
    for table in result.tables.values():
        assert list(table.index) == list(range(1, n + 1))


def test_measurements_equal_direct_kernel_calls(field, result):
    dna, actin = (to_intensity(c) for c in field.image)
    labels = result.labels
    n = result.n_objects
    index = np.arange(1, n + 1)
    for compartment in ("Nuclei", "Cells", "Cytoplasm"):
        table = result.tables[compartment]
        props = regionprops_table(labels[compartment], dna,
                                  ("area", "centroid", "bbox", "intensity_sum", "intensity_min",
                                   "intensity_max"), index=index)
        np.testing.assert_array_equal(table["AreaShape_Area"], props["area"])
        np.testing.assert_array_equal(table["AreaShape_Center_X"], props["centroid-1"])
        np.testing.assert_array_equal(table["Location_Center_Y"], props["centroid-0"])
        np.testing.assert_array_equal(table["AreaShape_BoundingBoxMaximum_X"], props["bbox-3"])
        np.testing.assert_array_equal(table["AreaShape_BoundingBoxMinimum_Y"], props["bbox-0"])
        np.testing.assert_array_equal(
            table["AreaShape_BoundingBoxArea"],
            (props["bbox-2"] - props["bbox-0"]) * (props["bbox-3"] - props["bbox-1"]))
        np.testing.assert_array_equal(table["Intensity_IntegratedIntensity_DNA"],
                                      props["intensity_sum"])
        np.testing.assert_array_equal(table["Intensity_MeanIntensity_DNA"],
                                      props["intensity_sum"] / props["area"])
        np.testing.assert_array_equal(table["Intensity_MaxIntensity_DNA"], props["intensity_max"])
        shape = zernike(labels[compartment], index=index)
        np.testing.assert_array_equal(table[shape.columns].to_numpy(), shape.to_numpy())
        size = size_shape(labels[compartment], index=index)
        np.testing.assert_array_equal(table[size.columns].to_numpy(), size.to_numpy())
        for image, name in ((dna, "DNA"), (actin, "Actin")):
            texture = haralick(image, labels[compartment], scale=3, image_name=name,
                               on_empty="zero", index=index)
            np.testing.assert_array_equal(table[texture.columns].to_numpy(), texture.to_numpy())
    hog = hog_objects(actin, labels["Cells"], 16, image_name="Actin", mask_others=True,
                      index=index, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2))
    np.testing.assert_array_equal(result.tables["Cells"][hog.columns].to_numpy(), hog.to_numpy())
    assert not any(c.startswith("HOG_") for c in result.tables["Cytoplasm"].columns)
    whole = haralick(dna, scale=3, image_name="DNA")
    for column in whole.columns:
        assert result.image[column] == whole[column].iloc[0]


def test_granularity_equals_direct_calls(field, result):
    """MeasureGranularity in the pipeline: one spectrum per channel, every compartment and
    the image (the function itself is checked against CellProfiler 5 in test_granularity)."""
    from pyhcs.features import granularity

    index = np.arange(1, result.n_objects + 1)
    for image, name in zip((to_intensity(c) for c in field.image), CHANNELS):
        for compartment in ("Nuclei", "Cells", "Cytoplasm"):
            expected = granularity(image, result.labels[compartment], image_name=name,
                                   index=index)
            assert expected.shape[1] == 16
            np.testing.assert_array_equal(
                result.tables[compartment][expected.columns].to_numpy(), expected.to_numpy())
        assert {k: result.image[k] for k in granularity(image, image_name=name)} == \
            granularity(image, image_name=name)


def test_texture_of_nuclei_matches_cp_measure(field, result):
    """The texture the engine writes is CellProfiler's (cp_measure get_texture), with
    CellProfiler 5's 0 for objects without co-occurring pairs."""
    import warnings

    from conftest import require_reference
    from pyhcs.features import HARALICK_FEATURES

    measuretexture = require_reference("cp_measure.core.measuretexture")
    dna = to_intensity(field.image[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = measuretexture.get_texture(result.labels["Nuclei"], dna, scale=3,
                                               gray_levels=256)
    got = result.tables["Nuclei"]
    for direction in range(4):
        for name in HARALICK_FEATURES:
            expected = np.nan_to_num(np.asarray(reference[f"{name}_3_{direction:02d}_256"]))
            atol = 1e-7 if name == "InfoMeas2" else 1e-12
            np.testing.assert_allclose(got[f"Texture_{name}_DNA_3_{direction:02d}_256"],
                                       expected, rtol=1e-9, atol=atol, err_msg=name)


def test_single_cell_layout(result):
    merged = result.single_cell()
    assert merged.columns[0] == "ObjectNumber"
    assert "Nuclei_Location_Center_X" in merged.columns
    assert "Cells_Parent_Nuclei" in merged.columns
    assert "Cytoplasm_Parent_Cells" in merged.columns
    assert "Nuclei_Texture_Contrast_DNA_3_00_256" in merged.columns
    assert "Cells_AreaShape_Zernike_2_0" in merged.columns
    np.testing.assert_array_equal(merged["Cells_Parent_Nuclei"], merged["ObjectNumber"])
    assert len(merged) == result.n_objects
    prefixes = {c.split("_")[0] for c in merged.columns[1:]}
    assert prefixes == {"Nuclei", "Cells", "Cytoplasm"}


def test_measure_objects_equals_process_field(field, result, hog_pipeline):
    measured = measure_objects(field.image, {k: result.labels[k] for k in ("Nuclei", "Cells")},
                               hog_pipeline, channels=CHANNELS)
    for compartment, table in result.tables.items():
        other = measured.tables[compartment]
        assert list(other.columns) == list(table.columns)
        np.testing.assert_array_equal(other.to_numpy(), table.to_numpy())


def test_empty_field_has_every_column(result):
    empty = process_field(np.zeros((2, 64, 64), np.uint16), channels=CHANNELS)
    assert empty.n_objects == 0
    for compartment in ("Nuclei", "Cells", "Cytoplasm"):
        assert len(empty.tables[compartment]) == 0
    default = process_field(np.zeros((2, 64, 64), np.uint16), channels=CHANNELS)
    assert list(default.single_cell().columns) == list(empty.single_cell().columns)
    flat = process_field({"DNA": np.full((64, 64), 900, np.uint16),
                          "Actin": np.full((64, 64), 900, np.uint16)})
    assert flat.n_objects == 0


def test_channels_by_mapping_and_settings_change_results(field, result):
    mapped = process_field({"DNA": field.image[0], "Actin": field.image[1]})
    np.testing.assert_array_equal(mapped.labels["Cells"], result.labels["Cells"])
    strict = Pipeline().replace(nuclei={"threshold_correction_factor": 2.0})
    fewer = process_field(field.image, strict, channels=CHANNELS)
    assert fewer.image["Threshold_FinalThreshold_Nuclei"] > \
        result.image["Threshold_FinalThreshold_Nuclei"]
    only_dna = Pipeline().replace(measure={"Texture": {"images": ("DNA",), "objects": ()},
                                           "Intensity": {"objects": ("Nuclei",)}})
    small = process_field(field.image, only_dna, channels=CHANNELS)
    assert not any(c.startswith("Texture_") for c in small.tables["Nuclei"].columns)
    assert "Texture_Contrast_DNA_3_00_256" in small.image
    assert "Texture_Contrast_Actin_3_00_256" not in small.image
    assert not any(c.startswith("Intensity_") for c in small.tables["Cells"].columns)
    image_only = Pipeline().replace(measure={"Granularity": {"images": ("Actin",),
                                                             "objects": (), "spectrum": 3}})
    small = process_field(field.image, image_only, channels=CHANNELS)
    assert not any("Granularity" in c for c in small.tables["Nuclei"].columns)
    assert [k for k in small.image if k.startswith("Granularity_")] == \
        [f"Granularity_{g}_Actin" for g in (1, 2, 3)]
    off = Pipeline().replace(measure={"Granularity": {"objects": (),
                                                      "image_granularity": False}})
    small = process_field(field.image, off, channels=CHANNELS)
    assert not any("Granularity" in k for k in small.image)


def test_bad_input_names_the_argument(field):
    image = field.image
    with pytest.raises(ValueError, match="channels: name the channels"):
        process_field(image)
    with pytest.raises(ValueError, match="channels: 1 names for 2"):
        process_field(image, channels=["DNA"])
    with pytest.raises(ValueError, match="distinct"):
        process_field(image, channels=["DNA", "DNA"])
    with pytest.raises(ValueError, match="nuclei.channel: channel 'DNA'"):
        process_field(image, channels=["Hoechst", "Actin"])
    with pytest.raises(ValueError, match="measure.Texture.images: channel 'Mito'"):
        process_field(image, Pipeline().replace(measure={"Texture": {"images": ("Mito",)}}),
                      channels=CHANNELS)
    with pytest.raises(ValueError, match="images: expected a"):
        process_field(image[0], channels=CHANNELS)
    with pytest.raises(ValueError, match="differ in shape"):
        process_field({"DNA": image[0], "Actin": image[1][:10]})
    with pytest.raises(TypeError, match="pipeline"):
        process_field(image, {"nuclei": {}}, channels=CHANNELS)
    with pytest.raises(ValueError, match="labels: 'Cells' is missing"):
        measure_objects(image, {"Nuclei": np.zeros(image.shape[1:], np.int32)},
                        channels=CHANNELS)
    with pytest.raises(TypeError, match="integer labels"):
        measure_objects(image, {"Nuclei": np.zeros(image.shape[1:]),
                                "Cells": np.zeros(image.shape[1:])}, channels=CHANNELS)
    with pytest.raises(ValueError, match="shape"):
        measure_objects(image, {"Nuclei": np.zeros((3, 3), np.int32),
                                "Cells": np.zeros((3, 3), np.int32)}, channels=CHANNELS)


def test_cytoplasm_is_cellprofilers_identify_tertiary(result):
    """IdentifyTertiaryObjects with shrink_primary: cells minus the nuclei without their
    outline (centrosome.outline.outline, image-border pixels included)."""
    from conftest import require_reference

    outline = require_reference("centrosome.outline").outline
    nuclei, cells = result.labels["Nuclei"], result.labels["Cells"]
    expected = cells.copy()
    expected[(nuclei > 0) & (outline(nuclei) == 0)] = 0
    np.testing.assert_array_equal(result.labels["Cytoplasm"], expected)
    unshrunk = identify_tertiary(cells, nuclei, shrink_primary=False)
    np.testing.assert_array_equal(unshrunk, np.where(nuclei > 0, 0, cells))
    # objects on the image border: border pixels are outline, so they stay
    border = np.zeros((6, 6), np.int32)
    border[0:3, 0:3] = 1
    np.testing.assert_array_equal(identify_tertiary(border, border),
                                  np.where(outline(border) > 0, border, 0))
    with pytest.raises(ValueError, match="primary_labels: shape"):
        identify_tertiary(cells, nuclei[:5])
    with pytest.raises(TypeError, match="shrink_primary"):
        identify_tertiary(cells, nuclei, shrink_primary="yes")


def test_illumination_correction_divides_every_measured_image(field):
    from pyhcs.illumination import correct_illumination

    rng = np.random.default_rng(4)
    function = (1.0 + rng.random(field.image.shape[1:])).astype(np.float32)
    pipeline = Pipeline().replace(illumination={"channels": ("Actin",)})
    corrected = process_field(field.image, pipeline, channels=CHANNELS,
                              illumination={"Actin": function})
    assert "ExecutionTime_CorrectIlluminationApply" in corrected.image
    actin = correct_illumination(to_intensity(field.image[1]), function)
    expected = measure_objects({"DNA": to_intensity(field.image[0]), "Actin": actin},
                               corrected.labels)
    for name in ("Cells", "Nuclei"):
        for column in ("Intensity_IntegratedIntensity_Actin",
                       "Texture_Contrast_Actin_3_00_256", "Intensity_MeanIntensity_DNA"):
            np.testing.assert_array_equal(corrected.tables[name][column].to_numpy(),
                                          expected.tables[name][column].to_numpy())
    # the cells were grown in the corrected Actin image
    seeds = identify_primary(to_intensity(field.image[0]), **pipeline.nuclei.arguments())
    _, cells, _ = identify_secondary(actin, seeds, **pipeline.cells.arguments())
    np.testing.assert_array_equal(corrected.labels["Cells"], cells)


def test_illumination_functions_are_checked(field):
    image = field.image
    pipeline = Pipeline().replace(illumination={"channels": ("DNA",)})
    ones = np.ones(image.shape[1:], np.float32)
    with pytest.raises(ValueError, match="illumination: the pipeline corrects.*'DNA'"):
        process_field(image, pipeline, channels=CHANNELS)
    with pytest.raises(ValueError, match="illumination: a function for 'Actin'"):
        process_field(image, pipeline, channels=CHANNELS,
                      illumination={"DNA": ones, "Actin": ones})
    with pytest.raises(ValueError, match=r"illumination\['DNA'\]: shape"):
        process_field(image, pipeline, channels=CHANNELS, illumination={"DNA": ones[:5]})
    with pytest.raises(TypeError, match=r"illumination\['DNA'\]: expected a float"):
        process_field(image, pipeline, channels=CHANNELS,
                      illumination={"DNA": ones.astype(np.uint8)})
    with pytest.raises(ValueError, match="illumination.channels: channel 'Mito'"):
        process_field(image, Pipeline().replace(illumination={"channels": ("Mito",)}),
                      channels=CHANNELS, illumination={"Mito": ones})
    with pytest.raises(ValueError, match="a function for 'DNA'"):
        process_field(image, channels=CHANNELS, illumination={"DNA": ones})
