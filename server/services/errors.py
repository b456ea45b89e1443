"""Errors a user can see. The message is an untranslated literal marked with `_()`;
the transport translates it into the user's locale and formats `params` into it."""

from __future__ import annotations

from typing import Any

from server.i18n import lazy_gettext as _


class ServiceError(Exception):
    status = 400

    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.message = message
        self.params = params


class NotFound(ServiceError):
    status = 404


class Forbidden(ServiceError):
    status = 403


class Unauthorized(ServiceError):
    status = 401


class Conflict(ServiceError):
    status = 409


class RateLimited(ServiceError):
    status = 429


def not_found() -> NotFound:
    return NotFound("not_found", _("This does not exist, or you may not see it."))


def forbidden() -> Forbidden:
    return Forbidden("forbidden", _("You are not allowed to do this."))


def unauthorized() -> Unauthorized:
    return Unauthorized("unauthorized", _("Please log in first."))
