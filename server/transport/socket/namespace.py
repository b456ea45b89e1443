"""Base namespace: the one hook where every event is validated, authorized and mapped to an ack.

Handlers are `async def on_<event>(self, sid, payload: Model) -> dict`; the payload type comes
from the annotation. python-socketio namespaces are singletons, so per-client state lives in
the socket.io session (`await self.get_session(sid)`), never on `self`.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from functools import cache
from typing import Any, get_type_hints

import socketio
from pydantic import BaseModel, ValidationError

from server.i18n import get_translator
from server.i18n import lazy_gettext as _
from server.metrics import Metrics
from server.services.errors import ServiceError, unavailable
from server.storage.db import is_unavailable, log_unavailable
from server.transport.http.validation import nul_field
from server.transport.socket.events import error

log = logging.getLogger("jmdchat.socket")
LIFECYCLE = {"connect", "disconnect"}
#: Lower-case words joined by dots or underscores: "message.send", "server_info".
_EVENT_NAME = re.compile(r"[a-z][a-z0-9]*(?:[._][a-z][a-z0-9]*)*")
#: Methods named on_<x> that are hooks, not events a client may trigger.
_NOT_EVENTS = {"connect", "disconnect", "authenticated"}
#: Measures a payload as JSON (escaped, as stored), built once: `json.dumps(..., default=str)`
#: would build a new encoder for every event.
_SIZE_ENCODER = json.JSONEncoder(default=str)
#: The socket.io session of the connection whose event is being handled, read once per event
#: (`get_session` is asked 3-4 times per event by the layers of checks, ~4 % of the CPU of a
#: message under load). The dict is the session itself, so changes are seen by everyone.
_event_session: ContextVar[tuple[str, dict[str, Any]] | None] = ContextVar(
    "event_session", default=None
)


def handler_name(event: object) -> str | None:
    """The handler method for an event name: "message.send" → "on_message_send".

    Strict on purpose: only lower-case words joined by "." or "_" (no dunders, no private
    names, nothing that reaches another attribute), and never a lifecycle hook.
    """
    if not isinstance(event, str) or len(event) > 64 or not _EVENT_NAME.fullmatch(event):
        return None
    name = event.replace(".", "_")
    return None if name in _NOT_EVENTS else f"on_{name}"


@cache
def _payload_model(handler: Any) -> type[BaseModel] | None:
    hints = get_type_hints(handler)
    params = [p for p in inspect.signature(handler).parameters if p not in ("self", "sid")]
    if not params:
        return None
    model = hints.get(params[0])
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


@cache
def _is_event_handler(handler: Any) -> bool:
    """A coroutine taking (sid) or (sid, payload: <pydantic model>) — nothing else."""
    if not inspect.iscoroutinefunction(handler):
        return False
    params = [p for p in inspect.signature(handler).parameters if p not in ("self", "sid")]
    return not params or (len(params) == 1 and _payload_model(handler) is not None)


class ValidatedNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    def __init__(self, namespace: str, metrics: Metrics, max_payload_bytes: int) -> None:
        super().__init__(namespace)
        self.metrics = metrics
        self.max_payload_bytes = max_payload_bytes

    async def get_session(self, sid: str) -> dict[str, Any]:
        cached = _event_session.get()
        if cached is not None and cached[0] == sid:
            return cached[1]
        session: dict[str, Any] = await super().get_session(sid)
        return session

    @asynccontextmanager
    async def event_session(self, sid: str) -> AsyncIterator[None]:
        """Within: `get_session(sid)` answers from one read of the session (a no-op when an
        outer layer already holds it)."""
        if _event_session.get() is not None:
            yield
            return
        try:
            session = await self.get_session(sid)
        except KeyError:  # no session yet: nothing to hold
            yield
            return
        token = _event_session.set((sid, session))
        try:
            yield
        finally:
            _event_session.reset(token)

    async def locale_of(self, sid: str) -> str:
        try:
            session = await self.get_session(sid)
        except KeyError:
            return "de"
        return str(session.get("locale", "de"))

    async def _fail(self, sid: str, code: str, message: str, **params: Any) -> dict[str, Any]:
        translator = get_translator(await self.locale_of(sid))
        return error(code, translator.gettext(message, **params))

    def _sent_by_client(self, event: str, args: tuple[Any, ...]) -> bool:
        """Is this "connect"/"disconnect" an event a client emitted under that name?

        python-socketio dispatches client events by name, so a client can emit "connect" or
        "disconnect" and reach the lifecycle hooks. The real calls are recognisable: on
        connect the server passes the connection's own environ object (a client can only send
        JSON), and before calling the disconnect hook it marks the connection as leaving.
        """
        sid = args[0] if args else None
        if event == "connect":
            environ = self.server.get_environ(sid, namespace=self.namespace)
            return len(args) < 2 or environ is None or args[1] is not environ
        return bool(self.server.manager.is_connected(sid, self.namespace))

    async def refuse_event(self, sid: str) -> dict[str, Any] | None:
        """Per-connection event budget (overridden by the moderation mixin): an ack that
        refuses the event, or None. Never disconnects."""
        return None

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event in LIFECYCLE:
            if self._sent_by_client(event, args):
                self.metrics.socket_events.labels(event="unknown", ok="false").inc()
                return await self._fail(args[0], "unknown_event", _("This action is not known."))
            try:
                return await super().trigger_event(event, *args)
            except Exception as exc:
                if event != "connect" or not is_unavailable(exc):
                    raise
                # The database is down while a client connects: refuse with a code the
                # client shows (it reconnects on its own), not a traceback.
                log_unavailable(f"socket:{event}", exc)  # rate limited
                raise socketio.exceptions.ConnectionRefusedError("unavailable") from None
        sid = args[0]
        async with self.event_session(sid):
            return await self._trigger_client_event(event, sid, args)

    async def _trigger_client_event(self, event: str, sid: str, args: tuple[Any, ...]) -> Any:
        refused = await self.refuse_event(sid)
        if refused is not None:
            self.metrics.socket_events.labels(event="rate_limited", ok="false").inc()
            return refused
        name = handler_name(event)
        handler = getattr(self, name, None) if name is not None else None
        if handler is None or not _is_event_handler(handler):
            self.metrics.socket_events.labels(event="unknown", ok="false").inc()
            return await self._fail(sid, "unknown_event", _("This action is not known."))
        if len(args) > 2:
            return await self._fail(sid, "invalid", _("The data could not be read."))
        raw = args[1] if len(args) == 2 else None
        model = _payload_model(handler)
        try:
            if model is None:
                result = await handler(sid)
            else:
                size = len(_SIZE_ENCODER.encode(raw)) if raw is not None else 0
                if size > self.max_payload_bytes:
                    return await self._fail(sid, "too_large", _("This is too large to send."))
                nul = nul_field(raw)
                if nul is not None:  # PostgreSQL cannot store U+0000 (see nul_field)
                    raise ServiceError("invalid", _("The field {field} is not valid."),
                                       field=nul)
                payload = model.model_validate(raw if raw is not None else {})
                result = await handler(sid, payload)
        except ValidationError as exc:
            field = ".".join(str(p) for p in exc.errors()[0]["loc"]) or "payload"
            self.metrics.socket_events.labels(event=event, ok="false").inc()
            self.metrics.socket_answer(event, "invalid")
            return await self._fail(
                sid, "invalid", _("The field {field} is not valid."), field=field
            )
        except ServiceError as exc:
            self.metrics.socket_events.labels(event=event, ok="false").inc()
            self.metrics.socket_answer(event, exc.code)
            answer = await self._fail(sid, exc.code, exc.message, **exc.params)
            retry_after = getattr(exc, "retry_after", None)  # rate limits: seconds
            if isinstance(retry_after, int):
                answer["retry_after"] = retry_after
            return answer
        except Exception as exc:
            if is_unavailable(exc):  # database down or restarting: transient, no traceback
                self.metrics.socket_events.labels(event=event, ok="false").inc()
                log_unavailable(f"socket:{event}", exc)  # rate limited
                problem = unavailable(message_kept=event == "message.send")
                self.metrics.socket_answer(event, problem.code)
                return await self._fail(sid, problem.code, problem.message)
            self.metrics.errors.labels(where="socket").inc()
            self.metrics.socket_answer(event, "internal")
            log.exception("unhandled socket error", extra={"socket_event": event})
            return await self._fail(
                sid, "internal", _("Something went wrong on our side. Please try again.")
            )
        self.metrics.socket_events.labels(event=event, ok="true").inc()
        failed = isinstance(result, dict) and result.get("ok") is False
        self.metrics.socket_answer(event, str(result.get("code")) if failed else None)
        return result
