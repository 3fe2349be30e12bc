"""Synthetic plates: treatments with known effects, controls, platemap, determinism."""

import numpy as np
import pytest

from pyhcs.datasets import (
    EFFECT_PARAMETERS,
    PhenotypeParams,
    Treatment,
    plate_treatments,
    synthetic_plate,
)
from pyhcs.plate import open_plate
from conftest import require_reference

pd = require_reference("pandas")  # the GPU check machine has no pandas


def test_controls_and_compounds_of_a_96_well_plate():
    treatments = plate_treatments(96, replicates=2, seed=0)
    kinds = pd.Series([t.control for t in treatments]).value_counts().to_dict()
    assert kinds == {"negative": 12, "positive": 6, "treatment": 78}
    compounds = pd.Series([t.name for t in treatments if t.control == "treatment"])
    assert (compounds.value_counts() == 2).all() and compounds.nunique() == 39
    for t in treatments:
        if t.control == "treatment":
            assert 1 <= len(t.effects) <= 3
            assert all(abs(np.log(f)) >= 0.1 for f in t.effects.values())
    assert plate_treatments(96, seed=0) == treatments
    assert plate_treatments(96, seed=1) != treatments
    assert [t.control for t in plate_treatments(1)] == ["negative"]
    assert [t.control for t in plate_treatments(2)] == ["negative", "positive"]


def test_treatment_effects_are_applied_and_kept_in_range():
    base = PhenotypeParams()
    shifted, n = Treatment("X", effects={"nucleus_radius": 1.5, "n_nuclei": 0.5}).apply(base, 10)
    assert shifted.nucleus_radius == pytest.approx(13.5) and n == 5
    extreme, _ = Treatment("Y", effects={"nucleus_radius": 3.0, "nucleus_eccentricity": 5.0,
                                         "texture_contrast": 9.0}).apply(base, 10)
    assert extreme.nucleus_eccentricity == 0.95 and extreme.texture_contrast == 2.0
    assert extreme.cell_radius > extreme.nucleus_radius
    with pytest.raises(ValueError, match="unknown parameter"):
        Treatment("Z", effects={"nucleus_colour": 2.0})
    with pytest.raises(ValueError, match="Treatment.control"):
        Treatment("Z", control="neutral")


def test_platemap_holds_the_truth_and_ground_truth_shows_the_effect(tmp_path):
    synth = synthetic_plate(tmp_path, n_wells=12, n_fields=2, shape=(160, 160), n_nuclei=25,
                            format="tiff", seed=3)
    table = pd.read_csv(synth.platemap)
    assert list(table.columns) == ["well", "treatment", "control_type", *EFFECT_PARAMETERS]
    assert list(table["well"]) == list(synth.wells)
    negative = table[table.control_type == "negative"]
    positive = table[table.control_type == "positive"]
    assert len(negative) == 2 and len(positive) == 1
    assert (negative["nucleus_radius"] == PhenotypeParams().nucleus_radius).all()
    assert positive["nucleus_radius"].iloc[0] == pytest.approx(1.3 * 9.0)

    def mean_area(well):
        areas = []
        for site in synth.sites:
            labels = synth.field(well, site).nuclei
            areas.append(np.bincount(labels.ravel())[1:].mean())
        return np.mean(areas)

    neg_area = np.mean([mean_area(w) for w in negative["well"]])
    pos_area = mean_area(positive["well"].iloc[0])
    assert pos_area > 1.3 * neg_area  # radius x 1.3 -> area about x 1.69
    plate = open_plate(synth.source, platemap=synth.platemap)
    assert plate.metadata(positive["well"].iloc[0])["Metadata_treatment"] == "POS"


def test_deterministic_per_seed_and_fields_differ(tmp_path):
    a = synthetic_plate(tmp_path / "a", n_wells=2, n_fields=2, shape=(64, 64), seed=11)
    b = synthetic_plate(tmp_path / "b", n_wells=2, n_fields=2, shape=(64, 64), seed=11,
                        format="tiff", layout="imagexpress", workers=1)
    c = synthetic_plate(tmp_path / "c", n_wells=2, n_fields=2, shape=(64, 64), seed=12)
    pa, pb, pc = (open_plate(s.source) for s in (a, b, c))
    for well in a.wells:
        for za, tb in zip(a.sites, b.sites):  # the same pixels in every format
            np.testing.assert_array_equal(pa.read(well, za), pb.read(well, tb))
        assert not np.array_equal(pa.read(well, 0), pa.read(well, 1))
        assert not np.array_equal(pa.read(well, 0), pc.read(well, 0))
    assert not np.array_equal(pa.read("A01", 0), pa.read("A02", 0))


def test_a_384_well_plate_layout(tmp_path):
    synth = synthetic_plate(tmp_path, n_wells=384, n_fields=1, shape=(24, 24), n_nuclei=1,
                            format="tiff", seed=0)
    plate = open_plate(synth.source, platemap=synth.platemap)
    assert len(plate.wells) == 384 and plate.wells[-1] == "P24" and plate.wells[24] == "B01"
    assert plate.read("P24", 1).shape == (2, 24, 24)
    assert synth.truth["control_type"].value_counts()["negative"] == 48


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="n_wells must be >= 1"):
        synthetic_plate(tmp_path, n_wells=0)
    with pytest.raises(ValueError, match="n_wells must be at most 1536"):
        synthetic_plate(tmp_path, n_wells=2000)
    with pytest.raises(ValueError, match="does not fit a 96-well plate"):
        synthetic_plate(tmp_path, n_wells=100, plate_format=96)
    with pytest.raises(ValueError, match="format must be one of"):
        synthetic_plate(tmp_path, n_wells=1, format="png")
    with pytest.raises(ValueError, match="layout must be one of"):
        synthetic_plate(tmp_path, n_wells=1, format="tiff", layout="cellomics")
    with pytest.raises(ValueError, match="treatments must be 2 Treatment"):
        synthetic_plate(tmp_path, n_wells=2, treatments=[Treatment("A")])
    synthetic_plate(tmp_path, n_wells=1, n_fields=1, shape=(16, 16), n_nuclei=1)
    with pytest.raises(FileExistsError, match="already holds a plate"):
        synthetic_plate(tmp_path, n_wells=1, n_fields=1, shape=(16, 16), n_nuclei=1)
    again = synthetic_plate(tmp_path, n_wells=2, n_fields=1, shape=(16, 16), n_nuclei=1,
                            overwrite=True)
    assert open_plate(again.source).wells == ("A01", "A02")
    with pytest.raises(ValueError, match="site 5 is not one of"):
        again.field("A01", 5)
