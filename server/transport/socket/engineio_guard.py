"""Drop malformed engine.io websocket frames before python-engineio decodes them.

python-engineio decodes a text frame's packet type (`int(frame[0])`) and a `b`-prefixed
base64 frame outside its error handling, so a frame like `"x..."` escaped into our error
middleware as an unhandled exception and an HTTP 500 on the upgraded connection. Anyone can
send one: engine.io connections exist before socket.io authenticates.

The guard wraps the websocket class of engine.io's aiohttp driver: a frame that is not a
well-formed engine.io packet (leading digit, or `b` + base64) ends the connection the way a
broken transport does (engine.io catches `OSError` from `wait()` in every place it reads a
frame), with an INFO log line and no traceback. Other clients are not affected.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

import socketio
from engineio.async_drivers.aiohttp import WebSocket

log = logging.getLogger("jmdchat.socket")

#: python-engineio decodes any leading digit; types it does not know (7-9) it ignores safely.
_PACKET_TYPES = frozenset("0123456789")


def well_formed(frame: str) -> bool:
    """Can python-engineio decode this text frame without raising?"""
    if not frame:
        return False
    if frame[0] == "b":
        try:
            base64.b64decode(frame[1:])
        except (binascii.Error, ValueError):
            return False
        return True
    return frame[0] in _PACKET_TYPES


class GuardedWebSocket(WebSocket):  # type: ignore[misc]
    async def wait(self) -> Any:
        data = await super().wait()
        if isinstance(data, str) and not well_formed(data):
            log.info("malformed engine.io frame; connection closed")
            raise OSError("malformed engine.io frame")
        return data


def install(sio: socketio.AsyncServer) -> None:
    """Use the guarded websocket for this server only (engine.io's driver table is shared
    module state, so the instance gets its own copy)."""
    eio = sio.eio
    eio._async = {**eio._async, "websocket": GuardedWebSocket}
