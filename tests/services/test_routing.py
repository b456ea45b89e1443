"""Routing over the 16 JMD im Quartier model sites and the online team (the demo data), and
over generated directories. Pure: no database."""

from __future__ import annotations

import json
import random
import time
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.i18n import get_translator
from server.services import geo
from server.services.geo import LocationError, Point, haversine_km
from server.services.routing import (
    Route,
    SiteEntry,
    SiteIndex,
    nearest,
    normalize_language,
    route,
)
from server.services.site_import import SiteData, parse_file
from server.services.sites import DEMO_SITES_FILE, builtin_topics

MODEL_SITES = {
    "Berlin": ("jmd-berlin", "10178"),
    "Bremen": ("jmd-bremen", "28195"),
    "Dresden": ("jmd-dresden", "01067"),
    "Flensburg": ("jmd-flensburg", "24937"),
    "Frankfurt am Main": ("jmd-frankfurt", "60313"),
    "Gotha": ("jmd-gotha", "99867"),
    "Hamburg": ("jmd-hamburg", "20099"),
    "Ingolstadt": ("jmd-ingolstadt", "85049"),
    "Neubrandenburg": ("jmd-neubrandenburg", "17033"),
    "Peine": ("jmd-peine", "31224"),
    "Potsdam": ("jmd-potsdam", "14467"),
    "Stuttgart": ("jmd-stuttgart", "70173"),
    "Trier": ("jmd-trier", "54290"),
    "Völklingen": ("jmd-voelklingen", "66333"),
    "Wernigerode": ("jmd-wernigerode", "38855"),
    "Wuppertal": ("jmd-wuppertal", "42103"),
}


def entry(data: SiteData) -> SiteEntry:
    point = Point(data.latitude, data.longitude) if data.latitude is not None and (
        data.longitude is not None) else None
    return SiteEntry(
        id=data.slug, slug=data.slug, name=data.name, point=point,
        languages=frozenset(data.languages), topics=frozenset(data.topics),
        takes_online=data.takes_online, is_online_team=data.is_online_team,
    )


def demo_entries() -> list[SiteEntry]:
    rows, errors = parse_file(DEMO_SITES_FILE.read_bytes(), "json",
                              {t.key for t in builtin_topics()})
    assert not errors
    return [entry(r.data) for r in rows]


@pytest.fixture(scope="module")
def index() -> SiteIndex:
    return SiteIndex(demo_entries())


def decide(index: SiteIndex, query: str | None, language: str | None = None,
           topic: str | None = None) -> Route:
    return route(index, geo.resolve(query) if query else None, language, topic)


def brute_force_nearest(index: SiteIndex, point: Point, language: str | None = None,
                        topic: str | None = None) -> list[str]:
    local = [s for s in index.sites if not s.is_online_team and s.takes_online and s.point
             and s.speaks(language) and s.covers(topic)]
    return [s.slug for s in sorted(local, key=lambda s: haversine_km(point, s.point))]  # type: ignore[arg-type]


def test_demo_directory_is_the_16_model_sites_and_the_online_team(index: SiteIndex) -> None:
    assert len(index) == 17
    assert {s.slug for s in index.sites} == {slug for slug, _ in MODEL_SITES.values()} | {
        "jmd-online"}
    assert [t.slug for t in index.online_teams] == ["jmd-online"]
    assert {"ar", "de"} <= index.by_slug["jmd-trier"].languages
    assert "ar" in index.by_slug["jmd-berlin"].languages


@pytest.mark.parametrize(("city", "site"), list(MODEL_SITES.items()))
def test_each_city_postcode_routes_to_its_own_site(index: SiteIndex, city: str,
                                                   site: tuple[str, str]) -> None:
    slug, postcode = site
    decided = decide(index, postcode)
    assert decided.primary is not None
    assert decided.primary.site.slug == slug
    assert decided.primary.reason.code == "nearest"
    assert decided.primary.reason.params["km"] <= 7  # 38855's centroid is 6 km from town
    assert decided.postcode_prefix == postcode[:2]
    # ... and the town's name does too, with German, the language every site speaks.
    by_name = decide(index, city, language="de")
    assert by_name.primary is not None and by_name.primary.site.slug == slug
    assert by_name.primary.reason.code == "nearest_language"


def test_candidates_are_nearest_first_then_the_online_team(index: SiteIndex) -> None:
    decided = decide(index, "54290")
    codes = [c.reason.code for c in decided.candidates]
    assert codes == ["nearest", "nearest", "nearest", "online_team_fallback"]
    kms = [c.km for c in decided.candidates[:3]]
    assert kms == sorted(kms)  # type: ignore[type-var]
    assert [c.reason.params["rank"] for c in decided.candidates[:3]] == [1, 2, 3]
    assert decided.candidates[-1].site.slug == "jmd-online"
    point = geo.resolve("54290").point
    assert [c.site.slug for c in decided.candidates[:3]] == brute_force_nearest(index, point)[:3]


@pytest.mark.parametrize(
    ("postcode", "expected"),
    [("94032", "jmd-ingolstadt"),  # Passau
     ("78462", "jmd-stuttgart"),  # Konstanz
     ("67655", "jmd-voelklingen"),  # Kaiserslautern
     ("18055", "jmd-neubrandenburg"),  # Rostock
     ("04109", "jmd-dresden")],  # Leipzig
)
def test_postcode_without_a_site_nearby_routes_to_the_nearest(
    index: SiteIndex, postcode: str, expected: str
) -> None:
    decided = decide(index, postcode)
    assert decided.primary is not None
    assert decided.primary.site.slug == expected
    assert decided.primary.site.slug == brute_force_nearest(index, geo.resolve(postcode).point)[0]
    assert decided.primary.reason.params["km"] > 20


def test_language_picks_the_nearest_site_that_speaks_it(index: SiteIndex) -> None:
    # Dari from Trier: no Dari in Trier; Frankfurt is the nearest site that speaks it.
    decided = decide(index, "54290", language="fa_AF")
    assert decided.primary is not None
    reason = decided.primary.reason.as_dict()
    assert reason["code"] == "nearest_language"
    assert reason["language"] == "fa_AF"
    assert reason["site"] == decided.primary.site.slug
    expected = brute_force_nearest(index, geo.resolve("54290").point, "fa_AF")
    assert [c.site.slug for c in decided.candidates[:-1]] == expected[:3]
    assert all("fa_AF" in c.site.languages for c in decided.candidates)


def test_arabic_from_berlin_and_trier(index: SiteIndex) -> None:
    for postcode, slug in (("10178", "jmd-berlin"), ("54290", "jmd-trier")):
        decided = decide(index, postcode, language="ar")
        assert decided.primary is not None and decided.primary.site.slug == slug


def test_language_no_local_site_speaks_goes_to_the_online_team(index: SiteIndex) -> None:
    assert not any("ti" in s.languages for s in index.sites if not s.is_online_team)
    decided = decide(index, "54290", language="ti")
    assert [c.site.slug for c in decided.candidates] == ["jmd-online"]
    assert decided.primary is not None
    assert decided.primary.reason.as_dict() == {
        "code": "online_team_no_local_language", "site": "jmd-online", "language": "ti"}
    assert decided.primary.km is None


def test_without_location_the_online_team_answers(index: SiteIndex) -> None:
    decided = decide(index, None, language="ps")
    assert [c.reason.code for c in decided.candidates] == ["online_team"]
    assert decided.postcode_prefix is None


def test_topic_filter(index: SiteIndex) -> None:
    # Flensburg does not list health; the nearest site that covers it is Hamburg.
    assert not index.by_slug["jmd-flensburg"].covers("health")
    decided = decide(index, "24937", topic="health")
    assert decided.primary is not None and decided.primary.site.slug == "jmd-hamburg"
    assert decided.primary.reason.params["topic"] == "health"
    assert decide(index, "24937", topic="school").candidates[0].site.slug == "jmd-flensburg"


def test_site_finder_lists_sites_that_only_take_visits(index: SiteIndex) -> None:
    entries = [replace(s, takes_online=False) if s.slug == "jmd-trier" else s
               for s in demo_entries()]
    visits_only = SiteIndex(entries)
    point = geo.resolve("54290").point
    assert decide(visits_only, "54290").candidates[0].site.slug != "jmd-trier"
    assert nearest(visits_only, point, limit=1)[0].site.slug == "jmd-trier"
    assert nearest(visits_only, point, limit=1, online_only=True)[0].site.slug != "jmd-trier"


def _site(slug: str, lat: float | None, lon: float | None, languages: str,
          online_team: bool = False, topics: str = "") -> SiteEntry:
    return SiteEntry(
        id=slug, slug=slug, name=slug,
        point=None if lat is None or lon is None else Point(lat, lon),
        languages=frozenset(languages.split()), topics=frozenset(topics.split()),
        takes_online=True, is_online_team=online_team,
    )


def test_fallbacks_when_nobody_fits() -> None:
    local = [_site("jmd-a", 49.75, 6.64, "de so"), _site("jmd-b", 52.5, 13.4, "de ar")]
    team = _site("jmd-online", None, None, "de ar", online_team=True)
    with_team = SiteIndex([*local, team])
    without_team = SiteIndex(local)

    # No location, the online team does not speak Somali, a local team does.
    decided = route(with_team, None, "so")
    assert [(c.site.slug, c.reason.code) for c in decided.candidates] == [
        ("jmd-a", "language_match")]
    # Nobody speaks Tigrinya: the online team anyway, saying so.
    decided = route(with_team, geo.resolve("10178"), "ti")
    assert [(c.site.slug, c.reason.code) for c in decided.candidates] == [
        ("jmd-online", "online_team_language_unavailable")]
    # ... and without an online team the nearest site, saying so.
    decided = route(without_team, geo.resolve("10178"), "ti")
    assert decided.primary is not None
    assert (decided.primary.site.slug, decided.primary.reason.code) == (
        "jmd-b", "nearest_language_unavailable")
    # No location, no online team, no language: any site that takes online enquiries.
    assert route(without_team, None).candidates[0].reason.code == "any_site"
    # No local site covers the topic: the online team (covers all), saying why.
    only_school = SiteIndex([_site("jmd-a", 49.75, 6.64, "de", topics="school")])
    decided = route(only_school, geo.resolve("54290"), "de", "health")
    assert decided.primary is not None
    assert decided.primary.reason.params["topic_unavailable"] == "health"
    assert route(SiteIndex([]), geo.resolve("54290")).candidates == ()


@pytest.mark.parametrize(
    ("query", "code"),
    [("00000", "postcode_unknown"), ("5429", "postcode_malformed"),
     ("Atlantis", "place_unknown")],
)
def test_unknown_and_malformed_locations_give_translated_errors(
    index: SiteIndex, query: str, code: str
) -> None:
    with pytest.raises(LocationError) as caught:
        decide(index, query)
    error = caught.value
    assert error.code == code
    german = get_translator("de").gettext(error.message, **error.params)
    english = get_translator("en").gettext(error.message, **error.params)
    assert german and english
    if get_translator("de").translations.gettext(error.message) != error.message:
        assert german != english  # translated (the catalogs are filled in after this issue)


def test_the_route_keeps_only_the_postcode_prefix(index: SiteIndex) -> None:
    stored = json.dumps(decide(index, "54290", language="ar").as_dict())
    assert "54290" not in stored
    assert '"postcode_prefix": "54"' in stored


@pytest.mark.parametrize(
    ("raw", "code"),
    [("fa-AF", "fa_AF"), ("fa_af", "fa_AF"), ("prs", "fa_AF"), ("AR", "ar"), ("kmr", "ku"),
     ("sr-Latn", "sr_Latn"), ("de", "de"), ("", None), ("arabic!", None), ("a", None)],
)
def test_normalize_language(raw: str, code: str | None) -> None:
    assert normalize_language(raw) == code


points = st.builds(Point, st.floats(47.3, 55.0), st.floats(5.9, 15.0))


@settings(max_examples=60, deadline=None)
@given(
    sites=st.lists(st.tuples(points, st.sampled_from(["de", "de ar", "de fa_AF", "ar"])),
                   min_size=1, max_size=30),
    where=points, language=st.sampled_from([None, "de", "ar", "fa_AF"]),
)
def test_local_candidates_match_brute_force(
    sites: list[tuple[Point, str]], where: Point, language: str | None
) -> None:
    index = SiteIndex(_site(f"s{i}", p.lat, p.lon, langs) for i, (p, langs) in enumerate(sites))
    found = nearest(index, where, language, limit=5)
    expected = sorted(
        (haversine_km(where, p) for p, langs in sites if language is None or language in
         langs.split()),
    )[:5]
    assert [c.km for c in found] == pytest.approx(expected)


def test_a_decision_over_500_sites_is_fast() -> None:
    rng = random.Random(4)
    languages = ["de", "ar", "fa", "fa_AF", "ps", "ru", "uk", "tr", "fr", "ku", "ti", "en"]
    sites = [
        _site(f"jmd-{i}", rng.uniform(47.5, 54.8), rng.uniform(6.0, 14.9),
              " ".join(["de", *rng.sample(languages, 3)]))
        for i in range(500)
    ]
    index = SiteIndex([*sites, _site("jmd-online", None, None, " ".join(languages), True)])
    location = geo.resolve("54290")
    started = time.perf_counter()
    for n in range(500):
        route(index, location, languages[n % len(languages)])
    per_decision_ms = (time.perf_counter() - started) * 1000 / 500
    # The benchmark (bench/routing.py) measures p99; this only guards against regressions
    # by an order of magnitude, with room for slow CI machines.
    assert per_decision_ms < 2
