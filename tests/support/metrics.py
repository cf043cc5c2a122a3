"""Reading the shop's metrics: ``metric`` (this process's counters), ``scrape`` (a /metrics answer).

Counters are the process's own and only grow, so a test reads a value before and after what it
does and compares the difference: ``Counts`` does that for several series at once.
"""

from __future__ import annotations

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families


def metric(name: str, **labels: str) -> float:
    """The value of one series of this process (0 before its first count)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Counts:
    """The series ``(name, labels)`` of this process, read at creation; ``.added()`` is what grew since."""

    def __init__(self, *series: tuple[str, dict[str, str]]):
        self.series = series
        self.before = [metric(name, **labels) for name, labels in series]

    def added(self) -> list[float]:
        return [
            metric(name, **labels) - b for (name, labels), b in zip(self.series, self.before, strict=True)
        ]


def scrape(text: str) -> dict[tuple[str, frozenset], float]:
    """A /metrics answer as {(sample name, frozenset of label pairs): value}."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, frozenset], float], name: str, **labels: str) -> float:
    """One series of a ``scrape`` (0 when absent)."""
    return samples.get((name, frozenset(labels.items())), 0.0)
