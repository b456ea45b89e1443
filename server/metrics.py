"""Prometheus metrics, on a registry per app so tests and several apps do not collide."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
