"""The public site directory API, as the site finder uses it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import AppConfig
from server.services import sites as service
from server.services.clock import FrozenClock
from server.storage.db import create_engine, create_sessions

Client = TestClient[Any, Any]
ClientFactory = Callable[[Any], Awaitable[Client]]


@pytest.fixture
async def client(config: AppConfig, aiohttp_client: ClientFactory) -> Client:
    engine = create_engine(config.database)
    try:
        await service.load_demo_sites(create_sessions(engine), FrozenClock())
    finally:
        await engine.dispose()
    return await aiohttp_client(create_app(config))


async def get_json(client: Client, path: str, status: int = 200, **headers: str) -> Any:
    response = await client.get(path, headers=headers)
    assert response.status == status, await response.text()
    return await response.json()


async def test_list_active_sites_with_public_fields(client: Client) -> None:
    body = await get_json(client, "/api/sites")
    assert body["ok"] is True
    assert len(body["sites"]) == 17
    trier = next(s for s in body["sites"] if s["slug"] == "jmd-trier")
    assert trier["street"] == "Bruchhausenstraße 16a"
    assert trier["opening_hours"]["fri"] == [["09:00", "12:30"]]
    for hidden in ("id", "active", "created_at", "updated_at"):
        assert hidden not in trier


@pytest.mark.parametrize(
    ("query", "expected"),
    [("?language=ps", {"jmd-hamburg", "jmd-online"}),
     ("?language=fa-AF&online_team=false", {"jmd-frankfurt", "jmd-hamburg", "jmd-wuppertal"}),
     ("?state=RP", {"jmd-trier"}),
     ("?state=Saarland", {"jmd-voelklingen"}),
     ("?quartier=false", {"jmd-online"}),
     ("?topic=health&state=SH", set()),
     ("?language=", None)],
)
async def test_filters(client: Client, query: str, expected: set[str] | None) -> None:
    body = await get_json(client, "/api/sites" + query)
    slugs = {s["slug"] for s in body["sites"]}
    assert slugs == expected if expected is not None else len(slugs) == 17


async def test_bad_filter_is_a_translated_400(client: Client) -> None:
    body = await get_json(client, "/api/sites?language=not a code", 400)
    assert body["code"] == "invalid" and body["message"]


async def test_one_site_and_404(client: Client) -> None:
    body = await get_json(client, "/api/sites/jmd-trier")
    assert body["site"]["city"] == "Trier"
    missing = await get_json(client, "/api/sites/jmd-atlantis", 404)
    assert missing["code"] == "not_found"


async def test_inactive_sites_are_not_public(client: Client, config: AppConfig) -> None:
    engine = create_engine(config.database)
    try:
        await service.import_sites_file(create_sessions(engine), FrozenClock(),
                                        b"slug,active\njmd-gotha,no\n", "csv")
    finally:
        await engine.dispose()
    # This client's directory has not been built yet, so it sees the change at once.
    await get_json(client, "/api/sites/jmd-gotha", 404)
    assert len((await get_json(client, "/api/sites"))["sites"]) == 16


async def test_nearest_for_a_postcode(client: Client) -> None:
    response = await client.get("/api/sites/nearest?q=54290&limit=3")
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.json()
    assert body["location"]["label"] == "54290 Trier"
    assert body["location"]["state"] == "Rheinland-Pfalz"
    sites = body["sites"]
    assert sites[0]["site"]["slug"] == "jmd-trier"
    assert len(sites) == 3
    assert [s["km"] for s in sites] == sorted(s["km"] for s in sites)
    assert sites[0]["reason"] == {"code": "nearest", "site": "jmd-trier", "km": 0, "rank": 1}
    assert [t["site"]["slug"] for t in body["online_teams"]] == ["jmd-online"]


async def test_nearest_for_a_town_and_a_language(client: Client) -> None:
    body = await get_json(client, "/api/sites/nearest?q=Muenchen&language=fa_AF&limit=1")
    assert body["location"]["label"] == "München"
    (first,) = body["sites"]
    assert first["reason"]["code"] == "nearest_language"
    assert first["reason"]["language"] == "fa_AF"
    assert "fa_AF" in first["site"]["languages"]
    body = await get_json(client, "/api/sites/nearest?q=Berlin&language=ar")
    assert body["sites"][0]["site"]["slug"] == "jmd-berlin"


@pytest.mark.parametrize(
    ("q", "code"),
    [("00000", "postcode_unknown"), ("5429", "postcode_malformed"), ("", "location_missing"),
     ("Atlantis", "place_unknown")],
)
async def test_nearest_errors_are_translated(client: Client, q: str, code: str) -> None:
    german = await get_json(client, f"/api/sites/nearest?q={q}", 400, **{
        "Accept-Language": "de"})
    english = await get_json(client, f"/api/sites/nearest?q={q}", 400, **{
        "Accept-Language": "en"})
    assert german["code"] == english["code"] == code
    assert german["message"] and english["message"]
    if code != "location_missing" and german["message"] != english["message"]:
        assert english["message"].startswith(("A postcode", "We "))  # really English
    if code == "postcode_unknown":
        assert "00000" in german["message"]


async def test_nearest_query_validation(client: Client) -> None:
    body = await get_json(client, "/api/sites/nearest?q=54290&limit=500", 400)
    assert body["code"] == "invalid" and "limit" in body["message"]
    body = await get_json(client, "/api/sites/nearest?q=54290&topic=astrology", 400)
    assert body["code"] == "topic_unknown"


async def test_languages(client: Client) -> None:
    body = await get_json(client, "/api/sites/languages")
    assert body["languages"][0] == "de"
    assert {"ar", "fa_AF", "ku", "ti"} <= set(body["languages"])


async def test_topics_in_the_request_locale(client: Client) -> None:
    german = await get_json(client, "/api/topics", **{"Accept-Language": "de"})
    assert [t["key"] for t in german["topics"]][:3] == ["school", "training_work", "recognition"]
    assert german["topics"][0]["name"] == "Schule"
    tigrinya = await get_json(client, "/api/topics", Cookie="jmdchat_locale=ti")
    assert tigrinya["topics"][0]["name"] == "ቤት ትምህርቲ"
    dari = await get_json(client, "/api/topics", **{"Accept-Language": "prs, de;q=0.5"})
    assert dari["topics"][0]["name"] == "مکتب"
    arabic = await get_json(client, "/api/topics", **{"Accept-Language": "ar"})
    assert [t["name"] for t in arabic["topics"]][-1] == "موضوع آخر"


async def test_geo_lookup(client: Client) -> None:
    body = await get_json(client, "/api/geo/lookup?q=Koeln")
    assert body["location"]["label"] == "Köln"
    assert body["location"]["kind"] == "place"
    assert body["location"]["postcode"] is None
    body = await get_json(client, "/api/geo/lookup?q=38855")
    assert body["location"]["label"] == "38855"
    body = await get_json(client, "/api/geo/lookup?q=1234", 400)
    assert body["code"] == "postcode_malformed"
