"""Base namespace: the one hook where every event is validated, authorized and mapped to an ack.

Handlers are `async def on_<event>(self, sid, payload: Model) -> dict`; the payload type comes
from the annotation. python-socketio namespaces are singletons, so per-client state lives in
the socket.io session (`await self.get_session(sid)`), never on `self`.
"""

from __future__ import annotations

import inspect
import json
import logging
from functools import cache
from typing import Any, get_type_hints

import socketio
from pydantic import BaseModel, ValidationError

from server.i18n import get_translator
from server.i18n import lazy_gettext as _
from server.metrics import Metrics
from server.services.errors import ServiceError
from server.transport.socket.events import error

log = logging.getLogger("jmdchat.socket")
LIFECYCLE = {"connect", "disconnect"}


@cache
def _payload_model(handler: Any) -> type[BaseModel] | None:
    hints = get_type_hints(handler)
    params = [p for p in inspect.signature(handler).parameters if p not in ("self", "sid")]
    if not params:
        return None
    model = hints.get(params[0])
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


class ValidatedNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    def __init__(self, namespace: str, metrics: Metrics, max_payload_bytes: int) -> None:
        super().__init__(namespace)
        self.metrics = metrics
        self.max_payload_bytes = max_payload_bytes

    async def locale_of(self, sid: str) -> str:
        try:
            session = await self.get_session(sid)
        except KeyError:
            return "de"
        return str(session.get("locale", "de"))

    async def _fail(self, sid: str, code: str, message: str, **params: Any) -> dict[str, Any]:
        translator = get_translator(await self.locale_of(sid))
        return error(code, translator.gettext(message, **params))

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event in LIFECYCLE:
            return await super().trigger_event(event, *args)
        sid = args[0]
        handler = getattr(self, f"on_{event}", None) if event.isidentifier() else None
        if handler is None:
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
                size = len(json.dumps(raw, default=str)) if raw is not None else 0
                if size > self.max_payload_bytes:
                    return await self._fail(sid, "too_large", _("This is too large to send."))
                payload = model.model_validate(raw if raw is not None else {})
                result = await handler(sid, payload)
        except ValidationError as exc:
            field = ".".join(str(p) for p in exc.errors()[0]["loc"]) or "payload"
            self.metrics.socket_events.labels(event=event, ok="false").inc()
            return await self._fail(sid, "invalid", _("The field {field} is not valid."), field=field)
        except ServiceError as exc:
            self.metrics.socket_events.labels(event=event, ok="false").inc()
            return await self._fail(sid, exc.code, exc.message, **exc.params)
        except Exception:
            self.metrics.errors.labels(where="socket").inc()
            log.exception("unhandled socket error", extra={"socket_event": event})
            return await self._fail(
                sid, "internal", _("Something went wrong on our side. Please try again.")
            )
        self.metrics.socket_events.labels(event=event, ok="true").inc()
        return result
