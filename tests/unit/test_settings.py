"""Settings precedence: flag > environment > TOML file > default."""

from __future__ import annotations

from typing import get_args

import pytest

from livejobs.roles import ROLES
from livejobs.settings import FIELDS, Settings, SettingsError


def test_precedence_flag_env_file_default(tmp_path, monkeypatch):
    config = tmp_path / "livejobs.toml"
    config.write_text('[livejobs]\nport = 9001\nlease_seconds = 12.5\nhost = "0.0.0.0"\n')
    monkeypatch.setenv("LIVEJOBS_PORT", "9002")
    monkeypatch.setenv("LIVEJOBS_ALLOWED_ORIGINS", "https://a.example")
    settings = Settings.load({"host": None, "lease_seconds": 3.0}, str(config))
    assert settings.port == 9002  # env beats file
    assert settings.lease_seconds == 3.0  # flag beats file
    assert settings.host == "0.0.0.0"  # file beats default
    assert settings.allowed_origins == ["https://a.example"]  # one origin is still a list
    assert settings.retain_seconds == 7 * 24 * 3600.0  # default


def test_mongodb_uri_switches_the_store(monkeypatch):
    monkeypatch.setenv("LIVEJOBS_MONGODB_URI", "mongodb://db:27017/jobs?replicaSet=rs0")
    assert Settings.load({}).db.startswith("mongodb://")
    assert Settings.load({"db": "local.db"}).db == "local.db"


def test_unknown_settings_are_refused(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("[livejobs]\nprot = 1\n")
    with pytest.raises(SettingsError, match=rf"unknown setting prot \(from {config}\)"):
        Settings.load({}, str(config))


def test_retention_can_be_turned_off_from_the_environment(monkeypatch):
    monkeypatch.setenv("LIVEJOBS_RETAIN_SECONDS", "forever")
    assert Settings.load({}).retain_seconds is None


def test_defaults_are_the_documented_ones():
    settings = Settings()
    assert (settings.port, settings.lease_seconds, settings.shutdown_grace) == (8000, 30.0, 20.0)
    assert (settings.log_level, settings.log_format, settings.sqlite_synchronous) == (
        "info",
        "text",
        "NORMAL",
    )
    assert Settings.load({}) == settings


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("port", 0, "expected int >= 1, got 0"),
        ("port", 65536, "expected int <= 65535, got 65536"),
        ("lease_seconds", 0, "expected float > 0.0, got 0"),
        ("shutdown_grace", -0.5, "expected float >= 0.0, got -0.5"),
        ("retain_seconds", -1, "expected float > 0.0, got -1"),
        ("log_format", "xml", "must be one of text, json, got 'xml'"),
        ("log_level", "loud", "must be one of debug, info, warning, error, critical, got 'loud'"),
        ("sqlite_synchronous", "OFF", "must be one of NORMAL, FULL, got 'OFF'"),
        ("anonymous_role", "root", "must be one of admin, manager, creator, worker, got 'root'"),
        ("max_frame_bytes", 0, "expected int >= 1, got 0"),
        ("max_subscriptions", -3, "expected int >= 1, got -3"),
        ("auth_timeout", 0, "expected float > 0.0, got 0"),
        ("ws_compression", "maybe", "expected bool, got 'maybe'"),
    ],
)
def test_each_bad_value_names_the_setting_and_its_flag(name, value, problem):
    with pytest.raises(SettingsError) as refused:
        Settings.load({name: value}, flags={"lease_seconds": "--lease"})
    flag = "--lease" if name == "lease_seconds" else f"--{name.replace('_', '-')}"
    assert str(refused.value) == f"invalid setting {name} (from {flag}): {problem}"


def test_environment_values_are_converted_then_checked(monkeypatch):
    monkeypatch.setenv("LIVEJOBS_PORT", "9000")
    monkeypatch.setenv("LIVEJOBS_WS_COMPRESSION", "on")
    monkeypatch.setenv("LIVEJOBS_LOG_LEVEL", "WARNING")  # either case
    monkeypatch.setenv("LIVEJOBS_SQLITE_SYNCHRONOUS", "full")
    settings = Settings.load({})
    assert (settings.port, settings.ws_compression) == (9000, True)
    assert (settings.log_level, settings.sqlite_synchronous) == ("warning", "FULL")
    monkeypatch.setenv("LIVEJOBS_PORT", "eighty")
    with pytest.raises(SettingsError, match=r"port \(from LIVEJOBS_PORT\): expected int, got"):
        Settings.load({})


def test_file_values_name_the_file(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[livejobs]\nlease_seconds = -1\nlog_format = "json"\n')
    with pytest.raises(SettingsError, match=rf"lease_seconds \(from {config}\)"):
        Settings.load({}, str(config))
    config.write_text("[livejobs\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        Settings.load({}, str(config))
    with pytest.raises(SettingsError, match="cannot read the settings file"):
        Settings.load({}, str(tmp_path / "missing.toml"))


def test_roles_are_the_servers_roles():
    assert get_args(get_args(FIELDS["anonymous_role"])[0]) == ROLES
