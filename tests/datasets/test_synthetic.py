"""Tests of pyhcs.datasets: the synthetic field generator and the ``pyhcs synth`` command."""

from __future__ import annotations

import dataclasses
import json
import math
import warnings

import numpy as np
import pytest
import tifffile
from scipy import ndimage as ndi
from skimage.measure import regionprops_table
from skimage.segmentation import find_boundaries

from pyhcs.cli import main
from pyhcs.datasets import (
    CHANNEL_NAMES,
    ImagingParams,
    PhenotypeParams,
    SyntheticField,
    derive_seed,
    synthetic_field,
    write_synthetic_fields,
)
from pyhcs.datasets.synthetic import _label_dtype

SHAPE = (320, 384)  # not square: catches swapped axes
N = 40


@pytest.fixture(scope="module")
def field() -> SyntheticField:
    return synthetic_field(SHAPE, N, seed=7)


def _gen(seed=3, shape=(384, 384), n=50, **phenotype):
    return synthetic_field(shape, n, seed=seed, phenotype=PhenotypeParams(**phenotype))


# ------------------------------------------------------------------ shapes, dtypes, determinism


def test_shapes_and_dtypes(field):
    h, w = SHAPE
    assert field.image.shape == (2, h, w)
    assert field.image.dtype == np.uint16
    assert field.channel_names == CHANNEL_NAMES == ("DNA", "Actin")
    assert field.nuclei.shape == field.cells.shape == (h, w)
    assert field.nuclei.dtype == field.cells.dtype == np.int32
    assert field.shape == SHAPE
    assert field.seed == 7 and field.n_requested == N
    assert field.phenotype == PhenotypeParams() and field.imaging == ImagingParams()
    np.testing.assert_array_equal(field.channel("DNA"), field.image[0])
    np.testing.assert_array_equal(field.channel("Actin"), field.image[1])
    with pytest.raises(KeyError, match="name"):
        field.channel("GFP")
    for key, values in field.truth.items():
        assert values.shape == (field.n_nuclei,), key
    np.testing.assert_array_equal(field.truth["label"], np.arange(1, field.n_nuclei + 1))


def test_same_seed_identical():
    a = synthetic_field((200, 260), 25, seed=11)
    b = synthetic_field((200, 260), 25, seed=11)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.nuclei, b.nuclei)
    np.testing.assert_array_equal(a.cells, b.cells)
    for key in a.truth:
        np.testing.assert_array_equal(a.truth[key], b.truth[key])


def test_different_seeds_differ():
    a = synthetic_field((200, 260), 25, seed=11)
    b = synthetic_field((200, 260), 25, seed=12)
    assert not np.array_equal(a.image, b.image)
    assert not np.array_equal(a.nuclei, b.nuclei)


def test_no_global_rng_state_used():
    np.random.seed(0)
    a = synthetic_field((128, 128), 8, seed=5)
    np.random.seed(1)
    b = synthetic_field((128, 128), 8, seed=5)
    np.testing.assert_array_equal(a.image, b.image)


def test_noise_change_keeps_geometry():
    a = synthetic_field((160, 160), 12, seed=2)
    b = synthetic_field((160, 160), 12, seed=2, imaging=ImagingParams(read_noise=20.0))
    np.testing.assert_array_equal(a.nuclei, b.nuclei)
    np.testing.assert_array_equal(a.cells, b.cells)
    assert not np.array_equal(a.image, b.image)


# ------------------------------------------------------------------ ground-truth labels


def test_labels_contiguous_and_consistent(field):
    n = field.n_nuclei
    assert n == N  # sparse field: every nucleus is placed
    np.testing.assert_array_equal(np.unique(field.nuclei), np.arange(n + 1))
    np.testing.assert_array_equal(np.unique(field.cells), np.arange(n + 1))
    inside = field.nuclei > 0
    np.testing.assert_array_equal(field.cells[inside], field.nuclei[inside])
    # sparse cells leave background between them
    assert 0.05 < np.mean(field.cells == 0) < 0.95


@pytest.mark.parametrize(
    "phenotype",
    [PhenotypeParams(), PhenotypeParams(cluster_fraction=1.0, nucleus_overlap=0.5,
                                        nucleus_eccentricity=0.9)],
    ids=["default", "crowded-clusters"],
)
def test_objects_are_connected(phenotype):
    f = synthetic_field((256, 256), 60, seed=4, phenotype=phenotype)
    for labels in (f.nuclei, f.cells):
        for k, sl in enumerate(ndi.find_objects(labels), start=1):
            _, n_pieces = ndi.label(labels[sl] == k)  # 4-connectivity
            assert n_pieces == 1, k
    inside = f.nuclei > 0
    np.testing.assert_array_equal(f.cells[inside], f.nuclei[inside])


def test_clusters_touch():
    f = _gen(cluster_fraction=1.0)
    assert (f.truth["cluster"] > 0).mean() > 0.8
    # touching nuclei: some nucleus pixels have a 4-neighbour of another nucleus
    a, b = f.nuclei[:, 1:], f.nuclei[:, :-1]
    assert np.any((a > 0) & (b > 0) & (a != b))
    g = _gen(cluster_fraction=0.0)
    assert np.all(g.truth["cluster"] == 0)


def test_crowded_field_places_fewer_and_warns():
    with pytest.warns(RuntimeWarning, match="placed"):
        f = synthetic_field((64, 64), 200, seed=0)
    assert 0 < f.n_nuclei < 200
    assert f.n_requested == 200
    labels = np.arange(1, f.n_nuclei + 1)
    np.testing.assert_array_equal(np.setdiff1d(np.unique(f.nuclei), [0]), labels)
    np.testing.assert_array_equal(np.setdiff1d(np.unique(f.cells), [0]), labels)
    inside = f.nuclei > 0
    np.testing.assert_array_equal(f.cells[inside], f.nuclei[inside])


def test_zero_nuclei():
    f = synthetic_field((64, 80), 0, seed=0)
    assert f.n_nuclei == 0
    assert not f.nuclei.any() and not f.cells.any()
    assert f.image.shape == (2, 64, 80)


def test_default_size_places_all_nuclei():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = synthetic_field()  # 2048 x 2048, 1500 nuclei
    assert f.image.shape == (2, 2048, 2048)
    assert f.n_nuclei == 1500
    assert int(f.nuclei.max()) == int(f.cells.max()) == 1500


# ------------------------------------------------------------------ image content


def test_nuclei_brighter_than_background(field):
    dna = field.channel("DNA").astype(float)
    background = dna[field.cells == 0].mean()
    nuclear = dna[field.nuclei > 0].mean()
    assert nuclear > 3 * background
    # every nucleus on its own is brighter than the background
    means = ndi.mean(dna, field.nuclei, np.arange(1, field.n_nuclei + 1))
    assert np.all(means > background)


def test_membranes_brighter_than_cell_interiors(field):
    actin = field.channel("Actin").astype(float)
    border = find_boundaries(field.cells, mode="inner")
    interior = (field.cells > 0) & ~ndi.binary_dilation(border, iterations=3) & (field.nuclei == 0)
    assert actin[border].mean() > 1.2 * actin[interior].mean()
    # cytoplasm is brighter than the background and than the nuclei
    assert actin[interior].mean() > 2 * actin[field.cells == 0].mean()
    assert actin[interior].mean() > actin[ndi.binary_erosion(field.nuclei > 0, iterations=2)].mean()


def test_illumination_falloff_darkens_corners():
    p = PhenotypeParams(dna_intensity=0.0, actin_intensity=0.0)
    flat = synthetic_field((256, 256), 0, seed=1, phenotype=p,
                           imaging=ImagingParams(illumination_falloff=0.0, background=2000.0))
    vign = synthetic_field((256, 256), 0, seed=1, phenotype=p,
                           imaging=ImagingParams(illumination_falloff=0.6, background=2000.0))
    def corner_over_centre(img):
        img = img.astype(float) - 100.0  # camera offset
        corners = np.mean([img[:16, :16].mean(), img[:16, -16:].mean(),
                           img[-16:, :16].mean(), img[-16:, -16:].mean()])
        return corners / img[112:144, 112:144].mean()
    assert abs(corner_over_centre(flat.image[0]) - 1.0) < 0.03
    assert corner_over_centre(vign.image[0]) < 0.85


def test_noise_levels():
    p = PhenotypeParams(dna_intensity=0.0, actin_intensity=0.0)
    flat = ImagingParams(illumination_falloff=0.0, background=400.0, read_noise=0.0)
    f = synthetic_field((128, 128), 0, seed=2, phenotype=p, imaging=flat)
    dna = f.image[0].astype(float)
    assert abs(dna.mean() - 500.0) < 5  # background + offset
    assert abs(dna.var() - 400.0) < 40  # Poisson: variance = mean photon count
    g = synthetic_field((128, 128), 0, seed=2, phenotype=p,
                        imaging=dataclasses.replace(flat, gain=4.0))
    assert g.image[0].astype(float).var() > 3 * dna.var()


def test_saturation_clips_to_uint16():
    f = synthetic_field((96, 96), 6, seed=0,
                        phenotype=PhenotypeParams(dna_intensity=65000.0))
    assert f.image.dtype == np.uint16
    assert f.image[0].max() == 65535


# ------------------------------------------------------------------ phenotype parameters


def _nucleus_stats(f):
    t = regionprops_table(f.nuclei, f.channel("DNA").astype(float),
                          properties=("area", "eccentricity", "intensity_mean",
                                      "intensity_std"))
    return t


def test_nucleus_size_parameter():
    small = _nucleus_stats(_gen(nucleus_radius=7.0))["area"].mean()
    large = _nucleus_stats(_gen(nucleus_radius=11.0))["area"].mean()
    assert large > 1.8 * small
    assert abs(small - math.pi * 7.0**2) < 0.3 * math.pi * 7.0**2


def test_eccentricity_parameter():
    round_ = _nucleus_stats(_gen(nucleus_eccentricity=0.2))["eccentricity"].mean()
    long_ = _nucleus_stats(_gen(nucleus_eccentricity=0.85))["eccentricity"].mean()
    assert long_ > round_ + 0.3


def test_texture_contrast_parameter():
    def cv(f):
        t = _nucleus_stats(f)
        return np.mean(t["intensity_std"] / t["intensity_mean"])
    assert cv(_gen(texture_contrast=0.8)) > 1.5 * cv(_gen(texture_contrast=0.1))


def test_texture_scale_parameter():
    quiet = ImagingParams(gain=0.01, read_noise=0.0)  # ~no noise: only the texture

    def high_freq(f):
        dna = f.channel("DNA").astype(float)
        inner = ndi.binary_erosion(f.nuclei > 0, iterations=2)
        return np.mean(np.abs(ndi.laplace(dna))[inner] / dna[inner])

    fine = synthetic_field((384, 384), 50, seed=3, imaging=quiet,
                           phenotype=PhenotypeParams(texture_scale=1.0, texture_contrast=0.5))
    coarse = synthetic_field((384, 384), 50, seed=3, imaging=quiet,
                             phenotype=PhenotypeParams(texture_scale=3.0, texture_contrast=0.5))
    assert high_freq(coarse) < 0.7 * high_freq(fine)


def test_intensity_parameters():
    a = _gen()
    b = _gen(dna_intensity=6000.0, actin_intensity=1600.0)
    dna_a = a.channel("DNA")[a.nuclei > 0].mean()
    dna_b = b.channel("DNA")[b.nuclei > 0].mean()
    assert 1.6 < dna_b / dna_a < 2.4
    cyto_a = a.channel("Actin")[(a.cells > 0) & (a.nuclei == 0)].mean()
    cyto_b = b.channel("Actin")[(b.cells > 0) & (b.nuclei == 0)].mean()
    assert 1.6 < cyto_b / cyto_a < 2.4


def test_cell_size_parameter():
    def mean_cell_area(f):
        return np.bincount(f.cells.ravel())[1:].mean()
    small = mean_cell_area(_gen(n=20, cell_radius=20.0))
    large = mean_cell_area(_gen(n=20, cell_radius=35.0))
    assert large > 1.8 * small


def test_truth_records_phenotype():
    f = _gen(nucleus_radius=10.0)
    r = np.sqrt(f.truth["semi_major"] * f.truth["semi_minor"])
    assert abs(np.median(r) - 10.0) < 1.5
    assert np.all(f.truth["semi_major"] >= f.truth["semi_minor"])
    assert np.all((f.truth["center_y"] >= 0) & (f.truth["center_y"] < 384))


def test_phenotype_is_frozen_and_replaceable():
    p = PhenotypeParams()
    q = dataclasses.replace(p, nucleus_radius=12.0)
    assert q.nucleus_radius == 12.0 and p.nucleus_radius == 9.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.nucleus_radius = 3.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="nucleus_radius"):
        dataclasses.replace(p, nucleus_radius=-1.0)
    assert isinstance(PhenotypeParams(nucleus_radius=10).nucleus_radius, float)


# ------------------------------------------------------------------ optional appearances


def test_optional_appearances_are_off_by_default_and_leave_fields_unchanged():
    """Turning one of them off again gives the field bit for bit (its own random stream)."""
    plain = synthetic_field(SHAPE, N, seed=7)
    zeroed = synthetic_field(SHAPE, N, seed=7, phenotype=PhenotypeParams(
        mitotic_fraction=0.0, apoptotic_fraction=0.0, debris_per_megapixel=0.0),
        imaging=ImagingParams(defocus=0.0, bleed_through=0.0))
    np.testing.assert_array_equal(plain.image, zeroed.image)
    assert not plain.truth["state"].any()
    # debris adds bright DNA pixels, mostly off the nuclei, and never changes the labels
    debris = synthetic_field(SHAPE, N, seed=7,
                             phenotype=PhenotypeParams(debris_per_megapixel=3000))
    np.testing.assert_array_equal(plain.nuclei, debris.nuclei)
    np.testing.assert_array_equal(plain.cells, debris.cells)
    extra = (debris.image[0].astype(float) - plain.image[0]) > 200
    assert extra.sum() > 50 and (plain.nuclei[extra] == 0).mean() > 0.5


def test_mitotic_and_apoptotic_nuclei():
    f = synthetic_field((512, 512), 150, seed=4, phenotype=PhenotypeParams(
        mitotic_fraction=0.3, apoptotic_fraction=0.3, texture_contrast=0.4))
    state = f.truth["state"]
    assert 0.15 < (state == 1).mean() < 0.45 and 0.1 < (state == 2).mean() < 0.4
    dna = f.channel("DNA").astype(float)
    index = np.arange(1, f.n_nuclei + 1)
    mean = ndi.mean(dna, f.nuclei, index)
    area = ndi.sum(np.ones_like(dna), f.nuclei, index)
    cv = ndi.standard_deviation(dna, f.nuclei, index) / mean
    normal, mitotic, apoptotic = state == 0, state == 1, state == 2
    assert np.median(mean[mitotic]) > 1.8 * np.median(mean[normal])
    assert np.median(mean[apoptotic]) < 0.6 * np.median(mean[normal])
    assert np.median(area[mitotic]) < 0.6 * np.median(area[normal])
    assert np.median(cv[mitotic]) < np.median(cv[normal]) < np.median(cv[apoptotic])


def test_bleed_through_and_defocus():
    plain = synthetic_field(SHAPE, N, seed=9, imaging=ImagingParams(read_noise=0.0))
    bled = synthetic_field(SHAPE, N, seed=9, imaging=ImagingParams(read_noise=0.0,
                                                                    bleed_through=0.3))
    cytoplasm = (plain.cells > 0) & (plain.nuclei == 0)
    gain = bled.image[0][cytoplasm].mean() - plain.image[0][cytoplasm].mean()
    assert gain > 0.2 * (plain.image[1][cytoplasm].mean() - 250)
    np.testing.assert_array_equal(plain.nuclei, bled.nuclei)
    blurred = synthetic_field(SHAPE, N, seed=9, imaging=ImagingParams(read_noise=0.0,
                                                                      defocus=4.0))
    # less high-frequency energy, and unevenly across the field
    sharp = np.abs(np.diff(plain.image[0].astype(float), axis=1))
    soft = np.abs(np.diff(blurred.image[0].astype(float), axis=1))
    assert soft.mean() < 0.9 * sharp.mean()


# ------------------------------------------------------------------ argument validation


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(shape=(0, 10)), ValueError, "shape"),
        (dict(shape=(10, -3)), ValueError, "shape"),
        (dict(shape=(10,)), ValueError, "shape"),
        (dict(shape=(10, 10, 10)), ValueError, "shape"),
        (dict(shape=(10.5, 10)), TypeError, "shape"),
        (dict(shape=(True, 10)), TypeError, "shape"),
        (dict(shape=10), TypeError, "shape"),
        (dict(shape="ab"), TypeError, "shape"),
        (dict(n_nuclei=-1), ValueError, "n_nuclei"),
        (dict(n_nuclei=2.0), TypeError, "n_nuclei"),
        (dict(seed=-1), ValueError, "seed"),
        (dict(seed=1.5), TypeError, "seed"),
        (dict(seed=None), TypeError, "seed"),
        (dict(phenotype={"nucleus_radius": 3}), TypeError, "phenotype"),
        (dict(imaging=PhenotypeParams()), TypeError, "imaging"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    args = dict(shape=(32, 32), n_nuclei=2, seed=0)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        synthetic_field(**args)


@pytest.mark.parametrize(
    "cls, kwargs, exc, match",
    [
        (PhenotypeParams, dict(nucleus_radius=0.0), ValueError, "nucleus_radius"),
        (PhenotypeParams, dict(nucleus_eccentricity=1.0), ValueError, "nucleus_eccentricity"),
        (PhenotypeParams, dict(texture_contrast=-0.1), ValueError, "texture_contrast"),
        (PhenotypeParams, dict(texture_scale=float("nan")), ValueError, "texture_scale"),
        (PhenotypeParams, dict(cluster_fraction=1.5), ValueError, "cluster_fraction"),
        (PhenotypeParams, dict(cluster_size=1.0), ValueError, "cluster_size"),
        (PhenotypeParams, dict(dna_intensity=-5.0), ValueError, "dna_intensity"),
        (PhenotypeParams, dict(cell_radius=8.0), ValueError, "cell_radius"),
        (PhenotypeParams, dict(nucleus_radius="9"), TypeError, "nucleus_radius"),
        (PhenotypeParams, dict(membrane_contrast=True), TypeError, "membrane_contrast"),
        (ImagingParams, dict(gain=0.0), ValueError, "gain"),
        (ImagingParams, dict(read_noise=-1.0), ValueError, "read_noise"),
        (ImagingParams, dict(illumination_falloff=1.0), ValueError, "illumination_falloff"),
        (ImagingParams, dict(psf_sigma=float("inf")), ValueError, "psf_sigma"),
        (PhenotypeParams, dict(mitotic_fraction=1.5), ValueError, "mitotic_fraction"),
        (PhenotypeParams, dict(apoptotic_fraction=-0.1), ValueError, "apoptotic_fraction"),
        (PhenotypeParams, dict(debris_per_megapixel=-1.0), ValueError, "debris_per_megapixel"),
        (ImagingParams, dict(defocus=-1.0), ValueError, "defocus"),
        (ImagingParams, dict(bleed_through=1.5), ValueError, "bleed_through"),
    ],
)
def test_bad_parameters(cls, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cls(**kwargs)


def test_derive_seed():
    assert derive_seed(0, 1) == derive_seed(0, 1)
    assert len({derive_seed(0, i) for i in range(50)} | {derive_seed(1, 0)}) == 51
    assert 0 <= derive_seed(123, 4, 5) < 2**63
    with pytest.raises(ValueError, match="seed"):
        derive_seed(-1)


def test_label_dtype():
    assert _label_dtype(np.array([0, 65535])) == np.uint16
    assert _label_dtype(np.array([0, 65536])) == np.uint32


# ------------------------------------------------------------------ writing and the CLI


def _read_field(out, files):
    return {key: tifffile.imread(out / name) for key, name in files.items()}


def test_write_synthetic_fields(tmp_path):
    out = tmp_path / "new" / "dir"
    p = PhenotypeParams(nucleus_radius=7.0)
    man = write_synthetic_fields(out, 2, shape=(96, 128), n_nuclei=10, seed=3, phenotype=p,
                                 prefix="f")
    assert json.loads((out / "manifest.json").read_text()) == man
    assert man["phenotype"]["nucleus_radius"] == 7.0
    assert man["seed"] == 3 and man["shape"] == [96, 128] and man["n_fields"] == 2
    assert [f["seed"] for f in man["fields"]] == [derive_seed(3, 0), derive_seed(3, 1)]
    for i, entry in enumerate(man["fields"]):
        assert entry["files"] == {
            "DNA": f"f_{i:04d}_DNA.tif",
            "Actin": f"f_{i:04d}_Actin.tif",
            "nuclei_labels": f"f_{i:04d}_nuclei_labels.tif",
            "cells_labels": f"f_{i:04d}_cells_labels.tif",
        }
        got = _read_field(out, entry["files"])
        ref = synthetic_field((96, 128), 10, seed=entry["seed"], phenotype=p)
        assert got["DNA"].dtype == np.uint16 and got["DNA"].shape == (96, 128)
        np.testing.assert_array_equal(got["DNA"], ref.image[0])
        np.testing.assert_array_equal(got["Actin"], ref.image[1])
        assert got["nuclei_labels"].dtype == np.uint16
        np.testing.assert_array_equal(got["nuclei_labels"], ref.nuclei)
        np.testing.assert_array_equal(got["cells_labels"], ref.cells)
        assert entry["n_nuclei"] == ref.n_nuclei
    # field seeds do not depend on the number of fields
    man1 = write_synthetic_fields(tmp_path / "one", 1, shape=(96, 128), n_nuclei=10, seed=3,
                                  phenotype=p, prefix="f")
    assert man1["fields"][0]["seed"] == man["fields"][0]["seed"]
    with pytest.raises(FileExistsError, match="overwrite"):
        write_synthetic_fields(out, 1, shape=(96, 128), n_nuclei=10, seed=3, prefix="f")
    write_synthetic_fields(out, 1, shape=(96, 128), n_nuclei=10, seed=3, prefix="f",
                           overwrite=True)
    with pytest.raises(ValueError, match="n_fields"):
        write_synthetic_fields(tmp_path / "x", 0, shape=(32, 32), n_nuclei=1)
    with pytest.raises(ValueError, match="prefix"):
        write_synthetic_fields(tmp_path / "x", 1, shape=(32, 32), n_nuclei=1, prefix="a/b")


def test_cli_synth(tmp_path, capsys):
    rc = main(["synth", str(tmp_path), "--n-fields", "2", "--shape", "80", "112",
               "--n-nuclei", "6", "--seed", "5", "--nucleus-radius", "6",
               "--texture-contrast", "0.5", "--read-noise", "4"])
    assert rc == 0
    assert "wrote 2 field(s)" in capsys.readouterr().out
    names = sorted(p.name for p in tmp_path.iterdir())
    expected = sorted(
        [f"field_{i:04d}_{s}.tif" for i in range(2)
         for s in ("DNA", "Actin", "nuclei_labels", "cells_labels")] + ["manifest.json"]
    )
    assert names == expected
    man = json.loads((tmp_path / "manifest.json").read_text())
    assert man["phenotype"]["nucleus_radius"] == 6.0
    assert man["phenotype"]["texture_contrast"] == 0.5
    assert man["imaging"]["read_noise"] == 4.0
    assert man["n_nuclei"] == 6 and man["seed"] == 5 and man["shape"] == [80, 112]
    ref = synthetic_field(
        (80, 112), 6, seed=derive_seed(5, 1),
        phenotype=PhenotypeParams(nucleus_radius=6.0, texture_contrast=0.5),
        imaging=ImagingParams(read_noise=4.0),
    )
    dna = tifffile.imread(tmp_path / "field_0001_DNA.tif")
    actin = tifffile.imread(tmp_path / "field_0001_Actin.tif")
    nuclei = tifffile.imread(tmp_path / "field_0001_nuclei_labels.tif")
    cells = tifffile.imread(tmp_path / "field_0001_cells_labels.tif")
    assert dna.dtype == actin.dtype == np.uint16 and dna.shape == (80, 112)
    np.testing.assert_array_equal(np.stack([dna, actin]), ref.image)
    np.testing.assert_array_equal(nuclei, ref.nuclei)
    np.testing.assert_array_equal(cells, ref.cells)

    # existing files: refuse unless --overwrite
    assert main(["synth", str(tmp_path), "--shape", "80", "112", "--n-nuclei", "6"]) == 1
    assert "overwrite" in capsys.readouterr().err
    assert main(["synth", str(tmp_path), "--shape", "80", "112", "--n-nuclei", "6",
                 "--overwrite", "--quiet"]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--nucleus-radius", "-2"], "nucleus_radius"),
        (["--shape", "0", "10"], "shape"),
        (["--n-nuclei", "-1"], "n_nuclei"),
        (["--gain", "0"], "gain"),
    ],
)
def test_cli_synth_bad_arguments(tmp_path, capsys, argv, match):
    assert main(["synth", str(tmp_path / "o"), "--shape", "32", "32", *argv]) == 2
    assert match in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
