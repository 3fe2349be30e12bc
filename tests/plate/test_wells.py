"""Well names: every format's spelling becomes ``A01``; plate order is row-major."""

import pytest

from pyhcs.plate import normalize_well, well_name, well_position


@pytest.mark.parametrize("spelling, expected", [
    ("A1", "A01"), ("A01", "A01"), ("a01", "A01"), ("A/1", "A01"), ("A_1", "A01"),
    ("A-01", "A01"), (" b3 ", "B03"), ("r01c01", "A01"), ("R16C24", "P24"), ("r2c3", "B03"),
    ("P24", "P24"), ("AF48", "AF48"), ("af/48", "AF48"), ("r32c48", "AF48"), ("Z1", "Z01"),
    ("AA1", "AA01"), ("A100", "A100"),
])
def test_every_spelling_normalises(spelling, expected):
    assert normalize_well(spelling) == expected


def test_1536_well_plate_names_round_trip():
    names = [well_name(r, c) for r in range(1, 33) for c in range(1, 49)]
    assert len(set(names)) == 1536
    assert names[0] == "A01" and names[47] == "A48" and names[26 * 48] == "AA01"
    assert names[-1] == "AF48"
    assert [well_position(n) for n in names] == [(r, c) for r in range(1, 33)
                                                 for c in range(1, 49)]
    assert sorted(names, key=well_position) == names


@pytest.mark.parametrize("bad", ["", "A", "01", "A0", "r0c1", "ABC1", "A1B", "well"])
def test_bad_names_raise_naming_the_well(bad):
    with pytest.raises(ValueError, match="well"):
        normalize_well(bad)


def test_non_string_well_is_a_type_error():
    with pytest.raises(TypeError, match="well"):
        normalize_well(1)
