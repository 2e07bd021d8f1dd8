"""What an install without extras, or without the dashboard's files, says instead of failing
later: a store whose driver is missing names the extra; a server that cannot serve the
dashboard does not print its URL."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from livejobs.app import _announce, create_app
from livejobs.errors import StoreRefused
from livejobs.settings import WEB_DIR, Settings, find_web_dir
from livejobs.store import open_store, pending_migrations


@pytest.mark.parametrize(
    ("url", "module", "extra"),
    [
        ("mongodb://127.0.0.1:1/jobs", "pymongo", "mongo"),
        ("mongodb+srv://cluster.example/jobs", "pymongo", "mongo"),
        ("postgresql://127.0.0.1:1/jobs", "asyncpg", "postgres"),
    ],
)
async def test_a_store_without_its_driver_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, url: str, module: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed: import fails
    for name in [n for n in sys.modules if n.startswith("livejobs.store.mongo")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(StoreRefused) as opening:
        open_store(url)
    assert f"pip install 'livejobs[{extra}]'" in opening.value.message
    with pytest.raises(StoreRefused) as migrating:
        await pending_migrations(url)
    assert f"pip install 'livejobs[{extra}]'" in migrating.value.message


def test_the_installed_package_web_folder_comes_first(tmp_path: Path) -> None:
    package = tmp_path / "site-packages" / "livejobs"
    (package / "web").mkdir(parents=True)
    assert find_web_dir(package) == package / "web"
    checkout = tmp_path / "checkout" / "server"
    checkout.mkdir(parents=True)
    assert find_web_dir(checkout) == tmp_path / "checkout" / "web"
    assert (WEB_DIR / "index.html").is_file()  # this checkout: the repository's web/


async def get_root(settings: Settings) -> int:
    """``GET /`` of the app's routes (no lifespan: no store is opened)."""
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return (await client.get("/")).status_code


async def test_no_dashboard_url_without_the_dashboard(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = Settings(db=str(tmp_path / "jobs.db"), web_dir=str(tmp_path), port=8123)
    _announce("lj_token", empty)
    printed = capsys.readouterr().out
    assert "lj_token" in printed and "http://" not in printed
    assert f"No dashboard: {tmp_path} holds no index.html" in printed
    assert await get_root(empty) == 404

    served = Settings(db=str(tmp_path / "jobs.db"), port=8123)
    _announce("lj_token", served)
    assert "Dashboard: http://127.0.0.1:8123/" in capsys.readouterr().out
    assert await get_root(served) == 200
