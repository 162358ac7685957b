"""Reading a test server's `/metrics` (Prometheus text format)."""

import urllib.request
from collections import Counter
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.server import Server

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(server: Server) -> Samples:
    """Every sample, by (name, sorted labels)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=30) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: dict[Any, float], name: str, **labels: str) -> float:
    """The sum of the samples of `name` that carry these labels (and maybe others)."""
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


def live_actors(server: Server) -> Counter[str]:
    """Live actors by kind, from one scrape (0 for a kind with none)."""
    return Counter(
        {dict(ls)["kind"]: int(v) for (n, ls), v in scrape(server).items() if n == "crucible_live_actors"}
    )
