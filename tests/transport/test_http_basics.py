"""The HTTP frame every user relies on: health, metrics, security headers, locale, limits."""

from __future__ import annotations

import re

import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import AppConfig
from tests.conftest import make_config

ClientFactory = object


@pytest.fixture
async def client(aiohttp_client, config: AppConfig) -> TestClient:  # type: ignore[no-untyped-def]
    return await aiohttp_client(create_app(config))


EXPECTED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _assert_security_headers(headers: object) -> None:
    assert isinstance(headers, dict) or hasattr(headers, "get")
    for name, value in EXPECTED_HEADERS.items():
        assert headers.get(name) == value, name  # type: ignore[attr-defined]
    csp = headers.get("Content-Security-Policy")  # type: ignore[attr-defined]
    assert csp is not None
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert directives["frame-ancestors"] == "'none'"


@pytest.mark.parametrize(
    "path", ["/", "/healthz", "/metrics", "/static/src/main.js", "/i18n/de.json", "/nowhere"]
)
async def test_security_headers_on_every_response(client: TestClient, path: str) -> None:
    response = await client.get(path)
    _assert_security_headers(response.headers)


async def test_healthz_reports_the_database(client: TestClient) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert (await response.json()) == {"status": "ok", "database": "up", "worker": 0}


async def test_healthz_is_503_when_the_database_is_unreachable(aiohttp_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A directory where the database file should be: SQLite cannot open it.
    blocked = tmp_path / "not-a-file.db"
    blocked.mkdir()
    client = await aiohttp_client(create_app(make_config(f"sqlite+aiosqlite:///{blocked}")))
    response = await client.get("/healthz")
    assert response.status == 503
    assert (await response.json())["database"] == "down"


async def test_metrics_are_prometheus_text(client: TestClient) -> None:
    await client.get("/healthz")
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    body = await response.text()
    assert re.search(r'jmdchat_http_requests_total\{route="/healthz",status="200"\} 1\.0', body)
    assert "jmdchat_socket_clients" in body


@pytest.mark.parametrize(
    ("cookie", "accept", "lang", "direction"),
    [
        (None, None, "de", "ltr"),
        (None, "ar,en;q=0.8", "ar", "rtl"),
        (None, "prs-AF,en;q=0.5", "fa-AF", "rtl"),
        (None, "ps", "ps", "rtl"),
        (None, "uk-UA,uk;q=0.9", "uk", "ltr"),
        (None, "ja,zh;q=0.5", "de", "ltr"),
        ("ti", "ar", "ti", "ltr"),
        ("fa", "de", "fa", "rtl"),
        ("xx", "tr", "tr", "ltr"),
    ],
)
async def test_first_response_has_lang_and_dir_of_the_negotiated_locale(
    client: TestClient, cookie: str | None, accept: str | None, lang: str, direction: str
) -> None:
    headers = {"Accept-Language": accept} if accept else {}
    if cookie:
        headers["Cookie"] = f"jmdchat_locale={cookie}"
    response = await client.get("/", headers=headers)
    html = await response.text()
    assert f'<html lang="{lang}" dir="{direction}">' in html
    assert "__" not in html.split("<body>")[1]  # every placeholder was filled


async def test_boot_data_cannot_break_out_of_its_script_block(client: TestClient) -> None:
    html = await (await client.get("/")).text()
    boot = html.split('<script type="application/json" id="boot">')[1].split("</script>")[0]
    assert "<" not in boot


async def test_client_catalog_per_locale(client: TestClient) -> None:
    response = await client.get("/i18n/uk.json")
    assert response.status == 200
    data = await response.json()
    assert data["locale"] == "uk"
    assert "n%10==1" in data["plural"]
    assert (await client.get("/i18n/xx.json")).status == 404


async def test_cross_origin_post_is_refused(client: TestClient) -> None:
    response = await client.post(
        "/api/anything", json={}, headers={"Origin": "https://evil.example"}
    )
    assert response.status == 403
    assert (await response.json())["code"] == "bad_origin"


async def test_oversized_body_is_refused(client: TestClient, config: AppConfig) -> None:
    big = b"x" * (config.limits.max_http_body_bytes + 1)
    response = await client.post(
        "/api/anything", data=big, headers={"Content-Type": "application/json"}
    )
    assert response.status == 413
