"""GET /metrics: the Prometheus text format, from a registry of this app's own (prometheus-client).

Counters and histograms move as things happen: create latency here in the web process; step
durations, queue waits and provider errors as the actors observed them, carried by their pushes to
the hub (actors/observe.py). Gauges are read when scraped: tasks by status from the projection, live
actors by asking the actors, websocket subscribers from the hub.
"""

import collections

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from schemas.messages import ActorInfo, Observations
from schemas.runner_messages import RunnerLoaded

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STEP_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.create_seconds = Histogram(
            "crucible_create_seconds", "HTTP create latency", buckets=LATENCY_BUCKETS, registry=r
        )
        self.step_seconds = Histogram(
            "crucible_step_seconds",
            "provisioning step duration, first entry to done",
            ["step"],
            buckets=STEP_BUCKETS,
            registry=r,
        )
        self.queue_seconds = Histogram(
            "crucible_queue_wait_seconds",
            "a message's wait from its sending to its handling",
            ["actor", "message"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.provider_errors = Counter(
            "crucible_provider_errors", "failed provider calls", ["step"], registry=r
        )
        self.tasks = Gauge("crucible_tasks", "tasks by status (projection)", ["status"], registry=r)
        self.actors = Gauge("crucible_live_actors", "live actors by kind", ["kind"], registry=r)
        self.hosted = Gauge(
            "crucible_runner_actors", "actors hosted by a runner", ["runner", "kind"], registry=r
        )
        self.mailbox = Gauge(
            "crucible_runner_mailbox", "messages waiting in a runner's mailbox", ["runner"], registry=r
        )
        self.sleeping = Gauge(
            "crucible_runner_sleeping", "actors asleep: out of memory until a message", ["runner"], registry=r
        )
        self.envelopes = Gauge(
            "crucible_runner_envelopes",
            "messages for actors of other runners, since start",
            ["runner"],
            registry=r,
        )
        self.posts = Gauge(
            "crucible_runner_posts",
            "thespian messages that carried them, batched by turn",
            ["runner"],
            registry=r,
        )
        self.runner_wait = Histogram(
            "crucible_runner_wait_seconds",
            "a message's wait in its runner's mailbox",
            ["runner"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.subscribers = Gauge("crucible_websocket_subscribers", "open websocket subscriptions", registry=r)

    def observe(self, observed: Observations) -> None:
        for message, seconds in observed.waits:
            self.queue_seconds.labels(observed.actor, message).observe(seconds)
        for step, seconds in observed.steps:
            self.step_seconds.labels(step).observe(seconds)
        for step in observed.errors:
            self.provider_errors.labels(step).inc()

    def render(
        self, by_status: dict[str, int], actors: list[ActorInfo], subscribers: int, loads: list[RunnerLoaded]
    ) -> bytes:
        """The scrape: gauges set from what the runtime read just now (the runners' waits are those since
        the last scrape), then every metric as text."""
        self.tasks.clear()
        for status, count in by_status.items():
            self.tasks.labels(status).set(count)
        kinds = collections.Counter(actor.kind for actor in actors)
        self.actors.clear()
        for kind, count in kinds.items():
            self.actors.labels(kind).set(count)
        self.subscribers.set(subscribers)
        self.hosted.clear()
        for load in loads:
            for kind, count in load.hosted.items():
                self.hosted.labels(load.name, kind).set(count)
            self.mailbox.labels(load.name).set(load.mailbox)
            self.sleeping.labels(load.name).set(len(load.asleep))
            self.envelopes.labels(load.name).set(load.envelopes)
            self.posts.labels(load.name).set(load.posts)
            for seconds in load.waits:
                self.runner_wait.labels(load.name).observe(seconds)
        return generate_latest(self.registry)
