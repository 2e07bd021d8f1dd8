"""One protocol version, declared twice (the SDK imports nothing from server/): they must not
drift apart, and every place that shows a version derives it from the declaration."""

from __future__ import annotations

import tomllib

import pytest

from livejobs import protocol
from livejobs.edges.http_api import openapi
from livejobs.errors import UnsupportedVersion
from livejobs_sdk import protocol as sdk_protocol
from tests.servers import ROOT


def test_the_sdk_speaks_the_servers_protocol_version() -> None:
    assert sdk_protocol.PROTOCOL_VERSION == protocol.PROTOCOL_VERSION
    assert protocol.PROTOCOL_VERSION in protocol.SUPPORTED_PROTOCOLS


def test_openapi_carries_the_release_and_the_protocol_version() -> None:
    release = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    document = openapi()
    assert protocol.API_VERSION == release
    assert document["info"]["version"] == release
    assert document["info"]["x-protocol-version"] == protocol.PROTOCOL_VERSION
    assert document["info"]["x-protocol-versions"] == list(protocol.SUPPORTED_PROTOCOLS)


def test_an_unknown_version_is_refused_naming_the_versions_spoken() -> None:
    assert protocol.check_protocol(None) == protocol.PROTOCOL_VERSION
    assert protocol.check_protocol(protocol.PROTOCOL_VERSION) == protocol.PROTOCOL_VERSION
    with pytest.raises(UnsupportedVersion) as refused:
        protocol.check_protocol(999)
    assert refused.value.code == "unsupported_version"
    assert "999" in refused.value.message
    assert str(protocol.PROTOCOL_VERSION) in refused.value.message
