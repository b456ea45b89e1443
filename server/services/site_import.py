"""Site directory import and export (CSV and JSON), for `jmdchat sites` and the admin screens.

Owns the file formats, row validation with a per-row error report (line, field, reason) and
the import rules: keyed by `slug` (re-importing the same file changes nothing, not even
`updated_at`), all-or-nothing (one transaction; any bad row and nothing is written), and
columns-present semantics (a column missing from the file leaves that field untouched on
existing sites, so a file with only `slug,active` can switch sites on and off).

CSV: UTF-8 (a BOM from Excel is fine), delimiter `,` or `;` (German Excel) detected from the
header. Lists (`languages`, `topics`) are separated by spaces, commas or `|`; booleans are
yes/no, true/false, ja/nein or 1/0; `opening_hours` reads like `mon-thu 09:00-16:00;
fri 09:00-13:00` (German day names work too: `Mo-Do 9-16 Uhr`). JSON: a list of objects (or
`{"sites": [...]}`) with the same keys; lists as arrays, opening hours as text or as
`{"mon": [["09:00", "16:00"]]}`. Coordinates, city and Bundesland are filled in from the
postcode when left out.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from babel import Locale, UnknownLocaleError
from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from server.i18n import Translator
from server.i18n import lazy_gettext as _
from server.services import geo
from server.services.clock import Clock
from server.services.routing import normalize_language
from server.storage.db import Sessions
from server.storage.models import Site
from server.storage.repositories import sites as repo

Format = Literal["csv", "json"]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
COLUMNS = (
    "slug", "name", "provider", "street", "postcode", "city", "state", "latitude", "longitude",
    "languages", "topics", "opening_hours", "runs_quartier", "takes_online", "is_online_team",
    "phone", "email", "website", "active",
)
BOOLEAN_DEFAULTS = {"runs_quartier": False, "takes_online": True, "is_online_team": False,
                    "active": True}
MAX_LENGTH = {"name": 200, "provider": 200, "street": 200, "city": 120, "phone": 60,
              "email": 200, "website": 300}
# Germany's bounding box with a little margin: catches swapped latitude and longitude.
LAT_RANGE, LON_RANGE = (47.2, 55.1), (5.8, 15.1)

_DAYS = {
    **{d: i for i, d in enumerate(WEEKDAYS)},
    **{d: i for i, d in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday",
                                   "saturday", "sunday"))},
    **{d: i for i, d in enumerate(("mo", "di", "mi", "do", "fr", "sa", "so"))},
    **{d: i for i, d in enumerate(("montag", "dienstag", "mittwoch", "donnerstag", "freitag",
                                   "samstag", "sonntag"))},
}
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^[0-9+()/. \-]*$")
_TIME = re.compile(r"^(\d{1,2})(?:[:.](\d{2}))?$")
_LIST_SPLIT = re.compile(r"[\s,;|]+")
_TRUE = {"1", "true", "yes", "y", "ja", "j", "x", "wahr"}
_FALSE = {"0", "false", "no", "n", "nein", "falsch"}

OpeningHours = dict[str, list[list[str]]]


class SiteData(BaseModel):
    """One validated site record, as the importer writes it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    slug: str
    name: str = ""  # required for new sites; checked against the merged record
    provider: str = ""
    street: str = ""
    postcode: str = ""
    city: str = ""
    state: str = ""
    latitude: float | None = None
    longitude: float | None = None
    languages: list[str] = []
    topics: list[str] = []
    opening_hours: OpeningHours = {}
    runs_quartier: bool = False
    takes_online: bool = True
    is_online_team: bool = False
    phone: str = ""
    email: str = ""
    website: str = ""
    active: bool = True


@dataclass(frozen=True)
class RowError:
    """One problem in an import file. `message` is an untranslated `_()` literal."""

    line: int  # 1-based line in the file where the row (or object) starts; 0: whole file
    field: str
    code: str
    message: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def render(self, translator: Translator) -> str:
        reason = translator.gettext(self.message, **self.params)
        if self.line == 0:
            return reason
        return translator.gettext(
            _("line {line}, field {field}: {reason}"), line=self.line, field=self.field,
            reason=reason,
        )

    def as_dict(self, translator: Translator) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "code": self.code,
                "message": translator.gettext(self.message, **self.params)}


@dataclass(frozen=True)
class ParsedRow:
    line: int
    data: SiteData
    fields: frozenset[str]  # columns present in the file (or derived from the postcode)


@dataclass
class ImportReport:
    created: list[str] = dataclasses.field(default_factory=list)
    updated: list[str] = dataclasses.field(default_factory=list)
    unchanged: list[str] = dataclasses.field(default_factory=list)
    deactivated: list[str] = dataclasses.field(default_factory=list)
    errors: list[RowError] = dataclasses.field(default_factory=list)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def written(self) -> bool:
        return self.ok and not self.dry_run and bool(self.created or self.updated or
                                                     self.deactivated)


#: A hook run inside the import's transaction after a successful, written import.
AfterImport = Callable[[AsyncSession, ImportReport, datetime], Awaitable[None]]


class _FieldError(Exception):
    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(code)
        self.code, self.message, self.params = code, message, params


# --- reading files ------------------------------------------------------------------------


def detect_format(filename: str) -> Format | None:
    lower = filename.lower()
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith(".json"):
        return "json"
    return None


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _FileError(RowError(
            line, "", "encoding",
            _("The file is not UTF-8. In Excel, save it as “CSV UTF-8”."),
        )) from None


class _FileError(Exception):
    def __init__(self, error: RowError) -> None:
        super().__init__(error.code)
        self.error = error


def _read_csv(text: str) -> list[tuple[int, dict[str, Any]]]:
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise _FileError(RowError(0, "", "empty", _("The file is empty."))) from None
    for column in header:
        if column not in COLUMNS:
            raise _FileError(RowError(
                1, column, "unknown_column",
                _("Unknown column “{column}”. Known columns: {columns}."),
                {"column": column, "columns": ", ".join(COLUMNS)},
            ))
    if "slug" not in header:
        raise _FileError(RowError(
            1, "slug", "missing_column", _("The column “{column}” is missing."), {"column": "slug"},
        ))
    rows: list[tuple[int, dict[str, Any]]] = []
    start = reader.line_num + 1
    for cells in reader:
        line, start = start, reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue  # blank lines (Excel likes to add some at the end)
        if len(cells) != len(header):
            raise _FileError(RowError(
                line, "", "column_count",
                _("This row has {found} cells, the header has {expected}."),
                {"found": len(cells), "expected": len(header)},
            ))
        rows.append((line, dict(zip(header, cells, strict=True))))
    return rows


def _read_json(text: str) -> list[tuple[int, dict[str, Any]]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _FileError(RowError(
            exc.lineno, "", "bad_json", _("The JSON could not be read: {detail}."),
            {"detail": exc.msg},
        )) from None
    if isinstance(document, dict) and isinstance(document.get("sites"), list):
        document = document["sites"]
    if not isinstance(document, list):
        raise _FileError(RowError(
            1, "", "bad_json", _("Expected a list of sites, or an object with a list “sites”."),
        ))
    lines = _json_item_lines(text, len(document))
    rows: list[tuple[int, dict[str, Any]]] = []
    for line, item in zip(lines, document, strict=True):
        if not isinstance(item, dict):
            raise _FileError(RowError(line, "", "bad_json", _("Each site must be an object.")))
        unknown = [k for k in item if k not in COLUMNS]
        if unknown:
            raise _FileError(RowError(
                line, unknown[0], "unknown_column",
                _("Unknown column “{column}”. Known columns: {columns}."),
                {"column": unknown[0], "columns": ", ".join(COLUMNS)},
            ))
        rows.append((line, item))
    return rows


def _json_item_lines(text: str, count: int) -> list[int]:
    """The line on which each element of the sites array starts, for error reports."""
    decoder = json.JSONDecoder()
    start = text.find("[")
    if text.lstrip().startswith("{"):
        found = re.search(r'"sites"\s*:\s*\[', text)
        start = found.end() - 1 if found else start
    lines: list[int] = []
    pos = start + 1
    for _index in range(count):
        while text[pos] in " \t\r\n,":
            pos += 1
        lines.append(text.count("\n", 0, pos) + 1)
        _value, pos = decoder.raw_decode(text, pos)
    return lines


# --- validating fields --------------------------------------------------------------------


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _FieldError("not_text", _("Expected text."))
    text = str(value).strip()
    limit = MAX_LENGTH.get(name)
    if limit is not None and len(text) > limit:
        raise _FieldError("too_long", _("At most {limit} characters."), limit=limit)
    return text


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = "" if value is None else str(value).strip().lower()
    if text == "":
        return BOOLEAN_DEFAULTS[name]
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _FieldError("not_boolean", _("Write yes or no (true/false, ja/nein and 1/0 work too)."))


def _coordinate(value: Any, low: float, high: float) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        # German spreadsheets write 49,7537.
        number = float(value.replace(",", ".")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise _FieldError("not_number", _("Expected a number like 49.7537.")) from None
    if isinstance(value, bool) or not low <= number <= high:
        raise _FieldError(
            "outside_germany",
            _("Must be between {low} and {high} to lie in Germany; are latitude and longitude swapped?"),  # noqa: E501
            low=low, high=high,
        )
    return round(number, 6)


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        items = [str(v).strip() for v in value]
    elif isinstance(value, str):
        items = _LIST_SPLIT.split(value)
    else:
        raise _FieldError("not_list", _("Expected a list."))
    return list(dict.fromkeys(i for i in items if i))


def _languages(value: Any) -> list[str]:
    result: list[str] = []
    for item in _list(value):
        code = normalize_language(item)
        try:
            if code is None:
                raise UnknownLocaleError(item)
            Locale.parse(code)
        except (UnknownLocaleError, ValueError):
            raise _FieldError(
                "unknown_language",
                _("Unknown language code “{language}”; use codes like de, ar, fa_AF (Dari) or ku (Kurmanji)."),  # noqa: E501
                language=item,
            ) from None
        if code not in result:
            result.append(code)
    return result


def _topics(value: Any, known: set[str]) -> list[str]:
    result = _list(value)
    for item in result:
        if item not in known:
            raise _FieldError(
                "unknown_topic", _("Unknown topic “{topic}”; known topics: {known}."),
                topic=item, known=", ".join(sorted(known)),
            )
    return result


def _time(text: str) -> str:
    match = _TIME.match(text)
    if not match:
        raise ValueError(text)
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    if hour > 24 or minute > 59 or (hour == 24 and minute):
        raise ValueError(text)
    return f"{hour:02d}:{minute:02d}"


def _time_range(text: str) -> list[str]:
    parts = text.split("-")
    if len(parts) != 2:
        raise ValueError(text)
    start, end = _time(parts[0]), _time(parts[1])
    if start >= end:
        raise ValueError(text)
    return [start, end]


def _day_spec(text: str) -> list[int]:
    days: list[int] = []
    for token in text.split(","):
        ends = [t.strip(".") for t in token.split("-")]
        if len(ends) > 2 or any(e not in _DAYS for e in ends):
            raise ValueError(token)
        first, last = _DAYS[ends[0]], _DAYS[ends[-1]]
        if last < first:
            raise ValueError(token)
        days.extend(range(first, last + 1))
    return days


def parse_opening_hours(value: Any) -> OpeningHours:
    """`mon-thu 09:00-12:00,13:00-16:00; fri 9-13` (or the JSON object) → per-day ranges."""
    result: dict[int, list[list[str]]] = {}
    if isinstance(value, dict):
        for day, ranges in value.items():
            if day not in WEEKDAYS or not isinstance(ranges, list):
                raise _FieldError("bad_hours", _hours_message(), part=str(day))
            for pair in ranges:
                if not (isinstance(pair, list | tuple) and len(pair) == 2):
                    raise _FieldError("bad_hours", _hours_message(), part=str(pair))
                try:
                    result.setdefault(WEEKDAYS.index(day), []).append(
                        _time_range(f"{pair[0]}-{pair[1]}"))
                except ValueError:
                    raise _FieldError("bad_hours", _hours_message(), part=str(pair)) from None
    elif isinstance(value, str) or value is None:
        for raw_part in re.split(r"[;\n]+", value or ""):
            part = raw_part.strip().lower().replace("uhr", "").strip()
            if not part:
                continue
            part = re.sub(r"\s*[-–—]\s*", "-", part)
            part = re.sub(r"\s*,\s*", ",", part)
            match = re.fullmatch(r"([a-zäöü.,\-]+)\s+([\d:.,\-]+)", part)
            try:
                if not match:
                    raise ValueError(part)
                ranges = [_time_range(r) for r in match.group(2).split(",")]
                for day in _day_spec(match.group(1)):
                    result.setdefault(day, []).extend(ranges)
            except ValueError:
                raise _FieldError("bad_hours", _hours_message(), part=raw_part.strip()) from None
    else:
        raise _FieldError("bad_hours", _hours_message(), part=str(value))
    hours = {
        WEEKDAYS[day]: sorted({tuple(r): r for r in ranges}.values())
        for day, ranges in sorted(result.items())
    }
    for day, ranges in hours.items():
        for before, after in itertools.pairwise(ranges):
            if after[0] < before[1]:
                raise _FieldError(
                    "hours_overlap", _("The opening hours on {day} overlap: {first} and {second}."),
                    day=day, first="-".join(before), second="-".join(after),
                )
    return hours


def _hours_message() -> str:
    return _("Opening hours could not be read near “{part}”; write them like mon-thu 09:00-16:00; fri 09:00-13:00.")  # noqa: E501


def format_opening_hours(hours: OpeningHours) -> str:
    """The canonical text form; consecutive days with the same hours are joined."""
    groups: list[tuple[int, int, str]] = []
    for index, day in enumerate(WEEKDAYS):
        ranges = hours.get(day)
        if not ranges:
            continue
        text = ",".join(f"{a}-{b}" for a, b in ranges)
        if groups and groups[-1][2] == text and groups[-1][1] == index - 1:
            groups[-1] = (groups[-1][0], index, text)
        else:
            groups.append((index, index, text))
    return "; ".join(
        f"{WEEKDAYS[a]}{'' if a == b else '-' + WEEKDAYS[b]} {text}" for a, b, text in groups
    )


def _validate_row(line: int, raw: dict[str, Any], topics: set[str]) -> ParsedRow | list[RowError]:
    errors: list[RowError] = []
    values: dict[str, Any] = {}

    def check(name: str, parse: Any) -> None:
        if name not in raw:
            return
        try:
            values[name] = parse(raw[name])
        except _FieldError as exc:
            errors.append(RowError(line, name, exc.code, exc.message, exc.params))

    def slug(value: Any) -> str:
        text = _text(value, "slug")
        if not _SLUG.match(text) or len(text) > 80:
            raise _FieldError("bad_slug", _("Use 1 to 80 lowercase letters, digits and hyphens, like jmd-trier."))  # noqa: E501
        return text

    def required(name: str) -> Any:
        def parse(value: Any) -> str:
            text = _text(value, name)
            if not text:
                raise _FieldError("required", _("This field must not be empty."))
            return text
        return parse

    def postcode(value: Any) -> str:
        text = f"{value:05d}" if isinstance(value, int) and not isinstance(value, bool) else (
            _text(value, "postcode"))
        if text and (not re.fullmatch(r"\d{5}", text) or geo.lookup_postcode(text) is None):
            raise _FieldError("unknown_postcode", _("Unknown postcode “{postcode}”."), postcode=text)  # noqa: E501
        return text

    def state(value: Any) -> str:
        text = _text(value, "state")
        name = geo.state_name(text) if text else ""
        if text and not name:
            raise _FieldError("unknown_state", _("Unknown Bundesland “{state}”; write it like Rheinland-Pfalz or RP."), state=text)  # noqa: E501
        return name

    def email(value: Any) -> str:
        text = _text(value, "email")
        if text and not _EMAIL.match(text):
            raise _FieldError("bad_email", _("This is not an email address."))
        return text

    def phone(value: Any) -> str:
        text = _text(value, "phone")
        if not _PHONE.match(text):
            raise _FieldError("bad_phone", _("A phone number may only contain digits, spaces and + ( ) / - ."))  # noqa: E501
        return text

    def website(value: Any) -> str:
        text = _text(value, "website")
        if text and not re.match(r"^https?://[^\s]+$", text):
            raise _FieldError("bad_website", _("A website starts with https://."))
        return text

    check("slug", slug)
    check("name", required("name"))
    for name in ("provider", "street", "city"):
        check(name, lambda v, n=name: _text(v, n))
    check("postcode", postcode)
    check("state", state)
    check("latitude", lambda v: _coordinate(v, *LAT_RANGE))
    check("longitude", lambda v: _coordinate(v, *LON_RANGE))
    check("languages", _languages)
    check("topics", lambda v: _topics(v, topics))
    check("opening_hours", parse_opening_hours)
    for name in BOOLEAN_DEFAULTS:
        check(name, lambda v, n=name: _bool(v, n))
    check("phone", phone)
    check("email", email)
    check("website", website)
    if "slug" not in raw:
        errors.append(RowError(line, "slug", "required", _("This field must not be empty.")))
    if errors:
        return errors

    if (values.get("latitude") is None) != (values.get("longitude") is None):
        errors.append(RowError(line, "longitude" if values.get("latitude") is not None
                               else "latitude", "coordinates_pair",
                               _("Give both latitude and longitude, or neither.")))
        return errors
    # Fill in what the postcode tells us, unless the file says otherwise.
    area = geo.lookup_postcode(values["postcode"]) if values.get("postcode") else None
    if area is not None:
        if values.get("latitude") is None:
            values["latitude"], values["longitude"] = area.point.lat, area.point.lon
        if not values.get("state") and area.state:
            values["state"] = geo.STATES[area.state]
        if not values.get("city") and area.label != area.postcode:
            values["city"] = area.places[0]
    elif "postcode" in values and "latitude" not in raw:
        values["latitude"] = values["longitude"] = None  # postcode removed: coordinates too
    data = SiteData.model_validate(values)
    return ParsedRow(line, data, frozenset(values))


def parse_file(
    data: bytes, fmt: Format, topics: set[str]
) -> tuple[list[ParsedRow], list[RowError]]:
    """Read and validate every row; returns the rows or every error found."""
    try:
        text = _decode(data)
        raw_rows = _read_csv(text) if fmt == "csv" else _read_json(text)
    except _FileError as exc:
        return [], [exc.error]
    rows: list[ParsedRow] = []
    errors: list[RowError] = []
    first_line: dict[str, int] = {}
    for line, raw in raw_rows:
        result = _validate_row(line, raw, topics)
        if isinstance(result, list):
            errors.extend(result)
            continue
        slug = result.data.slug
        if slug in first_line:
            errors.append(RowError(line, "slug", "duplicate_slug",
                                   _("The slug “{slug}” already appears on line {first}."),
                                   {"slug": slug, "first": first_line[slug]}))
            continue
        first_line[slug] = line
        rows.append(result)
    return rows, errors


# --- import and export --------------------------------------------------------------------


def _check_merged(row: ParsedRow, site: Site | None) -> list[RowError]:
    """Rules on the record as it will be after the import (file fields over stored ones)."""

    def merged(name: str) -> Any:
        if name in row.fields or site is None:
            return getattr(row.data, name)
        return getattr(site, name)

    errors: list[RowError] = []
    if not merged("name"):
        errors.append(RowError(row.line, "name", "required", _("This field must not be empty.")))
    if not merged("is_online_team") and merged("latitude") is None:
        errors.append(RowError(
            row.line, "postcode", "location_required",
            _("A local site needs a postcode or coordinates, so young people nearby can find it."),
        ))
    return errors


def _stored(site: Site, name: str) -> Any:
    value = getattr(site, name)
    if name == "opening_hours":  # JSON round trip turns tuples into lists
        return {d: [list(r) for r in ranges] for d, ranges in (value or {}).items()}
    return value


async def import_sites(
    sessions: Sessions, clock: Clock, data: bytes, fmt: Format, *,
    deactivate_missing: bool = False, dry_run: bool = False,
    topics: Iterable[str] = (),
    after: AfterImport | None = None,
) -> ImportReport:
    """Validate and apply a whole file in one transaction; with any error, write nothing.

    `topics`: topic keys to accept besides those in the database (the built-in ones).
    `after`: runs in the same transaction once a valid, non-dry-run file was applied (the
    admin screens write their audit row there, so the import and its audit row commit together).
    Callers holding a `SiteDirectory` should `invalidate()` it after a written import.
    """
    report = ImportReport(dry_run=dry_run)
    async with sessions.begin() as session:
        known = {t.key for t in await repo.all_topics(session)} | set(topics)
        rows, errors = parse_file(data, fmt, known)
        existing = {s.slug: s for s in await repo.all_sites(session)}
        for row in rows:
            errors.extend(_check_merged(row, existing.get(row.data.slug)))
        if errors:
            report.errors = sorted(errors, key=lambda e: (e.line, COLUMNS.index(e.field)
                                                          if e.field in COLUMNS else 99))
            return report
        now = clock.now()
        seen: set[str] = set()
        for row in rows:
            slug = row.data.slug
            seen.add(slug)
            site = existing.get(slug)
            if site is None:
                report.created.append(slug)
                if not dry_run:
                    repo.add_site(session, Site(**row.data.model_dump(), created_at=now,
                                                updated_at=now))
                continue
            changes = {
                name: getattr(row.data, name) for name in row.fields
                if name != "slug" and _stored(site, name) != getattr(row.data, name)
            }
            if not changes:
                report.unchanged.append(slug)
                continue
            report.updated.append(slug)
            if not dry_run:
                for name, value in changes.items():
                    setattr(site, name, value)
                site.updated_at = now
        if deactivate_missing:
            for slug, site in existing.items():
                if slug not in seen and site.active:
                    report.deactivated.append(slug)
                    if not dry_run:
                        site.active = False
                        site.updated_at = now
        if after is not None and not dry_run:
            await session.flush()
            await after(session, report, now)
    return report


def site_record(site: Site) -> dict[str, Any]:
    """A site as an export record (JSON types)."""
    return {name: _stored(site, name) for name in COLUMNS}


def _csv_cell(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if name in ("languages", "topics"):
        return " ".join(value)
    if name == "opening_hours":
        return format_opening_hours(value)
    return str(value)


async def export_sites(sessions: Sessions, fmt: Format) -> str:
    """Every site (inactive ones too), ordered by slug; importing the result changes nothing."""
    async with sessions.begin() as session:
        records = [site_record(s) for s in await repo.all_sites(session)]
    if fmt == "json":
        return json.dumps(records, ensure_ascii=False, indent=2) + "\n"
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for record in records:
        writer.writerow([_csv_cell(name, record[name]) for name in COLUMNS])
    return out.getvalue()
