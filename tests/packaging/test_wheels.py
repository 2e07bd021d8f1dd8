"""The two distributions as a user installs them: ``make dist`` builds the wheels, each goes into
a fresh venv (no source tree on the path: every process runs from an empty directory, with ``-I``
where Python is run directly), and the installed ``livejobs serve`` serves the dashboard to
Chromium while a worker from the SDK-only venv completes a job.

The venvs get no pip of their own: this suite's pip installs into them (``--python``), from its
cache, which keeps the module to well under a minute once the cache is warm."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import async_playwright, expect

from tests.servers import ROOT, free_port, wait_for_port

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WAIT = 10_000  # ms

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

WORKER = """
import asyncio, sys
from livejobs_sdk import Client

async def main(url: str, token: str) -> None:
    async with Client(url, token=token) as client:
        async def echo(job):
            return {"echo": job.data["q"]}
        await client.process_jobs("echo", echo, worker_id="sdk-only")

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus anything that would put this checkout or its venv on the path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


class Env:
    """A fresh venv with some wheels installed, run from an empty directory."""

    def __init__(self, root: Path, wheels: list[Path]) -> None:
        self.root = root
        self.cwd = root / "cwd"
        venv.EnvBuilder(with_pip=False).create(root)
        self.cwd.mkdir()
        pip = [sys.executable, "-m", "pip", "--python", str(self.python), "install", "-q"]
        subprocess.run([*pip, *map(str, wheels)], check=True, cwd=self.cwd, env=clean_env())

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def bin(self, name: str) -> str:
        return str(self.root / "bin" / name)

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, cwd=self.cwd, env=clean_env(**env), capture_output=True, text=True, timeout=60
        )

    def py(self, code: str) -> Any:
        """``code`` (which prints one JSON value) in the venv's isolated interpreter."""
        done = self.run(str(self.python), "-I", "-c", code)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def distributions(self) -> set[str]:
        code = "import importlib.metadata as m, json; "
        code += "print(json.dumps([d.metadata['Name'].lower() for d in m.distributions()]))"
        return set(self.py(code))

    def importable(self, *names: str) -> list[str]:
        code = "import importlib.util as u, json; "
        code += f"print(json.dumps([n for n in {list(names)!r} if u.find_spec(n)]))"
        return list(self.py(code))


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``make dist`` into a temp dir, with this suite's pip and without reinstalling the venv."""
    dist = tmp_path_factory.mktemp("dist")
    made = subprocess.run(
        ["make", "-s", "-o", ".venv/.installed", "dist", f"DIST={dist}"]
        + [f"PIP={sys.executable} -m pip"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    found = {path.name.split("-")[0]: path for path in dist.glob("*.whl")}
    assert sorted(found) == ["livejobs", "livejobs_sdk"], found
    return found


@pytest.fixture(scope="module")
def server_env(wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Env:
    return Env(tmp_path_factory.mktemp("server-venv"), [wheels["livejobs"], wheels["livejobs_sdk"]])


@pytest.fixture(scope="module")
def sdk_env(wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Env:
    return Env(tmp_path_factory.mktemp("sdk-venv"), [wheels["livejobs_sdk"]])


def members(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return [name for name in archive.namelist() if ".dist-info/" not in name]


def metadata(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return archive.read(name).decode()


def test_each_wheel_holds_its_package_only(wheels: dict[str, Path]) -> None:
    server = members(wheels["livejobs"])
    assert {name.split("/")[0] for name in server} == {"livejobs"}
    assert "livejobs/py.typed" in server and "livejobs/__main__.py" in server
    web = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "web").rglob("*") if p.is_file())
    assert sorted(n.removeprefix("livejobs/") for n in server if "/web/" in n) == web
    sdk = members(wheels["livejobs_sdk"])
    modules = sorted(f"livejobs_sdk/{p.name}" for p in (ROOT / "worker_sdk").glob("*.py"))
    assert sorted(sdk) == sorted([*modules, "livejobs_sdk/py.typed"])


def test_the_server_pins_the_sdk_released_with_it(wheels: dict[str, Path]) -> None:
    sdk = tomllib.loads((ROOT / "worker_sdk" / "pyproject.toml").read_text())["project"]
    server = metadata(wheels["livejobs"])
    assert f"Requires-Dist: livejobs-sdk=={sdk['version']}" in server.splitlines()
    assert "Version: " + sdk["version"] in server.splitlines()
    assert 'Requires-Dist: pymongo<5,>=4.13; extra == "mongo"' in server.splitlines()
    requires = re.findall(
        r"^Requires-Dist: (\S+?)[<>=!~; ]", metadata(wheels["livejobs_sdk"]), re.M
    )
    assert sorted(requires) == ["msgspec", "websockets"]


def test_the_sdk_venv_holds_no_server_dependencies(sdk_env: Env) -> None:
    installed = sdk_env.distributions()
    assert "livejobs-sdk" in installed
    assert not installed & {"starlette", "uvicorn", "pymongo", "typer", "rich", "livejobs"}
    assert sdk_env.importable("livejobs_sdk", "server", "worker_sdk", "livejobs") == [
        "livejobs_sdk"
    ]
    typed = "import livejobs_sdk, pathlib, json; "
    typed += (
        "print(json.dumps((pathlib.Path(livejobs_sdk.__file__).parent / 'py.typed').is_file()))"
    )
    assert sdk_env.py(typed) is True


def test_the_server_venv_has_no_generic_top_level_names(server_env: Env) -> None:
    assert server_env.importable("livejobs", "livejobs_sdk", "server", "worker_sdk") == [
        "livejobs",
        "livejobs_sdk",
    ]
    assert "pymongo" not in server_env.distributions()  # an extra now
    assert server_env.run(str(server_env.python), "-I", "-m", "livejobs", "--help").returncode == 0


def test_mongodb_without_the_extra_says_which_extra(server_env: Env) -> None:
    port = str(free_port())
    done = server_env.run(
        server_env.bin("livejobs"), "serve", "--db", "mongodb://h/x", "--port", port
    )
    assert done.returncode == 1
    assert "pip install 'livejobs[mongo]'" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture
def served(server_env: Env) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``livejobs serve`` from the installed wheel on a fresh SQLite file."""
    port = free_port()
    db = server_env.root / "jobs.db"
    with open(server_env.root / "serve.log", "w") as log:
        proc = subprocess.Popen(
            [server_env.bin("livejobs"), "serve", "--db", str(db), "--port", str(port)],
            cwd=server_env.cwd,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    try:
        yield proc, port
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


def read_banner(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """The admin token and the dashboard line a fresh store's banner prints."""
    assert proc.stdout is not None
    token = ""
    for line in proc.stdout:
        if line.strip().startswith("lj_"):
            token = line.strip()
        if line.startswith(("Dashboard:", "No dashboard:")):
            return token, line.strip()
    raise AssertionError(f"the server printed no banner (exit {proc.poll()})")


@pytest.fixture
def sdk_worker(
    sdk_env: Env, served: tuple[subprocess.Popen[str], int]
) -> Iterator[tuple[str, str]]:
    """A worker of ``echo`` jobs in the SDK-only venv, signed in with the banner's token."""
    proc, port = served
    token, dashboard = read_banner(proc)
    script = sdk_env.cwd / "echo_worker.py"
    script.write_text(WORKER)
    url = f"ws://127.0.0.1:{port}/ws"
    with open(sdk_env.root / "worker.log", "w") as log:
        worker = subprocess.Popen(
            [str(sdk_env.python), "-I", str(script), url, token],
            cwd=sdk_env.cwd,
            env=clean_env(),
            stdout=log,
            stderr=log,
        )
    try:
        yield token, dashboard
    finally:
        worker.kill()
        worker.wait(5)


@pytest.mark.browser
@pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="needs Debian's chromium (make browser)",
)
async def test_installed_server_dashboard_and_sdk_worker(
    server_env: Env, served: tuple[subprocess.Popen[str], int], sdk_worker: tuple[str, str]
) -> None:
    _, port = served
    token, dashboard = sdk_worker
    await wait_for_port(port)
    assert dashboard == f"Dashboard: http://127.0.0.1:{port}/"
    cli = {"LIVEJOBS_URL": f"http://127.0.0.1:{port}", "LIVEJOBS_TOKEN": token}
    created = server_env.run(
        server_env.bin("livejobs"), "jobs", "create", "echo", "--data", '{"q": 7}', **cli
    )
    assert created.returncode == 0, created.stderr
    job_id = created.stdout.strip()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(f"http://127.0.0.1:{port}/")
            await page.fill("#signin-token", token)
            await page.click("#signin-form button[type=submit]")
            line = page.locator(f'#jobs tbody tr[data-id="{job_id}"]')
            await expect(line.locator(".badge")).to_have_text("completed", timeout=WAIT)
            assert not errors, errors
        finally:
            await browser.close()
    shown = server_env.run(server_env.bin("livejobs"), "jobs", "show", job_id, "--json", **cli)
    assert json.loads(shown.stdout)["result"] == {"echo": 7}
