"""The links jobql hands out (downloadUrl) start where JOBQL_PUBLIC_URL says, or at the
request's own origin; X-Forwarded-* is believed only from JOBQL_TRUSTED_PROXIES."""

from __future__ import annotations

from typing import Any

import httpx

from tests.served import bearer, serve
from tests.support import Env, twin_env

FILE_JOBS = """
{ jobs(first: 1, tql: "dataType = 'file'") { nodes { attachment { downloadUrl } } } }
"""


async def link(url: str, headers: dict[str, str] | None = None) -> str:
    """A downloadUrl as a client of the server at `url` receives it, with `headers`."""
    async with httpx.AsyncClient(base_url=url) as client:
        headers = {**bearer(), **(headers or {})}
        response = await client.post("/graphql", json={"query": FILE_JOBS}, headers=headers)
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    found: str = body["data"]["jobs"]["nodes"][0]["attachment"]["downloadUrl"]
    return found


async def test_a_link_follows_the_request_and_ignores_untrusted_forwarding(env: Env) -> None:
    forged = {"X-Forwarded-Proto": "https"}
    async with serve(env, trusted_proxies=("10.0.0.5",)) as url:  # the test is not 10.0.0.5
        assert (await link(url)).startswith(f"{url}/attachments/")
        assert (await link(url, forged)).startswith(f"{url}/attachments/")


async def test_a_trusted_proxy_sets_the_scheme(env: Env) -> None:
    async with serve(env) as url:  # by default the loopback addresses are trusted proxies
        forwarded = await link(url, {"X-Forwarded-Proto": "https"})
    assert forwarded.startswith(url.replace("http://", "https://") + "/attachments/")


async def test_the_public_url_wins_over_any_host_header(env: Env) -> None:
    public = "https://jobql.example/api"
    assert env.settings.model_validate({"public_url": public + "/"}).public_url == public
    async with serve(env, public_url=public) as url:
        assert (await link(url)).startswith(f"{public}/attachments/")
        assert (await link(url, {"Host": "evil.example"})).startswith(f"{public}/attachments/")
    async with serve(env) as url:  # without it, the Host header is what there is
        assert (await link(url, {"Host": "evil.example"})).startswith("http://evil.example/")


async def test_the_explorer_asks_under_the_public_urls_path(env: Env) -> None:
    page = {"Accept": "text/html"}
    async with twin_env(env, public_url="https://tools.example/jobql") as behind_a_proxy:
        html = (await behind_a_proxy.client.get("/graphql", headers=page)).text
    assert '"url": "/jobql/graphql"' in html and 'src="/jobql/graphql/assets/' in html
    html = (await env.client.get("/graphql", headers=page)).text
    assert '"url": "/graphql"' in html and 'src="/graphql/assets/' in html
