"""Prometheus metrics: the HTTP middleware's own, and a small API for every other module.

Other modules declare their metrics once at import, e.g.::

    from gateway.metrics import counter, gauge
    INGESTED = counter("lienthong_instances_ingested_total", "Instances stored.", ["source"])
    INGESTED.labels(source="stow").inc()

Names must start with ``lienthong_``. Label values must never carry patient data (no names,
IDs or UIDs): only route templates, statuses, AE titles and similar bounded sets.
Request latency is labelled by the route *template* (``/dicomweb/studies/{study}``), never the
concrete path, so that label cardinality stays bounded and UIDs stay out of the metrics.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lienthong.audit import CHAIN_HEAD_ID, AuditChainHead

PREFIX = "lienthong_"


def _check(name: str) -> None:
    if not name.startswith(PREFIX):
        raise ValueError(f"metric names start with {PREFIX!r}: {name}")


def _existing(name: str) -> object | None:
    # Re-importing a module (tests) must not register the same metric twice.
    return REGISTRY._names_to_collectors.get(name)


def counter(name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
    _check(name)
    found = _existing(name) or _existing(name + "_total")
    if isinstance(found, Counter):
        return found
    return Counter(name, documentation, list(labels))


def gauge(name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
    _check(name)
    found = _existing(name)
    if isinstance(found, Gauge):
        return found
    return Gauge(name, documentation, list(labels))


def histogram(
    name: str, documentation: str, labels: Sequence[str] = (),
    buckets: Sequence[float] = Histogram.DEFAULT_BUCKETS,
) -> Histogram:
    _check(name)
    found = _existing(name) or _existing(name + "_bucket")
    if isinstance(found, Histogram):
        return found
    return Histogram(name, documentation, list(labels), buckets=tuple(buckets))


REQUEST_SECONDS = histogram(
    "lienthong_http_request_duration_seconds",
    "HTTP request latency by route template and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
REQUESTS = counter(
    "lienthong_http_requests_total", "HTTP responses by route template, method and status.",
    ["route", "method", "status"],
)
FAILURES = counter(
    "lienthong_http_failures_total",
    "HTTP responses with status >= 500 by route template (server-side failures).",
    ["route", "method"],
)
UNMATCHED = "<unmatched>"


class MetricsMiddleware:
    """Pure ASGI middleware timing each request from its start to its last body byte.

    The route template is read from the scope after the app ran (the router puts the matched
    route there); an exception escaping the app counts as a 500.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        except BaseException:
            status = 500
            raise
        finally:
            route = scope.get("route")
            template = str(getattr(route, "path", UNMATCHED))
            method = str(scope["method"])
            REQUEST_SECONDS.labels(template, method).observe(time.perf_counter() - started)
            REQUESTS.labels(template, method, str(status)).inc()
            if status >= 500:
                FAILURES.labels(template, method).inc()


class IndexCollector(Collector):
    """Figures read from the shared index at scrape time.

    The DICOM workers are separate processes, so their in-memory counters are not visible to
    this one; the index is. ``rate(lienthong_index_instances[5m])`` is the ingest rate of all
    workers and nodes together.
    """

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[Metric]:
        from pacs.index.models import Instance, QuarantinedInstance, Study

        with self.sessions() as session:
            counts = {
                "lienthong_index_instances": (Instance, "Instances in the index."),
                "lienthong_index_studies": (Study, "Studies in the index."),
                "lienthong_quarantined_instances": (
                    QuarantinedInstance, "Re-sent instances with different content, kept aside."),
            }
            for name, (model, doc) in counts.items():
                value = session.scalar(select(func.count()).select_from(model)) or 0
                yield GaugeMetricFamily(name, doc, value=value)
            head = session.get(AuditChainHead, CHAIN_HEAD_ID)
            yield CounterMetricFamily("lienthong_audit_events", "Audit events appended.",
                                      value=head.last_seq if head else 0)


def exposition(*collectors: Collector) -> tuple[bytes, str]:
    """The text exposition of every registered metric plus ``collectors``, and its type."""
    extra = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        extra.register(collector)
    return generate_latest(REGISTRY) + generate_latest(extra), CONTENT_TYPE_LATEST
