"""Prometheus metrics, on a registry per app so tests and several apps do not collide.

Names are stable (dashboards and alerts use them; docs/operations.md "Monitoring"); other
areas call the counters through the small methods below. Labels are bounded: routes and
socket events come from the code, error codes are literals of the code (anything else is
counted as "other"), and the per-site queue gauges carry at most `MAX_SITE_LABELS` site slugs
(the sites with the longest queues; the rest are summed up as site="_other").

Per process: `jmdchat_socket_clients` and every counter count what this process handled (sum
over the processes of `serve --workers N`). From the database, the same in every process:
the queue gauges and `jmdchat_database_up`, computed when /metrics is scraped, at most every
`QUEUE_CACHE_SECONDS` (a scrape never costs more than one small GROUP BY query).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from server.gc_pauses import PAUSES

#: Socket events whose success is a handover of a conversation to another team.
HANDOVER_EVENTS = frozenset({"handover.accept"})
MAX_SITE_LABELS = 100
QUEUE_CACHE_SECONDS = 5.0
OTHER_SITES = "_other"
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

#: (site slug, waiting enquiries, created_at of the oldest) per site with a queue.
QueueRows = Sequence[tuple[str, int, datetime]]


def bounded_code(code: str) -> str:
    return code if _CODE.fullmatch(code) else "other"


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.http_requests = Counter(
            "jmdchat_http_requests", "HTTP requests", ["route", "status"], registry=r
        )
        self.http_latency = Histogram(
            "jmdchat_http_request_seconds", "HTTP request duration", ["route"], registry=r
        )
        self.socket_clients = Gauge(
            "jmdchat_socket_clients", "Connected socket.io clients in this process", registry=r
        )
        self.socket_events = Counter(
            "jmdchat_socket_events", "socket.io events handled", ["event", "ok"], registry=r
        )
        self.errors = Counter("jmdchat_errors", "Unexpected server errors", ["where"], registry=r)
        # --- issue #9: operations ------------------------------------------------------------
        self.error_responses = Counter(
            "jmdchat_error_responses", "Error answers sent to clients, by error code",
            ["via", "code"], registry=r,
        )
        self.messages = Counter(
            "jmdchat_messages", "Messages stored (message.send acknowledged ok)", registry=r
        )
        self.message_acks = Counter(
            "jmdchat_message_acks", "Acknowledgements of message.send, by result (ok or code)",
            ["result"], registry=r,
        )
        self.enquiries = Counter("jmdchat_enquiries", "Enquiries created", registry=r)
        self.handovers = Counter(
            "jmdchat_handovers", "Conversations handed over to another team", registry=r
        )
        self.queue_waiting = Gauge(
            "jmdchat_queue_waiting", "Waiting enquiries per site (sites with a queue)",
            ["site"], registry=r,
        )
        self.queue_oldest_wait = Gauge(
            "jmdchat_queue_oldest_wait_seconds",
            "How long the oldest waiting enquiry of a site has waited", ["site"], registry=r,
        )
        self.queue_waiting_all = Gauge(
            "jmdchat_queue_waiting_all", "Waiting enquiries in all sites", registry=r
        )
        self.database_up = Gauge(
            "jmdchat_database_up", "1 if the last metrics query reached the database",
            registry=r,
        )
        # Process-wide, like the collector itself (server/gc_pauses.py).
        r.register(PAUSES)
        PAUSES.install()
        self._queues_at: datetime | None = None
        self._queues_lock = asyncio.Lock()

    # --- hooks for the transports ---------------------------------------------------------------

    def socket_answer(self, event: str, code: str | None) -> None:
        """A socket.io event was answered: `code` None for `{ok: true}`, else the error code."""
        if event == "message.send":
            self.message_acks.labels(result=bounded_code(code or "ok")).inc()
            if code is None:
                self.messages.inc()
        if code is None:
            if event == "enquiry.create":
                self.enquiries.inc()
            elif event in HANDOVER_EVENTS:
                self.handovers.inc()
        else:
            self.error_response("socket", code)

    def error_response(self, via: str, code: str) -> None:
        self.error_responses.labels(via=via, code=bounded_code(code)).inc()

    # --- gauges from the database ---------------------------------------------------------------

    def set_queues(self, rows: QueueRows, now: datetime) -> None:
        """Replace the per-site queue gauges (sites without a queue disappear)."""
        ordered = sorted(rows, key=lambda row: (-row[1], row[0]))
        shown, rest = ordered[:MAX_SITE_LABELS], ordered[MAX_SITE_LABELS:]
        self.queue_waiting.clear()
        self.queue_oldest_wait.clear()
        for slug, waiting, oldest in shown:
            self.queue_waiting.labels(site=slug).set(waiting)
            self.queue_oldest_wait.labels(site=slug).set(max(0.0, (now - oldest).total_seconds()))
        if rest:
            self.queue_waiting.labels(site=OTHER_SITES).set(sum(n for _, n, _ in rest))
            oldest = min(o for _, _, o in rest)
            self.queue_oldest_wait.labels(site=OTHER_SITES).set(
                max(0.0, (now - oldest).total_seconds())
            )
        self.queue_waiting_all.set(sum(n for _, n, _ in rows))

    async def refresh_queues(self, load: Callable[[], Awaitable[QueueRows]], now: datetime) -> None:
        """Before a scrape: query the queues unless that was done in the last few seconds.
        A database failure leaves the last values and sets `jmdchat_database_up` to 0."""
        async with self._queues_lock:
            if self._queues_at is not None and (
                0 <= (now - self._queues_at).total_seconds() < QUEUE_CACHE_SECONDS
            ):
                return
            try:
                rows = await load()
            except Exception:  # the database is down: /metrics still answers
                self.database_up.set(0)
                return
            self.database_up.set(1)
            self.set_queues(rows, now)
            self._queues_at = now
