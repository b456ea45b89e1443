"""Python's cyclic garbage collector in a server with thousands of connections: its tuning,
and its pauses as metrics.

Why: the collector stops the event loop while it runs, and a full (generation 2) collection
visits every tracked object of the process. With 2,000 connections that is several hundred
thousand objects, i.e. pauses of ~0.5 s that every message in flight waits for (measured:
bench/README.md, "Latest"). The main cure is to leave no reference cycles in the message
path (the writer's statements are built once, storage/repositories/); two standard remedies
keep the rest rare, applied by `tune()` when a server process starts:

* `gc.freeze()` after start-up moves everything imported and built so far (modules, the
  SQLAlchemy mappers, pydantic models, Babel's locale data) into the permanent generation,
  so no collection visits it again;
* a larger first threshold (`server.gc_threshold`, Python's default is 700): fewer young
  collections, so fewer short-lived objects (a message's envelope, its events, its futures)
  are still alive when one runs and get promoted into the old generations, which is what
  makes full collections frequent.

`GcPauses` measures the result per process (exported on /metrics by `collect()`). Its
callback only does arithmetic on preallocated lists: it runs inside the collector, where it
must not take locks (a metrics lock held by the interrupted code would deadlock).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

#: Upper bounds (seconds) of the pause histogram's buckets.
BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
GENERATIONS = (0, 1, 2)


class GcPauses(Collector):
    """Counts and sums the collector's pauses per generation, in this process."""

    def __init__(self) -> None:
        self.counts = [[0] * (len(BUCKETS) + 1) for _ in GENERATIONS]
        self.sums = [0.0 for _ in GENERATIONS]
        self.collected = [0 for _ in GENERATIONS]
        self._started = 0.0

    def callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        generation = info["generation"]
        seconds = time.perf_counter() - self._started
        self.sums[generation] += seconds
        self.collected[generation] += info["collected"]
        counts = self.counts[generation]
        for index, bound in enumerate(BUCKETS):
            if seconds <= bound:
                counts[index] += 1
                return
        counts[-1] += 1

    def install(self) -> None:
        if self.callback not in gc.callbacks:
            gc.callbacks.append(self.callback)

    def collect(self) -> Iterator[HistogramMetricFamily | CounterMetricFamily | GaugeMetricFamily]:
        pauses = HistogramMetricFamily(
            "jmdchat_gc_pause_seconds",
            "Pauses of Python's cyclic garbage collector in this process, by generation",
            labels=["generation"],
        )
        freed = CounterMetricFamily(
            "jmdchat_gc_collected_objects",
            "Unreachable objects the collector freed in this process, by generation",
            labels=["generation"],
        )
        for generation in GENERATIONS:
            cumulative, buckets = 0, []
            for bound, count in zip((*BUCKETS, float("inf")), self.counts[generation],
                                    strict=True):
                cumulative += count
                buckets.append((repr(bound) if bound != float("inf") else "+Inf", cumulative))
            pauses.add_metric([str(generation)], buckets, self.sums[generation])
            freed.add_metric([str(generation)], self.collected[generation])
        yield pauses
        yield freed
        # What `tune()` set, so an operator sees the setting the process really runs with.
        thresholds = GaugeMetricFamily(
            "jmdchat_gc_threshold", "The collector's thresholds in this process (gc.get_threshold)",
            labels=["generation"],
        )
        for generation, threshold in zip(GENERATIONS, gc.get_threshold(), strict=True):
            thresholds.add_metric([str(generation)], threshold)
        yield thresholds
        yield GaugeMetricFamily(
            "jmdchat_gc_frozen_objects",
            "Objects frozen out of all collections at start-up (gc.get_freeze_count)",
            value=gc.get_freeze_count(),
        )


#: One per process: gc.callbacks is process-wide, so every app's /metrics reads this one.
PAUSES = GcPauses()


def tune(threshold: int) -> None:
    """Called once a server process has built its app, before it serves (see the module's
    docstring). `threshold` 0 keeps Python's defaults and freezes nothing."""
    if threshold <= 0:
        return
    gc.collect()  # what start-up left as garbage is freed, not frozen
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(threshold, second, third)
