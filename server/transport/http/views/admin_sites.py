"""Admin HTTP API of the site directory (issues #4, #9), for the admin screens.

GET  /api/admin/sites                    sites the caller administers (admins: all; site
                                         leads: the sites they lead), inactive ones too;
                                         filters q, state, active, takes_online, quartier
POST /api/admin/sites                    create a site (admins)
POST /api/admin/sites/{site_id}          change a site: the fields sent (admins: every field,
                                         site leads: contact data, opening hours, languages,
                                         topics of their own sites); `active` (de)activates
POST /api/admin/sites/import             {format, content, dry_run, deactivate_missing}: the
                                         same import as `jmdchat sites import` (admins)
GET  /api/admin/sites/export.csv|.json   every site as a download (admins)

Validation of the fields lives in `server.services.site_import` (one record is a one-row
import); a bad record answers 400 `site_invalid` with `errors: [{field, code, message}]`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from server.i18n import get_translator
from server.i18n import lazy_gettext as _
from server.keys import CLOCK, CONFIG, LOCALE, SESSIONS, SITE_DIRECTORY
from server.services import admin_settings as service
from server.services import geo
from server.services.errors import ServiceError
from server.services.site_import import ImportReport, export_sites
from server.transport.http.auth import require_account
from server.transport.http.validation import BadInput, parse_body, validate

routes = web.RouteTableDef()
M = TypeVar("M", bound=BaseModel)
NO_STORE = {"Cache-Control": "no-store"}


class TooLarge(ServiceError):
    status = 413


def _blank_to_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


Optional = BeforeValidator(_blank_to_none)
Text = Annotated[str, Field(max_length=300)]
Codes = Annotated[list[Annotated[str, Field(max_length=40)]], Field(max_length=60)] | Annotated[
    str, Field(max_length=600)]
Coordinate = float | Annotated[str, Field(max_length=30)] | None
Hours = Annotated[str, Field(max_length=600)] | Annotated[
    dict[Annotated[str, Field(max_length=10)],
         Annotated[list[Annotated[list[Annotated[str, Field(max_length=10)]],
                                  Field(max_length=2)]], Field(max_length=8)]],
    Field(max_length=7)]


class SitesQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    q: Annotated[str, Field(max_length=100)] = ""
    state: Annotated[str | None, Optional, Field(max_length=60)] = None
    active: Annotated[bool | None, Optional] = None
    takes_online: Annotated[bool | None, Optional] = None
    quartier: Annotated[bool | None, Optional] = None


BOOLEANS = frozenset({"runs_quartier", "takes_online", "is_online_team", "active"})


class SiteBody(BaseModel):
    """The fields of the site form; each one optional (only those sent are changed). The
    rules (postcode exists, language codes, opening hours ...) are checked by the import."""

    model_config = ConfigDict(extra="forbid")

    slug: Annotated[str, Field(max_length=80)] | None = None
    name: Text | None = None
    provider: Text | None = None
    street: Text | None = None
    postcode: Annotated[str, Field(max_length=10)] | None = None
    city: Text | None = None
    state: Annotated[str, Field(max_length=60)] | None = None
    latitude: Coordinate = None
    longitude: Coordinate = None
    languages: Codes | None = None
    topics: Codes | None = None
    opening_hours: Hours | None = None
    runs_quartier: bool | None = None
    takes_online: bool | None = None
    is_online_team: bool | None = None
    phone: Text | None = None
    email: Text | None = None
    website: Text | None = None
    active: bool | None = None

    def record(self) -> dict[str, Any]:
        """The fields sent, for the import: null means empty for texts and "fill in from the
        postcode" for coordinates; booleans sent as null are left alone."""
        out: dict[str, Any] = {}
        for name, value in self.model_dump(exclude_unset=True).items():
            if value is None:
                if name in BOOLEANS:
                    continue
                value = None if name in ("latitude", "longitude") else ""
            out[name] = value
        return out


class ImportBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["csv", "json"]
    content: Annotated[str, Field(max_length=10 * 1024 * 1024)]
    dry_run: bool = True
    deactivate_missing: bool = False


def _has_surrogate(value: object) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


async def parse_text_body(request: web.Request, model: type[M]) -> M:
    """`parse_body`, and no text may hold a lone surrogate (JSON allows "\\ud800"; no
    database can store it)."""
    body = await parse_body(request, model)
    if _has_surrogate(body.model_dump(exclude={"content"})):
        raise BadInput("invalid", _("The data could not be read."))
    return body


def _invalid(request: web.Request, error: service.SiteInvalid) -> web.Response:
    translator = get_translator(request.get(LOCALE, "de"))
    return web.json_response({
        "ok": False, "code": error.code, "message": translator.gettext(error.message),
        "errors": [e.as_dict(translator) for e in error.errors],
    }, status=400)


def report_json(request: web.Request, report: ImportReport) -> dict[str, Any]:
    translator = get_translator(request.get(LOCALE, "de"))
    return {
        "dry_run": report.dry_run, "ok": report.ok,
        "created": report.created, "updated": report.updated, "unchanged": report.unchanged,
        "deactivated": report.deactivated,
        "errors": [e.as_dict(translator) for e in report.errors],
    }


@routes.get("/api/admin/sites")
async def list_sites(request: web.Request) -> web.Response:
    account = await require_account(request)
    query = validate(SitesQuery, dict(request.query))
    state = None
    if query.state is not None:
        state = geo.state_name(query.state) or query.state
    sites, full = await service.list_sites(
        request.app[SESSIONS], account,
        service.SiteFilter(q=query.q, state=state, active=query.active,
                           takes_online=query.takes_online, quartier=query.quartier),
    )
    return web.json_response({
        "ok": True, "sites": sites, "can_edit_all": full,
        "lead_fields": sorted(service.LEAD_FIELDS),
        "max_import_bytes": request.app[CONFIG].limits.max_site_import_bytes,
    }, headers=NO_STORE)


@routes.post("/api/admin/sites")
async def create_site(request: web.Request) -> web.Response:
    account = await require_account(request)
    service.require_admin(account)
    body = await parse_text_body(request, SiteBody)
    app = request.app
    try:
        site = await service.create_site(app[SESSIONS], app[CLOCK], app[SITE_DIRECTORY],
                                         account, body.record())
    except service.SiteInvalid as error:
        return _invalid(request, error)
    return web.json_response({"ok": True, "site": site}, status=201)


@routes.post(r"/api/admin/sites/{site_id:[0-9a-f-]{36}}")
async def update_site(request: web.Request) -> web.Response:
    account = await require_account(request)
    body = await parse_text_body(request, SiteBody)
    app = request.app
    try:
        site = await service.update_site(app[SESSIONS], app[CLOCK], app[SITE_DIRECTORY],
                                         account, request.match_info["site_id"], body.record())
    except service.SiteInvalid as error:
        return _invalid(request, error)
    return web.json_response({"ok": True, "site": site})


@routes.post("/api/admin/sites/import")
async def import_sites(request: web.Request) -> web.Response:
    account = await require_account(request)
    service.require_admin(account)
    body = await parse_text_body(request, ImportBody)
    limit = request.app[CONFIG].limits.max_site_import_bytes
    data = body.content.encode("utf-8", "surrogatepass")
    if len(data) > limit:
        raise TooLarge("file_too_large",
                       _("The file is too large ({size} KB); at most {limit} KB can be uploaded here. Split it, or use “jmdchat sites import”."),  # noqa: E501
                       size=(len(data) + 1023) // 1024, limit=limit // 1024)
    app = request.app
    report = await service.import_file(
        app[SESSIONS], app[CLOCK], app[SITE_DIRECTORY], account, data, body.format,
        dry_run=body.dry_run, deactivate_missing=body.deactivate_missing,
    )
    return web.json_response({"ok": True, "report": report_json(request, report)})


async def _export(request: web.Request, fmt: Literal["csv", "json"]) -> web.Response:
    account = await require_account(request)
    service.require_admin(account)
    text = await export_sites(request.app[SESSIONS], fmt)
    content_type = "text/csv" if fmt == "csv" else "application/json"
    return web.Response(
        text=text, content_type=content_type, charset="utf-8",
        headers={**NO_STORE,
                 "Content-Disposition": f'attachment; filename="jmdchat-sites.{fmt}"'},
    )


@routes.get("/api/admin/sites/export.csv")
async def export_csv(request: web.Request) -> web.Response:
    return await _export(request, "csv")


@routes.get("/api/admin/sites/export.json")
async def export_json(request: web.Request) -> web.Response:
    return await _export(request, "json")
