from pathlib import Path

import pytest
from pydantic import ValidationError

from videohub.config import DEMO_CONFIG, CameraSpec, ConfigError, StreamOptions, load_config, parse_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hub.yaml"
    path.write_text(text)
    return path


def test_demo_config_loads():
    config = load_config(DEMO_CONFIG)
    assert {c.id for c in config.cameras} >= {"square", "gate"}
    assert config.simulator is not None and config.simulator.cameras


def test_unknown_key_names_key_and_file(tmp_path):
    path = write(tmp_path, "cameras:\n  - id: a\n    stream_url: rtsp://h/x\n    nmae: typo\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value)
    assert "cameras[0].nmae: unknown key" in str(err.value)


def test_unknown_top_level_section(tmp_path):
    path = write(tmp_path, "servr:\n  port: 1\n")
    with pytest.raises(ConfigError, match=r"hub.yaml: servr: unknown key"):
        load_config(path)


def test_bad_url_is_named_without_echoing_credentials(tmp_path):
    path = write(tmp_path, "cameras:\n  - id: a\n    stream_url: ftp://u:topsecret@h/x\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "cameras[0].stream_url" in str(err.value)
    assert "topsecret" not in str(err.value)


@pytest.mark.parametrize(
    "url",
    ["rtsp://", "rtsp://host:99999/x", "rtsp://host:abc/x", "not a url", "", "rtsp://ho st/x", "mailto:x@y"],
)
def test_malformed_urls_rejected(url):
    with pytest.raises(ValueError):
        CameraSpec(id="a", stream_url=url)


def test_env_substitution_and_default(tmp_path, monkeypatch):
    monkeypatch.setenv("CAM_PASS", "pw123")
    path = write(
        tmp_path,
        "cameras:\n  - id: a\n    stream_url: rtsp://admin:${CAM_PASS}@h/x\n"
        "  - id: b\n    stream_url: rtsp://h:${CAM_PORT:-554}/y\n",
    )
    config = load_config(path)
    assert config.cameras[0].stream_url == "rtsp://admin:pw123@h/x"
    assert config.cameras[1].stream_url == "rtsp://h:554/y"


def test_missing_env_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv("NOPE_VAR", raising=False)
    path = write(tmp_path, "cameras:\n  - id: a\n    stream_url: rtsp://u:${NOPE_VAR}@h/x\n")
    with pytest.raises(ConfigError, match=r"cameras\[0\]\.stream_url: environment variable \$\{NOPE_VAR\} is not set"):
        load_config(path)


def test_camera_overrides_defaults_field_by_field():
    config = parse_config(
        {
            "defaults": {"read_timeout": 7, "rtsp_transport": "udp"},
            "cameras": [{"id": "a", "stream_url": "rtsp://h/x", "stream": {"read_timeout": 3}}],
        }
    )
    opts = config.stream_options(config.cameras[0])
    assert opts.read_timeout == 3
    assert opts.rtsp_transport == "udp"  # inherited
    assert StreamOptions().rtsp_transport == "tcp"


def test_duplicate_camera_ids(tmp_path):
    path = write(tmp_path, "cameras:\n  - {id: a, stream_url: rtsp://h/x}\n  - {id: a, stream_url: rtsp://h/y}\n")
    with pytest.raises(ConfigError, match="declared twice"):
        load_config(path)


def test_invalid_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "cameras: [\n"))
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "absent.yaml")


def test_codes_validated():
    with pytest.raises(ValueError, match="region_code"):
        CameraSpec(id="a", stream_url="rtsp://h/x", region_code="1501")
    with pytest.raises(ValueError, match="device_code"):
        CameraSpec(id="a", stream_url="rtsp://h/x", device_code="1234")
    cam = CameraSpec(id="a", stream_url="rtsp://h/x", region_code="150102003", device_code="15010200001320000001")
    assert cam.name == "a"


def test_example_city_config_loads():
    from pathlib import Path

    config = load_config(Path(__file__).parents[1] / "configs" / "city.yaml")
    assert config.stream_options(config.cameras[1]).rtsp_transport == "udp"


@pytest.mark.parametrize("password", ["Zq9#topsecret", "ab/cdsecret", "Zq9?topsecret"])
def test_url_errors_never_quote_a_password(password):
    with pytest.raises(ValidationError) as err:
        CameraSpec(id="a", stream_url=f"rtsp://admin:{password}@10.1.1.1/x")
    message = err.value.errors()[0]["msg"]  # what the API and the config loader report
    assert password[:3] not in message and "percent-encoded" in message


def test_control_characters_and_masked_credentials_are_refused():
    with pytest.raises(ValueError, match="control characters"):
        CameraSpec(id="a", stream_url="rtsp://h/x\x00y")
    with pytest.raises(ValueError, match="masked credentials"):
        CameraSpec(id="a", stream_url="rtsp://***@h/x")


def test_yaml_error_does_not_quote_the_line(tmp_path):
    path = write(tmp_path, "cameras:\n  - stream_url: rtsp://admin:Zq9-topsecret@10.0.0.9/live: x\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "topsecret" not in str(err.value) and "line 2" in str(err.value)
