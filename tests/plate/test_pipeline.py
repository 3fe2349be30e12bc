"""Pipeline: the frozen per-field configuration, its TOML form and its validation."""

import tomllib

import pytest

from pyhcs.plate import Pipeline
from pyhcs.segmentation import identify_primary, identify_secondary


def test_defaults_are_the_cell_painting_settings():
    pipeline = Pipeline()
    nuclei = pipeline.nuclei.arguments()
    assert nuclei["declump"] == nuclei["watershed_method"] == "shape"
    assert nuclei["threshold_correction_factor"] == 1.2
    assert nuclei["threshold_smoothing_scale"] == 0.0
    assert nuclei["exclude_border"] is False
    assert nuclei["manual_threshold"] is None
    assert pipeline.cells.arguments()["regularization_factor"] == 0.05
    assert pipeline.measure.Texture.scales == (3,)
    assert pipeline.measure.Texture.gray_levels == 256
    assert pipeline.measure.AreaShape.zernike_degree == 9


def test_arguments_are_accepted_by_the_segmentation_functions():
    import inspect

    primary = inspect.signature(identify_primary).parameters
    secondary = inspect.signature(identify_secondary).parameters
    assert set(Pipeline().nuclei.arguments()) <= set(primary)
    assert set(Pipeline().cells.arguments()) <= set(secondary)


def test_toml_round_trip_with_and_without_comments(tmp_path):
    pipeline = Pipeline().replace(nuclei={"size_range": (8, 30), "declump": "intensity"},
                                  measure={"HOG": {"objects": ("Nuclei",), "crop": 24}},
                                  images={"rescale": 4095})
    for comments in (False, True):
        text = pipeline.to_toml(comments=comments)
        tomllib.loads(text)
        assert Pipeline.from_toml(text) == pipeline
    path = tmp_path / "p.toml"
    pipeline.save(path)
    assert Pipeline.load(path) == pipeline
    assert Pipeline.load(path).images.rescale == 4095


def test_every_key_has_a_comment():
    text = Pipeline().to_toml(comments=True)
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            assert lines[i - 1].startswith("#"), line


def test_missing_keys_take_defaults_and_fingerprints_differ():
    partial = Pipeline.from_toml("[nuclei]\nchannel = 'Hoechst'\n")
    assert partial.nuclei.channel == "Hoechst"
    assert partial.cells == Pipeline().cells
    assert partial.fingerprint() != Pipeline().fingerprint()
    assert Pipeline().fingerprint() == Pipeline().fingerprint()


@pytest.mark.parametrize("text, message", [
    ("[nuclei]\nsize_range = [5]", "nuclei.size_range"),
    ("[nuclei]\nsize_range = [30, 10]", "nuclei.size_range"),
    ("[nuclei]\nfoo = 1", "nuclei.foo"),
    ("bar = 1", "'bar'"),
    ("[nuclei]\nexclude_border = 1", "nuclei.exclude_border must be true or false"),
    ("[nuclei]\ndeclump = 'watershed'", "nuclei.declump must be one of"),
    ("[cells]\nregularization_factor = -1.0", "cells.regularization_factor"),
    ("[cells]\nthreshold_bounds = [0.5, 0.1]", "cells.threshold_bounds"),
    ("[measure.Texture]\ngray_levels = 300", "measure.Texture.gray_levels"),
    ("[measure.Texture]\nscales = [0]", "measure.Texture.scales"),
    ("[measure.HOG]\nobjects = ['Nucleus']", "measure.HOG.objects"),
    ("[measure.Granularity]\nsubsample = 0", "measure.Granularity.subsample"),
    ("[measure.Granularity]\nbackground_subsample = -0.5",
     "measure.Granularity.background_subsample"),
    ("[measure.Granularity]\nradius = -1", "measure.Granularity.radius"),
    ("[measure.Granularity]\nspectrum = 0", "measure.Granularity.spectrum"),
    ("[measure.Granularity]\nobjects = ['Cell']", "measure.Granularity.objects"),
    ("[measure.HOG]\ncrop = 8", "measure.HOG.crop"),
    ("[measure.AreaShape]\nzernike_degree = 2.5", "zernike_degree must be an integer"),
    ("[images]\nrescale = 'auto'", "images.rescale"),
    ("[images]\nrescale = 0", "images.rescale"),
    ("[illumination]\nfilter_size = 'big'", "illumination.filter_size"),
    ("[illumination]\nfilter_size = -3", "illumination.filter_size"),
    ("[illumination]\nsmoothing = 'splines'", "illumination.smoothing must be one of"),
    ("[illumination]\nrescale = 'maybe'", "illumination.rescale must be one of"),
    ("[illumination]\nsample = -1", "illumination.sample"),
    ("[illumination]\nobject_width = 0", "illumination.object_width"),
    ("[illumination]\nchannels = ['DNA', 'DNA']", "illumination.channels"),
    ("nuclei = 3", "nuclei must be a table"),
    ("[nuclei\n", "pipeline TOML"),
])
def test_bad_settings_name_the_key(text, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        Pipeline.from_toml(text)


def test_pipeline_is_frozen_and_replace_checks_sections(tmp_path):
    pipeline = Pipeline()
    with pytest.raises(AttributeError):
        pipeline.nuclei = None
    with pytest.raises(ValueError, match="unknown pipeline section"):
        pipeline.replace(nucleus={})
    with pytest.raises(ValueError, match="cannot read"):
        Pipeline.load(tmp_path / "absent.toml")


def test_illumination_settings_round_trip():
    pipeline = Pipeline().replace(illumination={"channels": ("DNA",), "filter_size": 12,
                                                "smoothing": "gaussian", "sample": 40})
    again = Pipeline.from_toml(pipeline.to_toml(comments=True))
    assert again == pipeline and again.illumination.filter_size == 12
    assert again.fingerprint() != Pipeline().fingerprint()
    assert pipeline.illumination.arguments() == {
        "smoothing": "gaussian", "filter_size": 12, "object_width": 10.0, "rescale": "yes"}
    assert Pipeline().illumination.channels == ()  # off by default
    assert "# channels corrected for uneven illumination" in Pipeline().to_toml(comments=True)
