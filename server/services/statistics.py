"""Statistics without personal data (issue #9), for funders and site leads.

What is counted, from metadata only (no content, no account, no nickname, no postcode):

* enquiries per week, per site, per topic, per language and per age group: conversations by
  their `created_at` (UTC, weeks start on Monday, ISO 8601), attributed to the site that holds
  them now (after a handover: the new team);
* the first-response time of the enquiries of the period: `first_response_at - created_at`
  (the first message a counsellor wrote; see services/message_writer.py), as median and 90th
  percentile (linear interpolation between the closest ranks);
* handovers to another team: audit rows `conversation_handed_over` of the period, attributed
  to the team that handed over (the row's `site_id`).

Small numbers are suppressed so that nobody can be recognised (docs/operations.md
"Statistics", the rule in full):

1. A count from 1 to 4 is never published. 0 is published (it identifies nobody).
2. If the total of a table is 1–4, the total and every cell are suppressed.
3. Categories (site, topic, language, age group): suppressed cells are folded into one row
   "other" that does not name its categories; if that row would hold 1–4, the smallest named
   rows are folded into it as well until it holds 5 or more. Categories with 0 are not listed.
   So every published number is 0 or at least 5, the rows add up to the total, and the other
   row always hides at least two categories with at least 5 together.
4. Weeks (a fixed axis): cells of 1–4 are suppressed (JSON `null`); then, while the suppressed
   cells could be worked out from the total (a single suppressed cell, suppressed cells that
   add up to less than 5, or as many as there are cells, i.e. all ones), the smallest
   published non-zero week is suppressed too (complementary suppression). If nothing is left
   to add, every week is suppressed, the empty ones too (or the hidden weeks, each at least 1,
   would still add up to the total: five weeks of 1).
5. Median and 90th percentile need at least 5 answered enquiries; below that they are `null`
   and the number of answered enquiries is suppressed like any count.

The rules are pure functions below (`suppress_categories`, `suppress_weeks`, `published`) and
unit-tested (tests/services/test_statistics.py).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from server.i18n import lazy_gettext as _
from server.services.access import AccountContext, StatisticsScope, access_statistics_for
from server.services.clock import Clock
from server.services.errors import ServiceError, not_found
from server.storage.db import Sessions
from server.storage.repositories import statistics as repo

#: Counts below this (and above 0) are never published.
THRESHOLD = 5
#: The folded row of suppressed categories.
OTHER = "_other"
#: Enquiries without an age group (none given, or from before the age group was stored).
UNKNOWN = "unknown"
#: The default period: this week and the 11 before it.
DEFAULT_WEEKS = 12
#: The longest period one request may ask for (about two years).
MAX_WEEKS = 106
WEEK = timedelta(days=7)


# =============================================================================================
# The suppression rules (pure)
# =============================================================================================


@dataclass(frozen=True)
class Cell:
    key: str
    count: int | None  # None: suppressed

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "count": self.count}


def published(count: int) -> int | None:
    """A single number on its own: None if it is 1–4."""
    return None if 0 < count < THRESHOLD else count


def suppress_categories(counts: Mapping[str, int]) -> list[Cell]:
    """Rule 3: rows ≥ 5 by count (largest first, then key), plus one unnamed OTHER row."""
    total = sum(counts.values())
    if 0 < total < THRESHOLD:
        return [Cell(OTHER, None)]
    named = sorted(((k, n) for k, n in counts.items() if n > 0), key=lambda kn: (-kn[1], kn[0]))
    other = [kn for kn in named if kn[1] < THRESHOLD]
    named = [kn for kn in named if kn[1] >= THRESHOLD]
    # Fold the smallest named rows in until the other row is 0 or ≥ 5 and hides ≥ 2 categories.
    while other and (sum(n for _, n in other) < THRESHOLD or len(other) < 2) and named:
        other.append(named.pop())
    cells = [Cell(k, n) for k, n in named]
    if other:
        cells.append(Cell(OTHER, sum(n for _, n in other)))
    return cells


def suppress_weeks(counts: Sequence[tuple[str, int]]) -> list[Cell]:
    """Rule 4: the weekly series in its order, with primary and complementary suppression."""
    total = sum(n for _, n in counts)
    if 0 < total < THRESHOLD:
        return [Cell(k, None if n else 0) for k, n in counts]
    hidden = {k for k, n in counts if 0 < n < THRESHOLD}

    def derivable() -> bool:
        values = [n for k, n in counts if k in hidden]
        return bool(values) and (
            len(values) == 1 or sum(values) < THRESHOLD or sum(values) == len(values)
        )

    while derivable():
        candidates = sorted(((n, k) for k, n in counts if n > 0 and k not in hidden))
        if not candidates:  # nothing left to add: hide every week, the empty ones too
            return [Cell(k, None) for k, _ in counts]
        hidden.add(candidates[0][1])
    return [Cell(k, None if k in hidden else n) for k, n in counts]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0 ≤ q ≤ 1) with linear interpolation between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# =============================================================================================
# The period
# =============================================================================================


def invalid_period() -> ServiceError:
    return ServiceError(
        "invalid_period",
        _("Please choose a period of at most {weeks} weeks whose start is not after its end."),
        weeks=MAX_WEEKS,
    )


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class Period:
    """Whole weeks (Monday 00:00 UTC to Monday 00:00 UTC): `first` … `first + weeks`."""

    first: date
    weeks: int

    @classmethod
    def of(cls, start: date | None, end: date | None, today: date) -> Period:
        last = monday(end or today)
        first = monday(start) if start is not None else last - (DEFAULT_WEEKS - 1) * WEEK
        weeks = (last - first).days // 7 + 1
        if weeks < 1 or weeks > MAX_WEEKS:
            raise invalid_period()
        return cls(first, weeks)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return self.start + self.weeks * WEEK

    @property
    def last_day(self) -> date:
        return self.first + self.weeks * WEEK - timedelta(days=1)

    def week_keys(self) -> list[str]:
        return [(self.first + i * WEEK).isoformat() for i in range(self.weeks)]

    def week_of(self, at: datetime) -> str:
        return monday(at.astimezone(UTC).date()).isoformat()


# =============================================================================================
# The report
# =============================================================================================


@dataclass(frozen=True)
class Report:
    period: Period
    scope_sites: list[dict[str, str]]  # [{slug, name}] of the scope (all sites: every site)
    all_sites: bool
    enquiries_total: int | None
    per_week: list[Cell]
    per_site: list[Cell]
    per_topic: list[Cell]
    per_language: list[Cell]
    per_age_group: list[Cell]
    answered: int | None
    median_seconds: float | None
    p90_seconds: float | None
    handovers_total: int | None
    handovers_per_site: list[Cell] = field(default_factory=list)

    def breakdowns(self) -> dict[str, list[Cell]]:
        return {
            "week": self.per_week, "site": self.per_site, "topic": self.per_topic,
            "language": self.per_language, "age_group": self.per_age_group,
            "handovers_site": self.handovers_per_site,
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "period": {
                "from": self.period.first.isoformat(), "to": self.period.last_day.isoformat(),
                "weeks": self.period.weeks,
            },
            "scope": {"all_sites": self.all_sites, "sites": self.scope_sites},
            "threshold": THRESHOLD,
            "enquiries": {
                "total": self.enquiries_total,
                "per_week": [c.as_json() for c in self.per_week],
                "per_site": [c.as_json() for c in self.per_site],
                "per_topic": [c.as_json() for c in self.per_topic],
                "per_language": [c.as_json() for c in self.per_language],
                "per_age_group": [c.as_json() for c in self.per_age_group],
            },
            "first_response": {
                "answered": self.answered,
                "median_seconds": self.median_seconds,
                "p90_seconds": self.p90_seconds,
            },
            "handovers": {
                "total": self.handovers_total,
                "per_site": [c.as_json() for c in self.handovers_per_site],
            },
        }


@dataclass(frozen=True)
class Tally:
    """Raw counts of a period, before suppression. Sites by id ("" / None: none)."""

    weeks: Mapping[str, int]  # week key (its Monday) -> enquiries
    sites: Mapping[str | None, int]
    topics: Mapping[str | None, int]
    languages: Mapping[str | None, int]
    age_groups: Mapping[str | None, int]  # None: not given
    waits: Sequence[float]  # seconds to the first answer, per answered enquiry
    handovers: Mapping[str | None, int]  # per handing-over site id


def tally_rows(
    period: Period,
    enquiries: Iterable[tuple[datetime, str, str, str, str | None]],
    first_responses: Iterable[tuple[datetime, datetime]],
    handovers: Iterable[tuple[datetime, str | None]],
) -> Tally:
    """A Tally from single rows ((created_at, site id, topic, language, age group), (created_at,
    first_response_at), (at, site id)); the database path counts with GROUP BY instead."""
    rows = list(enquiries)
    return Tally(
        weeks=Counter(period.week_of(created) for created, *_ in rows),
        sites=Counter(row[1] for row in rows),
        topics=Counter(row[2] for row in rows),
        languages=Counter(row[3] for row in rows),
        age_groups=Counter(row[4] for row in rows),
        waits=[max(0.0, (answered - created).total_seconds())
               for created, answered in first_responses],
        handovers=Counter(site for _at, site in handovers),
    )


def build_report(
    period: Period,
    scope_sites: Sequence[tuple[str, str, str]],  # (id, slug, name)
    all_sites: bool,
    tally: Tally,
) -> Report:
    """Suppress and shape (pure: the database reads happen in `statistics_for`)."""
    slug_of = {site_id: slug for site_id, slug, _ in scope_sites}

    def by_slug(counts: Mapping[str | None, int]) -> Counter[str]:
        out: Counter[str] = Counter()
        for site_id, n in counts.items():
            out[slug_of.get(site_id or "", OTHER)] += n
        return out

    def keyed(counts: Mapping[str | None, int], missing: str) -> Counter[str]:
        out: Counter[str] = Counter()
        for key, n in counts.items():
            out[key or missing] += n
        return out

    total = sum(tally.sites.values())
    waits = tally.waits
    enough = len(waits) >= THRESHOLD
    moved = by_slug(tally.handovers)
    return Report(
        period=period,
        scope_sites=[{"slug": slug, "name": name} for _, slug, name in scope_sites],
        all_sites=all_sites,
        enquiries_total=published(total),
        per_week=suppress_weeks([(k, tally.weeks.get(k, 0)) for k in period.week_keys()]),
        per_site=suppress_categories(by_slug(tally.sites)),
        per_topic=suppress_categories(keyed(tally.topics, UNKNOWN)),
        per_language=suppress_categories(keyed(tally.languages, UNKNOWN)),
        per_age_group=suppress_categories(keyed(tally.age_groups, UNKNOWN)),
        answered=published(len(waits)),
        median_seconds=round(percentile(waits, 0.5), 1) if enough else None,
        p90_seconds=round(percentile(waits, 0.9), 1) if enough else None,
        handovers_total=published(sum(moved.values())),
        handovers_per_site=suppress_categories(moved),
    )


async def statistics_for(
    sessions: Sessions,
    clock: Clock,
    account: AccountContext,
    *,
    start: date | None = None,
    end: date | None = None,
    site_slug: str | None = None,
) -> Report:
    """The statistics `account` may see: admins all sites (or one), site leads their sites."""
    period = Period.of(start, end, clock.now().astimezone(UTC).date())
    async with sessions.begin() as db:
        scope: StatisticsScope = await access_statistics_for(db, account, site_slug)
        return await _report(db, period, scope.site_ids)


async def operator_statistics(
    sessions: Sessions,
    clock: Clock,
    *,
    start: date | None = None,
    end: date | None = None,
    site_slug: str | None = None,
) -> Report:
    """The statistics for the operator's CLI (`jmdchat statistics export`): every site, or one.
    The same counts and the same suppression as on the page."""
    period = Period.of(start, end, clock.now().astimezone(UTC).date())
    async with sessions.begin() as db:
        ids: list[str] | None = None
        if site_slug is not None:
            site = await repo.site_by_slug(db, site_slug)
            if site is None:
                raise not_found()
            ids = [site.id]
        return await _report(db, period, ids)


async def _report(db: AsyncSession, period: Period, ids: list[str] | None) -> Report:
    """Count in the database (GROUP BY and one conditional sum per week), so a long period
    over many sites never loads single enquiries, except the answer times for the percentiles."""
    start, end = period.start, period.end
    bounds = [start + i * WEEK for i in range(period.weeks + 1)]
    weekly = await repo.weekly_counts(db, bounds, ids)
    tally = Tally(
        weeks=dict(zip(period.week_keys(), weekly, strict=True)),
        sites=await repo.enquiry_counts(db, "site", start, end, ids),
        topics=await repo.enquiry_counts(db, "topic", start, end, ids),
        languages=await repo.enquiry_counts(db, "language", start, end, ids),
        age_groups=await repo.enquiry_counts(db, "age_group", start, end, ids),
        waits=[max(0.0, (answered - created).total_seconds())
               for created, answered in await repo.first_responses(db, start, end, ids)],
        handovers=await repo.handover_counts(db, start, end, ids),
    )
    sites = await repo.sites(db, ids)
    return build_report(period, [(s.id, s.slug, s.name) for s in sites], ids is None, tally)


async def queue_snapshot(sessions: Sessions) -> list[tuple[str, int, datetime]]:
    """(site slug, waiting enquiries, oldest created_at) per site with a queue (for /metrics)."""
    async with sessions.begin() as db:
        return await repo.waiting_by_site(db)


# =============================================================================================
# CSV (one table, one row per published number)
# =============================================================================================

CSV_HEADER = ("section", "key", "count", "period_from", "period_to")
#: Spreadsheet programs run cells that start with these as formulas (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: str) -> str:
    """A cell that a spreadsheet cannot mistake for a formula."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def csv_rows(report: Report) -> list[list[str]]:
    """The report as CSV rows (header first). Suppressed numbers are empty cells."""
    first, last = report.period.first.isoformat(), report.period.last_day.isoformat()

    def number(value: float | int | None) -> str:
        return "" if value is None else (str(value) if isinstance(value, int) else f"{value:g}")

    rows = [list(CSV_HEADER)]
    rows.append(["enquiries_total", "", number(report.enquiries_total), first, last])
    for section, cells in report.breakdowns().items():
        name = "handovers_per_site" if section == "handovers_site" else f"enquiries_per_{section}"
        rows.extend([name, cell.key, number(cell.count), first, last] for cell in cells)
    rows.append(["first_response_answered", "", number(report.answered), first, last])
    rows.append(["first_response_median_seconds", "", number(report.median_seconds), first, last])
    rows.append(["first_response_p90_seconds", "", number(report.p90_seconds), first, last])
    rows.append(["handovers_total", "", number(report.handovers_total), first, last])
    return [[csv_safe(cell) for cell in row] for row in rows]
