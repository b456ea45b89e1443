"""Per-source limits behind a reverse proxy (`[server] trusted_proxies`,
server/transport/http/client_address.py), through the login API of a real aiohttp app: the
test client connects from 127.0.0.1. A forged `X-Forwarded-For` from an untrusted peer changes
nothing; behind a trusted proxy each forwarded client has its own budget, and entries the
client put in front of the proxy's are not believed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from itertools import count

import pytest
from aiohttp import DummyCookieJar
from aiohttp.test_utils import TestClient
from pydantic import ValidationError

from server.app import create_app
from server.services.clock import FrozenClock
from server.transport.http.client_address import resolve_client_address
from tests.account_material import b64
from tests.conftest import make_config

ClientMaker = Callable[..., Awaitable[TestClient]]
# login_attempts_per_15min = 3 → 15 failed logins per source (SOURCE_FAILURE_FACTOR 5).
PER_SOURCE = 15
_names = count()


async def client_for(aiohttp_client: ClientMaker, sqlite_url: str,
                     trusted: list[str]) -> TestClient:
    config = make_config(sqlite_url, security={"login_attempts_per_15min": 3},
                         server={"trusted_proxies": trusted})
    app = create_app(config, clock=FrozenClock())
    return await aiohttp_client(app, cookie_jar=DummyCookieJar())


async def failed_login(client: TestClient, forwarded: str | None) -> int:
    """A login of a fresh unknown nickname (so the per-nickname limit never applies)."""
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    response = await client.post(
        "/api/auth/login",
        json={"nickname": f"ghost-{next(_names)}", "auth_key": b64(bytes(32))},
        headers=headers,
    )
    return response.status


async def test_a_forged_header_from_an_untrusted_peer_is_ignored(
    aiohttp_client: ClientMaker, sqlite_url: str
) -> None:
    client = await client_for(aiohttp_client, sqlite_url, [])
    for index in range(PER_SOURCE):
        assert await failed_login(client, f"203.0.113.{index + 1}") == 401
    # Every attempt counted against the peer (127.0.0.1), whatever the header said.
    assert await failed_login(client, "198.51.100.99") == 429
    assert await failed_login(client, None) == 429


async def test_behind_a_trusted_proxy_each_forwarded_client_counts_alone(
    aiohttp_client: ClientMaker, sqlite_url: str
) -> None:
    client = await client_for(aiohttp_client, sqlite_url, ["127.0.0.0/8", "::1"])
    for index in range(PER_SOURCE):
        # The client forged entries on the left; nginx appended the address it saw.
        assert await failed_login(client, f"10.9.9.{index}, 198.51.100.7") == 401
    assert await failed_login(client, "198.51.100.7") == 429
    assert await failed_login(client, "6.6.6.6, 198.51.100.7") == 429
    # Another client behind the same proxy is not affected…
    assert await failed_login(client, "198.51.100.8") == 401
    # …nor the proxy's own address, and two proxy hops are walked from the right.
    assert await failed_login(client, None) == 401
    assert await failed_login(client, "198.51.100.9, 127.0.0.2") == 401
    for _ in range(PER_SOURCE - 1):
        assert await failed_login(client, "198.51.100.9, 127.0.0.2") == 401
    assert await failed_login(client, "198.51.100.9") == 429


def test_the_rule_hop_by_hop() -> None:
    trusted = ("10.0.0.0/8", "::1")
    assert resolve_client_address("203.0.113.5", ["1.2.3.4"], trusted) == "203.0.113.5"
    assert resolve_client_address("10.0.0.5", ["1.2.3.4, 5.6.7.8"], trusted) == "5.6.7.8"
    assert resolve_client_address("10.0.0.5", ["1.2.3.4", "5.6.7.8, 10.1.1.1"],
                                  trusted) == "5.6.7.8"
    assert resolve_client_address("::1", ["2001:db8::7"], trusted) == "2001:db8::7"
    assert resolve_client_address("::ffff:10.0.0.5", ["5.6.7.8"], trusted) == "5.6.7.8"
    # Nothing forwarded, or only trusted hops: the leftmost address we could believe.
    assert resolve_client_address("10.0.0.5", [], trusted) == "10.0.0.5"
    assert resolve_client_address("10.0.0.5", ["10.2.2.2"], trusted) == "10.2.2.2"
    # Garbage next to a trusted hop: stop there, never key by attacker text.
    assert resolve_client_address("10.0.0.5", ["<script>, 10.2.2.2"], trusted) == "10.2.2.2"
    assert resolve_client_address("10.0.0.5", ["unknown"], trusted) == "10.0.0.5"
    assert resolve_client_address(None, ["1.2.3.4"], trusted) == "unknown"


def test_a_wrong_proxy_entry_is_a_clear_config_error(sqlite_url: str) -> None:
    with pytest.raises(ValidationError, match="not an address or network"):
        make_config(sqlite_url, server={"trusted_proxies": ["nginx.local"]})


async def test_the_forwarded_budget_refills(
    aiohttp_client: ClientMaker, sqlite_url: str
) -> None:
    clock = FrozenClock()
    config = make_config(sqlite_url, security={"login_attempts_per_15min": 3},
                         server={"trusted_proxies": ["127.0.0.1"]})
    client = await aiohttp_client(create_app(config, clock=clock), cookie_jar=DummyCookieJar())
    for _ in range(PER_SOURCE):
        assert await failed_login(client, "198.51.100.20") == 401
    assert await failed_login(client, "198.51.100.20") == 429
    clock.advance(timedelta(minutes=15))
    assert await failed_login(client, "198.51.100.20") == 401
