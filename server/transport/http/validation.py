"""Parse HTTP bodies into pydantic models; every 400 for bad input comes from here."""

from __future__ import annotations

import json
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from server.i18n import lazy_gettext as _
from server.services.errors import ServiceError

M = TypeVar("M", bound=BaseModel)


class BadInput(ServiceError):
    status = 400


async def parse_body(request: web.Request, model: type[M]) -> M:
    if request.content_type != "application/json":
        raise BadInput("bad_content_type", _("Please send the data as JSON."))
    try:
        raw = await request.read()
        data = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadInput("bad_json", _("The data could not be read.")) from None
    return validate(model, data)


def validate(model: type[M], data: object) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise BadInput("invalid", _("The field {field} is not valid."), field=field) from None
