"""Statistics without personal data (issue #9; rules in server/services/statistics.py).

GET /api/statistics?from=&to=&site=       JSON: counts of the weeks from..to (dates, snapped
                                          to whole ISO weeks; default the last 12 weeks)
GET /api/statistics.csv?from=&to=&site=   the same as a CSV download (UTF-8, header row,
                                          suppressed numbers as empty cells)

Site leads see the sites they lead, admins every site (`site=` a slug narrows it down);
everybody else gets 403. Answers are `no-store`: they are not personal, but they are not public.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from server.keys import CLOCK, SESSIONS
from server.services import statistics as service
from server.transport.http.auth import require_account
from server.transport.http.validation import validate

routes = web.RouteTableDef()
NO_STORE = {"Cache-Control": "no-store"}


def _blank_to_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


Optional = BeforeValidator(_blank_to_none)
Day = Annotated[date, Field(ge=date(2000, 1, 1), le=date(2100, 12, 31))]


class StatisticsQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    start: Annotated[Day | None, Optional, Field(alias="from")] = None
    end: Annotated[Day | None, Optional, Field(alias="to")] = None
    site: Annotated[str | None, Optional, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,79}$")] = None


async def _report(request: web.Request) -> service.Report:
    query = validate(StatisticsQuery, dict(request.query))
    account = await require_account(request)
    return await service.statistics_for(
        request.app[SESSIONS], request.app[CLOCK], account,
        start=query.start, end=query.end, site_slug=query.site,
    )


@routes.get("/api/statistics")
async def statistics(request: web.Request) -> web.Response:
    report = await _report(request)
    return web.json_response({"ok": True, **report.as_json()}, headers=NO_STORE)


@routes.get("/api/statistics.csv")
async def statistics_csv(request: web.Request) -> web.Response:
    report = await _report(request)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(service.csv_rows(report))
    first, last = report.period.first.isoformat(), report.period.last_day.isoformat()
    return web.Response(
        body=buffer.getvalue().encode("utf-8"),
        headers={
            **NO_STORE,
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="jmdchat-statistics-{first}-{last}.csv"',
        },
    )
