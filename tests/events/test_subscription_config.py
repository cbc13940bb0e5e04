"""The `webhooks:` and `nats:` config sections: strict, and silent about passwords."""

from __future__ import annotations

from pathlib import Path

import pytest

from videohub.config import ConfigError, load_config, parse_config


def test_defaults_and_the_example_city_config():
    config = parse_config({})
    assert config.nats.url is None and config.webhooks.max_attempts == 10
    city = load_config(Path(__file__).parents[2] / "configs" / "city.yaml")
    assert city.nats.url is None  # ${NATS_URL:-}: off unless the environment names a server
    assert city.webhooks.backoff_max == 600


def test_nats_url_from_the_environment(monkeypatch):
    monkeypatch.setenv("NATS_URL", "nats://u:p@nats.example:4222")
    config = parse_config({"nats": {"url": "${NATS_URL:-}", "subject_prefix": "city.events"}})
    assert config.nats.url == "nats://u:p@nats.example:4222"


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"webhooks": {"timeoutt": 1}}, "webhooks.timeoutt: unknown key"),
        ({"webhooks": {"max_attempts": 0}}, "webhooks.max_attempts"),
        ({"webhooks": {"backoff_initial": 10, "backoff_max": 1}}, "backoff_initial must not exceed backoff_max"),
        ({"nats": {"url": "http://nats.example"}}, "nats.url"),
        ({"nats": {"subject_prefix": "events.>"}}, "nats.subject_prefix"),
        ({"nats": {"subject_prefix": "my events"}}, "nats.subject_prefix"),
        ({"nats": {"stream": "a.b"}}, "nats.stream"),
        ({"nats": {"reconnect_initial": 5, "reconnect_max": 1}}, "reconnect_initial must not exceed"),
    ],
)
def test_bad_values_name_the_field(section, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.").replace(">", ".")):
        parse_config(section, "hub.yaml")


def test_a_bad_nats_url_is_refused_without_quoting_it():
    with pytest.raises(ConfigError) as err:
        parse_config({"nats": {"url": "https://user:Zq9topsecret@nats.example"}}, "hub.yaml")
    assert "nats.url" in str(err.value) and "Zq9topsecret" not in str(err.value)
