"""The GraphiQL explorer at GET /graphql, served offline from pinned npm packages."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import ASGIApp, Scope

from app.config import Settings
from app.links import public_base

log = logging.getLogger("jobql.explorer")
ASSETS_URL = "/graphql/assets"
ASSETS_ENV = "JOBQL_EXPLORER_ASSETS"
INSTALL_HINT = "npm ci"

# Public asset name -> file under node_modules. Only these are served: a whitelist, so nothing
# else in node_modules (package.json files, source maps, other packages) is reachable.
ASSET_FILES: Mapping[str, str] = {
    "react.production.min.js": "react/umd/react.production.min.js",
    "react-dom.production.min.js": "react-dom/umd/react-dom.production.min.js",
    "graphiql.min.js": "graphiql/graphiql.min.js",
    "graphiql.min.css": "graphiql/graphiql.min.css",
    # GraphiQL bundles a graphql-ws of its own but builds its client only from `subscriptionUrl`,
    # with no say on retries or on which headers go into connection_init: the bootstrap makes
    # its own client from this one.
    "graphql-ws.min.js": "graphql-ws/umd/graphql-ws.min.js",
}
SCRIPTS = (
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "graphql-ws.min.js",
)
STYLESHEET = "graphiql.min.css"

# Each URL carries its package's version, so a day of caching never outlives an upgrade.
ASSET_CACHE_CONTROL = "public, max-age=86400"

EXAMPLE_QUERY = """\
# Welcome to jobql. Press the run button (Ctrl-Enter).
# The book icon on the left documents every field;
# tql takes filters like "createdAt > 'now - 7 days'".
query LatestReports {
  jobs(first: 10, tql: "status = 'Success'") {
    totalCount
    nodes {
      id
      analyzerName
      dataType
      data
      status
      verdict
      createdAt
      report {
        summary {
          taxonomies { level namespace predicate value }
        }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""
PLACEHOLDER_AUTHORIZATION = "Bearer <paste your API key here>"
HEADERS_PLACEHOLDER = json.dumps({"Authorization": PLACEHOLDER_AUTHORIZATION}, indent=2)

# Constant, so its CSP hash is computed once; per-page values travel in a JSON data block,
# which the browser never executes and CSP does not govern.
BOOTSTRAP_JS = (Path(__file__).parent / "explorer.js").read_text(encoding="utf-8")


def csp_hash(source: str) -> str:
    """The CSP source expression that allows exactly this inline script."""
    digest = hashlib.sha256(source.encode()).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


BOOTSTRAP_HASH = csp_hash(BOOTSTRAP_JS)
# GraphiQL fills the window; inline, so hashed like the script (style attributes would need
# 'unsafe-inline').
PAGE_CSS = "body { margin: 0; overflow: hidden; } #graphiql { height: 100vh; }"
PAGE_CSS_HASH = csp_hash(PAGE_CSS)


# The wheel's copy of the assets (hatch_build.py puts them there; a source tree has none).
PACKAGED_ASSETS = Path(__file__).resolve().parent / "explorer_assets"
REPO_NODE_MODULES = Path(__file__).resolve().parents[1] / "node_modules"


def assets_dir() -> Path:
    """Where the npm packages live: JOBQL_EXPLORER_ASSETS when set (an explicit setting wins),
    else the copy an installed wheel carries, else the repository's node_modules."""
    override = os.environ.get(ASSETS_ENV)
    if override:
        return Path(override).resolve()
    if PACKAGED_ASSETS.is_dir():
        return PACKAGED_ASSETS
    return REPO_NODE_MODULES


def missing_assets(directory: Path | None = None) -> list[str]:
    """The asset files that are not installed; empty when the explorer can run."""
    root = directory if directory is not None else assets_dir()
    return [rel for rel in ASSET_FILES.values() if not (root / rel).is_file()]


def package_version(directory: Path, package: str) -> str:
    """An installed npm package's version, used to bust caches when it changes."""
    try:
        meta: dict[str, Any] = json.loads((directory / package / "package.json").read_text())
    except (OSError, ValueError):
        return "unknown"
    return str(meta.get("version", "unknown"))


def asset_urls(directory: Path, assets_url: str) -> dict[str, str]:
    """Public asset name -> its URL, versioned by the npm package the file comes from."""
    urls = {}
    for name, relative in ASSET_FILES.items():
        version = package_version(directory, relative.split("/")[0])
        urls[name] = f"{assets_url}/{name}?v={version}"
    return urls


def script_json(value: object) -> str:
    """JSON safe inside a <script> element: no way to close the tag or open a comment."""
    text = json.dumps(value, ensure_ascii=False)
    for char, escaped in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text


def explorer_config(settings: Settings, *, graphql_url: str = "/graphql") -> dict[str, object]:
    """What the bootstrap script hands GraphiQL: endpoint, example query, headers."""
    if settings.demo_api_key:
        headers = json.dumps({"Authorization": f"Bearer {settings.demo_api_key}"}, indent=2)
    else:
        headers = HEADERS_PLACEHOLDER
    return {
        "url": graphql_url,
        "query": EXAMPLE_QUERY,
        "headers": headers,
        "showHeaders": bool(settings.demo_api_key),
        "placeholder": PLACEHOLDER_AUTHORIZATION,
    }


def content_security_policy(style_nonce: str | None) -> str:
    """Everything from this origin only, so a closed network never sees an outside request.

    `style_nonce` is None for the install page, which runs no script at all.
    """
    if style_nonce is None:
        script_src, style_src = "'none'", "'self'"
    else:
        script_src = f"'self' {BOOTSTRAP_HASH}"
        style_src = f"'self' {PAGE_CSS_HASH} 'nonce-{style_nonce}'"
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src {script_src}",
            f"style-src {style_src}",
            "connect-src 'self'",
            # GraphiQL's stylesheet embeds its icons and fonts as data: URLs.
            "img-src 'self' data:",
            "font-src 'self' data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )


def page_headers(style_nonce: str | None) -> dict[str, str]:
    # no-store: in demo mode the page carries an API key, and the nonce must be fresh.
    return {
        "Content-Security-Policy": content_security_policy(style_nonce),
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def render_page(config: dict[str, object], urls: Mapping[str, str]) -> str:
    """The explorer's HTML: pinned assets from this origin, then the hashed bootstrap."""
    src = {name: html.escape(url, quote=True) for name, url in urls.items()}
    scripts = "\n".join(f'  <script src="{src[name]}"></script>' for name in SCRIPTS)
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>jobql explorer</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="{src[STYLESHEET]}">
  <style>{PAGE_CSS}</style>
{scripts}
</head>
<body>
  <div id="graphiql"></div>
  <script type="application/json" id="jobql-explorer-config">{script_json(config)}</script>
  <script>{BOOTSTRAP_JS}</script>
</body>
</html>
"""


def render_install_page(missing: list[str]) -> str:
    """Shown instead of a broken explorer when the npm packages are not installed.

    Anyone may open it, so it names no folder of the server: the log does (`explorer_page`).
    """
    items = "\n".join(f"    <li><code>{html.escape(rel)}</code></li>" for rel in missing)
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>jobql explorer: assets not installed</title></head>
<body>
  <h1>The GraphiQL explorer's assets are not installed</h1>
  <p>jobql serves GraphiQL from pinned npm packages, never from a CDN. This server lacks these
  files of them:</p>
  <ul>
{items}
  </ul>
  <p>Whoever runs the server can install them: in a clone of the repository, run
  <code>{INSTALL_HINT}</code> at its root (the README's set-up command runs it); otherwise point
  <code>{ASSETS_ENV}</code> at a <code>node_modules</code> folder that has them. The server's log
  names the folder it looked in. Then reload this page.</p>
  <p>The GraphQL endpoint itself works without them: POST queries to this URL.</p>
</body>
</html>
"""


_logged_missing: set[Path] = set()


def log_missing(directory: Path, missing: list[str]) -> None:
    """Once per folder and process: the page is opened again and again, the folder is the same."""
    if directory not in _logged_missing:
        _logged_missing.add(directory)
        log.warning(
            "the explorer's assets are missing under %s: %s (run `%s` or set %s)",
            directory,
            ", ".join(missing),
            INSTALL_HINT,
            ASSETS_ENV,
        )


def explorer_page(settings: Settings, request: HTTPConnection | None = None) -> Response:
    """The HTML page for GET /graphql when a browser asks for text/html. Its URLs are paths
    under the public URL's (JOBQL_PUBLIC_URL, else the request's root path), on the page's
    own origin: behind a proxy that serves jobql under /jobql, the page asks /jobql/graphql."""
    prefix = urlsplit(public_base(request, settings)).path if request is not None else ""
    assets_url = prefix + ASSETS_URL
    directory = assets_dir()
    missing = missing_assets(directory)
    if missing:
        log_missing(directory, missing)
        body = render_install_page(missing)
        return HTMLResponse(body, headers=page_headers(None))
    nonce = secrets.token_urlsafe(18)
    config = {**explorer_config(settings, graphql_url=prefix + "/graphql"), "styleNonce": nonce}
    body = render_page(config, asset_urls(directory, assets_url))
    return HTMLResponse(body, headers=page_headers(nonce))


class ExplorerAssets(StaticFiles):
    """StaticFiles limited to the explorer's whitelisted files, with cache headers."""

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        # get_path() has normalised the URL path; anything not whitelisted is a 404.
        relative = ASSET_FILES.get(path)
        if relative is None:
            return "", None
        return super().lookup_path(relative)

    async def check_config(self) -> None:
        # A missing node_modules means 404s (the page explains why), not a 500 per request.
        return None

    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = ASSET_CACHE_CONTROL
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def explorer_assets() -> ASGIApp:
    """The ASGI app mounted at /graphql/assets: GraphiQL, React and ReactDOM UMD builds."""
    return ExplorerAssets(directory=assets_dir(), check_dir=False)
