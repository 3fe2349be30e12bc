"""Vendor naming edge cases and fields that cannot be read.

A bad field never stops the plate from opening and never returns pixels: reading it raises
``FieldReadError`` naming the well, the site, the file and the cause, and every other field
still reads.
"""

import pickle

import numpy as np
import pytest
import tifffile

from pyhcs.plate import FieldReadError, PlateError, open_plate

SHAPE = (24, 32)


def _img(seed, shape=SHAPE, dtype=np.uint16):
    return np.random.default_rng(seed).integers(0, 4000, size=shape).astype(dtype)


def _operetta(root, fields, channels=(1, 2), planes=(1,), *, shape=SHAPE):
    """Write ``r..c..f..p..-ch..sk1fk1fl1.tiff`` files; fields: (row, column, field)."""
    written = {}
    for k, (r, c, f) in enumerate(fields):
        for ch in channels:
            for p in planes:
                data = _img(1000 * k + 10 * ch + p, shape)
                name = f"r{r:02d}c{c:02d}f{f:02d}p{p:02d}-ch{ch}sk1fk1fl1.tiff"
                tifffile.imwrite(root / name, data)
                written[(r, c, f, ch, p)] = data
    return written


def test_1536_well_names(tmp_path):
    _operetta(tmp_path, [(32, 48, 1), (27, 1, 1), (1, 1, 1), (26, 13, 2)])
    plate = open_plate(tmp_path)
    assert plate.format == "operetta"
    assert plate.wells == ("A01", "Z13", "AA01", "AF48")
    assert plate.sites("Z13") == (2,)
    assert "rows A-AF, columns 1-48" in plate.describe()


def test_missing_sites_are_simply_absent(tmp_path):
    _operetta(tmp_path, [(1, 1, 1), (1, 1, 2), (1, 1, 3), (1, 2, 1), (1, 2, 3)])
    plate = open_plate(tmp_path)
    assert plate.sites("A01") == (1, 2, 3)
    assert plate.sites("A02") == (1, 3)
    assert len(plate) == 5
    with pytest.raises(ValueError, match=r"site 2 is not a site of well A02.*\[1, 3\]"):
        plate.read("A02", 2)
    with pytest.raises(ValueError, match="well 'H12' is not on plate"):
        plate.read("H12", 1)


def test_extra_unrelated_files_are_listed_and_never_read(tmp_path):
    written = _operetta(tmp_path, [(2, 3, 1)])
    (tmp_path / "Thumbs.db").write_bytes(b"\x00" * 10)
    (tmp_path / "r02c03f01p01-ch1sk1fk1fl1_preview.png").write_bytes(b"png")
    (tmp_path / "assay layout.xlsx").write_bytes(b"xlsx")
    (tmp_path / "sub").mkdir()
    tifffile.imwrite(tmp_path / "sub" / "other.tiff", _img(9))
    plate = open_plate(tmp_path)
    assert sorted(plate.ignored) == ["Thumbs.db", "assay layout.xlsx",
                                     "r02c03f01p01-ch1sk1fk1fl1_preview.png", "sub/other.tiff"]
    np.testing.assert_array_equal(plate.read("B03", 1),
                                  np.stack([written[(2, 3, 1, 1, 1)], written[(2, 3, 1, 2, 1)]]))
    assert "ignored   4 file(s)" in plate.describe()


def test_a_channel_missing_for_one_field_fails_that_field_only(tmp_path):
    written = _operetta(tmp_path, [(1, 1, 1), (1, 1, 2)], channels=(1, 2, 3))
    (tmp_path / "r01c01f02p01-ch2sk1fk1fl1.tiff").unlink()
    plate = open_plate(tmp_path)
    assert plate.channels == ("ch1", "ch2", "ch3")
    assert plate.incomplete == (("A01", 2, plate.incomplete[0][2]),)
    with pytest.raises(FieldReadError, match=r"well A01 site 2.*channel\(s\) ch2") as info:
        plate.read("A01", 2)
    assert info.value.well == "A01" and info.value.site == 2
    np.testing.assert_array_equal(plate.read("A01", 1)[2], written[(1, 1, 1, 3, 1)])
    assert "unreadable 1 field(s): A01 site 2" in plate.describe()


def test_a_field_of_another_shape_or_dtype_fails_naming_its_file(tmp_path):
    _operetta(tmp_path, [(1, 1, 1), (1, 2, 1), (1, 3, 1)])
    tifffile.imwrite(tmp_path / "r01c02f01p01-ch2sk1fk1fl1.tiff", _img(1, (24, 30)))
    tifffile.imwrite(tmp_path / "r01c03f01p01-ch1sk1fk1fl1.tiff", _img(2, SHAPE, np.float32))
    plate = open_plate(tmp_path)
    assert plate.shape == SHAPE and plate.dtype == np.uint16
    with pytest.raises(FieldReadError, match=r"A02 site 1 \(.*r01c02f01p01-ch2.*\).*shape "
                                             r"\(24, 30\) differs"):
        plate.read("A02", 1)
    with pytest.raises(FieldReadError, match=r"A03 site 1.*dtype float32 differs"):
        plate.read("A03", 1)
    plate.read("A01", 1)


def test_truncated_corrupt_and_vanished_files(tmp_path):
    _operetta(tmp_path, [(1, 1, 1), (1, 2, 1), (1, 3, 1), (1, 4, 1)])
    truncated = tmp_path / "r01c01f01p01-ch1sk1fk1fl1.tiff"
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) - 300])
    (tmp_path / "r01c02f01p01-ch1sk1fk1fl1.tiff").write_bytes(b"this is not a tiff" * 10)
    plate = open_plate(tmp_path)  # the first complete field decides shape and dtype
    with pytest.raises(FieldReadError, match=r"A01 site 1.*truncated"):
        plate.read("A01", 1)
    with pytest.raises(FieldReadError, match=r"A02 site 1.*not a readable TIFF"):
        plate.read("A02", 1)
    (tmp_path / "r01c03f01p01-ch2sk1fk1fl1.tiff").unlink()
    with pytest.raises(FieldReadError, match=r"A03 site 1.*missing"):
        plate.read("A03", 1)
    assert plate.read("A04", 1).shape == (2, *SHAPE)


def test_field_read_error_survives_pickling():
    error = FieldReadError("B03", 2, "/data/x.tif", "truncated file")
    again = pickle.loads(pickle.dumps(error))
    assert (again.well, again.site, again.path, again.cause) == ("B03", 2, "/data/x.tif",
                                                                 "truncated file")
    assert str(again) == str(error)


def test_several_planes_need_a_projection(tmp_path):
    written = _operetta(tmp_path, [(1, 1, 1)], planes=(1, 2, 3))
    with pytest.raises(PlateError, match="3 z/t planes.*projection='max'"):
        open_plate(tmp_path)
    plate = open_plate(tmp_path, projection="max")
    expected = np.stack([np.max([written[(1, 1, 1, ch, p)] for p in (1, 2, 3)], axis=0)
                         for ch in (1, 2)])
    np.testing.assert_array_equal(plate.read("A01", 1), expected)
    with pytest.raises(ValueError, match="projection must be None or 'max'"):
        open_plate(tmp_path, projection="mean")


def test_multi_page_tiff_channel_needs_a_projection(tmp_path):
    stack = np.stack([_img(i) for i in range(4)])
    tifffile.imwrite(tmp_path / "A01_s1_DNA.tif", stack, photometric="minisblack")
    pattern = r"(?P<well>[A-H]\d\d)_s(?P<site>\d)_(?P<channel>\w+?)\.tif"
    with pytest.raises(PlateError, match="4 z/t planes"):
        open_plate(tmp_path, pattern=pattern)
    plate = open_plate(tmp_path, pattern=pattern, projection="max")
    np.testing.assert_array_equal(plate.read("A01", 1)[0], stack.max(axis=0))


def test_rgb_tiff_is_refused(tmp_path):
    tifffile.imwrite(tmp_path / "A01_s1_DNA.tif", np.zeros((8, 8, 3), np.uint8),
                     photometric="rgb")
    with pytest.raises(PlateError, match="expected a 2-D gray image"):
        open_plate(tmp_path, pattern=r"(?P<well>A01)_s(?P<site>1)_(?P<channel>DNA)\.tif")


def test_two_files_for_one_plane_are_refused(tmp_path):
    tifffile.imwrite(tmp_path / "A01_s1_DNA.tif", _img(0))
    tifffile.imwrite(tmp_path / "A01_s1_DNA.tiff", _img(1))
    with pytest.raises(PlateError, match="two files for one plane"):
        open_plate(tmp_path, pattern=r"(?P<well>A01)_s(?P<site>1)_(?P<channel>DNA)\.tiff?")


# ----------------------------------------------------------------------------- OME-Zarr
@pytest.fixture
def zarr_plate(tmp_path):
    from pyhcs.datasets import synthetic_plate

    return synthetic_plate(tmp_path, n_wells=3, n_fields=1, shape=SHAPE, n_nuclei=2,
                           workers=1)


def test_zarr_corrupt_chunk_and_missing_array_fail_that_field(zarr_plate):
    root = zarr_plate.source
    chunk = next(p for p in (root / "A" / "1" / "0" / "0").rglob("*") if p.is_file()
                 and p.name != "zarr.json")
    chunk.write_bytes(b"garbage" * 5)
    (root / "A" / "2" / "0" / "0" / "zarr.json").unlink()
    plate = open_plate(root)
    with pytest.raises(FieldReadError, match="A01 site 0"):
        plate.read("A01", 0)
    with pytest.raises(FieldReadError, match="A02 site 0.*not a readable OME-Zarr image"):
        plate.read("A02", 0)
    np.testing.assert_array_equal(plate.read("A03", 0), zarr_plate.field("A03", 0).image)


def test_zarr_field_of_another_shape_or_channel_count(tmp_path):
    import zarr

    from pyhcs.datasets import PlateWriter

    writer = PlateWriter(tmp_path / "p.zarr", ["a", "b"], format="zarr")
    writer.write_field("A01", 0, _img(0, (2, *SHAPE)))
    writer.write_field("A02", 0, _img(1, (2, 20, 32)))
    writer.write_field("A03", 0, _img(2, (2, *SHAPE)))
    writer.close()
    # a field with one channel less than the plate
    zarr.create_array(store=str(tmp_path / "p.zarr" / "A" / "3" / "0" / "0"),
                      data=_img(3, (1, *SHAPE)), overwrite=True)
    plate = open_plate(tmp_path / "p.zarr")
    with pytest.raises(FieldReadError, match=r"A02 site 0.*shape \(20, 32\) differs"):
        plate.read("A02", 0)
    with pytest.raises(FieldReadError, match="A03 site 0.*1 channel"):
        plate.read("A03", 0)
    np.testing.assert_array_equal(plate.read("A01", 0), _img(0, (2, *SHAPE)))


def test_an_odd_first_field_does_not_set_the_plate_shape(tmp_path):
    _operetta(tmp_path, [(1, 2, 1), (1, 3, 1), (1, 4, 1)])
    _operetta(tmp_path, [(1, 1, 1)], shape=(10, 12))
    plate = open_plate(tmp_path)
    assert plate.shape == SHAPE
    with pytest.raises(FieldReadError, match=r"A01 site 1.*shape \(10, 12\) differs"):
        plate.read("A01", 1)
    assert plate.read("A04", 1).shape == (2, *SHAPE)


HARMONY_V6 = """<?xml version="1.0" encoding="utf-8"?>
<EvaluationInputData xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" Version="2"
    xmlns="http://www.perkinelmer.com/PEHH/HarmonyV6">
  <User>lab</User>
  <Plates><Plate><PlateID>Screen-042</PlateID><MeasurementID>m1</MeasurementID>
    <PlateTypeName>384 PerkinElmer CellCarrier Ultra</PlateTypeName>
    <PlateRows>16</PlateRows><PlateColumns>24</PlateColumns></Plate></Plates>
  <Maps>
    <Map><Entry ChannelID="1"><FlatfieldProfile>{...}</FlatfieldProfile></Entry>
         <Entry ChannelID="2"><FlatfieldProfile>{...}</FlatfieldProfile></Entry></Map>
    <Map><Entry ChannelID="1"><ChannelName>HOECHST 33342</ChannelName>
           <ImageResolutionX Unit="m">2.9898E-07</ImageResolutionX>
           <ImageResolutionY Unit="m">2.9898E-07</ImageResolutionY></Entry>
         <Entry ChannelID="2"><ChannelName>Alexa 488</ChannelName>
           <ImageResolutionX Unit="m">2.9898E-07</ImageResolutionX>
           <ImageResolutionY Unit="m">2.9898E-07</ImageResolutionY></Entry></Map>
  </Maps>
  <Images>
    <Image Version="1"><id>0301K1F1P1R1</id><URL>r03c01f01p01-ch1sk1fk1fl1.tiff</URL>
      <Row>3</Row><Col>1</Col><FieldID>1</FieldID><PlaneID>1</PlaneID><ChannelID>1</ChannelID>
    </Image>
  </Images>
</EvaluationInputData>
"""


@pytest.mark.parametrize("index_name", ["Index.xml", "Index.ref.xml", "Index.idx.xml"])
def test_harmony_index_xml_names_channels_and_pixel_size(tmp_path, index_name):
    images = tmp_path / "Images"
    images.mkdir()
    written = _operetta(images, [(3, 1, 1), (3, 2, 1)])
    (images / index_name).write_text(HARMONY_V6)
    plate = open_plate(tmp_path)
    assert plate.format == "operetta" and plate.name == "Screen-042"
    assert plate.channels == ("HOECHST 33342", "Alexa 488")
    assert plate.pixel_size == pytest.approx((0.29898, 0.29898))
    assert plate.wells == ("C01", "C02")
    assert plate.ignored == ()
    np.testing.assert_array_equal(plate.read("C02", 1)[1], written[(3, 2, 1, 2, 1)])
    dna = open_plate(tmp_path, channels={"DNA": "HOECHST 33342"})
    np.testing.assert_array_equal(dna.read("C01", 1)[0], written[(3, 1, 1, 1, 1)])


def test_unparseable_index_xml_is_a_clear_error(tmp_path):
    _operetta(tmp_path, [(1, 1, 1)])
    (tmp_path / "Index.idx.xml").write_text("<EvaluationInputData><Maps>")
    with pytest.raises(PlateError, match="Index.idx.xml: cannot parse the Harmony index XML"):
        open_plate(tmp_path)


def test_big_endian_tiffs_read_as_native_uint16(tmp_path):
    big, little = _img(1), _img(2)
    tifffile.imwrite(tmp_path / "A01_s1_DNA.tif", big, byteorder=">")
    tifffile.imwrite(tmp_path / "A02_s1_DNA.tif", little, byteorder="<")
    plate = open_plate(tmp_path, pattern=r"(?P<well>A\d\d)_s(?P<site>\d)_(?P<channel>DNA)\.tif")
    assert plate.dtype == np.dtype(np.uint16) and plate.dtype.isnative
    np.testing.assert_array_equal(plate.read("A01", 1)[0], big)
    np.testing.assert_array_equal(plate.read("A02", 1)[0], little)


def test_open_zarr_arrays_are_bounded(zarr_plate, monkeypatch):
    from pyhcs.plate import _omezarr

    monkeypatch.setattr(_omezarr, "_OPEN_ARRAYS", 2)
    plate = open_plate(zarr_plate.source)
    for _ in range(2):
        for well in plate.wells:
            np.testing.assert_array_equal(plate.read(well, 0), zarr_plate.field(well, 0).image)
            assert len(plate._backend._info) <= 2
