"""Offline postcode and town lookup, and distances."""

from __future__ import annotations

import gzip
import importlib.util
import math
from pathlib import Path

import pytest

from server.services import geo
from server.services.geo import LocationError, Point, haversine_km

ROOT = Path(__file__).resolve().parents[2]


def test_table_covers_every_german_postcode() -> None:
    table = geo.table()
    assert len(table.areas) == 8308
    assert sum(len(a.places) for a in table.areas.values()) <= 16477
    assert {a.state for a in table.areas.values()} == {*geo.STATES, ""}


def test_postcode_with_several_places_uses_their_centroid() -> None:
    area = geo.lookup_postcode("38855")
    assert area is not None
    assert set(area.places) == {"Danstedt", "Heudeber", "Reddeber", "Schmatzfeld", "Wernigerode"}
    assert area.point.lat == pytest.approx((51.9119 + 51.9025 + 51.8663 + 51.8924 + 51.8365) / 5,
                                           abs=1e-4)
    # No single main place: the label is the postcode alone rather than a random village.
    assert area.label == "38855"


def test_postcode_without_state() -> None:
    location = geo.resolve("87491")
    assert location.label == "87491 Jungholz"
    assert location.state == ""
    assert location.state_name == ""


@pytest.mark.parametrize(
    ("query", "label", "state"),
    [
        ("54290", "54290 Trier", "RP"),
        (" 54290 Trier ", "54290 Trier", "RP"),
        ("D-54290", "54290 Trier", "RP"),
        ("٥٤٢٩٠", "54290 Trier", "RP"),  # Arabic-Indic digits
        ("۵۴۲۹۰", "54290 Trier", "RP"),  # Persian digits
        ("01067", "01067 Dresden", "SN"),
    ],
)
def test_postcodes(query: str, label: str, state: str) -> None:
    location = geo.resolve(query)
    assert (location.kind, location.label, location.state) == ("postcode", label, state)
    assert location.postcode_prefix == label[:2]


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("München", "München"),
        ("Muenchen", "München"),
        ("Munchen", "München"),
        ("MÜNCHEN", "München"),
        ("Munich", "München"),
        ("Мюнхен", "München"),
        ("Köln", "Köln"),
        ("Koeln", "Köln"),
        ("koln", "Köln"),
        ("Frankfurt", "Frankfurt am Main"),
        ("Frankfurt a.M.", "Frankfurt am Main"),
        ("frankfurt/main", "Frankfurt am Main"),
        ("Frankfurt (Oder)", "Frankfurt (Oder)"),
        ("Frankfurt/Oder", "Frankfurt (Oder)"),
        ("Voelklingen", "Völklingen"),
        ("volklingen", "Völklingen"),
        ("Göttingen", "Göttingen"),
        ("Goettingen", "Göttingen"),
        ("St. Ingbert", "Sankt Ingbert"),
        ("Berlin-Kreuzberg", "Berlin Kreuzberg"),
        ("برلين", "Berlin"),
        ("برلین", "Berlin"),  # Persian yeh
        ("Halle", "Halle"),
        ("Wernigerode", "Wernigerode"),
        ("Trier", "Trier"),
    ],
)
def test_towns_in_common_spellings(query: str, name: str) -> None:
    location = geo.resolve(query)
    assert (location.kind, location.label) == ("place", name)
    assert location.postcode is None


def test_same_name_prefers_the_bigger_town() -> None:
    # Four places called Halle; Halle (Saale) has the most postcodes.
    assert geo.resolve("Halle").state == "ST"
    assert geo.resolve("Halle").postcode_prefix == "06"


def test_town_centroid_is_the_town_not_its_postcode() -> None:
    town = geo.resolve("Wernigerode").point
    assert haversine_km(town, Point(51.8365, 10.7822)) < 0.1


def test_street_words_are_not_towns() -> None:
    with pytest.raises(LocationError) as caught:
        geo.resolve("Straße")
    assert caught.value.code == "place_unknown"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("", "location_missing"),
        ("   ", "location_missing"),
        ("5429", "postcode_malformed"),
        ("542901", "postcode_malformed"),
        ("54-29", "postcode_malformed"),
        ("00000", "postcode_unknown"),
        ("99999", "postcode_unknown"),
        ("Qwertzuiopstadt", "place_unknown"),
        ("x" * 150, "place_unknown"),
    ],
)
def test_errors_have_codes_and_messages(query: str, code: str) -> None:
    with pytest.raises(LocationError) as caught:
        geo.resolve(query)
    assert caught.value.code == code
    assert caught.value.status == 400
    assert caught.value.message


def test_haversine() -> None:
    # One degree along a meridian, and a quarter of the equator, on the mean earth radius.
    assert haversine_km(Point(0, 0), Point(1, 0)) == pytest.approx(111.195, abs=0.001)
    assert haversine_km(Point(0, 0), Point(0, 90)) == pytest.approx(6371.0088 * math.pi / 2)
    berlin, trier = Point(52.52, 13.405), Point(49.7596, 6.6441)
    assert haversine_km(berlin, trier) == pytest.approx(562.4, abs=0.5)
    assert haversine_km(trier, trier) == 0
    assert haversine_km(berlin, trier) == pytest.approx(haversine_km(trier, berlin))
    # 1 m apart: no catastrophic cancellation.
    one_metre_north = Point(trier.lat + 0.000009, trier.lon)
    assert haversine_km(trier, one_metre_north) == pytest.approx(0.001, rel=0.01)


def test_postcode_prefix_is_two_digits_at_most() -> None:
    assert geo.postcode_prefix("54290") == "54"
    assert geo.postcode_prefix(None) is None
    assert geo.postcode_prefix("") is None


def test_state_names() -> None:
    assert geo.state_name("RP") == "Rheinland-Pfalz"
    assert geo.state_name("rheinland-pfalz") == "Rheinland-Pfalz"
    assert geo.state_name("Thueringen") == "Thüringen"
    assert geo.state_name("Tirol") == ""


def test_build_script_reproduces_the_committed_table(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("build_postcodes", ROOT / "scripts" /
                                                  "build_postcodes.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text, postcodes, rows = module.build(module.default_source())
    assert (postcodes, rows) == (8308, 16477)
    committed = gzip.decompress(geo.POSTCODES_FILE.read_bytes()).decode("utf-8")
    assert text == committed
