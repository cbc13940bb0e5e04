import pytest

from videohub.codes import parse_device_code, validate_region_code


@pytest.mark.parametrize("code", ["150100", "150102", "150172", "150102001", "150102001002", "150102001002123"])
def test_valid_region_codes(code):
    assert validate_region_code(code) == code


@pytest.mark.parametrize("code", ["15010", "1501020", "990102", "15010a", "1501020010021234567"])
def test_invalid_region_codes(code):
    with pytest.raises(ValueError):
        validate_region_code(code)


def test_device_code_parts():
    parts = parse_device_code("15010200001320000001")
    assert (parts.centre, parts.industry, parts.type, parts.network, parts.serial) == (
        "15010200",
        "00",
        "132",
        "0",
        "000001",
    )


@pytest.mark.parametrize(
    "code",
    [
        "1501020000132000000",
        "150102000013200000011",
        "9901020000132000000X",
        "99010200001320000001",
        "15010200000990000001",
    ],
)
def test_invalid_device_codes(code):
    with pytest.raises(ValueError):
        parse_device_code(code)
