"""Counters and histograms kept as plain numbers, turned into Prometheus families when scraped.

Per job change a dict update and a ``bisect`` instead of ``prometheus_client``'s lock and
bucket walk (docs/performance.md, "Metrics as plain numbers"). Only the event loop writes them,
so they need no lock, and a scrape (also in the loop) reads a consistent view.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from typing import cast

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

_bucket_label = cast(Callable[[float], str], floatToGoString)  # "+Inf", "0.5", "1.0" as Go prints


class Tally:
    """A counter by one label (or by none: label ``""``)."""

    def __init__(self, name: str, documentation: str, label: str | None = None) -> None:
        self.name, self.documentation, self.label = name, documentation, label
        self.values: dict[str, float] = {}

    def inc(self, label: str = "", amount: float = 1) -> None:
        values = self.values
        values[label] = values.get(label, 0) + amount

    def family(self) -> Metric:
        family = CounterMetricFamily(self.name, self.documentation, labels=_names(self.label))
        for label, value in self.values.items():
            family.add_metric(_values(self.label, label), value)
        return family


class Spread:
    """A histogram by one label (or by none): bucket counts, a sum, and the latest value."""

    def __init__(
        self, name: str, documentation: str, buckets: Sequence[float], label: str | None = None
    ) -> None:
        self.name, self.documentation, self.label = name, documentation, label
        self.bounds = tuple(sorted(buckets))
        #: label → [count per bucket (the last is +Inf, not cumulative), sum]
        self.by_label: dict[str, tuple[list[int], list[float]]] = {}
        self.last: float | None = None

    def observe(self, value: float, label: str = "") -> None:
        entry = self.by_label.get(label)
        if entry is None:
            entry = self.by_label[label] = ([0] * (len(self.bounds) + 1), [0.0])
        entry[0][bisect_left(self.bounds, value)] += 1
        entry[1][0] += value
        self.last = value

    def family(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.documentation, labels=_names(self.label))
        for label, (counts, total) in self.by_label.items():
            buckets, running = [], 0
            for bound, count in zip((*self.bounds, float("inf")), counts, strict=True):
                running += count
                buckets.append((_bucket_label(bound), running))
            family.add_metric(_values(self.label, label), buckets, sum_value=total[0])
        return family


class Tallies(Collector):
    """The tallies and spreads of one registry: register it once, create members on it."""

    def __init__(self) -> None:
        self.members: list[Tally | Spread] = []

    def tally(self, name: str, documentation: str, label: str | None = None) -> Tally:
        member = Tally(name, documentation, label)
        self.members.append(member)
        return member

    def spread(
        self, name: str, documentation: str, buckets: Sequence[float], label: str | None = None
    ) -> Spread:
        member = Spread(name, documentation, buckets, label)
        self.members.append(member)
        return member

    def collect(self) -> Iterator[Metric]:
        for member in self.members:
            yield member.family()

    def describe(self) -> Iterator[Metric]:
        return self.collect()


def _names(label: str | None) -> list[str]:
    return [] if label is None else [label]


def _values(name: str | None, label: str) -> list[str]:
    return [] if name is None else [label]
