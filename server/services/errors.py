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


class Busy(ServiceError):
    """Back-pressure: the message writer could not take or store a message in time (its queue
    is full, it is stopping, or a batch failed for another reason than the database being
    down). Wire code `busy`; the client resends with the same mid."""

    status = 503


class Unavailable(ServiceError):
    """The database is down or restarting (`server.storage.db.is_unavailable`). Wire code
    `unavailable`; the client tries again (a message: the same mid) after a moment."""

    status = 503


def not_found() -> NotFound:
    return NotFound("not_found", _("This does not exist, or you may not see it."))


def forbidden() -> Forbidden:
    return Forbidden("forbidden", _("You are not allowed to do this."))


def unauthorized() -> Unauthorized:
    return Unauthorized("unauthorized", _("Please log in first."))


def busy() -> Busy:
    return Busy("busy", _("The server is busy. Your message will be sent again shortly."))


def unavailable(*, message_kept: bool = False) -> Unavailable:
    """The database is down or restarting. For a chat message the client keeps it and sends
    it again (same mid, so a message that was stored after all is not stored twice)."""
    if message_kept:
        return Unavailable(
            "unavailable",
            _("The service is briefly unavailable. Your message is kept and sent again."),
        )
    return Unavailable(
        "unavailable", _("The service is briefly unavailable. Please try again in a moment.")
    )
