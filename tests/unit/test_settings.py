"""Settings precedence: flag > environment > TOML file > default."""

from __future__ import annotations

import pytest

from server.settings import Settings


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
    with pytest.raises(ValueError, match="prot"):
        Settings.load({}, str(config))


def test_retention_can_be_turned_off_from_the_environment(monkeypatch):
    monkeypatch.setenv("LIVEJOBS_RETAIN_SECONDS", "forever")
    assert Settings.load({}).retain_seconds is None
