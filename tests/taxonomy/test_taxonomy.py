"""The shipped code tables and the rules read from them."""

from __future__ import annotations

import itertools
import shutil

import pytest

from videohub.config import parse_config
from videohub.taxonomy import DATA_DIR, TaxonomyError, TaxonomyLoadError, TransitionError, load_taxonomy

TAX = load_taxonomy()


def test_shipped_tables_hold_what_the_issue_names():
    assert [(lv.code, lv.color) for lv in TAX.levels] == [
        (1, "red"),
        (2, "orange"),
        (3, "yellow"),
        (4, "blue"),
        (5, "green"),
    ]
    assert len(TAX.sources) == 19
    assert [s.code for s in TAX.statuses] == [10, 20, 30, 40, 50, 60, 70]
    assert (TAX.initial_status, TAX.closed_status) == (10, 60)
    names = {n.name_en for m in TAX.categories for n in m.minors}
    for wanted in [
        "Fire or open flame",
        "Smoke",
        "Crowd gathering",
        "Road-occupying business",
        "Illegal motor-vehicle parking",
        "Illegal non-motor-vehicle parking",
        "Piled materials",
        "Exposed or overflowing garbage",
        "Burning waste",
        "Standing water",
        "Construction dust",
        "Wrong-way driving",
        "Area intrusion",
        "Camera blocked or picture abnormal",
        "Camera video lost",
    ]:
        assert wanted in names
    gb = {n.gb28181_alarm for m in TAX.categories for n in m.minors} - {None}
    assert gb == {2, 3, 5, 6, 7, 8, 9, 10, 11}
    major, minor = TAX.minor("0401")
    assert (major.code, major.gbt30428, minor.onvif) == ("04", "04", ["Fire"])
    assert TAX.minor("1102")[1].gb28181_alarm == 6


def test_regions_tree_and_prefixes():
    (city,) = TAX.regions
    assert city.code == "150100" and city.name_en == "Hohhot"
    kids = {r.code: r for r in city.children}
    assert set(kids) == {
        "150102",
        "150103",
        "150104",
        "150105",
        "150121",
        "150122",
        "150123",
        "150124",
        "150125",
        "150172",
    }
    assert kids["150172"].extension and not kids["150102"].extension
    assert kids["150121"].kind == "banner" and kids["150125"].kind == "county"
    assert TAX.region("150102001002") is kids["150102"]  # a community of Xincheng
    assert TAX.region("150106") is None
    assert TAX.region_range("150100") == ("1501", "1501" + "9" * 14)
    low, high = TAX.region_range("150102")
    assert low <= "150102001" <= high and not low <= "150103" <= high
    assert TAX.check_region("150102001") == "150102001"
    with pytest.raises(TaxonomyError, match="150106.*allowed: 150100, 150102"):
        TAX.check_region("150106")
    with pytest.raises(TaxonomyError, match="region_code: must be a 6-digit"):
        TAX.check_region("1501")


def test_unknown_codes_list_what_is_allowed():
    with pytest.raises(TaxonomyError) as err:
        TAX.minor("9999")
    assert err.value.field == "category_code" and "0401" in err.value.allowed
    with pytest.raises(TaxonomyError, match="allowed: 1, 2, 3, 4, 5"):
        TAX.check_level(6)
    with pytest.raises(TaxonomyError, match="source: unknown source 'fax'; allowed: ai_video, video_patrol"):
        TAX.check_source("fax")
    assert TAX.category_filter("04") == ("major", "04")
    assert TAX.category_filter("0402") == ("minor", "0402")


STATUSES = [s.code for s in TAX.statuses]
PAIRS = list(itertools.product(STATUSES, STATUSES))
ALLOWED = {
    (10, 20),
    (10, 60),
    (20, 30),
    (20, 60),
    (30, 40),
    (30, 20),
    (30, 60),
    (40, 50),
    (40, 30),
    (50, 60),
    (50, 40),
    (60, 70),
}


def test_transition_table_is_the_closed_loop():
    assert {(a, b) for a, b in PAIRS if TAX.can_transition(a, b)} == ALLOWED


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_every_transition(a, b):
    if (a, b) in ALLOWED:
        reason = TAX.check_transition(a, b, None)
        assert reason == ({10: "rejected", 20: "voided", 30: "voided", 50: "resolved"}[a] if b == 60 else None)
    else:
        with pytest.raises(TransitionError) as err:
            TAX.check_transition(a, b, None)
        assert err.value.allowed == TAX.transitions[a]
        assert f"status {a} cannot move to {b}" in str(err.value)


def test_close_reasons():
    assert TAX.check_transition(10, 60, "duplicate") == "duplicate"
    with pytest.raises(TaxonomyError, match="allowed: resolved"):
        TAX.check_transition(50, 60, "voided")
    with pytest.raises(TaxonomyError, match="close_reason: only a move to the closed status 60"):
        TAX.check_transition(10, 20, "rejected")
    with pytest.raises(TaxonomyError, match="to_status: unknown status 80"):
        TAX.check_transition(10, 80, None)


def test_a_city_replaces_a_table_by_a_file_of_the_same_name(tmp_path):
    (tmp_path / "levels.yaml").write_text(
        "levels:\n  - {code: 1, name_zh: 紧急, name_en: Urgent, color: red}\n"
        "  - {code: 2, name_zh: 普通, name_en: Normal, color: blue}\n",
        encoding="utf-8",
    )
    config = parse_config({"taxonomy": {"dir": str(tmp_path)}})
    tax = load_taxonomy(config.taxonomy.dir)
    assert [lv.name_en for lv in tax.levels] == ["Urgent", "Normal"]
    assert len(tax.sources) == 19  # the other tables stay the shipped ones
    with pytest.raises(TaxonomyError, match="allowed: 1, 2$"):
        tax.check_level(3)


def test_bad_city_tables_are_refused_with_file_and_entry(tmp_path):
    shutil.copy(DATA_DIR / "statuses.yaml", tmp_path / "statuses.yaml")
    text = (tmp_path / "statuses.yaml").read_text(encoding="utf-8").replace("next: [70]", "next: [80]")
    (tmp_path / "statuses.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(TaxonomyLoadError, match=r"statuses.yaml.*status 60: next names unknown status\(es\) \[80\]"):
        load_taxonomy(tmp_path)
    (tmp_path / "statuses.yaml").unlink()
    (tmp_path / "level.yaml").write_text("levels: []\n", encoding="utf-8")
    with pytest.raises(TaxonomyLoadError, match="unknown table file\\(s\\) level.yaml"):
        load_taxonomy(tmp_path)
    (tmp_path / "level.yaml").unlink()
    (tmp_path / "sources.yaml").write_text("sources:\n  - {code: x, name_zh: a, name_en: b, colour: 1}\n")
    with pytest.raises(TaxonomyLoadError, match=r"sources.yaml: sources\[0\].colour: unknown key"):
        load_taxonomy(tmp_path)
    with pytest.raises(TaxonomyLoadError, match="not a directory"):
        load_taxonomy(tmp_path / "missing")


def test_the_hub_refuses_to_start_on_a_bad_taxonomy_dir(tmp_path):
    from videohub.runtime import HubRuntime, StartupError

    config = parse_config(
        {"database": {"url": f"sqlite:///{tmp_path}/hub.db"}, "models_dir": None, "taxonomy": {"dir": "nowhere"}}
    )
    with pytest.raises(StartupError, match="taxonomy.dir nowhere: not a directory"):
        HubRuntime(config)
