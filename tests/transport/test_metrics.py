"""GET /metrics after real activity (a real server, real socket.io clients, the frozen clock of
tests/security_support.py): connected clients, queue length and oldest waiting time per site
(by slug), enquiries, stored messages, message acks by result, error answers by code (socket
and HTTP), handovers, and the database gauge. Also: the per-site gauges stay bounded."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from server.keys import METRICS
from server.metrics import MAX_SITE_LABELS, OTHER_SITES, Metrics
from tests.conversation_support import enquiry_payload
from tests.security_support import SLUG_X, SecurityWorld, random_id, security_world, sqlite_copy

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> AsyncIterator[SecurityWorld]:
    url = sqlite_copy(sqlite_template, tmp_path_factory.mktemp("metrics") / "metrics.db")
    async with security_world(url) as built:
        yield built


async def scrape(world: SecurityWorld) -> dict[str, float]:
    response = await world.request("GET", "/metrics")
    assert response.status == 200
    values: dict[str, float] = {}
    for line in response.body.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def value(values: dict[str, float], name: str) -> float:
    return values.get(name, 0.0)


async def test_metrics_follow_real_activity(world: SecurityWorld) -> None:
    before = await scrape(world)
    young = await world.client("young_a")
    counsellor = await world.client("counsellor_x")

    # An enquiry through socket.io: it waits in site X's queue.
    person = world.actors["young_a"].person()
    payload, conv = enquiry_payload(None, person, "Hallo", site_key=world.key_x)  # type: ignore[arg-type]
    created = await young.call("enquiry.create", payload)
    assert created["ok"], created
    world.clock.advance(timedelta(seconds=90))
    waiting = await scrape(world)
    assert value(waiting, "jmdchat_socket_clients") >= 2
    assert value(waiting, f'jmdchat_queue_waiting{{site="{SLUG_X}"}}') == 1
    assert value(waiting, f'jmdchat_queue_oldest_wait_seconds{{site="{SLUG_X}"}}') >= 90
    assert value(waiting, "jmdchat_queue_waiting_all") == 1
    assert value(waiting, "jmdchat_database_up") == 1
    assert value(waiting, "jmdchat_enquiries_total") == value(before, "jmdchat_enquiries_total") + 1

    # Claimed and answered: the queue is empty again, the message and its ack are counted.
    claimed = await counsellor.call("conversation.claim", {"conversation_id": conv.id})
    assert claimed["ok"], claimed
    sent = await counsellor.call("message.send", {
        "conversation_id": conv.id, "envelope": world.message("counsellor_x", conv, "Hallo!")})
    assert sent["ok"], sent
    # A message to a conversation that does not exist: an error ack, counted by its code.
    unknown = random_id()
    refused = await young.call("message.send", {
        "conversation_id": unknown,
        "envelope": {**world.message("young_a", conv, "?"), "conversation_id": unknown}})
    assert not refused["ok"]
    code = refused["code"]
    # An HTTP error answer: a young person asks for the statistics.
    assert (await world.request("GET", "/api/statistics", role="young_a")).status == 403
    world.clock.advance(timedelta(seconds=10))  # past the queue gauges' short cache
    after = await scrape(world)
    assert f'jmdchat_queue_waiting{{site="{SLUG_X}"}}' not in after
    assert value(after, "jmdchat_queue_waiting_all") == 0
    assert value(after, "jmdchat_messages_total") == value(before, "jmdchat_messages_total") + 1
    ok_acks = 'jmdchat_message_acks_total{result="ok"}'
    assert value(after, ok_acks) == value(before, ok_acks) + 1
    failed_acks = f'jmdchat_message_acks_total{{result="{code}"}}'
    assert value(after, failed_acks) == value(before, failed_acks) + 1
    socket_errors = f'jmdchat_error_responses_total{{code="{code}",via="socket"}}'
    assert value(after, socket_errors) >= value(before, socket_errors) + 1
    http_errors = 'jmdchat_error_responses_total{code="forbidden",via="http"}'
    assert value(after, http_errors) == value(before, http_errors) + 1
    assert "jmdchat_handovers_total" in after
    assert value(after, "jmdchat_errors_total") == value(before, "jmdchat_errors_total")


async def test_a_handover_is_counted(world: SecurityWorld) -> None:
    """The hook the socket namespace calls after every answer: a successful handover.accept
    counts one handover, a refused one none (the handover flow has its own tests)."""
    metrics = world.app[METRICS]
    before = value(await scrape(world), "jmdchat_handovers_total")
    metrics.socket_answer("handover.accept", "handover_not_pending")
    metrics.socket_answer("handover.accept", None)
    assert value(await scrape(world), "jmdchat_handovers_total") == before + 1


async def test_per_site_gauges_are_bounded() -> None:
    metrics = Metrics()
    now = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)
    rows = [(f"site-{i:03}", 1 + i % 7, now - timedelta(minutes=i)) for i in range(500)]
    metrics.set_queues(rows, now)
    sampled = {s.labels["site"] for m in metrics.queue_waiting.collect() for s in m.samples}
    assert len(sampled) == MAX_SITE_LABELS + 1 and OTHER_SITES in sampled
    total = sum(s.value for m in metrics.queue_waiting.collect() for s in m.samples)
    assert total == sum(n for _, n, _ in rows)
    oldest = max(s.value for m in metrics.queue_oldest_wait.collect() for s in m.samples)
    assert oldest == 499 * 60
    # Codes that are not code literals cannot blow up the label set.
    metrics.error_response("http", "<script>" * 10)
    labels = {s.labels["code"] for m in metrics.error_responses.collect() for s in m.samples}
    assert labels == {"other"}
    assert re.fullmatch(r"[a-z_]+", next(iter(labels)))
