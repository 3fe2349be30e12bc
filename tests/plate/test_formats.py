"""Every plate format round-trips: write, open, read gives exactly the arrays written.

Plates come from pyhcs's own writer (``synthetic_plate``), from ome-zarr-py (NGFF 0.4 and 0.5,
sparse, several acquisitions and sites), and from hand-written vendor folders, TIFF folders and
LoadData CSVs.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tifffile

from pyhcs.datasets import synthetic_plate
from pyhcs.plate import FieldReadError, PlateError, open_plate

SHAPE = (40, 56)  # not square: a transposed read cannot pass


def _random(shape, seed, dtype=np.uint16):
    return np.random.default_rng(seed).integers(0, 65535, size=shape).astype(dtype)


@pytest.fixture(scope="module", params=[("zarr", None, "0.5"), ("zarr", None, "0.4"),
                                        ("tiff", "operetta", "0.5"),
                                        ("tiff", "imagexpress", "0.5")],
                ids=["zarr-0.5", "zarr-0.4", "operetta", "imagexpress"])
def synth(request, tmp_path_factory):
    fmt, layout, version = request.param
    return synthetic_plate(tmp_path_factory.mktemp("synth"), n_wells=3, n_fields=2, shape=SHAPE,
                           n_nuclei=4, format=fmt, layout=layout or "operetta",
                           ngff_version=version, seed=5, workers=2)


def test_synthetic_plates_round_trip(synth):
    for source in (synth.source, synth.root):  # the plate itself, or the folder holding it
        plate = open_plate(source)
        assert plate.wells == ("A01", "A02", "A03")
        assert plate.channels == ("DNA", "Actin")
        assert plate.shape == SHAPE and plate.dtype == np.uint16
        assert len(plate) == 6 and list(plate) == [(w, s) for w in plate.wells
                                                    for s in synth.sites]
        for well, site in plate:
            assert plate.sites(well) == synth.sites
            expected = synth.field(well, site).image
            got = plate.read(well, site)
            assert got.dtype == np.uint16 and got.shape == (2, *SHAPE)
            np.testing.assert_array_equal(got, expected)
    assert plate.pixel_size in (None, (0.65, 0.65))
    if synth.format == "zarr" or synth.layout == "operetta":
        assert plate.pixel_size == pytest.approx((0.65, 0.65))


def test_synthetic_ground_truth_is_written_beside_the_images(synth):
    truth = synth.field("A02", synth.sites[1])
    if synth.format == "zarr":
        import zarr

        group = zarr.open_group(str(synth.source / "A" / "2" / str(synth.sites[1])), mode="r")
        nuclei = np.asarray(group["labels/nuclei/0"])[0]
        cells = np.asarray(group["labels/cells/0"])[0]
    else:
        folder = synth.root / "ground_truth"
        if synth.layout == "operetta":
            nuclei = tifffile.imread(folder / "r01c02f02-nuclei.tiff")
            cells = tifffile.imread(folder / "r01c02f02-cells.tiff")
        else:
            nuclei = tifffile.imread(folder / "A02_s2_nuclei.tif")
            cells = tifffile.imread(folder / "A02_s2_cells.tif")
    np.testing.assert_array_equal(nuclei, truth.nuclei)
    np.testing.assert_array_equal(cells, truth.cells)


def test_reads_from_eight_threads_equal_one_thread(synth):
    plate = open_plate(synth.source)
    serial = {key: plate.read(*key) for key in plate}
    jobs = list(plate) * 8
    with ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(lambda key: (key, plate.read(*key)), jobs))
    assert len(parallel) == 8 * len(plate)
    for key, image in parallel:
        np.testing.assert_array_equal(image, serial[key])


def test_out_fills_the_callers_buffer(synth):
    plate = open_plate(synth.source)
    buffer = np.full(plate.field_shape, 7, dtype=plate.dtype)
    result = plate.read("A03", synth.sites[0], out=buffer)
    assert result is buffer
    np.testing.assert_array_equal(buffer, synth.field("A03", synth.sites[0]).image)
    with pytest.raises(ValueError, match="out must have shape"):
        plate.read("A03", synth.sites[0], out=np.zeros((2, 4, 4), np.uint16))
    with pytest.raises(ValueError, match="out must have shape"):
        plate.read("A03", synth.sites[0], out=np.zeros(plate.field_shape, np.float32))
    strided = np.zeros((2, SHAPE[0], SHAPE[1] * 2), np.uint16)[:, :, ::2]
    with pytest.raises(ValueError, match="C-contiguous"):
        plate.read("A03", synth.sites[0], out=strided)


def test_channels_by_role_select_and_order(synth):
    plate = open_plate(synth.source, channels={"Cells": "Actin", "Nuclei": "DNA"})
    assert plate.channels == ("Cells", "Nuclei")
    image = synth.field("A01", synth.sites[0]).image
    np.testing.assert_array_equal(plate.read("A01", synth.sites[0]), image[::-1])
    only = open_plate(synth.source, channels=["Actin"])
    np.testing.assert_array_equal(only.read("A01", synth.sites[0]), image[1:])
    with pytest.raises(ValueError, match=r"\['Mito'\] not on the plate"):
        open_plate(synth.source, channels={"Mito": "Mito"})
    with pytest.raises(ValueError, match="more than once"):
        open_plate(synth.source, channels={"A": "DNA", "B": "DNA"})


def test_platemap_columns_become_metadata(synth):
    plate = open_plate(synth.source, platemap=synth.platemap)
    meta = plate.metadata("a2")
    assert meta["Metadata_Plate"] == synth.name and meta["Metadata_Well"] == "A02"
    row = synth.truth.loc["A02"]
    assert meta["Metadata_treatment"] == row["treatment"]
    assert meta["Metadata_control_type"] == row["control_type"]
    assert meta["Metadata_nucleus_radius"] == pytest.approx(row["nucleus_radius"])
    assert "platemap" in plate.describe()


def test_describe_is_one_screen(synth):
    plate = open_plate(synth.source)
    text = plate.describe()
    assert len(text.splitlines()) <= 20
    for expected in (synth.name, "3 ", "2 per well", "DNA, Actin", "40 x 56", "uint16"):
        assert expected in text


# ----------------------------------------------------------------------------- ome-zarr-py
def _ome_zarr_plate(path, fmt, *, wells, fields, acquisitions, channels, axes="cyx",
                    zsize=1, seed=0):
    """A plate written by ome-zarr-py; returns {(well path, field path): array}."""
    import zarr
    from ome_zarr.writer import write_image, write_plate_metadata, write_well_metadata

    root = zarr.open_group(str(path), mode="w", zarr_format=fmt.zarr_format)
    rows = sorted({w.split("/")[0] for w in wells})
    columns = sorted({w.split("/")[1] for w in wells}, key=int)
    write_plate_metadata(root, rows, columns, wells, fmt=fmt, field_count=len(fields),
                         acquisitions=[{"id": a} for a in acquisitions], name="OZ")
    written = {}
    k = 0
    for well in wells:
        r, c = well.split("/")
        well_group = root.require_group(r).require_group(c)
        write_well_metadata(well_group, [{"path": f, "acquisition": a} for f, a in fields],
                            fmt=fmt)
        for f, _ in fields:
            shape = {"cyx": (len(channels), *SHAPE),
                     "tczyx": (1, len(channels), zsize, *SHAPE)}[axes]
            data = _random(shape, seed + k)
            k += 1
            write_image(data, well_group.require_group(f), axes=axes, fmt=fmt,
                        scale_factors=[2], omero={"channels": [
                            {"label": ch, "color": "FFFFFF",
                             "window": {"start": 0, "end": 65535, "min": 0, "max": 65535}}
                            for ch in channels]})
            written[(well, f)] = data
    return written


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_ome_zarr_py_plates_sparse_with_acquisitions_and_sites(tmp_path, version):
    from ome_zarr.format import FormatV04, FormatV05

    fmt = FormatV04() if version == "0.4" else FormatV05()
    wells = ["A/1", "B/3", "C/2"]  # sparse: 6 of a 3 x 3 layout are absent
    written = _ome_zarr_plate(tmp_path / "p.zarr", fmt, wells=wells,
                              fields=[("0", 0), ("1", 0), ("2", 1)], acquisitions=[0, 1],
                              channels=["Hoechst", "Phalloidin", "MitoTracker"])
    plate = open_plate(tmp_path / "p.zarr")
    assert plate.format == "ome-zarr" and plate.name == "OZ"
    assert plate.wells == ("A01", "B03", "C02")
    assert plate.channels == ("Hoechst", "Phalloidin", "MitoTracker")
    assert plate.sites("B03") == (0, 1, 2)
    assert plate.acquisition("B03", 2) == 1 and set(plate.acquisitions) == {0, 1}
    for (well, field), data in written.items():
        r, c = well.split("/")
        np.testing.assert_array_equal(plate.read(f"{r}{c}", int(field)), data)
    first = open_plate(tmp_path / "p.zarr", acquisition=0)
    assert first.sites("C02") == (0, 1) and len(first) == 6
    with pytest.raises(ValueError, match="acquisition 5"):
        open_plate(tmp_path / "p.zarr", acquisition=5)
    text = plate.describe()
    assert f"Zarr v{fmt.zarr_format}" in text and "acquisitions" in text


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_ome_zarr_singleton_t_and_z_are_squeezed_longer_z_needs_projection(tmp_path, version):
    from ome_zarr.format import FormatV04, FormatV05

    fmt = FormatV04() if version == "0.4" else FormatV05()
    flat = _ome_zarr_plate(tmp_path / "flat.zarr", fmt, wells=["A/1"], fields=[("0", 0)],
                           acquisitions=[0], channels=["DNA", "Actin"], axes="tczyx")
    plate = open_plate(tmp_path / "flat.zarr")
    np.testing.assert_array_equal(plate.read("A01", 0), flat[("A/1", "0")][0, :, 0])

    stack = _ome_zarr_plate(tmp_path / "z.zarr", fmt, wells=["A/1", "A/2"],
                            fields=[("0", 0)], acquisitions=[0], channels=["DNA", "Actin"],
                            axes="tczyx", zsize=3, seed=10)
    with pytest.raises(PlateError, match="projection='max'"):
        open_plate(tmp_path / "z.zarr")
    projected = open_plate(tmp_path / "z.zarr", projection="max")
    for well in ("A/1", "A/2"):
        expected = stack[(well, "0")][0].max(axis=1)
        np.testing.assert_array_equal(projected.read(well.replace("/", ""), 0), expected)
    assert "3 per channel" in projected.describe()


# ----------------------------------------------------------------------------- TIFF folders
def _write_pattern_folder(root, wells, sites, channels, *, planes=1, seed=0):
    written = {}
    k = 0
    for well in wells:
        for site in sites:
            for ch in channels:
                for z in range(planes):
                    data = _random(SHAPE, seed + k)
                    k += 1
                    suffix = f"_z{z}" if planes > 1 else ""
                    tifffile.imwrite(root / f"{well}_s{site}_{ch}{suffix}.tif", data)
                    written[(well, site, ch, z)] = data
    return written


def test_pattern_folder_round_trips_and_lists_ignored_files(tmp_path):
    written = _write_pattern_folder(tmp_path, ["B02", "A10", "A02"], [1, 2],
                                    ["DNA", "ER", "AGP"])
    (tmp_path / "notes.txt").write_text("not an image")
    tifffile.imwrite(tmp_path / "B02_s1_DNA_thumb.tif", _random((8, 8), 1))
    plate = open_plate(tmp_path, pattern=r"(?P<well>[A-P]\d{2})_s(?P<site>\d+)_"
                                         r"(?P<channel>[A-Za-z]+)\.tif")
    assert plate.format == "tiff"
    assert plate.wells == ("A02", "A10", "B02")
    assert plate.channels == ("AGP", "DNA", "ER")
    assert sorted(plate.ignored) == ["B02_s1_DNA_thumb.tif", "notes.txt"]
    for well, site in plate:
        expected = np.stack([written[(well, site, ch, 0)] for ch in plate.channels])
        np.testing.assert_array_equal(plate.read(well, site), expected)
    assert plate.locate("A10", 2)["ER"][0].endswith("A10_s2_ER.tif")


def test_pattern_with_row_column_groups_planes_and_paths(tmp_path):
    (tmp_path / "plate" / "row03").mkdir(parents=True)
    data = {}
    for z in range(3):
        for ch in (1, 2):
            data[(ch, z)] = _random(SHAPE, 10 * ch + z)
            tifffile.imwrite(tmp_path / "plate" / "row03" / f"c12_f7_z{z}_ch{ch}.tif",
                             data[(ch, z)])
    pattern = (r"plate/row(?P<row>\d+)/c(?P<column>\d+)_f(?P<site>\d+)_z(?P<plane>\d+)_"
               r"ch(?P<channel>\d+)\.tif")
    with pytest.raises(PlateError, match="projection='max'"):
        open_plate(tmp_path, pattern=pattern)
    plate = open_plate(tmp_path, pattern=pattern, projection="max")
    assert plate.wells == ("C12",) and plate.sites("C12") == (7,)
    assert plate.channels == ("1", "2")
    expected = np.stack([np.max([data[(ch, z)] for z in range(3)], axis=0) for ch in (1, 2)])
    np.testing.assert_array_equal(plate.read("C12", 7), expected)
    assert len(plate.locate("C12", 7)["1"]) == 3


def test_operetta_with_and_without_index_xml(tmp_path):
    synth = synthetic_plate(tmp_path / "a", n_wells=2, n_fields=1, shape=SHAPE, n_nuclei=3,
                            format="tiff", layout="operetta", workers=1)
    plate = open_plate(synth.root)
    assert plate.format == "operetta" and plate.channels == ("DNA", "Actin")
    (synth.source / "Index.idx.xml").unlink()
    bare = open_plate(synth.source)
    assert bare.format == "operetta" and bare.channels == ("ch1", "ch2")
    assert bare.pixel_size is None
    for key in plate:
        np.testing.assert_array_equal(bare.read(*key), plate.read(*key))


def test_imagexpress_timepoint_and_zstep_folders(tmp_path):
    data = {}
    for z in (1, 2):
        folder = tmp_path / "TimePoint_1" / f"ZStep_{z}"
        folder.mkdir(parents=True)
        for w in (1, 2):
            data[(z, w)] = _random(SHAPE, 3 * z + w)
            tifffile.imwrite(folder / f"Exp_2024_B07_s3_w{w}.tif", data[(z, w)])
    (tmp_path / "Exp_2024.HTD").write_text('"HTSInfoFile", Version 1.0\r\n"WaveName1", "DAPI"'
                                           '\r\n"WaveName2", "FITC"\r\n"EndFile"\r\n')
    with pytest.raises(PlateError, match="projection"):
        open_plate(tmp_path)
    plate = open_plate(tmp_path, projection="max")
    assert plate.format == "imagexpress" and plate.name == "Exp_2024"
    assert plate.wells == ("B07",) and plate.sites("B07") == (3,)
    assert plate.channels == ("DAPI", "FITC")
    expected = np.stack([np.maximum(data[(1, w)], data[(2, w)]) for w in (1, 2)])
    np.testing.assert_array_equal(plate.read("B07", 3), expected)


def test_imagexpress_single_site_single_wave_names(tmp_path):
    a, b = _random(SHAPE, 1), _random(SHAPE, 2)
    tifffile.imwrite(tmp_path / "Scan_A01.tif", a)
    tifffile.imwrite(tmp_path / "Scan_H12.tif", b)
    plate = open_plate(tmp_path, format="imagexpress")
    assert plate.wells == ("A01", "H12") and plate.channels == ("w1",)
    np.testing.assert_array_equal(plate.read("H12", 1), b[None])


# ----------------------------------------------------------------------------- LoadData
def _loaddata_rows(root, folder_text, wells=("A01", "B02"), sites=(1, 2),
                   channels=("OrigDNA", "OrigRNA")):
    import pandas as pd

    images = root / "images"
    images.mkdir(exist_ok=True)
    rows, written = [], {}
    for k, (well, site) in enumerate([(w, s) for w in wells for s in sites]):
        row = {"Metadata_Plate": "BR00117010", "Metadata_Well": well, "Metadata_Site": site}
        stack = []
        for c, ch in enumerate(channels):
            name = f"{well}-{site}-{ch}.tiff"
            data = _random(SHAPE, 100 * k + c)
            tifffile.imwrite(images / name, data)
            row[f"FileName_{ch}"] = name
            row[f"PathName_{ch}"] = folder_text
            stack.append(data)
        rows.append(row)
        written[(well, site)] = np.stack(stack)
    return pd.DataFrame(rows), written


@pytest.mark.parametrize("absolute", [True, False], ids=["absolute", "relative"])
def test_loaddata_csv_absolute_and_relative_paths(tmp_path, absolute):
    folder = str(tmp_path / "images") if absolute else "images"
    table, written = _loaddata_rows(tmp_path, folder)
    table["Metadata_Row"] = 1  # extra metadata columns are fine
    table.to_csv(tmp_path / "load_data.csv", index=False)
    plate = open_plate(tmp_path / "load_data.csv")
    assert plate.format == "loaddata" and plate.name == "BR00117010"
    assert plate.channels == ("OrigDNA", "OrigRNA")
    assert plate.wells == ("A01", "B02") and plate.sites("B02") == (1, 2)
    for (well, site), data in written.items():
        np.testing.assert_array_equal(plate.read(well, site), data)


def test_loaddata_illumination_columns_and_frames(tmp_path):
    table, written = _loaddata_rows(tmp_path, "images", channels=("OrigDNA",))
    np.save(tmp_path / "images" / "illum.npy", np.ones(SHAPE))
    table["FileName_IllumDNA"] = "illum.npy"
    table["PathName_IllumDNA"] = "images"
    stack = np.stack([_random(SHAPE, 50 + i) for i in range(3)])
    tifffile.imwrite(tmp_path / "images" / "multi.tiff", stack, photometric="minisblack")
    table["FileName_Extra"] = "multi.tiff"
    table["PathName_Extra"] = "images"
    table["Frame_Extra"] = [0, 1, 2, 1]
    table.to_csv(tmp_path / "load_data_with_illum.csv", index=False)
    plate = open_plate(tmp_path / "load_data_with_illum.csv")
    assert plate.channels == ("OrigDNA", "Extra")
    assert any(p.endswith("illum.npy") for p in plate.ignored)
    np.testing.assert_array_equal(plate.read("B02", 1)[1], stack[2])
    np.testing.assert_array_equal(plate.read("A01", 2)[1], stack[1])
    np.testing.assert_array_equal(plate.read("A01", 2)[0], written[("A01", 2)][0])


def test_loaddata_csv_with_a_missing_column_names_it(tmp_path):
    table, _ = _loaddata_rows(tmp_path, "images")
    table.drop(columns=["PathName_OrigRNA"]).to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(PlateError, match="PathName_OrigRNA"):
        open_plate(tmp_path / "a.csv")
    table.drop(columns=["Metadata_Site"]).to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(PlateError, match="Metadata_Site"):
        open_plate(tmp_path / "b.csv")


def test_loaddata_missing_file_fails_only_that_field(tmp_path):
    table, written = _loaddata_rows(tmp_path, "images")
    table.to_csv(tmp_path / "load_data.csv", index=False)
    (tmp_path / "images" / "B02-1-OrigRNA.tiff").unlink()
    plate = open_plate(tmp_path / "load_data.csv")
    with pytest.raises(FieldReadError, match="B02 site 1.*B02-1-OrigRNA.tiff.*missing"):
        plate.read("B02", 1)
    np.testing.assert_array_equal(plate.read("B02", 2), written[("B02", 2)])


def test_an_open_plate_pickles_for_worker_processes(synth):
    import pickle

    plate = open_plate(synth.source, channels={"Nuclei": "DNA"})
    plate.read("A01", synth.sites[0])  # caches open arrays (Zarr)
    again = pickle.loads(pickle.dumps(plate))
    assert again.channels == ("Nuclei",) and again.wells == plate.wells
    for key in plate:
        np.testing.assert_array_equal(again.read(*key), plate.read(*key))


def test_imagexpress_channel_names_and_pixel_size_from_metamorph_tags(tmp_path):
    for w, name in ((1, "DAPI"), (2, "Texas Red")):
        description = (
            "<MetaData><PlaneInfo>"
            f'<prop id="_IllumSetting_" type="string" value="{name}"/>'
            '<prop id="spatial-calibration-x" type="float" value="0.325"/>'
            '<prop id="spatial-calibration-y" type="float" value="0.325"/>'
            "</PlaneInfo></MetaData>")
        tifffile.imwrite(tmp_path / f"Run_C05_s1_w{w}.tif", _random(SHAPE, w),
                         description=description, metadata=None, software="MetaSeries")
    plate = open_plate(tmp_path)
    assert plate.format == "imagexpress"
    assert plate.channels == ("DAPI", "Texas Red")
    assert plate.pixel_size == pytest.approx((0.325, 0.325))


def test_sharded_zarr_v3_fields_read(tmp_path):
    import zarr

    from pyhcs.datasets import PlateWriter

    images = [_random((3, 64, 48), k) for k in range(2)]
    writer = PlateWriter(tmp_path / "p.zarr", ["a", "b", "c"], format="zarr")
    for k, image in enumerate(images):
        writer.write_field("B02", k, image)
    writer.close()
    for k, image in enumerate(images):  # rewrite each array sharded: 1 shard of 4 chunks
        zarr.create_array(store=str(tmp_path / "p.zarr" / "B" / "2" / str(k) / "0"),
                          data=image, chunks=(1, 32, 24), shards=(3, 64, 48), overwrite=True)
    plate = open_plate(tmp_path / "p.zarr", channels=["c", "a"])
    for k, image in enumerate(images):
        np.testing.assert_array_equal(plate.read("B02", k), image[[2, 0]])
    assert open_plate(tmp_path / "p.zarr").read("B02", 1).tolist() == images[1].tolist()
