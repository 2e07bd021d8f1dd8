"""Tallies and spreads read back through Prometheus's own parser as counters and histograms."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from livejobs.runtime.tallies import Tallies


def scrape(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_tally_counts_per_label():
    registry, tallies = CollectorRegistry(), Tallies()
    registry.register(tallies)
    made = tallies.tally("things_made", "Things made", "type")
    made.inc("a")
    made.inc("a")
    made.inc("b", 3)
    samples = scrape(registry)
    assert samples[("things_made_total", (("type", "a"),))] == 2
    assert samples[("things_made_total", (("type", "b"),))] == 3


def test_a_spread_is_a_cumulative_histogram_with_le_inclusive():
    registry, tallies = CollectorRegistry(), Tallies()
    registry.register(tallies)
    took = tallies.spread("took_seconds", "How long", (0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 1.0, 7.0):
        took.observe(value)
    samples = scrape(registry)
    assert samples[("took_seconds_bucket", (("le", "0.1"),))] == 2  # 0.1 counts as <= 0.1
    assert samples[("took_seconds_bucket", (("le", "1.0"),))] == 4
    assert samples[("took_seconds_bucket", (("le", "+Inf"),))] == 5
    assert samples[("took_seconds_count", ())] == 5
    assert samples[("took_seconds_sum", ())] == pytest.approx(8.65)
    assert took.last == 7.0


def test_nothing_observed_exports_no_samples():
    registry, tallies = CollectorRegistry(), Tallies()
    registry.register(tallies)
    tallies.tally("things_made", "Things made", "type")
    tallies.spread("took_seconds", "How long", (1.0,), "type")
    assert scrape(registry) == {}
