"""The GraphiQL explorer: its page and assets in-process, then in Chromium against a live server."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from app import explorer
from app.config import Settings
from tests.live_server import LiveServer, jobql, live_server

ROOT = Path(__file__).resolve().parents[1]
BROWSER_SCRIPT = ROOT / "tests" / "browser" / "explorer.mjs"
ARTIFACTS = ROOT / "tests" / "artifacts"
README_SCREENSHOT = ROOT / "docs" / "img" / "graphiql.png"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
BROWSER_SECONDS = 180
VERSIONS = {"graphiql": "3.9.0", "graphql-ws": "6.4.2", "react": "18.3.1", "react-dom": "18.3.2"}


class PageParts(HTMLParser):
    """The URLs a page loads, its inline scripts and styles, and its JSON data blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: dict[str, list[str]] = {"script": [], "style": [], "json": []}
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.urls += [v for k, v in attrs if k in ("src", "href") and v is not None]
        if tag == "script" and "src" not in values:
            kind = "json" if values.get("type") == "application/json" else "script"
            self._open = kind
            self.inline[kind].append("")
        elif tag == "style":
            self._open = "style"
            self.inline["style"].append("")

    def handle_endtag(self, tag: str) -> None:
        self._open = None

    def handle_data(self, data: str) -> None:
        if self._open:
            self.inline[self._open][-1] += data


def parse(page: str) -> PageParts:
    parts = PageParts()
    parts.feed(page)
    return parts


def sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in directives}


@pytest.fixture
def fake_assets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A node_modules with just the whitelisted files, so these tests need no `npm ci`."""
    root = tmp_path / "node_modules"
    for relative in explorer.ASSET_FILES.values():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(f"/* {relative} */")
    for package, version in VERSIONS.items():
        (root / package / "package.json").write_text(json.dumps({"version": version}))
    (root / "secret.txt").write_text("not an asset")
    monkeypatch.setenv(explorer.ASSETS_ENV, str(root))
    return root


def explorer_app(settings: Settings) -> Starlette:
    """Wired as app.main wires it: the page at /graphql, the assets under it."""

    async def page(request: Request) -> Response:
        return explorer.explorer_page(settings)

    return Starlette(
        routes=[
            Route("/graphql", page),
            Mount("/graphql/assets", explorer.explorer_assets()),
        ]
    )


@pytest.fixture
async def client(fake_assets: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = explorer_app(Settings(demo_api_key="jq_demo_key"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://jobql.test") as client:
        yield client


async def get_page(settings: Settings) -> httpx.Response:
    transport = httpx.ASGITransport(app=explorer_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://jobql.test") as client:
        return await client.get("/graphql")


def page_config(page: str) -> dict[str, object]:
    (config,) = parse(page).inline["json"]
    loaded: dict[str, object] = json.loads(config)
    return loaded


async def test_page_loads_everything_from_its_own_origin(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    urls = parse(response.text).urls
    assets = [url.split("?")[0] for url in urls if url.startswith("/graphql/assets/")]
    assert sorted(assets) == sorted(f"/graphql/assets/{name}" for name in explorer.ASSET_FILES)
    assert all(url.startswith(("/graphql/assets/", "data:")) for url in urls), urls
    for url in urls:
        if url.startswith("/graphql/assets/"):
            package = explorer.ASSET_FILES[url.split("/")[3].split("?")[0]].split("/")[0]
            assert url.endswith(f"?v={VERSIONS[package]}")  # an upgrade changes the URL


async def test_csp_allows_only_this_origin_and_the_page_own_inline_code(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/graphql")
    csp = csp_directives(response.headers["content-security-policy"])
    parts = parse(response.text)
    (script,) = parts.inline["script"]
    (style,) = parts.inline["style"]
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'", sha256_source(script)]
    nonce = page_config(response.text)["styleNonce"]
    assert csp["style-src"] == ["'self'", sha256_source(style), f"'nonce-{nonce}'"]
    assert csp["connect-src"] == ["'self'"]
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    again = page_config((await client.get("/graphql")).text)["styleNonce"]
    assert isinstance(nonce, str) and len(nonce) >= 22 and again != nonce


async def test_demo_mode_opens_with_the_key_and_a_jobs_query(fake_assets: Path) -> None:
    response = await get_page(Settings(demo_api_key="jq_demoread_key"))
    config = page_config(response.text)
    assert json.loads(str(config["headers"])) == {"Authorization": "Bearer jq_demoread_key"}
    assert config["showHeaders"] is True
    assert "jobs(" in str(config["query"])


async def test_without_demo_key_the_headers_show_a_placeholder(fake_assets: Path) -> None:
    response = await get_page(Settings(demo_api_key=None))
    config = page_config(response.text)
    assert "jq_" not in str(config["headers"])
    assert "Bearer <paste your API key here>" in str(config["headers"])
    assert config["showHeaders"] is False
    # The page sends no introspection while the Headers tab holds only this.
    assert config["placeholder"] == "Bearer <paste your API key here>"


async def test_embedded_values_cannot_break_out_of_the_script(fake_assets: Path) -> None:
    hostile = "</script><script>alert(1)</script><!--&\u2028\u2029"
    response = await get_page(Settings(demo_api_key=hostile))
    config_block = response.text.split('id="jobql-explorer-config">')[1].split("</script>")[0]
    for raw in ("<", ">", "&", "\u2028", "\u2029"):
        assert raw not in config_block
    assert response.text.count("<script") == 6  # 4 assets, the config block, the bootstrap
    assert json.loads(str(page_config(response.text)["headers"]))["Authorization"].endswith(hostile)


async def test_without_assets_the_page_says_how_to_install_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "empty"
    monkeypatch.setenv(explorer.ASSETS_ENV, str(folder))
    with caplog.at_level(logging.WARNING, logger="jobql.explorer"):
        response = await get_page(Settings(demo_api_key="jq_demo_key"))
        again = await get_page(Settings(demo_api_key="jq_demo_key"))
    assert response.status_code == again.status_code == 200
    assert "npm ci" in response.text
    assert explorer.ASSETS_ENV in response.text
    assert "graphiql/graphiql.min.js" in response.text
    # Anyone may open the page: it names no folder of the server, the log does (once).
    assert str(tmp_path) not in response.text
    assert re.search(r"(?<![<\w])/(?:[\w.-]+/)+", response.text) is None, response.text
    logged = [r.getMessage() for r in caplog.records if r.name == "jobql.explorer"]
    assert len(logged) == 1 and str(folder) in logged[0], logged
    assert "<script" not in response.text
    assert "jq_demo_key" not in response.text
    assert csp_directives(response.headers["content-security-policy"])["script-src"] == ["'none'"]


def test_assets_default_to_the_repository_node_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(explorer.ASSETS_ENV, raising=False)
    assert explorer.assets_dir() == ROOT / "node_modules"


def test_an_installed_wheel_serves_its_own_copy_unless_the_setting_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packaged = tmp_path / "explorer_assets"
    packaged.mkdir()
    monkeypatch.setattr(explorer, "PACKAGED_ASSETS", packaged)
    monkeypatch.delenv(explorer.ASSETS_ENV, raising=False)
    assert explorer.assets_dir() == packaged
    monkeypatch.setenv(explorer.ASSETS_ENV, str(tmp_path / "elsewhere"))
    assert explorer.assets_dir() == tmp_path / "elsewhere"


@pytest.mark.parametrize("name", sorted(explorer.ASSET_FILES))
async def test_assets_are_served_with_cache_headers(client: httpx.AsyncClient, name: str) -> None:
    response = await client.get(f"/graphql/assets/{name}?v=3.9.0")
    assert response.status_code == 200
    assert response.text == f"/* {explorer.ASSET_FILES[name]} */"
    assert response.headers["cache-control"] == explorer.ASSET_CACHE_CONTROL
    assert response.headers["x-content-type-options"] == "nosniff"
    kind = "text/css" if name.endswith(".css") else "javascript"
    assert kind in response.headers["content-type"]
    again = await client.get(
        f"/graphql/assets/{name}", headers={"if-none-match": response.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.headers["cache-control"] == explorer.ASSET_CACHE_CONTROL


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/",
        "/secret.txt",
        "/graphiql/package.json",
        "/graphiql/graphiql.min.js",
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/graphiql.min.js.map",
        "/react",
    ],
)
async def test_only_whitelisted_files_are_reachable(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(f"/graphql/assets{path}", follow_redirects=True)
    assert response.status_code == 404
    assert "not an asset" not in response.text


async def test_assets_refuse_writes(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql/assets/graphiql.min.js")
    assert response.status_code == 405


async def test_missing_assets_are_404_not_500(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(explorer.ASSETS_ENV, str(tmp_path / "absent"))
    transport = httpx.ASGITransport(app=explorer_app(Settings()))
    async with httpx.AsyncClient(transport=transport, base_url="http://jobql.test") as client:
        response = await client.get("/graphql/assets/graphiql.min.js")
    assert response.status_code == 404


# --- In a real browser ----------------------------------------------------------------------


def require_browser_tools() -> str:
    """Node, playwright-core and Chromium, or a failure that says how to get them: never a skip."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: apt-get install -y nodejs npm, then npm ci")
    if not (ROOT / "node_modules" / "playwright-core").is_dir():
        pytest.fail(f"playwright-core is not installed: run `npm ci` in {ROOT}")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install -y chromium (or set CHROMIUM)")
    if explorer.missing_assets():
        pytest.fail(f"the explorer's npm assets are missing: run `npm ci` in {ROOT}")
    return node


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("explorer-server")) as running:
        yield running


def run_browser(server: LiveServer, **env: str) -> dict[str, Any]:
    """tests/browser/explorer.mjs against `server`; what it saw (its last line)."""
    node = require_browser_tools()
    result = subprocess.run(
        [node, str(BROWSER_SCRIPT)],
        cwd=ROOT,
        env={**os.environ, "JOBQL_URL": server.url, "CHROMIUM": CHROMIUM, **env},
        capture_output=True,
        text=True,
        timeout=BROWSER_SECONDS,
        check=False,
    )
    assert result.returncode == 0, f"{result.stderr}\n{result.stdout}"
    seen: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    kinds = [line.split(" ", 1) for line in seen["requests"]]
    requests = [url for kind, url in kinds if kind != "WEBSOCKET"]
    assert all(url.startswith(server.url + "/") for url in requests), requests
    assert any(url.startswith(f"{server.url}/graphql/assets/graphiql.min.js") for url in requests)
    seen["sockets"] = {url for kind, url in kinds if kind == "WEBSOCKET"}
    return seen


def test_explorer_runs_a_query_and_a_subscription_in_chromium(server: LiveServer) -> None:
    screenshots = [ARTIFACTS / "graphiql.png"]
    # The README's picture changes only when asked, so a test run leaves the work tree clean.
    if os.environ.get("JOBQL_UPDATE_SCREENSHOTS"):
        screenshots.append(README_SCREENSHOT)
    seen = run_browser(
        server,
        JOBQL_DEMO_KEY=server.read_key,
        JOBQL_ANALYZE_KEY=server.demo_keys["analyst@demo"],
        SCREENSHOTS=",".join(str(path) for path in screenshots),
    )
    assert seen["sockets"] == {server.url.replace("http://", "ws://") + "/graphql"}
    assert seen["subscribedJob"]  # its event reached the result pane
    assert seen["jobs"] > 0
    for path in screenshots:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    """`jobql serve` without --demo, on a database set up with the CLI alone, and its one key."""
    workdir = tmp_path_factory.mktemp("explorer-keyed")
    jobql(workdir, "db", "upgrade")
    jobql(workdir, "org", "create", "initech", "--name", "Initech")
    key = jobql(workdir, "apikey", "create", "--org", "initech", "--login", "peter@initech")
    with live_server(workdir, demo=False) as running:
        yield running, key.strip()


def test_without_demo_a_pasted_key_loads_the_schema_and_is_remembered_only_if_asked(
    keyed_server: tuple[LiveServer, str],
) -> None:
    server, key = keyed_server
    seen = run_browser(server, JOBQL_PASTE_KEY=key)
    assert seen["pasted"] and seen["keptOverReloads"] == 2
    introspections = [line for line in seen["requests"] if line.startswith("POST")]
    assert introspections  # after the paste, not before (the script checks that)
