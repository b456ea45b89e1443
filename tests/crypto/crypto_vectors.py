"""Helpers shared by the crypto tests: load the committed vectors, build resolvers."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from server.crypto.protocol import KeyPairs, b64url_decode, key_id

VECTORS_PATH = Path(__file__).resolve().parents[1] / "vectors" / "protocol-v1.json"


@cache
def vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
    return data


def fixed(name: str, n: int = 32) -> bytes:
    """The generator's fixed test secrets (tests/vectors/generate.py)."""
    return hashlib.sha256(b"jmdchat/v1 test vector " + name.encode()).digest()[:n]


def unb(text: str) -> bytes:
    return b64url_decode(text)


def identity(name: str) -> KeyPairs:
    v = vectors()
    if name == "site":
        entry = v["site_key"]["site"]
    else:
        entry = next(i for i in v["identities"] if i["name"] == name)
    return KeyPairs.from_private(unb(entry["x25519_private"]), unb(entry["ed25519_seed"]))


def resolver(trusted: list[dict[str, str]]) -> Any:
    """Resolver over a list of ``{"account", "ed25519_public"}``, matching by key id."""

    def resolve(account: str, skid: str) -> bytes | None:
        for entry in trusted:
            public = unb(entry["ed25519_public"])
            if entry["account"] == account and key_id("ed25519", public) == skid:
                return public
        return None

    return resolve


def epoch_keys(section: dict[str, Any]) -> dict[int, bytes]:
    return {int(k): unb(v) for k, v in section["epoch_keys"].items()}
