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


def nul_field(value: object) -> str | None:
    """Where decoded JSON holds a string with U+0000 ("a.0.b", "payload" at the top), or None.

    PostgreSQL cannot store U+0000 in text, so such a string would fail deep inside a query
    (an internal error instead of a 400); no field of ours has any use for it. Iterative, as
    JSON may be nested deeply.
    """
    stack: list[tuple[tuple[object, ...], object]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return ".".join(str(p) for p in path) or "payload"
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and "\x00" in key:
                    return ".".join(str(p) for p in path) or "payload"
                stack.append(((*path, key), child))
        elif isinstance(item, list):
            stack.extend(((*path, index), child) for index, child in enumerate(item))
    return None


async def parse_body(request: web.Request, model: type[M]) -> M:
    if request.content_type != "application/json":
        raise BadInput("bad_content_type", _("Please send the data as JSON."))
    try:
        raw = await request.read()
        data = json.loads(raw or b"null")
    except (ValueError, RecursionError):
        # Not JSON or not UTF-8 (both ValueErrors), nested too deeply, or a number with more
        # digits than Python converts: the client sent something we cannot read.
        raise BadInput("bad_json", _("The data could not be read.")) from None
    field = nul_field(data)
    if field is not None:
        raise BadInput("invalid", _("The field {field} is not valid."), field=field)
    return validate(model, data)


def validate(model: type[M], data: object) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise BadInput("invalid", _("The field {field} is not valid."), field=field) from None
