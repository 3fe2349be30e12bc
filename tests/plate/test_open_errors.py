"""Bad plate sources get a clear error naming the path and what was expected."""

import numpy as np
import pytest
import tifffile

from pyhcs.datasets import PlateWriter, synthetic_plate
from pyhcs.plate import PlateError, detect_format, open_plate
from conftest import require_reference

pd = require_reference("pandas")  # the GPU check machine has no pandas


def _img(seed, shape=(16, 16)):
    return np.random.default_rng(seed).integers(0, 999, size=shape).astype(np.uint16)


def test_a_path_that_does_not_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"plate source {tmp_path / 'nope'} does not"):
        open_plate(tmp_path / "nope")


def test_an_empty_folder(tmp_path):
    with pytest.raises(PlateError, match=f"{tmp_path}: an empty folder; expected plate images"):
        open_plate(tmp_path)


def test_an_unrecognised_layout_lists_what_was_found(tmp_path):
    for name in ("img_1.tif", "img_2.tif", "readme.md"):
        (tmp_path / name).write_bytes(b"x")
    with pytest.raises(PlateError, match=r"unrecognised plate layout: found 3 file\(s\) "
                                         r"\(2 \.tif, 1 \.md\).*pattern="):
        open_plate(tmp_path)


def test_an_ambiguous_layout_asks_for_format(tmp_path):
    tifffile.imwrite(tmp_path / "r01c01f01p01-ch1sk1fk1fl1.tiff", _img(0))
    tifffile.imwrite(tmp_path / "Plate_A01_s1_w1.tif", _img(1))
    with pytest.raises(PlateError, match="ambiguous layout.*operetta.*imagexpress.*format="):
        open_plate(tmp_path)
    assert open_plate(tmp_path, format="operetta").wells == ("A01",)
    assert open_plate(tmp_path, format="imagexpress").name == "Plate"


def test_a_file_that_is_not_a_csv(tmp_path):
    (tmp_path / "plate.xml").write_text("<x/>")
    with pytest.raises(PlateError, match="not a LoadData CSV"):
        open_plate(tmp_path / "plate.xml")


def test_a_csv_without_the_loaddata_columns(tmp_path):
    pd.DataFrame({"well": ["A01"], "compound": ["DMSO"]}).to_csv(tmp_path / "map.csv",
                                                                index=False)
    with pytest.raises(PlateError, match=r"map.csv: not a LoadData CSV: missing column\(s\) "
                                         r"Metadata_Well, Metadata_Site, FileName_<Channel>"):
        open_plate(tmp_path / "map.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(PlateError, match="empty.csv: cannot read the CSV"):
        open_plate(tmp_path / "empty.csv")


def test_a_loaddata_csv_of_several_plates(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", _img(0))
    pd.DataFrame({"Metadata_Plate": ["P1", "P2"], "Metadata_Well": ["A01", "A02"],
                  "Metadata_Site": [1, 1], "FileName_DNA": ["a.tif", "a.tif"],
                  "PathName_DNA": [".", "."]}).to_csv(tmp_path / "ld.csv", index=False)
    with pytest.raises(PlateError, match=r"rows of 2 plates \(\['P1', 'P2'\]\)"):
        open_plate(tmp_path / "ld.csv")


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_an_ome_zarr_image_without_plate_metadata(tmp_path, version):
    import zarr
    from ome_zarr.format import FormatV04, FormatV05
    from ome_zarr.writer import write_image

    fmt = FormatV04() if version == "0.4" else FormatV05()
    data = np.random.default_rng(0).integers(0, 999, (2, 32, 24)).astype(np.uint16)
    group = zarr.open_group(str(tmp_path / "image.zarr"), mode="w", zarr_format=fmt.zarr_format)
    write_image(data, group, axes="cyx", fmt=fmt, scale_factors=[2])
    with pytest.raises(PlateError, match="no plate metadata.*format='ome-zarr-image'"):
        open_plate(tmp_path / "image.zarr")
    plate = open_plate(tmp_path / "image.zarr", format="ome-zarr-image")
    assert plate.wells == ("A01",) and plate.sites("A01") == (0,)
    assert plate.channels == ("ch1", "ch2")
    np.testing.assert_array_equal(plate.read("A01", 0), data)


def test_an_ome_zarr_well_or_bare_group(tmp_path):
    synth = synthetic_plate(tmp_path / "s", n_wells=1, n_fields=1, shape=(16, 16), n_nuclei=1,
                            workers=1)
    with pytest.raises(PlateError, match="an OME-Zarr well, not a plate"):
        open_plate(synth.source / "A" / "1")
    import zarr

    zarr.open_group(str(tmp_path / "bare.zarr"), mode="w")
    with pytest.raises(PlateError, match="without OME-NGFF plate metadata"):
        open_plate(tmp_path / "bare.zarr")


def test_a_platemap_whose_wells_are_not_on_the_plate(tmp_path):
    synth = synthetic_plate(tmp_path, n_wells=2, n_fields=1, shape=(16, 16), n_nuclei=1,
                            workers=1)
    bad = tmp_path / "bad_map.csv"
    pd.DataFrame({"Well": ["A01", "H12", "P24"], "compound": ["x", "y", "z"]}).to_csv(
        bad, index=False)
    with pytest.raises(PlateError, match=r"bad_map.csv: 2 well\(s\) not on the plate.*"
                                         r"\['H12', 'P24'\]"):
        open_plate(synth.source, platemap=bad)
    nowell = tmp_path / "nowell.csv"
    pd.DataFrame({"position": ["A01"]}).to_csv(nowell, index=False)
    with pytest.raises(PlateError, match="no well column"):
        open_plate(synth.source, platemap=nowell)
    twice = pd.DataFrame({"well_position": ["A01", "A1"], "dose": [1, 2]})
    with pytest.raises(PlateError, match=r"more than once: \['A01'\]"):
        open_plate(synth.source, platemap=twice)
    with pytest.raises(FileNotFoundError, match="platemap"):
        open_plate(synth.source, platemap=tmp_path / "missing.csv")
    plate = open_plate(synth.source, platemap=pd.DataFrame({"well_position": ["A2"],
                                                            "Metadata_dose": [3.0]}))
    assert plate.metadata("A02")["Metadata_dose"] == 3.0
    assert "Metadata_dose" not in plate.metadata("A01")


def test_bad_arguments_name_themselves(tmp_path):
    synth = synthetic_plate(tmp_path, n_wells=1, n_fields=1, shape=(16, 16), n_nuclei=1,
                            workers=1)
    with pytest.raises(ValueError, match="format must be one of"):
        open_plate(synth.source, format="hdf5")
    with pytest.raises(TypeError, match="source must be a path"):
        open_plate(3)
    with pytest.raises(ValueError, match="format='tiff' needs pattern="):
        open_plate(tmp_path, format="tiff")
    with pytest.raises(ValueError, match="pattern= is for format='tiff'"):
        open_plate(tmp_path, format="operetta", pattern="x")
    with pytest.raises(ValueError, match="acquisition= is for OME-Zarr"):
        open_plate(tmp_path, format="operetta", acquisition=1)
    with pytest.raises(ValueError, match="pattern is not a valid regular expression"):
        open_plate(tmp_path, pattern="(?P<well>")
    with pytest.raises(ValueError, match=r"pattern needs the named group\(s\) site, channel"):
        open_plate(tmp_path, pattern=r"(?P<well>\w+)\.tif")
    with pytest.raises(TypeError, match="channels must be"):
        open_plate(synth.source, channels=3)
    plate = open_plate(synth.source)
    with pytest.raises(ValueError, match="well: well 'Q' is not a well name"):
        plate.read("Q", 0)
    with pytest.raises(TypeError, match="out must be a numpy array"):
        plate.read("A01", 0, out=[1, 2])


def test_several_imagexpress_plates_in_one_folder(tmp_path):
    tifffile.imwrite(tmp_path / "PlateA_A01_s1_w1.tif", _img(0))
    tifffile.imwrite(tmp_path / "PlateB_A01_s1_w1.tif", _img(1))
    with pytest.raises(PlateError, match=r"several ImageXpress plates.*\['PlateA', 'PlateB'\]"):
        open_plate(tmp_path)


def test_a_folder_holding_several_zarr_plates(tmp_path):
    for name in ("one.zarr", "two.zarr"):
        writer = PlateWriter(tmp_path / name, ["DNA"], format="zarr")
        writer.write_field("A01", 0, _img(0)[None])
        writer.close()
    with pytest.raises(PlateError, match="2 OME-Zarr plates.*open one of them"):
        open_plate(tmp_path)
    assert detect_format(tmp_path / "one.zarr")[0] == "ome-zarr"
