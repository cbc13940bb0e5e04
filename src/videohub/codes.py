"""Validators for the national identifier formats the hub stores.

- GB/T 2260: 6-digit administrative division codes (province 2, city 2, county 2). Towns
  and grids extend the code (3 digits for a town/street, 3 for a village/community, then a
  local grid number).
- GB/T 28181: 20-digit device codes: centre code (8: a GB/T 2260 county code plus a 2-digit
  base unit), industry (2), type (3), network (1), serial (6).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator

# GB/T 2260 province-level prefixes.
PROVINCES = frozenset(
    [
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
        "71",
        "81",
        "82",
    ]
)

_REGION = re.compile(r"^\d{6}(?:\d{3}(?:\d{3}(?:\d{1,6})?)?)?$")


def validate_region_code(code: str) -> str:
    """Returns the code if it is a GB/T 2260 code with an optional town/village/grid extension."""
    if not _REGION.match(code):
        raise ValueError(
            "region_code must be a 6-digit GB/T 2260 code, optionally extended by a 3-digit town, "
            "a 3-digit village/community and a grid number of up to 6 digits (e.g. 150102 or 150102001)"
        )
    if code[:2] not in PROVINCES:
        raise ValueError(f"region_code {code!r}: {code[:2]!r} is not a GB/T 2260 province code")
    return code


@dataclass(frozen=True)
class DeviceCode:
    centre: str  # 8 digits
    industry: str  # 2
    type: str  # 3
    network: str  # 1
    serial: str  # 6


def parse_device_code(code: str) -> DeviceCode:
    """Splits and checks a 20-digit GB/T 28181 device code."""
    if len(code) != 20 or not code.isdigit():
        raise ValueError(
            "device_code must be 20 digits (GB/T 28181: centre 8, industry 2, type 3, network 1, serial 6)"
        )
    parts = DeviceCode(code[:8], code[8:10], code[10:13], code[13], code[14:])
    if parts.centre[:2] not in PROVINCES:
        raise ValueError(f"device_code: centre code {parts.centre!r} does not start with a GB/T 2260 province code")
    if int(parts.type) < 111:
        raise ValueError(f"device_code: type code {parts.type!r} is below 111, the first GB/T 28181 device type")
    return parts


def check_device_code(code: str) -> str:
    """The code itself if it is a valid GB/T 28181 device code; ValueError otherwise."""
    parse_device_code(code)
    return code


DeviceCodeStr = Annotated[str, AfterValidator(check_device_code)]
"""A pydantic field type: a string checked as a GB/T 28181 device code."""
