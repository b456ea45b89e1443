"""Routing benchmark: how long one routing decision takes with 500 sites.

Generates a directory of N local sites on real postcodes (seeded, so runs are comparable)
plus the online team, then times `route()` for random postcodes, languages and topics, one
decision at a time (what an enquiry costs), and reports p50/p99/max. Also times the same
decision including the postcode lookup, and building the index (done when sites change).

Usage: .venv/bin/python bench/routing.py [--sites 500] [--decisions 20000] [--seed 4]
Results go into bench/README.md, section "Routing".
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.services import geo
from server.services.routing import SiteEntry, SiteIndex, route

LANGUAGES = ["ar", "fa", "fa_AF", "ps", "ru", "uk", "tr", "fr", "ku", "ti", "en"]
TOPICS = ["school", "training_work", "recognition", "language_courses", "residence_asylum",
          "family", "health", "money_housing", "discrimination", "leisure_neighbourhood", "other"]


def directory(n: int, rng: random.Random) -> SiteIndex:
    areas = list(geo.table().areas.values())
    sites = []
    for i, area in enumerate(rng.sample(areas, n)):
        topics = frozenset() if rng.random() < 0.7 else frozenset(rng.sample(TOPICS, 7))
        sites.append(SiteEntry(
            id=str(i), slug=f"jmd-{i:04d}", name=f"JMD {i}", point=area.point,
            languages=frozenset(["de", *rng.sample(LANGUAGES, rng.randint(1, 5))]),
            topics=topics, takes_online=rng.random() < 0.95, is_online_team=False,
        ))
    sites.append(SiteEntry(
        id="online", slug="jmd-online", name="JMD Online-Team", point=None,
        languages=frozenset(["de", *LANGUAGES]), topics=frozenset(), takes_online=True,
        is_online_team=True,
    ))
    return SiteIndex(sites)


def percentiles(samples_ns: list[int]) -> tuple[float, float, float]:
    ordered = sorted(samples_ns)
    p50 = statistics.median(ordered) / 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000
    return p50, p99, ordered[-1] / 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sites", type=int, default=500)
    parser.add_argument("--decisions", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    started = time.perf_counter()
    geo.table()
    load_ms = (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    index = directory(args.sites, rng)
    build_ms = (time.perf_counter() - started) * 1000

    postcodes = rng.choices(sorted(geo.table().areas), k=args.decisions)
    languages = rng.choices([None, "de", *LANGUAGES], k=args.decisions)
    topics = rng.choices([None, None, *TOPICS], k=args.decisions)
    locations = [geo.resolve(p) for p in postcodes]

    for i in range(1000):  # warm up
        route(index, locations[i % len(locations)], languages[i % len(languages)])

    # Wall time is what an enquiry waits; on a busy machine it includes time the process was
    # not scheduled at all, so CPU time (thread_time) is reported too: the decision's own cost.
    decide_ns: list[int] = []
    decide_cpu_ns: list[int] = []
    clock, cpu = time.perf_counter_ns, time.thread_time_ns
    for location, language, topic in zip(locations, languages, topics, strict=True):
        c0, t0 = cpu(), clock()
        route(index, location, language, topic)
        decide_ns.append(clock() - t0)
        decide_cpu_ns.append(cpu() - c0)

    # Worst case: no language filter, so every local site is a candidate.
    unfiltered_cpu_ns: list[int] = []
    for location in locations[: args.decisions // 4]:
        c0 = cpu()
        route(index, location, None, None)
        unfiltered_cpu_ns.append(cpu() - c0)

    with_lookup_ns: list[int] = []
    for postcode, language, topic in zip(postcodes, languages, topics, strict=True):
        t0 = clock()
        route(index, geo.resolve(postcode), language, topic)
        with_lookup_ns.append(clock() - t0)

    p50, p99, worst = percentiles(decide_ns)
    cp50, cp99, cworst = percentiles(decide_cpu_ns)
    lp50, lp99, lworst = percentiles(with_lookup_ns)
    print(f"python {platform.python_version()} on {platform.machine()} "
          f"({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}), {args.sites} sites + online "
          f"team, {args.decisions} decisions, seed {args.seed}")
    print(f"route() per decision:           p50 {p50:7.1f} us   p99 {p99:7.1f} us   "
          f"max {worst:8.1f} us")
    print(f"route() per decision, CPU time: p50 {cp50:7.1f} us   p99 {cp99:7.1f} us   "
          f"max {cworst:8.1f} us")
    up50, up99, uworst = percentiles(unfiltered_cpu_ns)
    print(f"  no language filter, CPU time: p50 {up50:7.1f} us   p99 {up99:7.1f} us   "
          f"max {uworst:8.1f} us")
    print(f"postcode lookup + route():      p50 {lp50:7.1f} us   p99 {lp99:7.1f} us   "
          f"max {lworst:8.1f} us")
    print(f"index build ({args.sites} sites):       {build_ms:7.1f} ms (when sites change)")
    print(f"postcode table load:            {load_ms:7.1f} ms (once per process)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
