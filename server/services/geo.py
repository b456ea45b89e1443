"""Offline German geography: what a young person types (a postcode, or a town's name in any
common spelling) → a point on the map; and great-circle distances.

Owns reading `server/data/postcodes_de.tsv.gz` (built by `scripts/build_postcodes.py` from
GeoNames, CC BY 4.0) once, lazily, and the lookup rules. Pure: no network, no database, and no
logging of what was typed (a postcode narrows a young person down; it is personal data).
"""

from __future__ import annotations

import gzip
import math
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from server.data import DATA_DIR
from server.i18n import lazy_gettext as _
from server.services.errors import ServiceError

POSTCODES_FILE = DATA_DIR / "postcodes_de.tsv.gz"
EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG)

# GeoNames' admin1 codes for the 16 Länder; site records store the German name.
STATES: dict[str, str] = {
    "BW": "Baden-Württemberg",
    "BY": "Bayern",
    "BE": "Berlin",
    "BB": "Brandenburg",
    "HB": "Bremen",
    "HH": "Hamburg",
    "HE": "Hessen",
    "MV": "Mecklenburg-Vorpommern",
    "NI": "Niedersachsen",
    "NW": "Nordrhein-Westfalen",
    "RP": "Rheinland-Pfalz",
    "SL": "Saarland",
    "SN": "Sachsen",
    "ST": "Sachsen-Anhalt",
    "SH": "Schleswig-Holstein",
    "TH": "Thüringen",
}

# Names young people may type for big cities and the JMD im Quartier cities: exonyms and
# spellings in the scripts of our languages. Keys are matched after `strict_key()` folding,
# so Persian and Arabic letter variants (ی/ي, ک/ك) and case need no extra entries.
ALIASES: dict[str, str] = {
    "munich": "München", "munchen": "München", "münih": "München", "мюнхен": "München",
    "ميونخ": "München", "مونیخ": "München",
    "cologne": "Köln", "cologne sur rhin": "Köln", "кёльн": "Köln", "кельн": "Köln",
    "كولونيا": "Köln", "کلن": "Köln",
    "nuremberg": "Nürnberg", "нюрнберг": "Nürnberg", "نورنبرغ": "Nürnberg",
    "hanover": "Hannover", "hanovre": "Hannover", "ганновер": "Hannover", "هانوفر": "Hannover",
    "brunswick": "Braunschweig",
    "francfort": "Frankfurt am Main", "франкфурт": "Frankfurt am Main",
    "فرانكفورت": "Frankfurt am Main", "فرانکفورت": "Frankfurt am Main",
    "берлин": "Berlin", "берлін": "Berlin", "برلين": "Berlin", "برلین": "Berlin",
    "hambourg": "Hamburg", "гамбург": "Hamburg", "هامبورغ": "Hamburg", "هامبورگ": "Hamburg",
    "brême": "Bremen", "бремен": "Bremen", "بريمن": "Bremen", "برمن": "Bremen",
    "дрезден": "Dresden", "درسدن": "Dresden", "دريسدن": "Dresden",
    "лейпциг": "Leipzig", "لايبزيغ": "Leipzig", "لایپزیگ": "Leipzig",
    "штутгарт": "Stuttgart", "شتوتغارت": "Stuttgart", "اشتوتگارت": "Stuttgart",
    "трир": "Trier", "ترير": "Trier", "تریر": "Trier", "trèves": "Trier",
    "потсдам": "Potsdam", "بوتسدام": "Potsdam", "پوتسدام": "Potsdam",
    "дюссельдорф": "Düsseldorf", "دوسلدورف": "Düsseldorf",
    "эссен": "Essen", "дортмунд": "Dortmund", "دورتموند": "Dortmund",
    "вупперталь": "Wuppertal", "فوبرتال": "Wuppertal", "ووپرتال": "Wuppertal",
    "фленсбург": "Flensburg", "ингольштадт": "Ingolstadt", "гота": "Gotha",
    "нойбранденбург": "Neubrandenburg", "пайне": "Peine", "фёльклинген": "Völklingen",
    "вернигероде": "Wernigerode",
}

_FOLD_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue"})
# Persian and Arabic keyboards produce different code points for the "same" letter.
_FOLD_ARABIC = str.maketrans({"ی": "ي", "ى": "ي", "ک": "ك", "ة": "ه", "ۀ": "ه"})
_NON_WORD = re.compile(r"[\W_]+")
_COUNTRY_PREFIX = re.compile(r"^(?:de|d)\s*[-–]?\s*(?=\d)", re.IGNORECASE)
_FIVE_DIGITS = re.compile(r"(?<!\d)(\d{5})(?!\d)")


class LocationError(ServiceError):
    """The typed location cannot be used; the message tells the young person what to do."""

    status = 400


def location_missing() -> LocationError:
    return LocationError("location_missing", _("Please enter a postcode or the name of your town."))


def postcode_malformed() -> LocationError:
    return LocationError(
        "postcode_malformed",
        _("A postcode has five digits, for example 54290. Please check it, or enter the name of your town instead."),  # noqa: E501
    )


def postcode_unknown(postcode: str) -> LocationError:
    return LocationError(
        "postcode_unknown",
        _("We do not know the postcode {postcode}. Please check it, or enter the name of your town instead."),  # noqa: E501
        postcode=postcode,
    )


def place_unknown(place: str) -> LocationError:
    return LocationError(
        "place_unknown",
        _("We could not find a town called “{place}”. Please check the spelling, or enter your postcode instead."),  # noqa: E501
        place=place[:60],
    )


@dataclass(frozen=True, slots=True)
class Point:
    lat: float
    lon: float


def haversine_km(a: Point, b: Point) -> float:
    """Great-circle distance in km; numerically stable for short distances (unlike acos)."""
    phi1, phi2 = math.radians(a.lat), math.radians(b.lat)
    dphi = phi2 - phi1
    dlam = math.radians(b.lon - a.lon)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True, slots=True)
class PostcodeArea:
    postcode: str
    point: Point  # centroid of its places
    state: str  # Land code ("RP"), "" where GeoNames has none (87491 Jungholz)
    places: tuple[str, ...]  # biggest place first
    label: str  # "54290 Trier"; just "38855" where no place clearly is the main one


@dataclass(frozen=True, slots=True)
class Place:
    name: str
    district: str  # Kreis key: tells apart the four towns called Halle
    state: str
    point: Point  # centroid of the place's rows
    postcodes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Location:
    """What a typed query resolved to. Only `postcode_prefix` may be stored with an enquiry."""

    kind: Literal["postcode", "place"]
    label: str  # "54290 Trier", "Frankfurt am Main"
    postcode: str | None
    state: str
    point: Point
    postcode_prefix: str | None

    @property
    def state_name(self) -> str:
        return STATES.get(self.state, "")


def postcode_prefix(postcode: str | None) -> str | None:
    """The privacy-reduced location kept with an enquiry: the first two digits at most.

    Two digits name a region of roughly a million people (e.g. "54" Trier/Eifel/Mosel), enough
    for statistics per region and never enough to find a person.
    """
    if postcode and len(postcode) >= 2 and postcode[:2].isdigit():
        return postcode[:2]
    return None


def _ascii_digits(text: str) -> str:
    # Arabic-Indic and Persian digits (٥٤٢٩٠, ۵۴۲۹۰) are what many of our users type.
    return "".join(str(unicodedata.digit(ch)) if ch.isdigit() else ch for ch in text)


def strict_key(text: str) -> str:
    """Case-, accent- and punctuation-insensitive key; umlauts spelled out (ö → oe, ß → ss)."""
    folded = unicodedata.normalize("NFC", text).casefold().translate(_FOLD_UMLAUTS)
    if not folded.isascii():
        folded = "".join(
            ch for ch in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(ch)
        )
    tokens = _NON_WORD.sub(" ", folded.translate(_FOLD_ARABIC)).split()
    return " ".join("sankt" if word == "st" else word for word in tokens)


def loose_key(strict: str) -> str:
    """`strict_key` with umlauts dropped as well: Munchen, Muenchen and München all meet here."""
    return strict.replace("ae", "a").replace("oe", "o").replace("ue", "u")


class GeoTable:
    """The postcode table and a place-name index over it. Build once; read-only afterwards."""

    def __init__(self, areas: dict[str, PostcodeArea], places: list[Place]) -> None:
        self.areas = areas
        self.places = places
        self._exact: dict[str, list[Place]] = defaultdict(list)
        self._exact_loose: dict[str, list[Place]] = defaultdict(list)
        self._prefix: dict[str, list[Place]] = defaultdict(list)
        self._prefix_loose: dict[str, list[Place]] = defaultdict(list)
        for place in places:
            key = strict_key(place.name)
            loose = loose_key(key)
            self._exact[key].append(place)
            self._exact_loose[loose].append(place)
            tokens, loose_tokens = key.split(), loose.split()
            # "Frankfurt" must find "Frankfurt am Main": index every leading run of words.
            for n in range(1, len(tokens)):
                self._prefix[" ".join(tokens[:n])].append(place)
            for n in range(1, len(loose_tokens)):
                self._prefix_loose[" ".join(loose_tokens[:n])].append(place)
        self._aliases = {strict_key(alias): strict_key(name) for alias, name in ALIASES.items()}

    def area(self, postcode: str) -> PostcodeArea | None:
        return self.areas.get(postcode)

    def place(self, text: str) -> Place | None:
        """The town meant by `text`, or None.

        Exact names beat word prefixes; among equals the town with the most postcodes wins
        (a stand-in for size: "Halle" is Halle (Saale), not the village in Holzminden). If
        nothing matches, trailing words are dropped ("Frankfurt a. M." → "Frankfurt").
        """
        key = strict_key(text)
        key = self._aliases.get(key, key)
        tokens = key.split()
        while tokens:
            key = " ".join(tokens)
            loose = loose_key(key)
            for index, probe in (
                (self._exact, key),
                (self._exact_loose, loose),
                (self._prefix, key),
                (self._prefix_loose, loose),
            ):
                found = index.get(probe)
                if found:
                    return min(found, key=lambda p: (-len(p.postcodes), p.name, p.district))
            tokens.pop()
        return None

    def resolve(self, query: str) -> Location:
        """Resolve a typed postcode or town; raises `LocationError` with a helpful message."""
        text = _ascii_digits(query.strip())
        if not text:
            raise location_missing()
        text = _COUNTRY_PREFIX.sub("", text)
        if any(ch.isdigit() for ch in text):
            squeezed = re.sub(r"\s+", "", text)
            match = re.fullmatch(r"\d{5}", squeezed) or _FIVE_DIGITS.search(text)
            if not match:
                raise postcode_malformed()
            code = match.group(1) if match.groups() else match.group(0)
            found = self.area(code)
            if found is None:
                raise postcode_unknown(code)
            return Location(
                kind="postcode",
                label=found.label,
                postcode=code,
                state=found.state,
                point=found.point,
                postcode_prefix=postcode_prefix(code),
            )
        if len(text) > 100:
            raise place_unknown(text)
        place = self.place(text)
        if place is None:
            raise place_unknown(text)
        prefixes = Counter(p[:2] for p in place.postcodes)
        prefix = min(prefixes, key=lambda p: (-prefixes[p], p))
        return Location(
            kind="place",
            label=place.name,
            postcode=None,
            state=place.state,
            point=place.point,
            postcode_prefix=prefix,
        )


def parse_table(text: str) -> GeoTable:
    """Parse the table format written by `scripts/build_postcodes.py`."""
    raw: list[tuple[str, Point, str, list[tuple[str, str, Point]]]] = []
    # (name, district) → postcodes and row points, to build one Place per town.
    grouped: dict[tuple[str, str], tuple[str, list[str], list[Point]]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        postcode, lat, lon, state, encoded = line.split("\t")
        entries: list[tuple[str, str, Point]] = []
        for item in encoded.split(";"):
            name, district, plat, plon = item.split("|")
            point = Point(float(plat), float(plon))
            entries.append((name, district, point))
            entry = grouped.setdefault((name, district), (state, [], []))
            entry[1].append(postcode)
            entry[2].append(point)
        raw.append((postcode, Point(float(lat), float(lon)), state, entries))

    size: Counter[str] = Counter()
    for (name, _district), (_state, codes, _points) in grouped.items():
        size[name] += len(codes)
    areas: dict[str, PostcodeArea] = {}
    for postcode, point, state, entries in raw:
        # Biggest place (most postcodes) first: 01067 is "Dresden" before its districts.
        names = sorted(
            dict.fromkeys(name for name, _d, _p in entries), key=lambda n: -size[n]
        )
        main = names[0]
        # Only name the area after a place that clearly is its main one: 38855 covers five
        # villages and the town of Wernigerode, each with one postcode, so it stays "38855".
        clear = len(names) == 1 or all(
            size[n] < size[main] or n.startswith(main + " ") for n in names[1:]
        )
        label = f"{postcode} {main}" if clear else postcode
        areas[postcode] = PostcodeArea(postcode, point, state, tuple(names), label)
    places = [
        Place(
            name=name,
            district=district,
            state=state,
            point=Point(
                sum(p.lat for p in points) / len(points), sum(p.lon for p in points) / len(points)
            ),
            postcodes=tuple(codes),
        )
        for (name, district), (state, codes, points) in grouped.items()
    ]
    return GeoTable(areas, places)


def load_table(path: Path = POSTCODES_FILE) -> GeoTable:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return parse_table(handle.read())


@cache
def table() -> GeoTable:
    """The shipped table, loaded on first use (about 0.2 s) and kept for the process."""
    return load_table()


def resolve(query: str) -> Location:
    return table().resolve(query)


def lookup_postcode(postcode: str) -> PostcodeArea | None:
    return table().area(postcode)


def state_name(value: str) -> str:
    """A Land's German name from its code or name (any case); "" if it is not a Land."""
    if value.upper() in STATES:
        return STATES[value.upper()]
    wanted = loose_key(strict_key(value))
    for name in STATES.values():
        if loose_key(strict_key(name)) == wanted:
            return name
    return ""
