"""The garbage-collector set-up of a server process (server/gc_pauses.py): `jmdchat serve`
runs with the configured threshold and its start-up objects frozen, and /metrics shows the
collector's pauses per generation, so an operator can see what the event loop loses to it."""

from __future__ import annotations

import gc
import urllib.request
from collections.abc import Iterator

import pytest

from server.gc_pauses import BUCKETS, PAUSES, tune
from server.metrics import Metrics
from tests.conftest import LiveServer
from tests.security_support import metric_value


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_the_served_process_runs_with_the_threshold_and_frozen_start_up(
    live_server: LiveServer,
) -> None:
    with urllib.request.urlopen(live_server.url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    # config.toml's default; Python's own would be 700 and nothing frozen.
    assert metric_value(text, 'jmdchat_gc_threshold{generation="0"}') == 50_000
    assert metric_value(text, "jmdchat_gc_frozen_objects") > 10_000
    for generation in "012":
        count = metric_value(text, f'jmdchat_gc_pause_seconds_count{{generation="{generation}"}}')
        assert metric_value(
            text, f'jmdchat_gc_pause_seconds_bucket{{generation="{generation}",le="+Inf"}}'
        ) == count


def test_a_collection_is_counted_with_its_pause() -> None:
    from prometheus_client import generate_latest

    metrics = Metrics()
    before = generate_latest(metrics.registry).decode()
    garbage: list[object] = []
    garbage.append(garbage)  # a cycle only the collector frees
    del garbage
    gc.collect()
    after = generate_latest(metrics.registry).decode()

    def delta(name: str) -> float:
        return metric_value(after, name) - metric_value(before, name)

    count = 'jmdchat_gc_pause_seconds_count{generation="2"}'
    assert delta(count) >= 1  # (+ any automatic one meanwhile)
    assert delta('jmdchat_gc_pause_seconds_sum{generation="2"}') > 0
    assert delta('jmdchat_gc_collected_objects_total{generation="2"}') >= 1
    # Every pause falls in exactly one bucket; the cumulative counts end at the count.
    longest = f'jmdchat_gc_pause_seconds_bucket{{generation="2",le="{BUCKETS[-1]!r}"}}'
    assert metric_value(after, longest) <= metric_value(after, count)
    assert metric_value(after, 'jmdchat_gc_pause_seconds_bucket{generation="2",le="+Inf"}') \
        == metric_value(after, count)


def test_the_callback_is_installed_once_for_many_apps() -> None:
    Metrics()
    Metrics()
    assert gc.callbacks.count(PAUSES.callback) == 1


def test_tune_freezes_and_raises_the_first_threshold(restored_gc: None) -> None:
    _, second, third = gc.get_threshold()
    tune(12_345)
    assert gc.get_threshold() == (12_345, second, third)
    assert gc.get_freeze_count() > 10_000


def test_zero_keeps_pythons_defaults(restored_gc: None) -> None:
    gc.unfreeze()
    thresholds = gc.get_threshold()
    tune(0)
    assert gc.get_threshold() == thresholds
    assert gc.get_freeze_count() == 0
