"""Prometheus metrics on ``GET /metrics`` (open while server.metrics_public, else login/token).

Each app has its own :class:`~prometheus_client.CollectorRegistry` (never the global one):
camera figures are read from the supervisor's status snapshots at scrape time; alert counts and
the alert latency histogram come from an AlertBus subscription.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vigil.services.alerts import AlertEvent
from vigil.sources.worker import CameraState, CameraStatus
from vigil.web.deps import current_user, web_state

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)

router = APIRouter(tags=["metrics"])


class _CameraCollector(Collector):
    def __init__(self, statuses: Callable[[], Sequence[CameraStatus]]) -> None:
        self.statuses = statuses

    def collect(self) -> Iterator[Metric]:
        gauges = {
            "fps_in": GaugeMetricFamily(
                "vigil_camera_fps_in", "decoded frames per second", labels=["camera"]
            ),
            "fps_analysed": GaugeMetricFamily(
                "vigil_camera_fps_analysed", "analysed frames per second", labels=["camera"]
            ),
            "up": GaugeMetricFamily(
                "vigil_camera_up", "1 while the camera is connected", labels=["camera"]
            ),
        }
        counters = {
            "frames_in": CounterMetricFamily(
                "vigil_camera_frames_in", "decoded frames", labels=["camera"]
            ),
            "frames_analysed": CounterMetricFamily(
                "vigil_camera_frames_analysed", "frames handed to the analysis", labels=["camera"]
            ),
            "drops": CounterMetricFamily(
                "vigil_camera_drops",
                "frames dropped because the buffer was full",
                labels=["camera"],
            ),
            "skipped_by_cap": CounterMetricFamily(
                "vigil_camera_skipped_by_cap",
                "frames passed over by the max_fps cap",
                labels=["camera"],
            ),
            "reconnects": CounterMetricFamily(
                "vigil_camera_reconnects", "stream reopenings", labels=["camera"]
            ),
        }
        for st in self.statuses():
            gauges["fps_in"].add_metric([st.camera], st.fps_in)
            gauges["fps_analysed"].add_metric([st.camera], st.fps_analysed)
            gauges["up"].add_metric([st.camera], 1.0 if st.state == CameraState.CONNECTED else 0.0)
            for key, family in counters.items():
                family.add_metric([st.camera], float(getattr(st, key)))
        yield from gauges.values()
        yield from counters.values()


class VigilMetrics:
    """The metrics of one app. ``on_alert`` is an AlertBus callback (cheap, never blocks)."""

    def __init__(self, statuses: Callable[[], Sequence[CameraStatus]]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.alerts = Counter(
            "vigil_alerts",
            "alert events by camera and kind",
            ["camera", "kind"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "vigil_alert_latency_seconds",
            "time from the best frame's capture to the candidate alert's announcement",
            ["camera"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.reviews = Counter(
            "vigil_reviews", "alert reviews by decision", ["decision"], registry=self.registry
        )
        self.registry.register(_CameraCollector(statuses))

    def on_alert(self, event: AlertEvent) -> None:
        self.alerts.labels(event.camera, event.kind).inc()
        if event.kind == "candidate" and event.captured_monotonic > 0:
            self.latency.labels(event.camera).observe(
                max(0.0, time.monotonic() - event.captured_monotonic)
            )

    def render(self) -> bytes:
        return generate_latest(self.registry)


def metrics_access(request: Request) -> None:
    """Open to scrapers while ``server.metrics_public`` (aggregate figures only, no identities);
    otherwise any logged-in user or API token."""
    if not web_state(request).settings.server.metrics_public:
        current_user(request)


@router.get("/metrics", response_class=Response, summary="Prometheus metrics (text format)")
def metrics(request: Request, _access: None = Depends(metrics_access)) -> Response:
    return Response(web_state(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)
