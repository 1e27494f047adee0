"""The wheel: built from the repository, installed in a fresh venv outside it, it serves the
explorer from the assets it carries (DESIGN: no npm at run time)."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app import explorer
from tests.live_server import free_port, read_logs, server_env, stop, wait_until_up
from tests.test_explorer import parse

ROOT = Path(__file__).resolve().parents[1]
PACKAGED = "app/explorer_assets"


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    python: Path


def run(*command: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stderr}"
    return done.stdout


def build_wheel(out: Path) -> Path:
    # No build isolation: hatchling comes with the test extras, so the build needs no network.
    if explorer.missing_assets(explorer.REPO_NODE_MODULES):
        pytest.fail(f"the explorer's npm assets are missing: run `npm ci` in {ROOT}")
    pip = (sys.executable, "-m", "pip")
    run(*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", out, ROOT, cwd=out)
    (wheel,) = out.glob("jobql-*.whl")
    return wheel


def install(wheel: Path, venv: Path) -> Path:
    """The wheel alone in a new venv; its dependencies are the test venv's, through a .pth
    placed after it on sys.path (installing them afresh would take minutes)."""
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=venv.parent)
    python = venv / "bin" / "python"
    pip = (sys.executable, "-m", "pip", "--python", python)
    run(*pip, "install", "--no-deps", "--no-index", "-q", wheel, cwd=venv.parent)
    where = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = Path(run(python, "-c", where, cwd=venv).strip())
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return python


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    out = tmp_path_factory.mktemp("wheel")
    venv = tmp_path_factory.mktemp("venv") / "jobql"
    wheel = build_wheel(out)
    return Installed(wheel, venv, install(wheel, venv))


def test_the_wheel_carries_exactly_the_whitelisted_assets(installed: Installed) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    packaged = sorted(name for name in names if name.startswith(PACKAGED + "/"))
    packages = {relative.split("/")[0] for relative in explorer.ASSET_FILES.values()}
    expected = {f"{PACKAGED}/{relative}" for relative in explorer.ASSET_FILES.values()}
    expected |= {f"{PACKAGED}/{package}/package.json" for package in packages}
    assert packaged == sorted(expected)
    assert not [name for name in names if "node_modules" in name]


def test_the_installed_package_is_the_wheel_not_the_repository(installed: Installed) -> None:
    found = run(installed.python, "-c", "import app; print(app.__file__)", cwd=installed.venv)
    assert Path(found.strip()).is_relative_to(installed.venv), found
    assert not Path(found.strip()).is_relative_to(ROOT)


@pytest.fixture(scope="module")
def served(installed: Installed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`jobql serve` of the installed wheel, on a SQLite file in a folder of its own."""
    workdir = tmp_path_factory.mktemp("wheel-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in server_env().items() if k != explorer.ASSETS_ENV}  # its own copy
    command = [installed.venv / "bin" / "jobql", "serve", "--port", str(port)]
    with (workdir / "stdout.log").open("wb") as out, (workdir / "stderr.log").open("wb") as err:
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=out, stderr=err)
    try:
        wait_until_up(url, process, workdir)
        yield url
    finally:
        stop(process)
    assert "assets are missing" not in read_logs(workdir)


def test_the_installed_wheel_serves_the_explorer_and_its_assets(served: str) -> None:
    page = httpx.get(f"{served}/graphql", headers={"Accept": "text/html"}, timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    urls = [url for url in parse(page.text).urls if url.startswith("/graphql/assets/")]
    assert len(urls) == len(explorer.ASSET_FILES)
    for url in urls:
        name = url.split("?")[0].rsplit("/", 1)[1]
        asset = httpx.get(served + url, timeout=10)
        assert asset.status_code == 200, url
        kind = "text/css" if name.endswith(".css") else "javascript"
        assert kind in asset.headers["content-type"], (url, asset.headers["content-type"])
        # The very files of the pinned packages, not an empty stand-in.
        repo_copy = explorer.REPO_NODE_MODULES / explorer.ASSET_FILES[name]
        assert asset.content == repo_copy.read_bytes(), url
