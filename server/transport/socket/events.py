"""Every socket.io event payload as a pydantic model, and the acknowledgement shape.

Client → server requests are answered with an ack `{ok: true, ...}` or
`{ok: false, code, message}` (message translated into the connection's locale).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class Payload(BaseModel):
    """Base for client payloads: unknown fields are refused, values are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Empty(Payload):
    pass


class ServerEvent(BaseModel):
    """Base for server → client events (emitted only after the transaction commits)."""

    model_config = ConfigDict(frozen=True)
    event: str


def ok(**fields: Any) -> dict[str, Any]:
    return {"ok": True, **fields}


def error(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "code": code, "message": message}


class ServerInfo(BaseModel):
    model_config = ConfigDict(frozen=True)
    ok: Literal[True] = True
    version: str
    locale: str
